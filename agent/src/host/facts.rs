//! What `linstor-agent facts` reports: the host's OS, names and kernels, gathered through the
//! Sysroot so that `--root` reports on the root (its installed kernels, not `uname`).

use crate::host::{Sysroot, boot, inventory, kernels, rootfs};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::host::kernels::InstalledKernel;
pub use crate::host::os_release::OsRelease;

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub os: OsRelease,
    /// `"8.3.0"` when the OS is XCP-ng.
    pub xcpng_version: Option<String>,
    pub hostname: Option<String>,
    /// `uname -r` of the running kernel; `None` under `--root` (the root is not what runs).
    pub running_kernel: Option<String>,
    /// Newest first (rpm version order).
    pub kernels: Vec<InstalledKernel>,
    pub default_boot_kernel: Option<String>,
    pub default_boot_source: String,
}

pub fn gather(sysroot: &Sysroot) -> Result<Facts> {
    let os = OsRelease::load(sysroot)?;
    let inventory = inventory::load(sysroot)?;
    let xcpng_version = xcpng_version(&os, inventory.as_ref());
    let hostname = hostname(sysroot)?;
    let running_kernel = running_kernel(sysroot)?;
    let kernels = kernels::installed(sysroot)?;
    let boot = boot::default_boot(sysroot, &kernels)?;
    Ok(Facts {
        os,
        xcpng_version,
        hostname,
        running_kernel,
        kernels,
        default_boot_kernel: boot.uname_r,
        default_boot_source: boot.source,
    })
}

/// XCP-ng's version: the inventory's `PRODUCT_VERSION` is the product's own word (os-release
/// has carried the same since 8.0, and is the fallback). A XenServer inventory is not XCP-ng.
pub fn xcpng_version(os: &OsRelease, inventory: Option<&BTreeMap<String, String>>) -> Option<String> {
    let brand = inventory.and_then(|inv| inv.get("PRODUCT_BRAND"));
    let inventory_says_xcpng = brand.is_some_and(|b| b.eq_ignore_ascii_case("XCP-ng"));
    if !inventory_says_xcpng && !os.is_xcpng() {
        return None;
    }
    inventory
        .and_then(|inv| inv.get("PRODUCT_VERSION"))
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| (!os.version_id.is_empty()).then(|| os.version_id.clone()))
}

/// `/etc/hostname`, else (live only) the kernel's nodename: under a root the build machine's
/// name would be a lie.
pub fn hostname(sysroot: &Sysroot) -> Result<Option<String>> {
    let path = Path::new("/etc/hostname");
    let text = rootfs::read_optional(sysroot, path)
        .with_context(|| format!("cannot read {}", sysroot.path(path).display()))?;
    let from_file = text.as_deref().and_then(|t| {
        t.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
    });
    if from_file.is_some() || !sysroot.is_live() {
        return Ok(from_file);
    }
    let uts = nix::sys::utsname::uname().context("uname(2) failed")?;
    let node = uts.nodename().to_string_lossy().into_owned();
    Ok((!node.is_empty()).then_some(node))
}

fn running_kernel(sysroot: &Sysroot) -> Result<Option<String>> {
    if !sysroot.is_live() {
        return Ok(None);
    }
    let uts = nix::sys::utsname::uname().context("uname(2) failed")?;
    Ok(Some(uts.release().to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(name: &str, version_id: &str) -> OsRelease {
        OsRelease::parse(&format!(
            "NAME=\"{name}\"\nVERSION_ID=\"{version_id}\"\nID=xenenterprise\n"
        ))
    }

    #[test]
    fn xcpng_version_from_os_release_or_inventory() {
        assert_eq!(
            xcpng_version(&os("XCP-ng", "8.3.0"), None).as_deref(),
            Some("8.3.0")
        );
        let inventory = BTreeMap::from([
            ("PRODUCT_BRAND".to_owned(), "XCP-ng".to_owned()),
            ("PRODUCT_VERSION".to_owned(), "8.2.1".to_owned()),
        ]);
        assert_eq!(
            xcpng_version(&os("Linux", ""), Some(&inventory)).as_deref(),
            Some("8.2.1")
        );
        let xenserver = BTreeMap::from([
            ("PRODUCT_BRAND".to_owned(), "XenServer".to_owned()),
            ("PRODUCT_VERSION".to_owned(), "8.4.0".to_owned()),
        ]);
        assert_eq!(xcpng_version(&os("XenServer", "8.4.0"), Some(&xenserver)), None);
        assert_eq!(xcpng_version(&os("AlmaLinux", "10.0"), None), None);
    }

    #[test]
    fn hostname_under_a_root_comes_only_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        assert_eq!(hostname(&root).unwrap(), None);
        std::fs::create_dir_all(root.path("/etc")).unwrap();
        std::fs::write(root.path("/etc/hostname"), "# set by kickstart\nxcp-host-1\n").unwrap();
        assert_eq!(hostname(&root).unwrap().as_deref(), Some("xcp-host-1"));
        assert_eq!(running_kernel(&root).unwrap(), None);
    }

    #[test]
    fn live_running_kernel_is_uname() {
        let live = running_kernel(&Sysroot::live()).unwrap().unwrap();
        assert!(!live.is_empty());
    }
}
