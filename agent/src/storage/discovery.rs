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

use crate::exec;
use crate::host::Sysroot;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// Columns every lsblk with `--json` (util-linux 2.27 and later) knows.
pub const LSBLK_COLUMNS: &str =
    "NAME,KNAME,MAJ:MIN,TYPE,SIZE,RO,RM,ROTA,FSTYPE,PTTYPE,MOUNTPOINT,TRAN,MODEL,SERIAL";

/// A block device number (`8:16`): the one name of a disk that every path to it shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    pub major: u64,
    pub minor: u64,
}

impl DevNum {
    pub fn from_raw(dev: u64) -> DevNum {
        DevNum {
            major: nix::sys::stat::major(dev),
            minor: nix::sys::stat::minor(dev),
        }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DevNum {
    type Err = String;
    fn from_str(s: &str) -> Result<DevNum, String> {
        let (major, minor) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not MAJ:MIN"))?;
        let parse = |n: &str| {
            n.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?} is not MAJ:MIN"))
        };
        Ok(DevNum {
            major: parse(major)?,
            minor: parse(minor)?,
        })
    }
}

impl Serialize for DevNum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A path the operator wrote, resolved: the device node it leads to and its number.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub given: String,
    pub path: PathBuf,
    pub dev: DevNum,
}

/// Follows `given` (`/dev/sdb`, `/dev/disk/by-id/…`, any symlink) to its block device.
/// `Err` is a message for the operator (the path does not exist, is not a block device).
pub fn resolve(given: &str) -> std::result::Result<Resolved, String> {
    let path = std::fs::canonicalize(given).map_err(|e| format!("{given}: {e}"))?;
    let meta = std::fs::metadata(&path).map_err(|e| format!("{given}: {e}"))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{given} is not a block device"));
    }
    Ok(Resolved {
        given: given.to_owned(),
        path,
        dev: DevNum::from_raw(meta.rdev()),
    })
}

// ---------------------------------------------------------------------------------------------
// lsblk

#[derive(Debug, Clone, Deserialize)]
pub struct Lsblk {
    pub blockdevices: Vec<LsblkDevice>,
}

/// One row of `lsblk --json`. Tolerant of the versions' differences: before util-linux 2.33
/// every value is a string (`"ro": "0"`, `"size": "1024"`).
#[derive(Debug, Clone, Deserialize)]
pub struct LsblkDevice {
    pub name: String,
    #[serde(default)]
    pub kname: Option<String>,
    #[serde(rename = "maj:min")]
    pub maj_min: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "de_bytes")]
    pub size: u64,
    #[serde(default, deserialize_with = "de_flag")]
    pub ro: bool,
    #[serde(default, deserialize_with = "de_flag")]
    pub rm: bool,
    #[serde(default, deserialize_with = "de_flag")]
    pub rota: bool,
    #[serde(default)]
    pub fstype: Option<String>,
    #[serde(default)]
    pub pttype: Option<String>,
    #[serde(default)]
    pub mountpoint: Option<String>,
    /// util-linux 2.37+ (when asked for MOUNTPOINTS; recorded outputs may carry it).
    #[serde(default)]
    pub mountpoints: Vec<Option<String>>,
    #[serde(default)]
    pub tran: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub children: Vec<LsblkDevice>,
}

impl LsblkDevice {
    pub fn dev(&self) -> Option<DevNum> {
        self.maj_min.parse().ok()
    }

    /// `/dev/NAME` (lsblk is run with `--paths`; recorded outputs may have bare names).
    pub fn path(&self) -> String {
        if self.name.starts_with('/') {
            self.name.clone()
        } else {
            format!("/dev/{}", self.name)
        }
    }

    pub fn mounts(&self) -> Vec<String> {
        let mut all: Vec<String> = self.mountpoints.iter().flatten().cloned().collect();
        if let Some(m) = &self.mountpoint
            && !all.contains(m)
        {
            all.push(m.clone());
        }
        all
    }
}

