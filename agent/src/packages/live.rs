//! Live-only module work after an install: rebuild module dependencies for every served kernel,
//! load DRBD, and check that the loaded module is the version that was installed.

use crate::exec;
use crate::host::Sysroot;
use crate::report::ReportCore;
use anyhow::{Context, Result, bail};
use std::process::Command;

/// What happened to the module on a live host, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleCheck {
    pub loaded_version: String,
    pub installed_version: String,
    /// False when an older DRBD was already loaded: the new one is used from the next boot or
    /// the next reload, which the agent never forces under running resources.
    pub current: bool,
}

/// `depmod -a` for each kernel.
pub fn depmod(kernels: &[String]) -> Result<()> {
    for uname in kernels {
        exec::run(Command::new("depmod").args(["-a", uname]))
            .with_context(|| format!("depmod for kernel {uname} failed"))?;
    }
    Ok(())
}

/// [`depmod`] on a live host; under `--root` (not the running system) reported as skipped.
pub fn depmod_or_skip(sysroot: &Sysroot, kernels: &[String], core: &mut ReportCore) -> Result<()> {
    if sysroot.is_live() {
        depmod(kernels)
    } else {
        core.skip(format!(
            "depmod -a {} (--root: not the running system)",
            kernels.join(" ")
        ));
        Ok(())
    }
}

/// `modprobe drbd`, then compares `/sys/module/drbd/version` with the installed DRBD version.
pub fn load_and_check(sysroot: &Sysroot, installed_version: &str) -> Result<ModuleCheck> {
    exec::run(Command::new("modprobe").arg("drbd")).context(
        "modprobe drbd failed: the installed module does not load into the running kernel (see dmesg)",
    )?;
    let path = sysroot.path("/sys/module/drbd/version");
    let loaded = std::fs::read_to_string(&path)
        .with_context(|| format!("drbd loaded but {} is unreadable", path.display()))?;
    compare(loaded.trim(), installed_version)
}

fn compare(loaded: &str, installed_version: &str) -> Result<ModuleCheck> {
    if loaded.is_empty() {
        bail!("/sys/module/drbd/version is empty: the loaded module is not a DRBD 9 module");
    }
    // The kernel reports `9.2.12` (sometimes with a suffix such as `9.2.12-1`).
    let current = loaded == installed_version || loaded.starts_with(&format!("{installed_version}-"));
    Ok(ModuleCheck {
        loaded_version: loaded.into(),
        installed_version: installed_version.into(),
        current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_version_is_compared_with_the_installed_one() {
        assert!(compare("9.2.12", "9.2.12").unwrap().current);
        assert!(compare("9.2.12-1", "9.2.12").unwrap().current);
        assert!(!compare("9.2.11", "9.2.12").unwrap().current);
        assert!(!compare("9.2.120", "9.2.12").unwrap().current);
        assert!(compare("", "9.2.12").is_err());
    }
}
