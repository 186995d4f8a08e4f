//! The kernels the DRBD module must serve: the running kernel, the default boot kernel, every
//! installed kernel (under `--root`: the installed ones), once each, the default boot kernel
//! first — it is the one a reboot lands in.

use crate::host::Sysroot;
use crate::host::facts::Facts;
use crate::host::symvers::{self, Kabi};
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

pub const RUNNING: &str = "running";
pub const DEFAULT_BOOT: &str = "default boot";
pub const INSTALLED: &str = "installed";
/// The order reasons are listed in, whatever order they were found in.
const REASON_ORDER: [&str; 3] = [RUNNING, DEFAULT_BOOT, INSTALLED];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelTarget {
    pub uname_r: String,
    /// The newest installed package with this uname (XCP-ng keeps one uname across releases);
    /// `None` for a running or default boot kernel no package owns.
    pub package: Option<String>,
    pub kabi: Kabi,
    /// Subset of `["running", "default boot", "installed"]`, in that order.
    pub reasons: Vec<&'static str>,
    /// Host path `/lib/modules/<uname>`.
    pub module_dir: PathBuf,
}

pub fn kernels_to_serve(facts: &Facts, sysroot: &Sysroot) -> Result<Vec<KernelTarget>> {
    let mut targets: Vec<KernelTarget> = Vec::new();
    let mut wanted: Vec<(&str, &'static str)> = Vec::new();
    if let Some(uname) = &facts.default_boot_kernel {
        wanted.push((uname, DEFAULT_BOOT));
    }
    // The running kernel only counts live: under a root, the build machine's kernel is not the
    // host's, and `Facts::running_kernel` is `None` anyway.
    if let Some(uname) = facts.running_kernel.as_deref().filter(|_| sysroot.is_live()) {
        wanted.push((uname, RUNNING));
    }
    for kernel in &facts.kernels {
        wanted.push((&kernel.uname_r, INSTALLED));
    }

    for (uname, reason) in wanted {
        if let Some(target) = targets.iter_mut().find(|t| t.uname_r == uname) {
            if !target.reasons.contains(&reason) {
                target.reasons.push(reason);
            }
            continue;
        }
        // `facts.kernels` is newest first: the first match is the package whose files are there.
        let owner = facts.kernels.iter().find(|k| k.uname_r == uname);
        let kabi = match owner {
            Some(kernel) => kernel.kabi.clone(),
            None => symvers::find(sysroot, uname)?
                .map(|(_, kabi)| kabi)
                .unwrap_or_default(),
        };
        targets.push(KernelTarget {
            uname_r: uname.to_owned(),
            package: owner.map(|k| k.package.clone()),
            kabi,
            reasons: vec![reason],
            module_dir: PathBuf::from("/lib/modules").join(uname),
        });
    }
    for target in &mut targets {
        target
            .reasons
            .sort_by_key(|r| REASON_ORDER.iter().position(|o| o == r));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::facts::{InstalledKernel, OsRelease};
    use crate::host::symvers::tests::write_symvers_gz;
    use std::collections::BTreeMap;

    fn kernel(package: &str, uname: &str, crc: &str) -> InstalledKernel {
        InstalledKernel {
            package: package.to_owned(),
            uname_r: uname.to_owned(),
            kabi: BTreeMap::from([("sym".to_owned(), crc.to_owned())]),
            kabi_source: Some("provides".to_owned()),
        }
    }

    fn facts(kernels: Vec<InstalledKernel>, default: Option<&str>, running: Option<&str>) -> Facts {
        Facts {
            os: OsRelease::parse("ID=almalinux\n"),
            xcpng_version: None,
            hostname: None,
            running_kernel: running.map(str::to_owned),
            kernels,
            default_boot_kernel: default.map(str::to_owned),
            default_boot_source: "test".to_owned(),
        }
    }

    #[test]
    fn default_boot_first_then_installed_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let f = facts(
            vec![
                kernel("kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64", "4.19.0+1", "0x2"),
                kernel("kernel-4.19.19-8.0.37.1.xcpng8.3.x86_64", "4.19.0+1", "0x1"),
                kernel("kernel-4.19.19-7.0.1.xcpng8.2.x86_64", "4.19.0+0", "0x0"),
            ],
            Some("4.19.0+0"),
            None,
        );
        let targets = kernels_to_serve(&f, &root).unwrap();
        let summary: Vec<(&str, Vec<&str>)> = targets
            .iter()
            .map(|t| (t.uname_r.as_str(), t.reasons.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("4.19.0+0", vec![DEFAULT_BOOT, INSTALLED]),
                ("4.19.0+1", vec![INSTALLED])
            ]
        );
        assert_eq!(
            targets[1].package.as_deref(),
            Some("kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64")
        );
        assert_eq!(targets[1].kabi["sym"], "0x2", "the newest package's kABI");
        assert_eq!(targets[1].module_dir, PathBuf::from("/lib/modules/4.19.0+1"));
    }

    #[test]
    fn unowned_running_kernel_is_served_live_with_symvers_kabi() {
        // A live Sysroot cannot be faked, so check the symvers lookup through a root and the
        // "running" reason through the live one.
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        write_symvers_gz(
            &root.path("/lib/modules/6.1.0-custom/symvers.gz"),
            &[("s", "0x5")],
        );
        let f = facts(
            vec![kernel("kernel-1", "6.6.0", "0x1")],
            Some("6.1.0-custom"),
            Some("ignored"),
        );
        let targets = kernels_to_serve(&f, &root).unwrap();
        assert_eq!(targets.len(), 2, "the running kernel does not count under a root");
        assert_eq!(targets[0].package, None);
        assert_eq!(targets[0].kabi["s"], "0x5");

        let live = facts(
            vec![kernel("kernel-1", "6.6.0", "0x1")],
            Some("6.6.0"),
            Some("6.6.0"),
        );
        let targets = kernels_to_serve(&live, &Sysroot::live()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].reasons, [RUNNING, DEFAULT_BOOT, INSTALLED]);
    }
}
