//! Host sysroots: a directory per simulated XCP-ng host, for the agent's `--root`.
//!
//! [`build_host`] lays out what the agent reads to learn who the host is (os-release,
//! hostname, xensource-inventory), installs the requested kernels from a
//! [`FixtureRepo`] with `dnf --installroot` — signature checks on, as on a real host —
//! writes the boot loader configuration that names the default kernel, and writes the
//! `agent.toml` that points the agent at the same repository.
//!
//! ```text
//! <dir>/<name>/root/          the host's filesystem (the agent's --root)
//! <dir>/<name>/agent.toml     its configuration
//! <dir>/<name>/dnf/           dnf.conf and yum.repos.d/testbed.repo used to build it
//! ```

pub mod bootloader;
pub mod config;
pub mod dnf;
pub mod firmware;
pub mod identity;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use bootloader::BootLoader;
pub use config::AgentConfig;
pub use dnf::{InstalledKernel, rpm_in};
pub use identity::Identity;

use crate::fixture::FixtureRepo;
use crate::fsutil;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// The uname of the kernel the boot loader boots by default; `None`: the newest
    /// installed kernel (as after a kernel update). Must be one of the installed kernels.
    pub default_kernel: Option<String>,
    pub boot_loader: BootLoader,
    /// More packages to install with the kernels (names or NEVRAs), e.g. an old
    /// kmod-drbd and userland for a host that was provisioned before.
    pub extra_packages: Vec<String>,
}

/// A built host sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    pub name: String,
    /// The host's filesystem: pass it as the agent's `--root`.
    pub root: PathBuf,
    /// `<dir>/<name>/agent.toml`.
    pub config: PathBuf,
    /// The installed kernels, from the root's rpmdb.
    pub kernels: Vec<InstalledKernel>,
    /// The uname the boot configuration boots by default.
    pub default_kernel: String,
    pub boot_loader: BootLoader,
    pub identity: Identity,
}

impl HostRoot {
    /// `<dir>/<name>`, which holds `root/`, `agent.toml` and `dnf/`.
    pub fn host_dir(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    /// `rpm --root <root>`, for queries of the host's rpmdb.
    pub fn rpm(&self) -> crate::cmd::Cmd {
        rpm_in(&self.root)
    }
}

/// Builds host `name` under `<dir>/<name>/`, with `kernels` (NEVRAs, with or without the
/// arch) installed from `repo`.
pub fn build_host(
    dir: &Path,
    name: &str,
    repo: &FixtureRepo,
    kernels: &[&str],
    opts: &HostOptions,
) -> Result<HostRoot> {
    identity::validate_name(name)?;
    if kernels.is_empty() {
        bail!("host {name}: give at least one kernel to install");
    }
    let host_dir = fsutil::absolute(&dir.join(name))?;
    let root = host_dir.join("root");
    if root.exists() {
        bail!(
            "host {name}: {} already exists; remove it or choose another name",
            root.display()
        );
    }
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;

    let id = Identity::for_host(name);
    identity::write(&root, name, &id).with_context(|| format!("host {name}: identity files"))?;

    let dnf = dnf::DnfConfig::write(&host_dir.join("dnf"), repo)?;
    let mut specs: Vec<&str> = kernels.to_vec();
    specs.extend(opts.extra_packages.iter().map(String::as_str));
    dnf.install(&root, &specs)
        .with_context(|| format!("host {name}: installing packages"))?;
    check_installed(&root, kernels).with_context(|| format!("host {name}"))?;

    let installed = dnf::installed_kernels(&root)?;
    let default_kernel =
        choose_default(&installed, opts.default_kernel.as_deref()).with_context(|| format!("host {name}"))?;
    let boot_loader = opts.boot_loader.resolve(&installed);
    bootloader::write(&root, boot_loader, &installed, &default_kernel, &id)
        .with_context(|| format!("host {name}: boot configuration"))?;

    let config = host_dir.join("agent.toml");
    AgentConfig::for_repo(repo).write(&config)?;

    Ok(HostRoot {
        name: name.to_owned(),
        root,
        config,
        kernels: installed,
        default_kernel,
        boot_loader,
        identity: id,
    })
}

/// dnf exits 0 when a NEVRA it was asked for is already satisfied by something else;
/// make sure each requested kernel really is in the rpmdb.
fn check_installed(root: &Path, nevras: &[&str]) -> Result<()> {
    let out = rpm_in(root).arg("-q").args(nevras).output()?;
    if !out.status.success() {
        bail!(
            "requested packages are not installed: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

fn choose_default(kernels: &[InstalledKernel], wanted: Option<&str>) -> Result<String> {
    if let Some(uname) = wanted {
        if kernels.iter().any(|k| k.uname == uname) {
            return Ok(uname.to_owned());
        }
        bail!(
            "default kernel {uname} is not installed (installed: {})",
            kernels
                .iter()
                .map(|k| k.uname.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    kernels
        .iter()
        // rpm's own ordering, from the same library the agent orders versions with.
        .max_by_key(|k| rpmrepo_metadata::Evr::new("0", &k.version, &k.release))
        .map(|k| k.uname.clone())
        .context("no kernel is installed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(version: &str, release: &str, uname: &str) -> InstalledKernel {
        InstalledKernel {
            nevra: format!("kernel-{version}-{release}.x86_64"),
            version: version.into(),
            release: release.into(),
            uname: uname.into(),
        }
    }

    #[test]
    fn default_is_newest_unless_given() -> Result<()> {
        let kernels = [
            k("4.18.0", "553.5.1.el8_10", "4.18.0-553.5.1.el8_10.x86_64"),
            k("4.18.0", "553.el8_10", "4.18.0-553.el8_10.x86_64"),
        ];
        assert_eq!(choose_default(&kernels, None)?, "4.18.0-553.5.1.el8_10.x86_64");
        assert_eq!(
            choose_default(&kernels, Some("4.18.0-553.el8_10.x86_64"))?,
            "4.18.0-553.el8_10.x86_64"
        );
        assert!(choose_default(&kernels, Some("6.6.0")).is_err());
        assert!(choose_default(&[], None).is_err());
        Ok(())
    }
}
