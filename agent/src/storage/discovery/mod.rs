//! What the host's disks are and what is on them.
//!
//! `lsblk --json --bytes` gives the tree (whole disks, their partitions and what is stacked on
//! them), sizes, flags and mounts. Its FSTYPE/PTTYPE come from the udev database, which can be
//! stale or empty (no udev in a container, an installer before udev settled), so every disk the
//! agent may write to is also probed directly: `blkid -p` (low-level, no cache) and
//! `wipefs --no-act --parsable` (every signature, with its offset: exactly what `--wipe` would
//! erase). Holders come from sysfs, and an `O_EXCL` open asks the kernel itself whether anything
//! (a mount in another namespace, RAID, device-mapper) has claimed the disk.
//!
//! Devices are always the live `/dev` and `/sys`, also under `--root`: the root is a
//! filesystem, the disks are the machine's.
//!
//! Parts: `resolve` (device numbers, the paths the config names), `lsblk` (the device tree),
//! `disk` (the model of a disk), `signatures` (wipefs, blkid), `sysfs` (holders, the disks
//! under a device), `claim` (the exclusive open), `boot` (the disks the host runs from).

mod boot;
mod claim;
mod disk;
mod lsblk;
mod resolve;
mod signatures;
mod sysfs;

pub use boot::BootDisks;
pub use claim::exclusively_claimed;
pub use disk::{Disk, Partition, Signature, Usage};
pub(super) use lsblk::de_u64;
pub use lsblk::{Found, LSBLK_COLUMNS, Lsblk, LsblkDevice, find, lsblk, parse_lsblk};
pub use resolve::{DevNum, Resolved, resolve};
pub use signatures::{Blkid, WipefsEntry, blkid_probe, parse_blkid, parse_wipefs, wipefs_signatures};
pub use sysfs::{holders, whole_disks_under};
