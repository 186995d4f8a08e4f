//! Real volume groups for simulated hosts: a small loop device per host, the host's
//! `lvm.conf` letting LVM see that device alone (as `testbed up --disks` writes it), and
//! `pvcreate`/`vgcreate` under `LVM_SYSTEM_DIR=<root>/etc/lvm`. Needs root. Every loop device
//! is detached when its guard drops, also when a test panics.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

/// The loop devices are small: LVM needs a few MiB, LINSTOR's database 1 GiB of pool only
/// on paper (a thick pool's free space is what `vgs` says, the database takes it away).
pub const DISK_BYTES: u64 = 4 << 30;

/// `losetup --find` races with other attaches: one at a time in this process.
static ATTACH: Mutex<()> = Mutex::new(());

/// A loop device over a sparse file; detached on drop.
pub struct Disk {
    pub device: String,
    _file: tempfile::NamedTempFile,
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("--detach").arg(&self.device).output();
    }
}

impl Disk {
    pub fn new() -> Result<Disk> {
        let file = tempfile::NamedTempFile::new()?;
        file.as_file().set_len(DISK_BYTES)?;
        let _guard = ATTACH.lock().unwrap_or_else(|p| p.into_inner());
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file.path())
            .output()
            .context("losetup")?;
        if !out.status.success() {
            bail!(
                "cannot attach a loop device (these tests need root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Disk {
            device: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            _file: file,
        })
    }

    /// (device, size in KiB), as a `HostSpec` takes it.
    pub fn spec(&self) -> (String, u64) {
        (self.device.clone(), DISK_BYTES / 1024)
    }
}

fn lvm(root: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .env("LVM_SYSTEM_DIR", root.join("etc/lvm"))
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .with_context(|| format!("{args:?}"))?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The host's `lvm.conf` (its disk alone, or nothing) and, with `vg`, a volume group on it.
pub fn prepare_host(root: &Path, disk: Option<&Disk>, vg: Option<&str>) -> Result<()> {
    testbed::simpool::hosts::write_lvm_conf(root, disk.map(|d| d.device.as_str()))?;
    if let (Some(disk), Some(vg)) = (disk, vg) {
        lvm(root, &["pvcreate", "-q", &disk.device])?;
        lvm(root, &["vgcreate", "-q", vg, &disk.device])?;
    }
    Ok(())
}