fn de_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Bool(b)) => b,
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0) != 0,
        Some(serde_json::Value::String(s)) => s.trim() == "1" || s.trim() == "true",
        _ => false,
    })
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    })
}

pub fn parse_lsblk(json: &str) -> Result<Vec<LsblkDevice>> {
    let parsed: Lsblk = serde_json::from_str(json).context("cannot read lsblk's JSON output")?;
    Ok(parsed.blockdevices)
}

/// Every block device of the machine, as a tree of whole disks.
pub fn lsblk() -> Result<Vec<LsblkDevice>> {
    let mut cmd = Command::new("lsblk");
    cmd.args(["--json", "--bytes", "--paths", "--output", LSBLK_COLUMNS]);
    let text = exec::stdout(&mut cmd)
        .context("listing the disks with lsblk (util-linux 2.27 or later is needed for --json)")?;
    parse_lsblk(&text)
}

/// Where a device number sits in the lsblk tree.
pub enum Found<'a> {
    /// A top-level device (a whole disk, a loop device, …).
    Top(&'a LsblkDevice),
    /// Below another device: a partition, or a device-mapper/MD device.
    Nested {
        device: &'a LsblkDevice,
        parent: &'a LsblkDevice,
    },
}

pub fn find(tree: &[LsblkDevice], dev: DevNum) -> Option<Found<'_>> {
    if let Some(top) = tree.iter().find(|d| d.dev() == Some(dev)) {
        return Some(Found::Top(top));
    }
    fn nested<'a>(parent: &'a LsblkDevice, dev: DevNum) -> Option<Found<'a>> {
        for child in &parent.children {
            if child.dev() == Some(dev) {
                return Some(Found::Nested {
                    device: child,
                    parent,
                });
            }
            if let Some(found) = nested(child, dev) {
                return Some(found);
            }
        }
        None
    }
    tree.iter().find_map(|top| nested(top, dev))
}

// ---------------------------------------------------------------------------------------------
// The disk model

/// What a signature is, which decides how the agent names it and what `--wipe` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    Filesystem,
    Swap,
    Raid,
    LvmPv,
    Crypto,
    Drbd,
    PartitionTable,
    Other,
}

const PARTITION_TABLES: &[&str] = &[
    "dos", "gpt", "PMBR", "mac", "bsd", "sun", "sgi", "atari", "aix", "solaris", "unixware", "minix",
    "ultrix",
];

