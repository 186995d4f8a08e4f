//! `lsblk --json --bytes`: the tree of the machine's block devices (whole disks, their
//! partitions and what is stacked on them), sizes, flags and mounts, as every util-linux since
//! 2.27 writes it.

use super::DevNum;
use crate::exec;
use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};
use std::process::Command;

/// Columns every lsblk with `--json` (util-linux 2.27 and later) knows.
pub const LSBLK_COLUMNS: &str =
    "NAME,KNAME,MAJ:MIN,TYPE,SIZE,RO,RM,ROTA,FSTYPE,PTTYPE,MOUNTPOINT,TRAN,MODEL,SERIAL";

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
    #[serde(default, deserialize_with = "de_u64")]
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

/// A number as JSON gives it, or as a string (older lsblk and LVM write every value as one);
/// anything else is 0.
pub(in crate::storage) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
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
