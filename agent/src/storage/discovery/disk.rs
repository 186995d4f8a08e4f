//! The model of a whole disk and what is on it: partitions, stacked devices, holders and
//! signatures, first as lsblk (udev) sees them, then as the disk itself says when probed.

use super::{DevNum, LsblkDevice, WipefsEntry, blkid_probe, exclusively_claimed, holders, wipefs_signatures};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

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
    /// A signature known only by its type (from udev or blkid): no offset, uuid or label.
    fn of_type(kind: String, usage: Usage) -> Signature {
        Signature {
            kind,
            usage,
            offset: None,
            uuid: None,
            label: None,
        }
    }

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
        let (partitions, stacked) = children(device);
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
            signatures: udev_signatures(device),
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
        let mut signatures = probed_signatures(&self.path)?;
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

/// The signatures udev's database gives a device (its PTTYPE and FSTYPE).
fn udev_signatures(device: &LsblkDevice) -> Vec<Signature> {
    let mut signatures = Vec::new();
    if let Some(pt) = device.pttype.as_deref().filter(|s| !s.is_empty()) {
        signatures.push(Signature::of_type(pt.to_owned(), Usage::PartitionTable));
    }
    if let Some(fs) = device.fstype.as_deref().filter(|s| !s.is_empty()) {
        signatures.push(Signature::of_type(fs.to_owned(), Usage::of(fs, None)));
    }
    signatures
}

/// A device's partitions, and the other devices stacked directly on it (`PATH (TYPE)`).
fn children(device: &LsblkDevice) -> (Vec<Partition>, Vec<String>) {
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
    (partitions, stacked)
}

/// The signatures on the disk at `path` as the disk itself says: every one wipefs lists, then
/// what only blkid found.
fn probed_signatures(path: &str) -> Result<Vec<Signature>> {
    let found = wipefs_signatures(path)?;
    let blkid = blkid_probe(path)?;
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
            signatures.push(Signature::of_type(kind, usage));
        }
    }
    Ok(signatures)
}

fn mounts_below(device: &LsblkDevice) -> Vec<String> {
    let mut all = device.mounts();
    for child in &device.children {
        all.extend(mounts_below(child));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::discovery::parse_lsblk;

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
}
