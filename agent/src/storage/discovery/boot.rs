//! The disks the host boots and runs from, which the storage step never touches.

use super::{DevNum, resolve, whole_disks_under};
use crate::host::Sysroot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_source_takes_the_longest_prefix() {
        let info = "27 1 0:30 / / rw - overlay overlay rw\n40 27 8:2 / /boot rw - ext4 /dev/sda2 rw\n";
        assert_eq!(mount_source(info, Path::new("/")), None);
    }
}