impl Usage {
    /// From the signature's type name (blkid's names), with blkid's USAGE when it has one.
    pub fn of(kind: &str, blkid_usage: Option<&str>) -> Usage {
        if PARTITION_TABLES.contains(&kind) {
            return Usage::PartitionTable;
        }
        match kind {
            "LVM2_member" | "LVM1_member" => return Usage::LvmPv,
            "swap" | "swsuspend" => return Usage::Swap,
            "crypto_LUKS" | "BitLocker" => return Usage::Crypto,
            "drbd" | "drbdproxy_datalog" => return Usage::Drbd,
            _ => {}
        }
        if kind.ends_with("_raid_member") {
            return Usage::Raid;
        }
        match blkid_usage {
            Some("filesystem") => Usage::Filesystem,
            Some("raid") => Usage::Raid,
            Some("crypto") => Usage::Crypto,
            Some("other") => Usage::Other,
            _ if kind.ends_with("_member") => Usage::Other,
            _ => Usage::Filesystem,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    /// blkid's name: `ext4`, `swap`, `LVM2_member`, `dos`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub usage: Usage,
    /// Where on the disk (`0x438`), from wipefs; `None` when only lsblk/udev reported it.
    pub offset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Signature {
    /// "an ext4 filesystem", "a swap signature", "a dos partition table", …
    pub fn describe(&self) -> String {
        let k = &self.kind;
        match self.usage {
            Usage::Filesystem => format!("{} {k} filesystem", article(k)),
            Usage::Swap => "a swap signature".into(),
            Usage::Raid => format!("a RAID member signature ({k})"),
            Usage::LvmPv => "an LVM physical volume signature".into(),
            Usage::Crypto => format!("an encrypted volume ({k})"),
            Usage::Drbd => format!("DRBD metadata ({k})"),
            Usage::PartitionTable => format!("a {k} partition table"),
            Usage::Other => format!("{} {k} signature", article(k)),
        }
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    pub path: String,
    pub dev: Option<DevNum>,
    pub kind: String,
    pub fstype: Option<String>,
    pub mounts: Vec<String>,
    pub holders: Vec<String>,
}

/// A whole disk and everything known about what is on it.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub path: String,
    pub dev: DevNum,
    /// lsblk's TYPE: `disk`, `loop`, …
    pub kind: String,
    pub size_bytes: u64,
    pub read_only: bool,
    pub removable: bool,
    pub rotational: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Where the disk itself is mounted (`[SWAP]` for active swap).
    pub mounts: Vec<String>,
    pub partitions: Vec<Partition>,
    /// Devices stacked directly on the disk that are not partitions (device-mapper, MD).
    pub stacked: Vec<String>,
    /// sysfs holders of the disk (`/sys/dev/block/M:m/holders`).
    pub holders: Vec<String>,
    pub signatures: Vec<Signature>,
    /// The kernel refused an exclusive open: something has claimed the disk.
    pub busy: bool,
    /// Whether `probe` ran (signatures then come from the disk itself, not only from udev).
    pub probed: bool,
}

impl Disk {
    /// The model lsblk alone gives (signatures from udev's FSTYPE/PTTYPE, when it knew them).
    pub fn from_lsblk(device: &LsblkDevice) -> Option<Disk> {
        let dev = device.dev()?;
        let mut signatures = Vec::new();
        if let Some(pt) = device.pttype.as_deref().filter(|s| !s.is_empty()) {
            signatures.push(Signature {
                kind: pt.to_owned(),
                usage: Usage::PartitionTable,
                offset: None,
                uuid: None,
                label: None,
            });
        }
        if let Some(fs) = device.fstype.as_deref().filter(|s| !s.is_empty()) {
            signatures.push(Signature {
                kind: fs.to_owned(),
                usage: Usage::of(fs, None),
                offset: None,
                uuid: None,
                label: None,
            });
        }
        let mut partitions = Vec::new();
        let mut stacked = Vec::new();
        for child in &device.children {
            if child.kind == "part" {
                partitions.push(Partition {
                    path: child.path(),
                    dev: child.dev(),
                    kind: child.kind.clone(),
                    fstype: child.fstype.clone(),
                    mounts: mounts_below(child),
                    holders: Vec::new(),
                });
            } else {
                stacked.push(format!("{} ({})", child.path(), child.kind));
            }
        }
        Some(Disk {
            path: device.path(),
            dev,
            kind: device.kind.clone(),
            size_bytes: device.size,
            read_only: device.ro,
            removable: device.rm,
            rotational: device.rota,
            transport: device.tran.clone().filter(|s| !s.is_empty()),
            model: device
                .model
                .clone()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            serial: device.serial.clone().filter(|s| !s.is_empty()),
            mounts: device.mounts(),
            partitions,
            stacked,
            holders: Vec::new(),
            signatures,
            busy: false,
            probed: false,
        })
    }

    /// Every mount on the disk or below it, with what is mounted: `/dev/sdb1 on /srv`.
    pub fn all_mounts(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .mounts
            .iter()
            .map(|m| format!("{} on {m}", self.path))
            .collect();
        for p in &self.partitions {
            all.extend(p.mounts.iter().map(|m| format!("{} on {m}", p.path)));
        }
        all
    }

    pub fn partition_table(&self) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.usage == Usage::PartitionTable)
    }

    /// Reads the disk itself: signatures (blkid, wipefs), holders (sysfs), exclusive claims.
    pub fn probe(&mut self) -> Result<()> {
        let found = wipefs_signatures(&self.path)?;
        let blkid = blkid_probe(&self.path)?;
        let mut signatures = Vec::new();
        for WipefsEntry {
            offset,
            uuid,
            label,
            kind,
        } in found
        {
            let usage = Usage::of(&kind, blkid.usage_for(&kind));
            // GPT lists the protective MBR and the backup header too: one table, one line.
            if usage == Usage::PartitionTable
                && signatures
                    .iter()
                    .any(|s: &Signature| s.usage == Usage::PartitionTable)
            {
                continue;
            }
            signatures.push(Signature {
                kind: if kind == "PMBR" { "gpt".into() } else { kind },
                usage,
                offset: Some(offset),
                uuid: Some(uuid).filter(|s| !s.is_empty()),
                label: Some(label).filter(|s| !s.is_empty()),
            });
        }
        // What blkid found that wipefs did not list (wipefs skips some nested tables).
        for (kind, usage) in blkid.types() {
            if !signatures
                .iter()
                .any(|s| s.kind == kind || (usage == Usage::PartitionTable && s.usage == usage))
            {
                signatures.push(Signature {
                    kind,
                    usage,
                    offset: None,
                    uuid: None,
                    label: None,
                });
            }
        }
        // udev's view is kept only where the disk itself disagrees by omission: a stale
        // database entry is still worth a look rather than silently dropped.
        for old in std::mem::take(&mut self.signatures) {
            if !signatures
                .iter()
                .any(|s| s.kind == old.kind || s.usage == old.usage)
            {
                signatures.push(old);
            }
        }
        self.signatures = signatures;
        self.holders = holders(self.dev);
        for p in &mut self.partitions {
            if let Some(dev) = p.dev {
                p.holders = holders(dev);
            }
            if p.fstype.is_none() {
                // A partition node udev has not made (a container) is not worth failing for:
                // the disk's own partition table is what refuses it.
                p.fstype = blkid_probe(&p.path).ok().and_then(|b| b.kind);
            }
        }
        self.busy = exclusively_claimed(Path::new(&self.path));
        self.probed = true;
        Ok(())
    }
}

fn mounts_below(device: &LsblkDevice) -> Vec<String> {
    let mut all = device.mounts();
    for child in &device.children {
        all.extend(mounts_below(child));
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Probes

/// `wipefs --no-act --parsable DEVICE`: `offset,uuid,label,type` per signature (the format of
/// util-linux 2.23 and later). Nothing is erased: without `--all` wipefs only lists.
pub fn wipefs_signatures(device: &str) -> Result<Vec<WipefsEntry>> {
    let mut cmd = Command::new("wipefs");
    cmd.args(["--no-act", "--parsable", device]);
    let text = exec::stdout(&mut cmd).with_context(|| format!("listing the signatures on {device}"))?;
    Ok(parse_wipefs(&text))
}

/// One line of `wipefs --parsable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipefsEntry {
    pub offset: String,
    pub uuid: String,
    pub label: String,
    pub kind: String,
}

pub fn parse_wipefs(text: &str) -> Vec<WipefsEntry> {
    let mut found = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // The label may itself contain commas: offset and uuid from the left, type from the right.
        let Some((offset, rest)) = line.split_once(',') else {
            continue;
        };
        let Some((rest, kind)) = rest.rsplit_once(',') else {
            continue;
        };
        let (uuid, label) = rest.split_once(',').unwrap_or((rest, ""));
        found.push(WipefsEntry {
            offset: offset.to_owned(),
            uuid: uuid.to_owned(),
            label: label.to_owned(),
            kind: kind.to_owned(),
        });
    }
    found
}

/// `blkid -p -o export DEVICE`: the low-level probe (no cache, no udev).
#[derive(Debug, Default, Clone)]
pub struct Blkid {
    pub kind: Option<String>,
    pub usage: Option<String>,
    pub pttype: Option<String>,
    /// blkid found more than one superblock and would not choose (exit 8).
    pub ambivalent: bool,
}

impl Blkid {
    fn usage_for(&self, kind: &str) -> Option<&str> {
        if self.kind.as_deref() == Some(kind) {
            self.usage.as_deref()
        } else {
            None
        }
    }

