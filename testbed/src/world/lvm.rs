//! A host's volume group as the real LVM reports it, for the driver's storage pool creation
//! (docs/xostor.md §4.2 step 3.2.4: a node whose VG is not found stays diskless).
//!
//! LVM runs with `LVM_SYSTEM_DIR=<root>/etc/lvm`, as the agent's storage step runs it: the
//! host's own `lvm.conf`, whose filter (`testbed up --disks` writes one accepting the host's
//! loop device only) keeps each simulated host to its own disk. A host without a disk, or
//! without an `lvm.conf` of its own, has no volume group: LVM is not run for it (it would see
//! every disk of the machine).
//!
//! Thick (`group-name` = `VG`): the VG must exist; the pool is its size, its free space free.
//! Thin (`VG/LV`): the LV must exist in the VG (checked by name: thin pools cannot be created
//! on the kernels the tests run on); the pool is the LV's size, less what its data uses.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::cmd::Cmd;

/// A storage pool's capacity as the satellite would report it, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total_kib: u64,
    pub free_kib: u64,
}

#[derive(Deserialize)]
struct Report {
    report: Vec<ReportSection>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReportSection {
    vg: Vec<VgRow>,
    lv: Vec<LvRow>,
}

#[derive(Deserialize)]
struct VgRow {
    vg_size: String,
    vg_free: String,
}

#[derive(Deserialize)]
struct LvRow {
    lv_size: String,
    #[serde(default)]
    data_percent: String,
}

fn bytes(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// The capacity of `group_name` on the host (None: no such VG, or LV for thin).
pub fn capacity(root: &Path, disk: Option<&str>, group_name: &str) -> Result<Option<Capacity>> {
    let conf = root.join("etc/lvm/lvm.conf");
    if disk.is_none() || !conf.is_file() {
        return Ok(None);
    }
    let (vg, lv) = match group_name.split_once('/') {
        Some((vg, lv)) => (vg, Some(lv)),
        None => (group_name, None),
    };
    let (command, columns, target) = match lv {
        None => ("vgs", "vg_name,vg_size,vg_free", vg.to_owned()),
        Some(lv) => ("lvs", "lv_name,lv_size,data_percent", format!("{vg}/{lv}")),
    };
    let output = Cmd::new(command)
        .args([
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            columns,
        ])
        .arg(&target)
        .env("LVM_SYSTEM_DIR", root.join("etc/lvm"))
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .env("LC_ALL", "C")
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("not found") || stderr.contains("Failed to find") {
            return Ok(None);
        }
        anyhow::bail!(
            "`LVM_SYSTEM_DIR={} {command} {target}` failed: {}",
            root.join("etc/lvm").display(),
            stderr.trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("cannot read the report of `{command}`: {text}"))?;
    let section = report.report.into_iter().next().unwrap_or_default();
    let capacity = match lv {
        None => section.vg.first().map(|row| Capacity {
            total_kib: bytes(&row.vg_size) / 1024,
            free_kib: bytes(&row.vg_free) / 1024,
        }),
        Some(_) => section.lv.first().map(|row| {
            let total = bytes(&row.lv_size) / 1024;
            let used: f64 = row.data_percent.trim().parse().unwrap_or(0.0);
            Capacity {
                total_kib: total,
                free_kib: (total as f64 * (1.0 - used / 100.0)).round() as u64,
            }
        }),
    };
    Ok(capacity)
}
