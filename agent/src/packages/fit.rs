//! Does a kernel-module package fit a kernel? Strongest evidence first:
//!
//! 1. kABI: the package requires `kernel(sym) = crc` symbols (LINBIT's kmods) — it fits exactly
//!    when the kernel provides every one of them with the same CRC. Such a package is judged by
//!    its kABI alone: files under another kernel's directory are normal for it (weak-modules
//!    links them into every compatible kernel).
//! 2. uname: the package requires `kernel-uname-r = K` — it fits kernel K only.
//! 3. path: neither (Vates' kmod-drbd) — it fits the kernel whose `/lib/modules/K/` holds its
//!    files.

use crate::host::targets::KernelTarget;
use crate::repo::{Dependency, RepoPackage};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// Files under `/lib/modules/K/` (weakest).
    ModulePath,
    /// `Requires: kernel-uname-r = K`.
    UnameRequires,
    /// Every `Requires: kernel(sym) = crc` is provided by the kernel (strongest).
    Kabi,
}

impl Evidence {
    pub fn describe(self) -> &'static str {
        match self {
            Evidence::Kabi => "kABI symbols match",
            Evidence::UnameRequires => "requires kernel-uname-r",
            Evidence::ModulePath => "modules under /lib/modules/<kernel>",
        }
    }
}

/// Why a package does or does not fit, for the plan and for the "nothing fits" message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    Fits(Evidence),
    /// Not for this kernel; the text says why (e.g. "2 of 3 kABI symbols differ").
    DoesNotFit(String),
}

pub fn fit(package: &RepoPackage, kernel: &KernelTarget) -> Fit {
    let kabi: Vec<&Dependency> = package
        .requires
        .iter()
        .filter(|d| kabi_symbol(&d.name).is_some())
        .collect();
    if !kabi.is_empty() {
        let mismatched = kabi
            .iter()
            .filter(|dep| {
                let symbol = kabi_symbol(&dep.name).unwrap_or_default();
                let provided = kernel.kabi.get(symbol).map(|crc| normalise_crc(crc));
                let required = dep.version.as_deref().map(normalise_crc);
                // An unversioned `kernel(sym)` only needs the symbol to exist.
                provided.is_none() || (required.is_some() && provided != required)
            })
            .count();
        return if mismatched == 0 {
            Fit::Fits(Evidence::Kabi)
        } else {
            Fit::DoesNotFit(format!(
                "{mismatched} of {} kABI symbols missing or different",
                kabi.len()
            ))
        };
    }

    let unames: Vec<String> = package.requires.iter().filter_map(required_uname).collect();
    if !unames.is_empty() {
        return if unames.iter().all(|u| *u == kernel.uname_r) {
            Fit::Fits(Evidence::UnameRequires)
        } else {
            Fit::DoesNotFit(format!("requires kernel-uname-r = {}", unames.join(", ")))
        };
    }

    let prefix = format!("/lib/modules/{}/", kernel.uname_r);
    if package.files.iter().any(|f| f.starts_with(&prefix)) {
        Fit::Fits(Evidence::ModulePath)
    } else {
        Fit::DoesNotFit("no modules under this kernel's /lib/modules directory".into())
    }
}

/// `kernel(sym)` → `sym`; other names (`kernel`, `kernel-uname-r`, `kernel(x86-64)`) → None.
fn kabi_symbol(name: &str) -> Option<&str> {
    let symbol = name.strip_prefix("kernel(")?.strip_suffix(')')?;
    // `kernel(x86-64)` is an architecture marker rpmbuild adds, not an exported symbol.
    (!symbol.contains('-')).then_some(symbol)
}

/// CRCs are compared as numbers written in lower-case hex with a `0x` prefix.
fn normalise_crc(crc: &str) -> String {
    let digits = crc
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .trim_start_matches('0');
    format!("0x{}", digits.to_ascii_lowercase())
}

