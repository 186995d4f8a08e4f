//! The host's rpm database, read with the real `rpm` (with `--root` under a root, so that rpm
//! finds the root's database wherever its `%_dbpath` puts it).
//!
//! One invocation returns every kernel package with its provides and directories: the kernel
//! itself (`kernel-uname-r`), and on EL its companions (`kernel-modules-core`,
//! `kernel-modules`, `kernel-modules-extra`), whose `kernel(sym) = crc` provides are part of the
//! same kernel's kABI. [`installed_named`] answers "which versions of these packages are
//! installed" the same way.

use crate::exec;
use crate::host::{Sysroot, rootfs};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The capability every kernel package provides, with its `uname -r` as version.
pub const KERNEL_CAPABILITY: &str = "kernel-uname-r";
/// The capabilities of packages that ship more of a kernel's modules (and so of its kABI).
pub const COMPANION_CAPABILITIES: [&str; 3] = [
    "kernel-modules-core-uname-r",
    "kernel-modules-uname-r",
    "kernel-modules-extra-uname-r",
];

/// Tab-separated records, one tag per line, so that the output parses without guessing.
/// `%{EPOCH}` (not `EPOCHNUM`) because it exists in every rpm, CentOS 7's 4.11 included.
const QUERY_FORMAT: &str = "PKG\t%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\\n\
    [PRV\t%{PROVIDENAME}\t%{PROVIDEFLAGS:depflags}\t%{PROVIDEVERSION}\\n]\
    [DIR\t%{DIRNAMES}\\n]";

