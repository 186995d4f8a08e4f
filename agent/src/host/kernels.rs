//! Installed kernels: which packages, which `uname -r`, which kABI.

use crate::host::Sysroot;
use crate::host::rpmdb::{self, RpmPackage};
use crate::host::symvers::{self, Kabi};
use crate::rpmver::compare_evr;
use anyhow::Result;
use serde::Serialize;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledKernel {
    /// NEVRA, e.g. `kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64`.
    pub package: String,
    /// From its `kernel-uname-r = X` provide (else its `/lib/modules/X/` directory).
    pub uname_r: String,
    /// Symbol → CRC, from `kernel(sym) = crc` provides (its own and its companions'), else from
    /// its symvers file.
    pub kabi: Kabi,
    /// `"provides"`, the host path of the symvers file, or `None` when the kernel has no kABI.
    pub kabi_source: Option<String>,
}

pub const KABI_FROM_PROVIDES: &str = "provides";

/// The installed kernels, newest first (rpm version order).
pub fn installed(sysroot: &Sysroot) -> Result<Vec<InstalledKernel>> {
    let packages = rpmdb::kernel_packages(sysroot)?;
    from_packages(sysroot, packages)
}

/// Builds the kernel list from the rpm query's packages; kABI falls back to symvers files in the
/// root.
pub fn from_packages(sysroot: &Sysroot, packages: Vec<RpmPackage>) -> Result<Vec<InstalledKernel>> {
    let (mut kernels, companions): (Vec<RpmPackage>, Vec<RpmPackage>) = packages
        .into_iter()
        .partition(|p| p.provides_name(rpmdb::KERNEL_CAPABILITY));
    kernels.sort_by(newest_first);

    let mut out = Vec::new();
    for package in kernels {
        let Some(uname_r) = uname_of(&package) else {
            tracing::warn!(
                package = %package.nevra(),
                "kernel package has neither a versioned kernel-uname-r provide nor a /lib/modules/<uname> \
                 directory: ignored"
            );
            continue;
        };
        let mut kabi = kabi_provides(&package);
        // On EL the kABI is spread over kernel-core and kernel-modules(-core): a symbol a kmod
        // needs may be exported by a module the companion ships.
        for companion in &companions {
            let same_kernel = rpmdb::COMPANION_CAPABILITIES
                .iter()
                .any(|cap| companion.provided_version(cap) == Some(uname_r.as_str()));
            if same_kernel {
                for (sym, crc) in kabi_provides(companion) {
                    kabi.entry(sym).or_insert(crc);
                }
            }
        }
        let kabi_source = if !kabi.is_empty() {
            Some(KABI_FROM_PROVIDES.to_owned())
        } else if let Some((path, from_file)) = symvers::find(sysroot, &uname_r)? {
            kabi = from_file;
            Some(path.display().to_string())
        } else {
            None
        };
        out.push(InstalledKernel {
            package: package.nevra(),
            uname_r,
            kabi,
            kabi_source,
        });
    }
    Ok(out)
}

fn newest_first(a: &RpmPackage, b: &RpmPackage) -> Ordering {
    let evr = |p: &RpmPackage| {
        let epoch = p.epoch.as_deref().unwrap_or("0");
        format!("{epoch}:{}-{}", p.version, p.release)
    };
    compare_evr(&evr(b), &evr(a))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.arch.cmp(&b.arch))
}

fn uname_of(package: &RpmPackage) -> Option<String> {
    if let Some(uname) = package.provided_version(rpmdb::KERNEL_CAPABILITY) {
        return Some(uname.to_owned());
    }
    package.dirs.iter().find_map(|dir| {
        let rest = dir
            .strip_prefix("/lib/modules/")
            .or_else(|| dir.strip_prefix("/usr/lib/modules/"))?;
        let uname = rest.strip_suffix('/').unwrap_or(rest);
        (!uname.is_empty() && !uname.contains('/')).then(|| uname.to_owned())
    })
}

