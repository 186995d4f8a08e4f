//! A simulated pool on this machine: `testbed up` builds it under a directory and starts its
//! servers in the background; `status`, `fault` and `down` talk to it through that directory.
//!
//! ```text
//! DIR/pool.json        where everything is (PoolInfo): API URLs, credentials, hosts
//! DIR/world.json       what the server daemon builds the world from (WorldInput)
//! DIR/testbed.pid      the daemon (`testbed serve --dir DIR`), DIR/testbed.log its output
//! DIR/xapi.secret      the XAPI password (0600), for agent.toml's password_file
//! DIR/disks.json       loop devices attached for --disks (released by `down`)
//! DIR/hosts/NAME/      root/ (the sysroot), dnf/
//! DIR/hosts/NAME/root/etc/linstor-agent/agent.toml   the host's agent config
//! DIR/hosts/NAME/root/etc/xapi.d/plugins/linstor-agent  the project's XAPI plugin
//! DIR/hosts/NAME/root/etc/xapi.d/plugins/linstor-manager  marks Vates' plugin installed (the
//!                      simulated XAPI answers it; not with `linstor_manager_plugin = false`)
//! DIR/hosts/NAME/root/etc/lvm/lvm.conf   with --disks: LVM sees the host's own disk only
//! DIR/disks/NAME.img   sparse file behind a host's loop device
//! ```
//!
//! Hosts have management addresses of their own on loopback (`addresses`): the LINSTOR
//! controller answers on `<host address>:3370` of the host it runs on only (pool.json's
//! per-host `controller_url`), and on `linstor_url` wherever it runs.

pub mod addresses;
pub mod client;
pub mod control;
pub mod daemon;
pub mod disks;
pub mod hosts;
pub mod lifecycle;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::world::Credentials;
use crate::world::build::HostSpec;
use crate::world::scenario::Resolved;

pub const POOL_JSON: &str = "pool.json";
pub const WORLD_JSON: &str = "world.json";
pub const PID_FILE: &str = "testbed.pid";
pub const LOG_FILE: &str = "testbed.log";
pub const SECRET_FILE: &str = "xapi.secret";
pub const DISKS_JSON: &str = "disks.json";

/// `DIR/pool.json`: how tests and the agent reach the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    pub dir: PathBuf,
    /// XML-RPC at this URL (`/`), JSON-RPC at `<xapi_url>jsonrpc`.
    pub xapi_url: String,
    pub linstor_url: String,
    /// The testbed's own endpoint: `GET /status`, `POST /fault`, `GET /state`.
    pub control_url: String,
    pub username: String,
    pub password: String,
    /// The password in a 0600 file, as agent.toml's `[xapi] password_file` wants it.
    pub password_file: PathBuf,
    /// The fixture repository directory (`FixtureRepo::open`), and its baseurl.
    pub repo: PathBuf,
    pub repo_baseurl: String,
    pub controller_version: String,
    pub time_scale: f64,
    pub pid: u32,
    pub log: PathBuf,
    /// The agent binary plugins run on this pool's hosts (`LINSTOR_AGENT_BIN`), if known.
    #[serde(default)]
    pub agent_bin: Option<PathBuf>,
    pub hosts: Vec<HostInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub uuid: String,
    pub root: PathBuf,
    /// `<root>/etc/linstor-agent/agent.toml`.
    pub config: PathBuf,
    pub address: String,
    /// The loop device behind its storage (`--disks`), else null.
    pub disk: Option<String>,
    /// Joining the pool (`--join`): no LINSTOR node yet.
    #[serde(default)]
    pub joining: bool,
    /// The LINSTOR controller's REST API on this host's address (`http://<address>:3370`): it
    /// answers only while the controller runs on this host.
    #[serde(default)]
    pub controller_url: Option<String>,
}

/// `DIR/world.json`: written by `up`, read by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldInput {
    pub scenario: Resolved,
    pub hosts: Vec<HostInput>,
    pub credentials: Credentials,
    pub repo: PathBuf,
    pub repo_baseurl: String,
    #[serde(default)]
    pub agent_bin: Option<PathBuf>,
    /// The controller's port on every host's address (None: only `linstor_url`).
    #[serde(default)]
    pub controller_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInput {
    pub name: String,
    pub root: PathBuf,
    pub config: PathBuf,
    pub address: String,
    pub disk: Option<String>,
    pub disk_kib: Option<u64>,
}

impl HostInput {
    pub fn spec(&self) -> HostSpec {
        HostSpec {
            name: self.name.clone(),
            root: self.root.clone(),
            config: self.config.clone(),
            address: self.address.clone(),
            disk: self.disk.clone().zip(self.disk_kib),
        }
    }
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fsutil::read_to_string(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not what testbed wrote there", path.display()))
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot serialize")?;
    fsutil::write_atomic(path, text + "\n")
}

/// Reads `DIR/pool.json`; the error says how to get one.
pub fn pool_info(dir: &Path) -> Result<PoolInfo> {
    let path = dir.join(POOL_JSON);
    if !path.exists() {
        anyhow::bail!(
            "no pool in {}: {} is missing (start one with `testbed up --dir {}`)",
            dir.display(),
            path.display(),
            dir.display()
        );
    }
    read_json(&path)
}