/// An installed package, as much of it as the agent needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<String>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub provides: Vec<Provide>,
    /// Its directories (`%{DIRNAMES}`, with a trailing `/`).
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provide {
    pub name: String,
    /// `=`, `>=`, … or empty for an unversioned provide.
    pub flags: String,
    pub version: String,
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`, as rpm prints it.
    pub fn nevra(&self) -> String {
        let epoch = match self.epoch.as_deref() {
            Some(e) if e != "0" => format!("{e}:"),
            _ => String::new(),
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }

    /// `[epoch:]version-release`, the epoch left out when 0 (as `RepoPackage::evr`).
    pub fn evr(&self) -> String {
        match self.epoch.as_deref() {
            Some(e) if e != "0" => format!("{e}:{}-{}", self.version, self.release),
            _ => format!("{}-{}", self.version, self.release),
        }
    }

    /// The version of its `name = version` provide, if it has one.
    pub fn provided_version(&self, name: &str) -> Option<&str> {
        self.provides
            .iter()
            .find(|p| p.name == name && p.flags == "=" && !p.version.is_empty())
            .map(|p| p.version.as_str())
    }

    pub fn provides_name(&self, name: &str) -> bool {
        self.provides.iter().any(|p| p.name == name)
    }
}

/// Every installed package that provides a kernel or kernel-companion capability.
pub fn kernel_packages(sysroot: &Sysroot) -> Result<Vec<RpmPackage>> {
    let mut args = vec!["--whatprovides", KERNEL_CAPABILITY];
    args.extend(COMPANION_CAPABILITIES);
    query(sysroot, &args)
}

/// The installed packages with these names (every installed version of each; none for a name
/// that is not installed).
pub fn installed_named(sysroot: &Sysroot, names: &[&str]) -> Result<Vec<RpmPackage>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    query(sysroot, names)
}

/// `rpm -q --qf QUERY_FORMAT <args>`, parsed.
fn query(sysroot: &Sysroot, args: &[&str]) -> Result<Vec<RpmPackage>> {
    ensure_database(sysroot)?;
    let mut cmd = rpm(sysroot);
    cmd.args(["-q", "--qf", QUERY_FORMAT]);
    cmd.args(args);
    let output = exec::run_unchecked(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // rpm exits non-zero with "no package provides X" / "package X is not installed" for each
    // argument nothing matches: an answer, not a failure. Anything on stderr that rpm calls an
    // error is a failure.
    if !output.status.success() && stderr.lines().any(|l| l.starts_with("error:")) {
        bail!(
            "`{}` failed ({}): {}",
            exec::describe(&cmd),
            output.status,
            stderr.trim()
        );
    }
    parse_query(&stdout).with_context(|| format!("unexpected output from `{}`", exec::describe(&cmd)))
}

/// Parses [`QUERY_FORMAT`] output; duplicates (a package listed for two capabilities) are
/// dropped.
pub fn parse_query(text: &str) -> Result<Vec<RpmPackage>> {
    let mut packages: Vec<RpmPackage> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let no_match = line.starts_with("no package provides")
            || (line.starts_with("package ") && line.ends_with(" is not installed"));
        if line.trim().is_empty() || no_match {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let current = packages.last_mut();
        match (fields.as_slice(), current) {
            (["PKG", name, epoch, version, release, arch], _) => packages.push(RpmPackage {
                name: (*name).to_owned(),
                epoch: (*epoch != "(none)").then(|| (*epoch).to_owned()),
                version: (*version).to_owned(),
                release: (*release).to_owned(),
                arch: (*arch).to_owned(),
                provides: Vec::new(),
                dirs: Vec::new(),
            }),
            (["PRV", name, flags, version], Some(package)) => package.provides.push(Provide {
                name: (*name).to_owned(),
                flags: flags.trim().to_owned(),
                version: (*version).to_owned(),
            }),
            (["DIR", dir], Some(package)) => package.dirs.push((*dir).to_owned()),
            _ => bail!("line {}: {line:?}", number + 1),
        }
    }
    let mut seen = std::collections::HashSet::new();
    packages.retain(|p| seen.insert(p.nevra()));
    Ok(packages)
}

/// `rpm` aimed at the host: `--root` unless live, messages in English (they are parsed).
fn rpm(sysroot: &Sysroot) -> Command {
    let mut cmd = Command::new("rpm");
    cmd.env("LC_ALL", "C");
    if !sysroot.is_live() {
        cmd.arg("--root").arg(sysroot.root());
    }
    cmd
}

/// Fails unless the host has an rpm database. Needed because `rpm -q` against a root without
/// one says "no package provides …" (and creates an empty database): a wrong `--root` would
/// look like a host with no kernels.
///
/// A root found to have one is remembered for the rest of the process: a run queries the
/// database several times (kernels, then the packages to install, then again after installing),
/// and each `rpm --eval` costs a process start (on Debian's rpm, three: its `%_dbpath` runs a
/// shell).
fn ensure_database(sysroot: &Sysroot) -> Result<()> {
    static CHECKED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let root = sysroot.root().to_path_buf();
    if CHECKED.lock().unwrap_or_else(|e| e.into_inner()).contains(&root) {
        return Ok(());
    }
    check_database(sysroot)?;
    CHECKED.lock().unwrap_or_else(|e| e.into_inner()).push(root);
    Ok(())
}

fn check_database(sysroot: &Sysroot) -> Result<()> {
    let mut cmd = rpm(sysroot);
    cmd.args(["--eval", "%{_dbpath}"]);
    let dbpath = exec::stdout(&mut cmd)?;
    let dbpath = Path::new(dbpath.trim());
    let real = rootfs::real_path(sysroot, dbpath)
        .with_context(|| format!("cannot resolve {}", sysroot.path(dbpath).display()))?;
    let populated = std::fs::read_dir(&real).is_ok_and(|mut entries| entries.next().is_some());
    if !populated {
        bail!(
            "no rpm database at {} (rpm's %_dbpath {}): is {} the root of an installed host? check --root",
            real.display(),
            dbpath.display(),
            sysroot.root().display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
PKG\tkernel\t(none)\t4.18.0\t553.el8_10\tx86_64
PRV\tinstallonlypkg(kernel)\t\t
PRV\tkernel\t=\t4.18.0-553.el8_10
PRV\tkernel(drbd_kabi_alloc)\t=\t0x1a2b3c4d
PRV\tkernel(x86-64)\t=\t4.18.0-553.el8_10
PRV\tkernel-uname-r\t=\t4.18.0-553.el8_10.x86_64
DIR\t/boot/
DIR\t/lib/modules/
DIR\t/lib/modules/4.18.0-553.el8_10.x86_64/
no package provides kernel-modules-uname-r
package linstor-satellite is not installed
PKG\tkernel\t(none)\t4.18.0\t553.el8_10\tx86_64
PRV\tkernel-uname-r\t=\t4.18.0-553.el8_10.x86_64
PKG\tkernel\t1\t5.0\t1\tx86_64
";

    #[test]
    fn query_output_is_parsed() {
        let packages = parse_query(OUTPUT).unwrap();
        assert_eq!(packages.len(), 2, "the duplicate is dropped");
        let k = &packages[0];
        assert_eq!(k.nevra(), "kernel-4.18.0-553.el8_10.x86_64");
        assert_eq!(k.epoch, None);
        assert_eq!(
            k.provided_version(KERNEL_CAPABILITY),
            Some("4.18.0-553.el8_10.x86_64")
        );
        assert_eq!(k.provides.len(), 5);
        assert_eq!(k.provides[0].flags, "");
        assert_eq!(k.dirs.len(), 3);
        assert_eq!(packages[1].nevra(), "kernel-1:5.0-1.x86_64");
    }

    #[test]
    fn stray_lines_are_an_error() {
        let err = parse_query("PRV\tkernel\t=\t1\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn missing_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = kernel_packages(&Sysroot::new(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no rpm database"), "{err}");
        assert!(err.contains("check --root"), "{err}");
        // …and the check did not leave an empty database behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