    fn types(&self) -> Vec<(String, Usage)> {
        let mut all = Vec::new();
        if let Some(pt) = &self.pttype {
            all.push((pt.clone(), Usage::PartitionTable));
        }
        if let Some(kind) = &self.kind {
            all.push((kind.clone(), Usage::of(kind, self.usage.as_deref())));
        }
        all
    }
}

pub fn blkid_probe(device: &str) -> Result<Blkid> {
    let mut cmd = Command::new("blkid");
    cmd.args(["-p", "-o", "export", device]);
    let output = exec::run_unchecked(&mut cmd)?;
    match output.status.code() {
        Some(0) => Ok(parse_blkid(&String::from_utf8_lossy(&output.stdout))),
        // 2: nothing found.
        Some(2) => Ok(Blkid::default()),
        // 8: ambivalent result (several superblocks): wipefs lists them all.
        Some(8) => Ok(Blkid {
            ambivalent: true,
            ..Blkid::default()
        }),
        _ => bail!(
            "`{}` failed ({}): {}",
            exec::describe(&cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

pub fn parse_blkid(text: &str) -> Blkid {
    let mut values = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            // `-o export` escapes spaces and specials with a backslash.
            let mut unescaped = String::new();
            let mut chars = value.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        unescaped.push(next);
                    }
                } else {
                    unescaped.push(c);
                }
            }
            values.insert(key.trim().to_owned(), unescaped);
        }
    }
    Blkid {
        kind: values.get("TYPE").cloned(),
        usage: values.get("USAGE").cloned(),
        pttype: values.get("PTTYPE").cloned(),
        ambivalent: false,
    }
}