/// The uname a `kernel-uname-r = …` requirement names. createrepo_c splits that value at its
/// last `-` like any EVR (`6.6.0-1.el10.x86_64` → ver `6.6.0`, rel `1.el10.x86_64`), so the
/// two halves are joined back.
fn required_uname(dep: &Dependency) -> Option<String> {
    if dep.name != "kernel-uname-r" || dep.flags.as_deref() != Some("EQ") {
        return None;
    }
    let version = dep.version.as_deref()?;
    Some(match dep.release.as_deref() {
        Some(release) if !release.is_empty() => format!("{version}-{release}"),
        _ => version.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn kernel(uname: &str, kabi: &[(&str, &str)]) -> KernelTarget {
        KernelTarget {
            uname_r: uname.into(),
            package: None,
            kabi: kabi.iter().map(|(s, c)| (s.to_string(), c.to_string())).collect(),
            reasons: vec!["installed"],
            module_dir: PathBuf::from(format!("/lib/modules/{uname}")),
        }
    }

    fn dep(name: &str, version: Option<&str>, release: Option<&str>) -> Dependency {
        Dependency {
            name: name.into(),
            flags: version.map(|_| "EQ".into()),
            epoch: None,
            version: version.map(String::from),
            release: release.map(String::from),
        }
    }

    fn kmod(requires: Vec<Dependency>, files: &[&str]) -> RepoPackage {
        RepoPackage {
            name: "kmod-drbd".into(),
            epoch: 0,
            version: "9.2.11".into(),
            release: "1".into(),
            arch: "x86_64".into(),
            location: "Packages/kmod-drbd.rpm".into(),
            sha256: String::new(),
            size: 0,
            provides: vec![],
            requires,
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn kabi_must_match_every_symbol() {
        let el8 = kernel(
            "4.18.0-553.el8_10.x86_64",
            &[("a", "0x1a2b3c4d"), ("b", "0x5e6f7a8b")],
        );
        let pkg = kmod(
            vec![
                dep("kernel(a)", Some("0x1A2B3C4D"), None),
                dep("kernel(b)", Some("0x5e6f7a8b"), None),
            ],
            &["/lib/modules/4.18.0-553.el8_10.x86_64/extra/drbd/drbd.ko"],
        );
        assert_eq!(fit(&pkg, &el8), Fit::Fits(Evidence::Kabi));

        // Another kernel release with the same kABI also fits, whatever the file paths say.
        let el8_5 = kernel(
            "4.18.0-553.5.1.el8_10.x86_64",
            &[("a", "0x1a2b3c4d"), ("b", "0x5e6f7a8b")],
        );
        assert_eq!(fit(&pkg, &el8_5), Fit::Fits(Evidence::Kabi));

        let el9 = kernel(
            "5.14.0-503.el9.x86_64",
            &[("a", "0x1a2b3c4d"), ("b", "0xdeadbeef")],
        );
        assert_eq!(
            fit(&pkg, &el9),
            Fit::DoesNotFit("1 of 2 kABI symbols missing or different".into())
        );

        // Files under the kernel's own directory do not rescue a kABI mismatch.
        let same_dir = kernel("4.18.0-553.el8_10.x86_64", &[("a", "0x1a2b3c4d")]);
        assert!(matches!(fit(&pkg, &same_dir), Fit::DoesNotFit(_)));
    }

    #[test]
    fn architecture_marker_is_not_a_kabi_symbol() {
        let k = kernel("4.19.0+1", &[]);
        let pkg = kmod(
            vec![dep("kernel(x86-64)", Some("4.19.0"), None)],
            &["/lib/modules/4.19.0+1/extra/drbd/drbd.ko"],
        );
        assert_eq!(fit(&pkg, &k), Fit::Fits(Evidence::ModulePath));
    }

    #[test]
    fn uname_requirement_is_joined_back_from_version_and_release() {
        let el10 = kernel("6.6.0-1.el10.x86_64", &[]);
        let pkg = kmod(
            vec![dep("kernel-uname-r", Some("6.6.0"), Some("1.el10.x86_64"))],
            &[],
        );
        assert_eq!(fit(&pkg, &el10), Fit::Fits(Evidence::UnameRequires));
        let other = kernel("6.6.0-2.el10.x86_64", &[]);
        assert_eq!(
            fit(&pkg, &other),
            Fit::DoesNotFit("requires kernel-uname-r = 6.6.0-1.el10.x86_64".into())
        );
    }

    #[test]
    fn module_path_decides_for_vates_style_packages() {
        let xcpng = kernel("4.19.0+1", &[]);
        let pkg = kmod(vec![], &["/lib/modules/4.19.0+1/extra/drbd/drbd.ko"]);
        assert_eq!(fit(&pkg, &xcpng), Fit::Fits(Evidence::ModulePath));
        assert!(matches!(fit(&pkg, &kernel("4.19.0+2", &[])), Fit::DoesNotFit(_)));
        // A prefix of another uname is not a match.
        let pkg = kmod(vec![], &["/lib/modules/4.19.0+10/extra/drbd/drbd.ko"]);
        assert!(matches!(fit(&pkg, &xcpng), Fit::DoesNotFit(_)));
    }
}
