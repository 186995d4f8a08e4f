//! What the kernel has stacked on a device and what a device is stacked on, from
//! `/sys/dev/block/M:m` (`holders/`, `slaves/`, `partition`).

use super::DevNum;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