/// `/sys/dev/block/M:m/holders`: what the kernel has stacked on the device.
pub fn holders(dev: DevNum) -> Vec<String> {
    let dir = PathBuf::from(format!("/sys/dev/block/{dev}/holders"));
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// True when the kernel refuses an exclusive open of the device (`EBUSY`): it is mounted (in
/// any mount namespace), active swap, or claimed by device-mapper or MD.
pub fn exclusively_claimed(device: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL)
        .open(device)
    {
        Ok(_) => false,
        Err(e) => e.raw_os_error() == Some(nix::libc::EBUSY),
    }
}

// ---------------------------------------------------------------------------------------------
// The boot disk

/// The whole disks the host runs from: those holding `/`, `/boot` or `/boot/efi`, of the root
/// the agent acts on and of the system the agent itself runs on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BootDisks {
    /// Whole disk → what it carries (`/`, `/boot`, `<root>/`).
    pub disks: BTreeMap<DevNum, Vec<String>>,
}

impl BootDisks {
    pub fn carries(&self, dev: DevNum) -> Option<&[String]> {
        self.disks.get(&dev).map(Vec::as_slice)
    }

    pub fn find(sysroot: &Sysroot) -> BootDisks {
        let mut places: Vec<(String, PathBuf)> = Vec::new();
        for p in ["/", "/boot", "/boot/efi"] {
            places.push((p.to_owned(), PathBuf::from(p)));
            if !sysroot.is_live() {
                let inside = sysroot.path(p);
                places.push((inside.display().to_string(), inside));
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut boot = BootDisks::default();
        for (label, path) in places {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let mut dev = DevNum::from_raw(meta.dev());
            if dev.major == 0 {
                // btrfs, overlay, …: the device is the mount's source.
                match mount_source(&mounts, &path).and_then(|src| resolve(&src).ok()) {
                    Some(r) => dev = r.dev,
                    None => continue,
                }
            }
            for disk in whole_disks_under(dev, 0) {
                let list = boot.disks.entry(disk).or_default();
                if !list.contains(&label) {
                    list.push(label.clone());
                }
            }
        }
        boot
    }
}

/// The `/dev/…` source of the mount that holds `path` (longest mount point prefix).
fn mount_source(mountinfo: &str, path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(point), Some(source)) = (fields.get(4), fields.get(sep + 2)) else {
            continue;
        };
        let point = point.replace("\\040", " ");
        if path.starts_with(&point)
            && source.starts_with("/dev/")
            && best.as_ref().is_none_or(|(len, _)| point.len() > *len)
        {
            best = Some((point.len(), (*source).to_owned()));
        }
    }
    best.map(|(_, source)| source)
}

