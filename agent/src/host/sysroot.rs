//! The Sysroot: every path the agent reads or writes on the host goes through it, so `--root DIR`
//! (kickstart `%post` on `/mnt/sysimage`, or a testbed host) is honoured everywhere.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysroot {
    root: PathBuf,
}

impl Sysroot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysroot { root: root.into() }
    }

    /// The running system itself.
    pub fn live() -> Self {
        Sysroot::new("/")
    }

    /// True when the agent acts on the running system: only then are live-only actions
    /// (modprobe, sysctl -w, systemctl start, reboot) performed.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps an absolute host path (`/etc/os-release`) into this root.
    pub fn path(&self, host_path: impl AsRef<Path>) -> PathBuf {
        let host_path = host_path.as_ref();
        let relative = host_path.strip_prefix("/").unwrap_or(host_path);
        self.root.join(relative)
    }

    /// Where downloaded metadata and packages are kept (`<root>/var/cache/linstor-agent`).
    pub fn cache_dir(&self) -> PathBuf {
        self.path("/var/cache/linstor-agent")
    }

    /// Where the agent keeps its state (`<root>/var/lib/linstor-agent`).
    pub fn state_dir(&self) -> PathBuf {
        self.path("/var/lib/linstor-agent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_mapped_into_the_root() {
        let root = Sysroot::new("/mnt/sysimage");
        assert_eq!(
            root.path("/etc/os-release"),
            Path::new("/mnt/sysimage/etc/os-release")
        );
        assert!(!root.is_live());
        assert!(Sysroot::live().is_live());
        assert_eq!(Sysroot::live().path("/etc/hostname"), Path::new("/etc/hostname"));
    }
}
