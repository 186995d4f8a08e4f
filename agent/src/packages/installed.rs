//! Installed module packages as the fit rules see them: their requires and their files under
//! `/lib/modules/`, from the host's rpm database (with `--root` under a root). This is what
//! `kernel-guard` judges a kernel by: the modules that are on the host, not the ones in the
//! repository.

use crate::exec;
use crate::host::Sysroot;
use crate::repo::{Dependency, RepoPackage};
use anyhow::{Context, Result, bail};
use std::process::Command;

/// One record per package, one tag per line (like `host::rpmdb`), so the output parses without
/// guessing. `%{EPOCH}` exists in every rpm, CentOS 7's 4.11 included.
const QUERY_FORMAT: &str = "PKG\t%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\\n\
    [REQ\t%{REQUIRENAME}\t%{REQUIREFLAGS:depflags}\t%{REQUIREVERSION}\\n]\
    [FILE\t%{FILENAMES}\\n]";

/// Every installed package called `name`, as a [`RepoPackage`] with its requires and its files
/// under `/lib/modules/` (location, checksum and size are empty: it is not a download).
pub fn module_packages(sysroot: &Sysroot, name: &str) -> Result<Vec<RepoPackage>> {
    let mut cmd = Command::new("rpm");
    cmd.env("LC_ALL", "C");
    if !sysroot.is_live() {
        cmd.arg("--root").arg(sysroot.root());
    }
    cmd.args(["-q", "--qf", QUERY_FORMAT, name]);
    let output = exec::run_unchecked(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.lines().any(|l| l.starts_with("error:")) {
        bail!(
            "`{}` failed ({}): {}; check --root",
            exec::describe(&cmd),
            output.status,
            stderr.trim()
        );
    }
    parse(&stdout).with_context(|| format!("unexpected output from `{}`", exec::describe(&cmd)))
}

fn parse(text: &str) -> Result<Vec<RepoPackage>> {
    let mut packages: Vec<RepoPackage> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (line.starts_with("package ") && line.ends_with(" is not installed")) {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match (fields.as_slice(), packages.last_mut()) {
            (["PKG", name, epoch, version, release, arch], _) => packages.push(RepoPackage {
                name: (*name).to_owned(),
                epoch: epoch.parse().unwrap_or(0),
                version: (*version).to_owned(),
                release: (*release).to_owned(),
                arch: (*arch).to_owned(),
                location: String::new(),
                sha256: String::new(),
                size: 0,
                provides: Vec::new(),
                requires: Vec::new(),
                files: Vec::new(),
            }),
            (["REQ", name, flags, version], Some(package)) => {
                // rpm's internal requires (rpmlib(…), /bin/sh) play no part in fitting.
                if !name.starts_with("rpmlib(") {
                    package.requires.push(dependency(name, flags, version));
                }
            }
            (["FILE", path], Some(package)) => {
                if path.starts_with("/lib/modules/") || path.starts_with("/usr/lib/modules/") {
                    // The fit rules look for `/lib/modules/<uname>/`; usrmerged hosts own the
                    // same files under /usr.
                    let path = path.strip_prefix("/usr").unwrap_or(path);
                    package.files.push(path.to_owned());
                }
            }
            _ => bail!("line {}: {line:?}", number + 1),
        }
    }
    Ok(packages)
}

/// An installed requirement in the repository's terms: flags `EQ`…, the version whole (the fit
/// rules join version and release back anyway).
fn dependency(name: &str, flags: &str, version: &str) -> Dependency {
    let flags = match flags.trim() {
        "=" => Some("EQ"),
        "<" => Some("LT"),
        "<=" => Some("LE"),
        ">" => Some("GT"),
        ">=" => Some("GE"),
        _ => None,
    };
    Dependency {
        name: name.to_owned(),
        flags: flags.filter(|_| !version.is_empty()).map(str::to_owned),
        epoch: None,
        version: (!version.is_empty()).then(|| version.to_owned()),
        release: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::targets::KernelTarget;
    use crate::packages::fit::{Evidence, Fit, fit};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    const OUTPUT: &str = "\
PKG\tkmod-drbd\t(none)\t9.2.12_4.18.0_553\t1\tx86_64
REQ\tkernel(drbd_kabi_alloc)\t=\t0x1a2b3c4d
REQ\trpmlib(CompressedFileNames)\t<=\t3.0.4-1
FILE\t/lib/modules/4.18.0-553.el8_10.x86_64/extra/drbd
FILE\t/lib/modules/4.18.0-553.el8_10.x86_64/extra/drbd/drbd.ko
FILE\t/usr/share/doc/x
PKG\tkmod-drbd\t(none)\t9.2.12_6.6.0_1\t1\tx86_64
REQ\tkernel-uname-r\t=\t6.6.0-1.el10.x86_64
FILE\t/usr/lib/modules/6.6.0-1.el10.x86_64/extra/drbd/drbd.ko
package kmod-drbd-x is not installed
";

    fn kernel(uname: &str, kabi: &[(&str, &str)]) -> KernelTarget {
        KernelTarget {
            uname_r: uname.into(),
            package: None,
            kabi: kabi
                .iter()
                .map(|(s, c)| (s.to_string(), c.to_string()))
                .collect::<BTreeMap<_, _>>(),
            reasons: vec!["installed"],
            module_dir: PathBuf::from(format!("/lib/modules/{uname}")),
        }
    }

    #[test]
    fn installed_modules_are_judged_by_the_same_fit_rules() {
        let packages = parse(OUTPUT).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].nevra(), "kmod-drbd-9.2.12_4.18.0_553-1.x86_64");
        assert_eq!(packages[0].requires.len(), 1, "rpmlib() requires are dropped");
        assert_eq!(packages[0].files.len(), 2);
        let el8 = kernel("4.18.0-553.el8_10.x86_64", &[("drbd_kabi_alloc", "0x1a2b3c4d")]);
        assert_eq!(fit(&packages[0], &el8), Fit::Fits(Evidence::Kabi));
        let el10 = kernel("6.6.0-1.el10.x86_64", &[]);
        assert_eq!(fit(&packages[1], &el10), Fit::Fits(Evidence::UnameRequires));
        assert!(matches!(fit(&packages[1], &el8), Fit::DoesNotFit(_)));
        assert_eq!(
            packages[1].files,
            ["/lib/modules/6.6.0-1.el10.x86_64/extra/drbd/drbd.ko"]
        );
    }

    #[test]
    fn stray_lines_are_an_error() {
        assert!(parse("REQ\tx\t=\t1\n").is_err());
    }
}