/// The whole disks a device lives on: itself, its parent disk if it is a partition, and the
/// disks under its slaves if it is device-mapper or MD (followed through sysfs).
pub fn whole_disks_under(dev: DevNum, depth: usize) -> BTreeSet<DevNum> {
    let mut disks = BTreeSet::new();
    if depth > 16 {
        return disks;
    }
    let Ok(sys) = std::fs::canonicalize(format!("/sys/dev/block/{dev}")) else {
        return disks;
    };
    let slaves: Vec<PathBuf> = std::fs::read_dir(sys.join("slaves"))
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    if !slaves.is_empty() {
        for slave in slaves {
            if let Some(d) = read_dev(&slave) {
                disks.extend(whole_disks_under(d, depth + 1));
            }
        }
    } else if sys.join("partition").exists() {
        if let Some(d) = sys.parent().and_then(read_dev) {
            disks.insert(d);
        }
    } else {
        disks.insert(dev);
    }
    disks
}

fn read_dev(sys_dir: &Path) -> Option<DevNum> {
    std::fs::read_to_string(sys_dir.join("dev")).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipefs_lines_keep_commas_in_labels() {
        let parsed = parse_wipefs("0x438,adf3-uuid,,ext4\n0x1fe,,,dos\n0x0,u,my,label,xfs\n");
        assert_eq!(parsed[0].offset, "0x438");
        assert_eq!(parsed[0].kind, "ext4");
        assert_eq!(parsed[1].kind, "dos");
        assert_eq!(parsed[2].label, "my,label");
        assert_eq!(parsed[2].kind, "xfs");
    }

    #[test]
    fn blkid_export_is_unescaped() {
        let b = parse_blkid("DEVNAME=/dev/loop0\nVERSION=LVM2\\ 001\nTYPE=LVM2_member\nUSAGE=raid\n");
        assert_eq!(b.kind.as_deref(), Some("LVM2_member"));
        assert_eq!(Usage::of("LVM2_member", b.usage.as_deref()), Usage::LvmPv);
        assert_eq!(Usage::of("linux_raid_member", Some("raid")), Usage::Raid);
        assert_eq!(Usage::of("swap", Some("other")), Usage::Swap);
        assert_eq!(Usage::of("xfs", None), Usage::Filesystem);
        assert_eq!(Usage::of("gpt", None), Usage::PartitionTable);
    }

    #[test]
    fn old_lsblk_strings_are_read() {
        let tree = parse_lsblk(
            r#"{"blockdevices": [{"name":"sdb","kname":"sdb","maj:min":"8:16","type":"disk","size":"1024","ro":"0","rm":"1","rota":"1","fstype":null,"mountpoint":null}]}"#,
        )
        .unwrap();
        let disk = Disk::from_lsblk(&tree[0]).unwrap();
        assert_eq!(disk.path, "/dev/sdb");
        assert_eq!(disk.size_bytes, 1024);
        assert!(disk.removable && !disk.read_only);
        assert_eq!(disk.dev, DevNum { major: 8, minor: 16 });
    }

    #[test]
    fn signatures_are_described_for_people() {
        let s = |kind: &str, usage| Signature {
            kind: kind.into(),
            usage,
            offset: None,
            uuid: None,
            label: None,
        };
        assert_eq!(s("ext4", Usage::Filesystem).describe(), "an ext4 filesystem");
        assert_eq!(
            s("dos", Usage::PartitionTable).describe(),
            "a dos partition table"
        );
    }

    #[test]
    fn mount_source_takes_the_longest_prefix() {
        let info = "27 1 0:30 / / rw - overlay overlay rw\n40 27 8:2 / /boot rw - ext4 /dev/sda2 rw\n";
        assert_eq!(mount_source(info, Path::new("/")), None);
    }
}
