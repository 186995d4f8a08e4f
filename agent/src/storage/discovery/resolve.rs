//! The one name of a disk that every path to it shares (its device number), and the
//! resolution of the paths the operator writes in `[storage] devices` to it.

use serde::Serialize;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::str::FromStr;

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
