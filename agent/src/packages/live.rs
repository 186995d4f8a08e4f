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
///
/// Two different outcomes when they differ. DRBD already loaded before the install: the old
/// module stays under the running resources until the next boot (`current: false`, a warning).
/// DRBD loaded just now: the kernel took a module that is not the one installed (the package
/// mislabels its module, or depmod prefers another `drbd.ko`: an in-tree one, `weak-updates`,
/// an `/etc/depmod.d` override). That host would run the wrong DRBD from every boot: an error,
/// with the module unloaded again (nothing uses it yet).
pub fn load_and_check(sysroot: &Sysroot, installed_version: &str) -> Result<ModuleCheck> {
    let sys_module = sysroot.path("/sys/module/drbd");
    let loaded_before = sys_module.exists();
    exec::run(Command::new("modprobe").arg("drbd")).context(
        "modprobe drbd failed: the installed module does not load into the running kernel (see dmesg)",
    )?;
    let path = sys_module.join("version");
    let loaded = std::fs::read_to_string(&path)
        .with_context(|| format!("drbd loaded but {} is unreadable", path.display()))?;
    let check = compare(loaded.trim(), installed_version)?;
    if !check.current && !loaded_before {
        let file = exec::stdout(Command::new("modinfo").args(["-n", "drbd"]))
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|_| "(modinfo -n drbd failed)".to_owned());
        let unloaded = match exec::run(Command::new("modprobe").args(["-r", "drbd"])) {
            Ok(_) => "unloaded it again",
            Err(_) => "could not unload it (modprobe -r drbd failed)",
        };
        return Err(wrong_module(&check, &file, unloaded));
    }
    Ok(check)
}

fn wrong_module(check: &ModuleCheck, file: &str, unloaded: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "modprobe drbd loaded DRBD {loaded} from {file}, but the installed package carries DRBD \
         {installed}; the agent {unloaded}. Either the package's module is not the version it \
         claims, or depmod prefers another drbd.ko (an in-tree one, weak-updates, an override in \
         /etc/depmod.d): check `modinfo -n drbd` and `depmod -a`, then run install again",
        loaded = check.loaded_version,
        installed = check.installed_version,
    )
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

    #[test]
    fn a_wrong_fresh_module_names_both_versions_and_the_file() {
        let check = compare("8.4.11", "9.2.12").unwrap();
        let message =
            wrong_module(&check, "/lib/modules/k/extra/drbd/drbd.ko", "unloaded it again").to_string();
        for part in [
            "DRBD 8.4.11",
            "DRBD 9.2.12",
            "/lib/modules/k/extra/drbd/drbd.ko",
            "modinfo -n drbd",
        ] {
            assert!(message.contains(part), "{part} missing from: {message}");
        }
    }
}