/// `kernel(sym) = crc` provides. The CRC test keeps out `kernel(x86-64) = <evr>`, the
/// arch-qualified name provide every x86_64 `kernel` package has.
fn kabi_provides(package: &RpmPackage) -> Kabi {
    package
        .provides
        .iter()
        .filter(|p| p.flags == "=" && symvers::is_crc(&p.version))
        .filter_map(|p| {
            let sym = p.name.strip_prefix("kernel(")?.strip_suffix(')')?;
            Some((sym.to_owned(), p.version.to_ascii_lowercase()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::rpmdb::Provide;
    use crate::host::symvers::tests::write_symvers_gz;

    fn package(name: &str, version: &str, release: &str, provides: &[(&str, &str)]) -> RpmPackage {
        RpmPackage {
            name: name.to_owned(),
            epoch: None,
            version: version.to_owned(),
            release: release.to_owned(),
            arch: "x86_64".to_owned(),
            provides: provides
                .iter()
                .map(|(n, v)| Provide {
                    name: (*n).to_owned(),
                    flags: if v.is_empty() { "" } else { "=" }.to_owned(),
                    version: (*v).to_owned(),
                })
                .collect(),
            dirs: Vec::new(),
        }
    }

    #[test]
    fn kernels_are_sorted_newest_first_with_provided_kabi() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let old = package(
            "kernel",
            "4.18.0",
            "553.el8_10",
            &[
                ("kernel-uname-r", "4.18.0-553.el8_10.x86_64"),
                ("kernel(x86-64)", "4.18.0-553.el8_10"),
                ("kernel(drbd_kabi_alloc)", "0x1A2B3C4D"),
            ],
        );
        let new = package(
            "kernel",
            "4.18.0",
            "553.5.1.el8_10",
            &[
                ("kernel-uname-r", "4.18.0-553.5.1.el8_10.x86_64"),
                ("kernel(a)", "0x1"),
            ],
        );
        let modules = package(
            "kernel-modules",
            "4.18.0",
            "553.5.1.el8_10",
            &[
                ("kernel-modules-uname-r", "4.18.0-553.5.1.el8_10.x86_64"),
                ("kernel(b)", "0x2"),
            ],
        );
        let kernels = from_packages(&root, vec![old, modules, new]).unwrap();
        assert_eq!(kernels.len(), 2);
        assert_eq!(kernels[0].package, "kernel-4.18.0-553.5.1.el8_10.x86_64");
        assert_eq!(
            kernels[0].kabi.len(),
            2,
            "companion's kABI merged: {:?}",
            kernels[0].kabi
        );
        assert_eq!(kernels[1].uname_r, "4.18.0-553.el8_10.x86_64");
        assert_eq!(kernels[1].kabi.len(), 1, "kernel(x86-64) is not a kABI symbol");
        assert_eq!(kernels[1].kabi["drbd_kabi_alloc"], "0x1a2b3c4d");
        assert_eq!(kernels[1].kabi_source.as_deref(), Some("provides"));
    }

    #[test]
    fn symvers_and_module_dir_are_fallbacks() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        write_symvers_gz(
            &root.path("/lib/modules/5.14.0-427.el9.x86_64/symvers.gz"),
            &[("x", "0x9")],
        );
        let mut unversioned = package("kernel", "5.14.0", "427.el9", &[("kernel-uname-r", "")]);
        unversioned.dirs = vec!["/boot/".into(), "/lib/modules/5.14.0-427.el9.x86_64/".into()];
        let xcpng = package(
            "kernel",
            "4.19.19",
            "8.0.38.4.xcpng8.3",
            &[("kernel-uname-r", "4.19.0+1")],
        );
        let nothing = package("kernel", "1", "1", &[("kernel-uname-r", "")]);
        let kernels = from_packages(&root, vec![xcpng, unversioned, nothing]).unwrap();
        assert_eq!(kernels.len(), 2, "a kernel without any uname is dropped");
        assert_eq!(kernels[0].uname_r, "5.14.0-427.el9.x86_64");
        assert_eq!(
            kernels[0].kabi_source.as_deref(),
            Some("/lib/modules/5.14.0-427.el9.x86_64/symvers.gz")
        );
        assert_eq!(kernels[0].kabi["x"], "0x9");
        assert_eq!(kernels[1].uname_r, "4.19.0+1");
        assert!(kernels[1].kabi.is_empty() && kernels[1].kabi_source.is_none());
    }
}
