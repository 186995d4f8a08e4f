//! What a host boots into, read from its sysroot at the moment its reboot ends, as the real
//! machine would find it: the boot loader's default kernel, whether a DRBD module exists for
//! that kernel, and which `linstor-satellite` is installed. Whatever the agent did to the
//! sysroot before the reboot is what counts.
//!
//! Boot loader layouts (those `sysroot::bootloader` writes, as on real hosts):
//! - XCP-ng: `/boot/grub/grub.cfg`; entry `set default=N` boots `module2 /boot/vmlinuz-4.19-xen`,
//!   a symlink to `vmlinuz-<uname>`.
//! - EL/BLS: `/boot/grub2/grubenv` `saved_entry=<id>` (or `next_entry`, which wins once) names
//!   `/boot/loader/entries/<id>.conf`, whose `version` line is the uname.
//!
//! Without either, the host boots the newest installed kernel (by rpm version order).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::model::Host;
use super::model::{Power, SimTime};
use crate::sysroot::{dnf, rpm_in};

/// What a boot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFacts {
    /// `uname -r` of the kernel booted (None: nothing bootable).
    pub kernel: Option<String>,
    /// Where that came from, or why nothing was found.
    pub note: String,
    pub drbd_module: bool,
    pub satellite_version: Option<String>,
}

/// Boots `host` from its sysroot: live, enabled (XAPI's `auto_enable`), kernel, module and
/// satellite as found. `no_satellite`: the satellite service does not start (fault).
pub fn boot(host: &mut Host, no_satellite: bool) {
    let facts = inspect(&host.root);
    tracing::info!(
        host = %host.name,
        kernel = ?facts.kernel,
        drbd = facts.drbd_module,
        satellite = ?facts.satellite_version,
        "host boots"
    );
    host.power = Power::Up;
    host.enabled = true;
    host.booted_kernel = facts.kernel;
    host.drbd_loaded = facts.drbd_module;
    host.satellite_version = facts.satellite_version;
    host.satellite_running = host.satellite_version.is_some() && !no_satellite;
    host.boot_note = Some(facts.note);
    // A fresh kernel has no DRBD resources configured until the satellite reaches the
    // controller (the dynamics set this once the node is ONLINE).
    host.drbd_adjusted = false;
}

/// The simulated clock's zero, as seconds since the Unix epoch (2026-01-01), for the
/// timestamps XAPI shows as wall-clock times.
pub const SIM_EPOCH_UNIX: f64 = 1_767_225_600.0;

/// Records the boot in `other_config:boot_time`, as xapi does at start (seconds since the
/// epoch): a client tells a host that rebooted by this value changing.
pub fn stamp_boot_time(host: &mut Host, now: SimTime) {
    host.other_config
        .insert("boot_time".to_owned(), format!("{:.3}", SIM_EPOCH_UNIX + now));
}

/// Reads what a boot of `root` would find. Never fails: what cannot be read is reported in
/// `note` and counts as absent (a host that cannot find its kernel does not serve DRBD).
pub fn inspect(root: &Path) -> BootFacts {
    let (kernel, note) = match default_kernel(root) {
        Ok((uname, from)) => (Some(uname), from),
        Err(e) => (None, format!("{e:#}")),
    };
    let drbd_module = kernel.as_deref().is_some_and(|k| drbd_module_for(root, k));
    let satellite_version = match installed_version(root, "linstor-satellite") {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(root = %root.display(), "cannot query linstor-satellite: {e:#}");
            None
        }
    };
    BootFacts {
        kernel,
        note,
        drbd_module,
        satellite_version,
    }
}

