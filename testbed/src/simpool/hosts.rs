//! The pool's host sysroots, provisioned as members of an existing XOSTOR pool (DRBD module,
//! LINSTOR satellite and controller installed at the controller's version), each with the
//! project's XAPI plugin in `/etc/xapi.d/plugins/linstor-agent` and its agent configuration
//! where a real host keeps it, `/etc/linstor-agent/agent.toml` (the agent's default under
//! `--root`, which the plugin relies on).
//!
//! dnf is the slow part (about a second a run), and every host of a fresh pool holds the
//! same packages. So one template host is built and provisioned once per pool, then copied
//! (`cp -a`) to each host, whose identity files (hostname, machine-id, xensource-inventory)
//! and boot loader configuration (it names the root label) are rewritten for that host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cmd::Cmd;
use crate::fixture::FixtureRepo;
use crate::fixture::catalog::{
    KERNEL_XCPNG_38, KMOD_NAME, KMOD_XCPNG_9_2_11, KMOD_XCPNG_9_2_12, POOL_USERLAND,
};
use crate::fsutil;
use crate::sysroot::{self, HostOptions, HostRoot, Identity, bootloader, dnf, identity};

/// The agent binary's environment override.
pub const AGENT_BIN_ENV: &str = "LINSTOR_AGENT_BIN";
const TEMPLATE: &str = "template";
/// A host's agent configuration, relative to its root (the agent's default `--config`).
pub const AGENT_CONFIG: &str = "etc/linstor-agent/agent.toml";
/// Where the project's XAPI plugin goes, relative to a host's root.
pub const PLUGIN_PATH: &str = "etc/xapi.d/plugins/linstor-agent";
/// A host's LVM configuration, relative to its root.
pub const LVM_CONF: &str = "etc/lvm/lvm.conf";
/// The project's XAPI plugin, built into the testbed so every pool host gets the one of this
/// checkout.
pub const LINSTOR_AGENT_PLUGIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../specs/files/xapi-plugin/linstor-agent"
));

/// How hosts get their DRBD module and LINSTOR packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioner {
    /// `linstor-agent --root R --config C install`, as an operator would.
    Agent(PathBuf),
    /// Straight from dnf, with the kernel (for tests that must not depend on the agent).
    Packages,
}

/// A built host: `<dir>/<name>/root`, its config in `root/etc/linstor-agent/agent.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltHost {
    pub name: String,
    pub root: PathBuf,
    pub config: PathBuf,
}

/// The agent binary: `$LINSTOR_AGENT_BIN`, else beside this executable (or one directory up,
/// for test binaries in `target/debug/deps`).
pub fn find_agent_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(AGENT_BIN_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{AGENT_BIN_ENV}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let dirs = exe.ancestors().skip(1).take(2);
    for dir in dirs {
        let candidate = dir.join("linstor-agent");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "cannot find the linstor-agent binary beside {}: build it (`cargo build -p linstor-agent`) \
         or set {AGENT_BIN_ENV}",
        exe.display()
    )
}

/// `[packages]` of agent.toml.
#[derive(Debug, Clone, Serialize)]
struct PackagesSection<'a> {
    kmod: &'a str,
    userland: Vec<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pin: &'a BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
