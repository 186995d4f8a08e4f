//! The sizes LVM will give (a new physical volume, a thin pool's metadata and chunks) and the
//! argv of the commands the storage step runs.

use serde::Serialize;

pub const MIB: u64 = 1024 * 1024;
/// LVM's default physical extent size for a new volume group.
pub const DEFAULT_EXTENT_BYTES: u64 = 4 * MIB;
/// Where LVM puts the first extent on a new PV by default (1 MiB alignment).
pub const DEFAULT_PE_START: u64 = MIB;

/// The usable size of a new PV on a disk of `disk_bytes` with LVM's defaults: 1 MiB for the
/// label and metadata, then whole extents.
pub fn pv_capacity(disk_bytes: u64, extent_bytes: u64) -> u64 {
    let usable = disk_bytes.saturating_sub(DEFAULT_PE_START);
    usable / extent_bytes * extent_bytes
}

/// Thin-pool metadata and chunk size for a pool of `pool_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThinSizing {
    pub metadata_bytes: u64,
    pub chunk_bytes: u64,
}

/// Default thin-pool chunk: 64 KiB, LVM's default and the best for snapshots (LINSTOR's).
pub const THIN_CHUNK_BYTES: u64 = 64 * 1024;
/// dm-thin addresses at most 15.81 GiB of metadata; stay clear of the edge.
pub const THIN_MAX_METADATA_BYTES: u64 = 15 * 1024 * MIB;
pub const THIN_MIN_METADATA_BYTES: u64 = 2 * MIB;

/// The metadata LV dm-thin needs is 64 bytes per chunk (lvmthin(7)); twice that leaves room for
/// the snapshots LINSTOR takes, since running out of thin metadata is what breaks a pool. Very
/// large pools get a larger chunk so the metadata stays under dm-thin's limit. Rounded up to
/// whole extents.
pub fn thin_sizing(pool_bytes: u64, extent_bytes: u64) -> ThinSizing {
    let mut chunk = THIN_CHUNK_BYTES;
    let metadata_for = |chunk: u64| pool_bytes.div_ceil(chunk) * 64 * 2;
    while metadata_for(chunk) > THIN_MAX_METADATA_BYTES && chunk < 1024 * MIB {
        chunk *= 2;
    }
    let metadata = metadata_for(chunk).clamp(THIN_MIN_METADATA_BYTES, THIN_MAX_METADATA_BYTES);
    let extent = extent_bytes.max(1);
    ThinSizing {
        metadata_bytes: metadata.div_ceil(extent) * extent,
        chunk_bytes: chunk,
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// `pvcreate DISK…`: no `--yes`, no `--force`: should a signature have appeared since the
/// agent looked, LVM's own prompt (answered "no" without a terminal) stops it.
pub fn pvcreate(disks: &[String]) -> Vec<String> {
    let mut v = argv(&["pvcreate"]);
    v.extend(disks.iter().cloned());
    v
}

pub fn vgcreate(vg: &str, disks: &[String]) -> Vec<String> {
    let mut v = argv(&["vgcreate", vg]);
    v.extend(disks.iter().cloned());
    v
}

pub fn vgextend(vg: &str, disks: &[String]) -> Vec<String> {
    let mut v = argv(&["vgextend", vg]);
    v.extend(disks.iter().cloned());
    v
}

/// `lvcreate --yes -l 100%FREE --poolmetadatasize NM [--chunksize NK] -T VG/POOL`. `100%FREE`
/// leaves room for the metadata LV and its spare. `--yes` lets LVM wipe stale signatures it
/// finds in the space it allocates (the disks were checked before they joined the group).
pub fn lvcreate_thin(vg: &str, pool: &str, sizing: ThinSizing) -> Vec<String> {
    let mut v = argv(&["lvcreate", "--yes", "-l", "100%FREE", "--poolmetadatasize"]);
    v.push(format!("{}m", sizing.metadata_bytes / MIB));
    if sizing.chunk_bytes != THIN_CHUNK_BYTES {
        v.push("--chunksize".into());
        v.push(format!("{}k", sizing.chunk_bytes / 1024));
    }
    v.push("-T".into());
    v.push(format!("{vg}/{pool}"));
    v
}

/// `wipefs --all DEVICE`: erases every signature wipefs lists (it re-reads the partition table
/// of a whole disk afterwards).
pub fn wipefs_all(device: &str) -> Vec<String> {
    argv(&["wipefs", "--all", device])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_capacity_matches_lvm_on_a_200_mib_loop_device() {
        // pvs on this machine: dev_size 209715200, pv_size 205520896.
        assert_eq!(pv_capacity(209_715_200, DEFAULT_EXTENT_BYTES), 205_520_896);
        assert_eq!(pv_capacity(512 * 1024, DEFAULT_EXTENT_BYTES), 0);
    }

    #[test]
    fn thin_metadata_grows_with_the_pool_and_stays_under_the_dm_thin_limit() {
        let gib = 1024 * MIB;
        // Small pools get LVM's minimum, rounded to an extent.
        let small = thin_sizing(120 * MIB, DEFAULT_EXTENT_BYTES);
        assert_eq!(small.metadata_bytes, 4 * MIB);
        assert_eq!(small.chunk_bytes, THIN_CHUNK_BYTES);
        // 4092 MiB (a 4 GiB disk): 1/512 of the pool, rounded up to whole extents.
        assert_eq!(
            thin_sizing(4092 * MIB, DEFAULT_EXTENT_BYTES).metadata_bytes,
            8 * MIB
        );
        // 1 TiB: 2 GiB of metadata at 64 KiB chunks.
        let tib = thin_sizing(1024 * gib, DEFAULT_EXTENT_BYTES);
        assert_eq!(tib.metadata_bytes, 2 * gib);
        assert_eq!(tib.chunk_bytes, 64 * 1024);
        // 20 TiB would need 40 GiB at 64 KiB: the chunk doubles until it fits.
        let huge = thin_sizing(20 * 1024 * gib, DEFAULT_EXTENT_BYTES);
        assert!(huge.metadata_bytes <= THIN_MAX_METADATA_BYTES);
        assert_eq!(huge.chunk_bytes, 256 * 1024);
        assert_eq!(
            lvcreate_thin("linstor_group", "thin_device", huge),
            [
                "lvcreate",
                "--yes",
                "-l",
                "100%FREE",
                "--poolmetadatasize",
                "10240m",
                "--chunksize",
                "256k",
                "-T",
                "linstor_group/thin_device"
            ]
        );
        assert_eq!(
            lvcreate_thin("linstor_group", "thin_device", small),
            [
                "lvcreate",
                "--yes",
                "-l",
                "100%FREE",
                "--poolmetadatasize",
                "4m",
                "-T",
                "linstor_group/thin_device"
            ]
        );
    }
}