/// The uname the boot loader boots by default, and where it was read.
pub fn default_kernel(root: &Path) -> Result<(String, String)> {
    let xcpng = root.join("boot/grub/grub.cfg");
    if xcpng.is_file() {
        let uname = from_xcpng_grub(root, &xcpng)?;
        return Ok((uname, format!("{} default entry", xcpng.display())));
    }
    let grubenv = root.join("boot/grub2/grubenv");
    if grubenv.is_file() {
        let uname = from_bls(root, &grubenv)?;
        return Ok((uname, format!("{} saved_entry", grubenv.display())));
    }
    let kernels = dnf::installed_kernels(root)?;
    let newest = kernels
        .iter()
        .max_by_key(|k| rpmrepo_metadata::Evr::new("0", &k.version, &k.release))
        .with_context(|| {
            format!(
                "no boot loader configuration and no kernel installed in {}",
                root.display()
            )
        })?;
    Ok((
        newest.uname.clone(),
        "newest installed kernel (no boot loader configuration)".into(),
    ))
}

fn from_xcpng_grub(root: &Path, cfg: &Path) -> Result<String> {
    let text = std::fs::read_to_string(cfg).with_context(|| format!("cannot read {}", cfg.display()))?;
    let default: usize = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("set default="))
        .map(|v| v.trim_matches(['"', '\'']).parse().unwrap_or(0))
        .unwrap_or(0);
    let entries: Vec<&str> = text.split("menuentry ").skip(1).collect();
    let entry = entries
        .get(default)
        .with_context(|| format!("{}: no menu entry {default}", cfg.display()))?;
    // The first module2 line of a Xen entry is dom0's kernel.
    let image = entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("module2 "))
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("{}: entry {default} loads no kernel (module2)", cfg.display()))?;
    let resolved = resolve_in_root(root, image)?;
    uname_of_image(&resolved)
        .with_context(|| format!("{}: {image} is not a vmlinuz-<uname> image", cfg.display()))
}

fn from_bls(root: &Path, grubenv: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(grubenv).with_context(|| format!("cannot read {}", grubenv.display()))?;
    let var = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(entry) = var("next_entry").or_else(|| var("saved_entry")) else {
        bail!("{}: no saved_entry", grubenv.display());
    };
    let conf = root.join(format!("boot/loader/entries/{entry}.conf"));
    let body = std::fs::read_to_string(&conf).with_context(|| {
        format!(
            "{} names entry {entry}, but cannot read {}",
            grubenv.display(),
            conf.display()
        )
    })?;
    if let Some(version) = body.lines().find_map(|l| l.strip_prefix("version ")) {
        return Ok(version.trim().to_owned());
    }
    let linux = body
        .lines()
        .find_map(|l| l.strip_prefix("linux "))
        .with_context(|| format!("{}: no version or linux line", conf.display()))?;
    uname_of_image(Path::new(linux.trim())).with_context(|| format!("{}: linux {linux}", conf.display()))
}

/// Follows symlinks of a path inside `root` (absolute links are relative to `root`).
fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let mut rel = PathBuf::from(path.trim_start_matches('/'));
    for _ in 0..16 {
        let full = root.join(&rel);
        let Ok(target) = std::fs::read_link(&full) else {
            if !full.exists() {
                bail!("{} does not exist", full.display());
            }
            return Ok(rel);
        };
        rel = if target.is_absolute() {
            target.strip_prefix("/").map(Path::to_path_buf).unwrap_or(target)
        } else {
            rel.parent().map(|p| p.join(&target)).unwrap_or(target)
        };
    }
    bail!(
        "{}: too many levels of symbolic links",
        root.join(path.trim_start_matches('/')).display()
    )
}

fn uname_of_image(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("vmlinuz-").map(str::to_owned)
}

/// Whether a `drbd.ko` (possibly compressed) exists anywhere under `/lib/modules/<uname>/`
/// (`extra/drbd/` for kmods, `weak-updates/` for kABI-compatible ones).
pub fn drbd_module_for(root: &Path, uname: &str) -> bool {
    fn walk(dir: &Path, depth: usize) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if matches!(
                name.as_ref(),
                "drbd.ko" | "drbd.ko.xz" | "drbd.ko.gz" | "drbd.ko.zst"
            ) {
                // A dangling weak-updates link is no module.
                return e.path().exists();
            }
            depth > 0 && e.path().is_dir() && walk(&e.path(), depth - 1)
        })
    }
    walk(&root.join("lib/modules").join(uname), 6)
}