struct RepoSection {
    baseurl: String,
    gpgkey: String,
    fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
struct ControllerSection {
    urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct XapiSection {
    url: String,
    username: String,
    password_file: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
struct AgentToml<'a> {
    repo: RepoSection,
    packages: PackagesSection<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<ControllerSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xapi: Option<XapiSection>,
}

/// Where a host's agent finds the pool's APIs (known once the servers run).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub linstor_url: String,
    pub xapi_url: String,
    pub username: String,
    pub password_file: PathBuf,
}

/// Writes a host's agent.toml: the fixture repository, the pinned packages, and (once the
/// servers run) the controller and XAPI.
pub fn write_agent_config(
    path: &Path,
    repo: &FixtureRepo,
    pin: &BTreeMap<String, String>,
    endpoints: Option<&Endpoints>,
) -> Result<()> {
    let toml = AgentToml {
        repo: RepoSection {
            baseurl: repo.baseurl(),
            gpgkey: repo.key_path.display().to_string(),
            fingerprint: repo.fingerprint.clone(),
        },
        packages: PackagesSection {
            kmod: KMOD_NAME,
            userland: POOL_USERLAND.to_vec(),
            pin,
        },
        controller: endpoints.map(|e| ControllerSection {
            urls: vec![e.linstor_url.clone()],
        }),
        xapi: endpoints.map(|e| XapiSection {
            url: e.xapi_url.clone(),
            username: e.username.clone(),
            password_file: e.password_file.clone(),
        }),
    };
    let text = toml::to_string(&toml).context("cannot serialize agent.toml")?;
    fsutil::write(path, text)
}

/// Builds `names` under `dir` (`dir/<name>/`), provisioned with `pin`ned packages.
pub fn build_hosts(
    dir: &Path,
    names: &[String],
    repo: &FixtureRepo,
    pin: &BTreeMap<String, String>,
    provisioner: &Provisioner,
) -> Result<Vec<BuiltHost>> {
    let staging = dir.join(".template");
    let template = build_template(&staging, repo, pin, provisioner)?;
    let mut hosts = Vec::with_capacity(names.len());
    for name in names {
        hosts.push(copy_template(&template, dir, name).with_context(|| format!("host {name}"))?);
    }
    std::fs::remove_dir_all(&staging).with_context(|| format!("cannot remove {}", staging.display()))?;
    Ok(hosts)
}

fn build_template(
    staging: &Path,
    repo: &FixtureRepo,
    pin: &BTreeMap<String, String>,
    provisioner: &Provisioner,
) -> Result<HostRoot> {
    let extra = match provisioner {
        Provisioner::Agent(_) => Vec::new(),
        Provisioner::Packages => package_specs(pin)?,
    };
    let opts = HostOptions {
        extra_packages: extra,
        ..HostOptions::default()
    };
    let mut host = sysroot::build_host(staging, TEMPLATE, repo, &[KERNEL_XCPNG_38.nevra], &opts)?;
    // The config lives in the root, where the agent (and the plugin that runs it) looks by
    // default; the one `build_host` left beside the root would only mislead.
    std::fs::remove_file(&host.config).with_context(|| format!("cannot remove {}", host.config.display()))?;
    host.config = host.root.join(AGENT_CONFIG);
    write_agent_config(&host.config, repo, pin, None)?;
    if let Provisioner::Agent(agent) = provisioner {
        let result = Cmd::new(agent)
            .arg("--root")
            .arg(&host.root)
            .arg("--config")
            .arg(&host.config)
            .arg("install")
            .run();
        // The agent's dnf may leave a gpg-agent behind for the repository key.
        dnf::stop_gpg_agents(&host.root);
        result.context("provisioning the template host with `linstor-agent install`")?;
    }
    install_plugin(&host.root)?;
    Ok(host)
}

/// Installs the project's XAPI plugin into a host root, executable as XAPI requires.
pub fn install_plugin(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(PLUGIN_PATH);
    fsutil::write(&path, LINSTOR_AGENT_PLUGIN)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Marks Vates' `linstor-manager` plugin installed on a host (the simulated XAPI answers it
/// where this file is).
pub fn install_linstor_manager(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = root
        .join(crate::xapi_face::plugin::PLUGIN_DIR)
        .join(crate::xapi_face::linstor_manager::NAME);
    fsutil::write(&path, crate::xapi_face::linstor_manager::MARKER)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// A host's `etc/lvm/lvm.conf`: LVM sees its own disk (`--disks`) and nothing else (no disk:
/// nothing), so hosts sharing this machine never see each other's volume groups, and the
/// world's LVM queries (`world::lvm`) see what the host would. The agent's storage step puts
/// its DRBD rejection in front of this filter.
pub fn write_lvm_conf(root: &Path, disk: Option<&str>) -> Result<()> {
    let disks: Vec<&str> = disk.into_iter().collect();
    let text = lvm_conf("# testbed: this host's LVM sees its own disk only.", &disks);
    fsutil::write(&root.join(LVM_CONF), text)
}

/// An lvm.conf under which LVM sees `disks` and nothing else (no devices file, no udev, no
/// hints: loop devices of other hosts and tests stay invisible), headed by `comment`.
pub fn lvm_conf(comment: &str, disks: &[&str]) -> String {
    let mut filter: Vec<String> = disks.iter().map(|d| format!("\"a|^{d}$|\"")).collect();
    filter.push("\"r|.*|\"".into());
    format!(
        "{comment}\n\
         devices {{\n\
         \tglobal_filter = [ {} ]\n\
         \tuse_devicesfile = 0\n\
         \tobtain_device_list_from_udev = 0\n\
         \thints = \"none\"\n\
         }}\n\
         activation {{\n\
         \tudev_sync = 0\n\
         \tudev_rules = 0\n\
         }}\n",
        filter.join(", ")
    )
}

/// dnf specs for the packages the agent would install (Packages provisioner): the XCP-ng
/// kmod (the newest or the pinned one) and the userland, pinned where asked.
fn package_specs(pin: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let kmod = match pin.get(KMOD_NAME).map(String::as_str) {
        None => KMOD_XCPNG_9_2_12,
        Some(v) if v == KMOD_XCPNG_9_2_12.version => KMOD_XCPNG_9_2_12,
        Some(v) if v == KMOD_XCPNG_9_2_11.version => KMOD_XCPNG_9_2_11,
        Some(v) => bail!(
            "no XCP-ng kmod-drbd {v} in the fixture (there are {} and {})",
            KMOD_XCPNG_9_2_11.version,
            KMOD_XCPNG_9_2_12.version
        ),
    };
    let mut specs = vec![kmod.nevra.to_owned()];
    for name in POOL_USERLAND {
        specs.push(match pin.get(*name) {
            Some(v) => format!("{name}-{v}"),
            None => (*name).to_owned(),
        });
    }
    Ok(specs)
}

fn copy_template(template: &HostRoot, dir: &Path, name: &str) -> Result<BuiltHost> {
    identity::validate_name(name)?;
    let host_dir = fsutil::absolute(&dir.join(name))?;
    if host_dir.exists() {
        bail!(
            "{} already exists; remove it or choose another name",
            host_dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Cmd::new("cp")
        .arg("-a")
        .arg(template.host_dir())
        .arg(&host_dir)
        .run()?;
    let root = host_dir.join("root");
    let id = Identity::for_host(name);
    let etc = root.join("etc");
    fsutil::write(&etc.join("hostname"), format!("{name}\n"))?;
    fsutil::write(&etc.join("machine-id"), format!("{}\n", id.machine_id))?;
    fsutil::write(&etc.join("xensource-inventory"), identity::inventory(name, &id))?;
    if template.boot_loader == sysroot::BootLoader::Bls {
        // Entries are named after the machine id: drop the template's.
        let entries = root.join("boot/loader/entries");
        if entries.exists() {
            std::fs::remove_dir_all(&entries)
                .with_context(|| format!("cannot remove {}", entries.display()))?;
        }
    }
    bootloader::write(
        &root,
        template.boot_loader,
        &template.kernels,
        &template.default_kernel,
        &id,
    )
    .with_context(|| format!("boot configuration of {}", root.display()))?;
    Ok(BuiltHost {
        name: name.to_owned(),
        config: root.join(AGENT_CONFIG),
        root,
    })
}
