//! DRBD's TCP transport options, as Vates ships them: `options drbd_transport_tcp keepcnt=2
//! keepidle=120 keepintvl=2`. Written to `/etc/modprobe.d/drbd-transport-tcp.conf` unless a
//! modprobe.d file (one the release package ships) already sets options for the module.

use crate::host::Sysroot;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub const PATH: &str = "/etc/modprobe.d/drbd-transport-tcp.conf";
pub const OPTIONS: &str = "options drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2";

/// Where modprobe reads its configuration from.
const DIRS: [&str; 3] = ["/etc/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"];

pub fn render() -> String {
    format!(
        "# Written by linstor-agent (network step): DRBD TCP keepalives, as Vates ships them.\n{OPTIONS}\n"
    )
}

/// A file other than ours that already sets `options drbd_transport_tcp`.
pub fn shipped_elsewhere(sysroot: &Sysroot) -> Result<Option<PathBuf>> {
    let ours = sysroot.path(PATH);
    let mut found = Vec::new();
    for dir in DIRS {
        let dir = sysroot.path(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot read {}", dir.display()))?
                .path();
            if path == ours || path.extension().is_none_or(|e| e != "conf") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let sets = text.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some("options") && words.next() == Some("drbd_transport_tcp")
            });
            if sets {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_file_is_found_and_ours_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        std::fs::create_dir_all(root.path("/etc/modprobe.d")).unwrap();
        std::fs::write(root.path(PATH), render()).unwrap();
        assert_eq!(shipped_elsewhere(&root).unwrap(), None);
        std::fs::write(
            root.path("/etc/modprobe.d/drbd.conf"),
            "# from xcp-ng-release-linstor\noptions drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2\n",
        )
        .unwrap();
        assert_eq!(
            shipped_elsewhere(&root).unwrap(),
            Some(root.path("/etc/modprobe.d/drbd.conf"))
        );
    }
}