/// `%{VERSION}` of an installed package, None when it is not installed.
pub fn installed_version(root: &Path, package: &str) -> Result<Option<String>> {
    let out = rpm_in(root)
        .args(["-q", "--qf", "%{VERSION}\\n", package])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("is not installed") {
            return Ok(None);
        }
        bail!(
            "`rpm --root {} -q {package}` failed: {}{}",
            root.display(),
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Several versions (installonly packages): the last line is as good as any.
    Ok(stdout.lines().last().map(|v| v.trim().to_owned()))
}

/// Every installed package → `VERSION-RELEASE` (several, comma-separated, for installonly
/// packages such as kernels), `gpg-pubkey` left out.
pub fn installed_packages(root: &Path) -> Result<BTreeMap<String, String>> {
    let text = rpm_in(root)
        .args(["-qa", "--qf", "%{NAME}\\t%{VERSION}-%{RELEASE}\\n"])
        .stdout()
        .with_context(|| format!("cannot list the packages of {}", root.display()))?;
    let mut packages: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, vr)) = line.split_once('\t') else {
            continue;
        };
        if name == "gpg-pubkey" {
            continue;
        }
        packages
            .entry(name.to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(vr);
            })
            .or_insert_with(|| vr.to_owned());
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil;

    #[test]
    fn xcpng_grub_follows_the_xen_symlink() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        fsutil::write(&root.join("boot/vmlinuz-4.19.0+1"), "k")?;
        std::os::unix::fs::symlink("vmlinuz-4.19.0+1", root.join("boot/vmlinuz-4.19-xen"))?;
        fsutil::write(
            &root.join("boot/grub/grub.cfg"),
            "set default=0\nmenuentry 'XCP-ng' {\n\tmultiboot2 /boot/xen.gz\n\tmodule2 /boot/vmlinuz-4.19-xen root=x\n\tmodule2 /boot/initrd-4.19-xen.img\n}\n",
        )?;
        let (uname, _) = default_kernel(root)?;
        assert_eq!(uname, "4.19.0+1");
        Ok(())
    }

    #[test]
    fn bls_reads_saved_entry_and_next_entry_wins() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        for uname in ["4.18.0-553.el8_10.x86_64", "5.14.0-503.el9.x86_64"] {
            fsutil::write(
                &root.join(format!("boot/loader/entries/m-{uname}.conf")),
                format!("title x\nversion {uname}\nlinux /vmlinuz-{uname}\n"),
            )?;
        }
        let env = crate::sysroot::bootloader::grubenv(&[("saved_entry", "m-4.18.0-553.el8_10.x86_64")])?;
        fsutil::write(&root.join("boot/grub2/grubenv"), env)?;
        assert_eq!(default_kernel(root)?.0, "4.18.0-553.el8_10.x86_64");
        let env = crate::sysroot::bootloader::grubenv(&[
            ("saved_entry", "m-4.18.0-553.el8_10.x86_64"),
            ("next_entry", "m-5.14.0-503.el9.x86_64"),
        ])?;
        fsutil::write(&root.join("boot/grub2/grubenv"), env)?;
        assert_eq!(default_kernel(root)?.0, "5.14.0-503.el9.x86_64");
        Ok(())
    }

    #[test]
    fn drbd_module_is_found_under_the_kernels_modules_only() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        fsutil::write(&root.join("lib/modules/4.19.0+1/extra/drbd/drbd.ko"), "m")?;
        assert!(drbd_module_for(root, "4.19.0+1"));
        assert!(!drbd_module_for(root, "5.14.0-503.el9.x86_64"));
        Ok(())
    }
}
