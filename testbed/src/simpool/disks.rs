//! `--disks`: a loop device per host, over a sparse file in the pool directory, for the
//! agent's storage step (`pvcreate`/`vgcreate` work on loop devices here). Every attached
//! device is recorded in `DIR/disks.json` at once, so `testbed down` releases it even when
//! `up` failed half-way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{DISKS_JSON, read_json, write_json};
use crate::cmd::Cmd;

/// Size of each host's disk (sparse: it costs nothing until written).
pub const DISK_BYTES: u64 = 10 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub host: String,
    pub device: String,
    pub file: PathBuf,
}

fn recorded(dir: &Path) -> Result<Vec<Disk>> {
    let path = dir.join(DISKS_JSON);
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_json(&path)
}

/// Attaches a loop device for `host` and records it.
pub fn attach(dir: &Path, host: &str) -> Result<Disk> {
    let file = dir.join("disks").join(format!("{host}.img"));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let f = std::fs::File::create(&file).with_context(|| format!("cannot create {}", file.display()))?;
    f.set_len(DISK_BYTES)
        .with_context(|| format!("cannot size {}", file.display()))?;
    let device = Cmd::new("losetup")
        .args(["--find", "--show"])
        .arg(&file)
        .stdout()
        .with_context(|| format!("host {host}: cannot attach a loop device (is this run as root?)"))?
        .trim()
        .to_owned();
    let disk = Disk {
        host: host.to_owned(),
        device,
        file,
    };
    let mut all = recorded(dir)?;
    all.push(disk.clone());
    write_json(&dir.join(DISKS_JSON), &all)?;
    Ok(disk)
}

/// Detaches every recorded loop device that still points at our file; returns the devices
/// detached. Safe to run twice.
pub fn detach_all(dir: &Path) -> Result<Vec<String>> {
    let mut detached = Vec::new();
    let mut errors = Vec::new();
    for disk in recorded(dir)? {
        // Only detach the device if it is still ours: loop numbers get reused.
        let backing = Cmd::new("losetup")
            .args(["--noheadings", "--output", "BACK-FILE"])
            .arg(&disk.device)
            .output();
        let ours = backing.is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == disk.file.display().to_string()
        });
        if !ours {
            continue;
        }
        match Cmd::new("losetup").arg("--detach").arg(&disk.device).run() {
            Ok(_) => detached.push(disk.device.clone()),
            Err(e) => errors.push(format!("{}: {e:#}", disk.device)),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("cannot detach loop devices: {}", errors.join("; "));
    }
    let _ = std::fs::remove_file(dir.join(DISKS_JSON));
    Ok(detached)
}
