//! The register step (DESIGN §1, step 4): this host as a LINSTOR node, its storage interface
//! (`PrefNic`) and its storage pool on the controller, the satellite configured and enabled,
//! then a wait until the controller sees the node ONLINE.
//!
//! The node is named by the hostname (XCP-ng's LINSTOR driver finds its node that way), typed
//! `COMBINED` (or `SATELLITE` from `[controller] node_type`), with its satellite interface
//! `default` on the management address, port 3366 (3367 and SSL when the controller is spoken
//! to over HTTPS). With `[network] storage_address`, a second interface `storage` and the node
//! property `PrefNic = storage`. With storage, the pool `xcp-sr-<vg>_<thin>` (`LVM_THIN`) or
//! `xcp-sr-<vg>` (`LVM`); without storage devices the node is diskless (a normal outcome).
//!
//! Idempotence with care: a node that is already there as wanted is left alone. One whose
//! satellite interface differs is updated (net-interface modify) only while it is not ONLINE:
//! an ONLINE node at another address is another machine answering under this name, and is
//! refused (exit 3). A node is never deleted and recreated (that would orphan its volumes).

use crate::app::Context;
use crate::config::ControllerConfig;
use crate::error::{Refusal, UsageError};
use crate::exec;
use crate::host::{Sysroot, facts, inventory};
use crate::linstor::{Client, LinstorError, NetInterface, Node, NodeCreate, PropsModify, StoragePoolCreate};
use crate::network::nic::Cidr;
use crate::storage;
use crate::xapi;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the satellite's own config lives (under the root).
pub const SATELLITE_CONFIG: &str = "/etc/linstor/linstor_satellite.toml";
/// The satellite's systemd unit.
pub const SATELLITE_UNIT: &str = "linstor-satellite.service";
/// The name of the satellite interface the agent creates.
pub const DEFAULT_NETIF: &str = "default";
/// The name of the replication interface (and the `PrefNic` value).
pub const STORAGE_NETIF: &str = "storage";
/// The default for `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Between two tries while waiting for the controller or the node.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    /// For the whole step: the controller answering, and the node coming ONLINE.
    pub timeout: Duration,
}

/// What the node should be.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Desired {
    pub name: String,
    /// `COMBINED` or `SATELLITE`.
    pub node_type: String,
    pub address: String,
    pub port: u16,
    /// `Plain` or `SSL`.
    pub encryption: String,
    pub storage_address: Option<String>,
    /// `None`: a diskless node.
    pub storage_pool: Option<PoolSpec>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    /// `LVM_THIN` or `LVM`.
    pub provider_kind: String,
    /// `StorDriver/StorPoolName`: `vg/thin` or `vg`.
    pub stor_pool_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub what: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct RegisterReport {
    pub command: &'static str,
    pub changed: bool,
    pub dry_run: bool,
    /// The controller URL that answered, and its LINSTOR version.
    pub controller: Option<String>,
    pub controller_version: Option<String>,
    pub node: Desired,
    pub diskless: bool,
    /// Done (or, with `--dry-run`, to do).
    pub actions: Vec<Action>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
    /// The node's connection status when the step ended.
    pub connection_status: Option<String>,
}

impl RegisterReport {
    fn act(&mut self, what: &str, detail: impl Into<String>) {
        self.actions.push(Action {
            what: what.to_string(),
            detail: detail.into(),
        });
        if !self.dry_run {
            self.changed = true;
        }
    }
}

/// What the node should be, from the config, the host and the storage step's result.
pub fn desired(ctx: &Context) -> Result<Desired> {
    let controller = controller_config(ctx)?;
    let name = match &controller.node_name {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        _ => facts::hostname(&ctx.sysroot)?.ok_or_else(|| {
            UsageError(format!(
                "this host has no hostname ({} is missing or empty): set it, or give \
                 [controller] node_name (it must be the hostname XCP-ng knows this host by)",
                ctx.sysroot.path("/etc/hostname").display()
            ))
        })?,
    };
    let node_type = match controller
        .node_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("combined") => "COMBINED",
        Some("satellite") => "SATELLITE",
        Some(other) => {
            return Err(UsageError(format!(
                "[controller] node_type = {other:?} in {}: use \"combined\" (the XCP-ng default) or \"satellite\"",
                ctx.config.sources()
            ))
            .into());
        }
    };
    let tls = controller.urls.iter().any(|u| u.starts_with("https://"));
    let address = management_address(ctx, controller)?;
    let storage_address = match ctx
        .config
        .config
        .network
        .as_ref()
        .and_then(|n| n.storage_address.as_deref())
    {
        Some(a) => Some(crate::network::nic::parse_address(a)?.addr.to_string()),
        None => None,
    };
    let storage_pool = if diskless(ctx) {
        None
    } else {
        let result = storage::inspect(ctx)?.ok_or_else(|| {
            anyhow::anyhow!(
                "the volume group for [storage] is not built yet: run `linstor-agent storage` (or \
                 `provision`) first, or leave [storage] devices empty for a diskless node"
            )
        })?;
        Some(pool_spec(&result))
    };
    Ok(Desired {
        name,
        node_type: node_type.to_string(),
        address,
        port: if tls { 3367 } else { 3366 },
        encryption: if tls { "SSL" } else { "Plain" }.to_string(),
        storage_address,
        storage_pool,
    })
}

/// No `[storage]`, or no devices in it: the node joins diskless.
pub fn diskless(ctx: &Context) -> bool {
    ctx.config
        .config
        .storage
        .as_ref()
        .is_none_or(|s| s.devices.is_empty())
}

/// `xcp-sr-<vg>_<thin>` (`LVM_THIN`) or `xcp-sr-<vg>` (`LVM`), as XCP-ng's driver names them.
pub fn pool_spec(result: &storage::StorageResult) -> PoolSpec {
    match &result.thin_pool {
        Some(thin) => PoolSpec {
            name: format!("xcp-sr-{}_{thin}", result.volume_group),
            provider_kind: "LVM_THIN".into(),
            stor_pool_name: format!("{}/{thin}", result.volume_group),
        },
        None => PoolSpec {
            name: format!("xcp-sr-{}", result.volume_group),
            provider_kind: "LVM".into(),
            stor_pool_name: result.volume_group.clone(),
        },
    }
}

pub fn controller_config(ctx: &Context) -> Result<&ControllerConfig> {
    ctx.config.config.controller.as_ref().ok_or_else(|| {
        UsageError(format!(
            "[controller] is not set in {}: add it with urls = [\"http://<controller>:3370\"] \
             (see README \"Config reference\")",
            ctx.config.sources()
        ))
        .into()
    })
}

/// `[controller] address`, else the management PIF's address through XAPI, else (live) the
/// address of the inventory's `MANAGEMENT_INTERFACE`.
fn management_address(ctx: &Context, controller: &ControllerConfig) -> Result<String> {
    if let Some(address) = &controller.address {
        let parsed: std::net::IpAddr = address.trim().parse().map_err(|_| {
            UsageError(format!(
                "[controller] address = {address:?} in {}: give the management IP address (e.g. \"10.0.0.11\")",
                ctx.config.sources()
            ))
        })?;
        return Ok(parsed.to_string());
    }
    if let Some(x) = &ctx.config.config.xapi {
        let mut client = xapi::Client::new(xapi::Settings::from_config(x, &ctx.config.sources())?)?;
        let host = client.this_host(&ctx.sysroot)?;
        let pifs = client.host_pifs(&host)?;
        client.logout();
        if let Some(pif) = pifs.iter().find(|p| p.management && !p.ip.is_empty()) {
            return Ok(pif.ip.clone());
        }
    }
    if ctx.sysroot.is_live()
        && let Some(device) =
            inventory::load(&ctx.sysroot)?.and_then(|i| i.get("MANAGEMENT_INTERFACE").cloned())
    {
        let out = exec::run_unchecked(Command::new("ip").args(["-o", "-4", "addr", "show", "dev", &device]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let found = text.lines().find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words
                .windows(2)
                .find(|w| w[0] == "inet")
                .and_then(|w| Cidr::parse(w[1]).ok())
        });
        if let Some(cidr) = found {
            return Ok(cidr.addr.to_string());
        }
    }
    Err(UsageError(format!(
        "the management address of this host is unknown (no management PIF address through [xapi], \
         no address on /etc/xensource-inventory's MANAGEMENT_INTERFACE): set [controller] address \
         in {} to the IP the controller reaches this host's satellite at",
        ctx.config.sources()
    ))
    .into())
}

/// The satellite's `linstor_satellite.toml`: where it listens for the controller.
pub fn satellite_config_text(desired: &Desired) -> String {
    let kind = if desired.encryption == "SSL" {
        "ssl"
    } else {
        "plain"
    };
    format!(
        "# Written by linstor-agent (register): where this satellite listens for the controller.\n\
         [netcom]\n  type = \"{kind}\"\n  bind_address = \"{}\"\n  port = {}\n",
        desired.address, desired.port
    )
}

/// Runs the register step.
pub fn run(ctx: &Context, options: &Options) -> Result<RegisterReport> {
    let deadline = Instant::now() + options.timeout;
    let controller = controller_config(ctx)?;
    let desired = desired(ctx)?;
    let client = Client::new(controller)?;
    let mut report = RegisterReport {
        command: "register",
        changed: false,
        dry_run: options.dry_run,
        controller: None,
        controller_version: None,
        diskless: desired.storage_pool.is_none(),
        node: desired.clone(),
        actions: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
        connection_status: None,
    };
    if report.diskless {
        report.notes.push(
            "no storage devices: the node joins diskless (its VMs read and write over the network)".into(),
        );
    }
    let apply = !options.dry_run;

    let version = retry(&client, deadline, options.timeout, || {
        client.version().map_err(|e| match e.downcast::<LinstorError>() {
            Ok(l) => Retry::Linstor(l),
            Err(other) => Retry::Other(other),
        })
    })?;
    report.controller = Some(client.current_url().to_string());
    report.controller_version = Some(version.version.clone());

    let existing = retry(&client, deadline, options.timeout, || {
        client.node(&desired.name).map_err(Retry::Linstor)
    })?;
    // Refusals first, before anything changes here or on the controller.
    let mut scratch = RegisterReport {
        actions: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
        node: desired.clone(),
        controller: None,
        controller_version: None,
        connection_status: None,
        ..report
    };
    scratch.dry_run = true;
    converge_node(&client, &desired, existing.as_ref(), false, &mut scratch)?;
    if let (Some(node), Some(pool)) = (&existing, &desired.storage_pool) {
        check_pool(&client, node, pool)?;
    }

    satellite_config(&ctx.sysroot, &desired, apply, &mut report)?;
    enable_satellite(&ctx.sysroot, apply, &mut report)?;
    let created = converge_node(&client, &desired, existing.as_ref(), apply, &mut report)?;
    if !apply {
        report.connection_status = existing.map(|n| n.connection_status);
        if let Some(pool) = &desired.storage_pool {
            let present = !created
                && client
                    .storage_pools(&desired.name)?
                    .iter()
                    .any(|p| p.storage_pool_name.eq_ignore_ascii_case(&pool.name));
            if !present {
                report.act(
                    "storage pool",
                    format!(
                        "create {} ({}, StorDriver/StorPoolName = {})",
                        pool.name, pool.provider_kind, pool.stor_pool_name
                    ),
                );
            }
        }
        return Ok(report);
    }

    let node = wait_online(
        &client,
        &desired.name,
        deadline,
        options.timeout,
        &version.version,
    )?;
    report.connection_status = Some(node.connection_status.clone());
    if let Some(pool) = &desired.storage_pool {
        converge_pool(&client, &node, pool, &mut report)?;
    }
    Ok(report)
}

fn satellite_config(
    sysroot: &Sysroot,
    desired: &Desired,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<()> {
    let path = sysroot.path(SATELLITE_CONFIG);
    let text = satellite_config_text(desired);
    let current = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if current.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    if apply {
        write_file(&path, &text)?;
    }
    report.act(
        "satellite config",
        format!(
            "{}: listen on {}:{} ({})",
            SATELLITE_CONFIG, desired.address, desired.port, desired.encryption
        ),
    );
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Live: `systemctl enable --now` unless enabled and active. Root: `systemctl --root R enable`
/// unless the wants link is there; without systemctl (or without the unit in the root) the
/// enabling is reported as skipped.
fn enable_satellite(sysroot: &Sysroot, apply: bool, report: &mut RegisterReport) -> Result<()> {
    if sysroot.is_live() {
        let enabled =
            exec::run_unchecked(Command::new("systemctl").args(["is-enabled", "--quiet", SATELLITE_UNIT]))
                .is_ok_and(|o| o.status.success());
        let active =
            exec::run_unchecked(Command::new("systemctl").args(["is-active", "--quiet", SATELLITE_UNIT]))
                .is_ok_and(|o| o.status.success());
        if enabled && active {
            return Ok(());
        }
        if apply {
            exec::run(Command::new("systemctl").args(["enable", "--now", SATELLITE_UNIT]))
                .context("enabling and starting linstor-satellite")?;
        }
        report.act(
            "satellite service",
            format!("systemctl enable --now {SATELLITE_UNIT}"),
        );
        return Ok(());
    }
    report
        .skipped
        .push(format!("systemctl start {SATELLITE_UNIT} (live only)"));
    let wants = sysroot.path(format!(
        "/etc/systemd/system/multi-user.target.wants/{SATELLITE_UNIT}"
    ));
    if wants.symlink_metadata().is_ok() {
        return Ok(());
    }
    let root = sysroot.root().display().to_string();
    if !on_path("systemctl") {
        report.skipped.push(format!(
            "systemctl --root {root} enable {SATELLITE_UNIT}: systemctl is not available here"
        ));
        return Ok(());
    }
    if !apply {
        report.act(
            "satellite service",
            format!("systemctl --root {root} enable {SATELLITE_UNIT}"),
        );
        return Ok(());
    }
    let out =
        exec::run_unchecked(Command::new("systemctl").args(["--root", &root, "enable", SATELLITE_UNIT]))?;
    if out.status.success() {
        report.act(
            "satellite service",
            format!("systemctl --root {root} enable {SATELLITE_UNIT}"),
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        report.skipped.push(format!(
            "systemctl --root {root} enable {SATELLITE_UNIT}: {}",
            if err.is_empty() { "failed".into() } else { err }
        ));
    }
    Ok(())
}

enum Retry {
    Linstor(LinstorError),
    Other(anyhow::Error),
}

/// Calls `f` until it answers; an unreachable controller is tried again until `deadline`,
/// then the error names every URL tried.
fn retry<T>(
    client: &Client,
    deadline: Instant,
    timeout: Duration,
    mut f: impl FnMut() -> std::result::Result<T, Retry>,
) -> Result<T> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match f() {
            Ok(v) => return Ok(v),
            Err(Retry::Linstor(e @ LinstorError::Unreachable { .. })) => {
                if Instant::now() + POLL >= deadline {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the LINSTOR controller did not answer within {}s ({attempts} attempts at {}): \
                         check that it runs (on XCP-ng drbd-reactor starts it where \
                         xcp-persistent-database is Primary) and [controller] urls, then run again",
                        timeout.as_secs(),
                        client.urls().join(", ")
                    )));
                }
                tracing::info!("LINSTOR controller unreachable, trying again: {e}");
                std::thread::sleep(POLL);
            }
            Err(Retry::Linstor(e)) => return Err(e.into()),
            Err(Retry::Other(e)) => return Err(e),
        }
    }
}

/// Creates the node, or checks the one there and updates what LINSTOR allows. Returns whether
/// the node is (to be) created.
fn converge_node(
    client: &Client,
    desired: &Desired,
    existing: Option<&Node>,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<bool> {
    let satellite = NetInterface {
        name: DEFAULT_NETIF.into(),
        address: desired.address.clone(),
        satellite_port: Some(desired.port),
        satellite_encryption_type: Some(desired.encryption.clone()),
        is_active: Some(true),
        uuid: None,
    };
    let storage = desired.storage_address.as_ref().map(|a| NetInterface {
        name: STORAGE_NETIF.into(),
        address: a.clone(),
        ..Default::default()
    });
    let Some(node) = existing else {
        let mut interfaces = vec![satellite];
        interfaces.extend(storage.clone());
        let body = NodeCreate {
            name: desired.name.clone(),
            node_type: title_case(&desired.node_type),
            props: BTreeMap::new(),
            net_interfaces: interfaces,
        };
        if apply {
            client.create_node(&body)?;
        }
        report.act(
            "node",
            format!(
                "create {} ({}) with satellite interface {DEFAULT_NETIF} {}:{}",
                desired.name, desired.node_type, desired.address, desired.port
            ),
        );
        if storage.is_some() {
            set_prefnic(client, desired, apply, report)?;
        }
        return Ok(true);
    };

    if node.flags.iter().any(|f| f == "EVICTED") {
        return Err(Refusal(format!(
            "node {} is EVICTED on the controller: restore it with `linstor node restore {}` once this \
             host is healthy; nothing was changed",
            node.name, node.name
        ))
        .into());
    }
    if !node.node_type.eq_ignore_ascii_case(&desired.node_type) {
        return Err(Refusal(format!(
            "node {} exists as {} but the config wants {}: the agent does not change a node's type \
             (its resources depend on it); change it with `linstor node modify` or set [controller] \
             node_type; nothing was changed",
            node.name, node.node_type, desired.node_type
        ))
        .into());
    }
    let current = node.satellite_interface().cloned();
    let same = current.as_ref().is_some_and(|i| {
        i.address == desired.address
            && i.satellite_port == Some(desired.port)
            && i.satellite_encryption_type
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&desired.encryption))
    });
    if !same {
        let (name, shown) = match &current {
            Some(i) => (
                i.name.clone(),
                format!(
                    "{}:{} ({})",
                    i.address,
                    i.satellite_port.map_or("-".into(), |p| p.to_string()),
                    i.satellite_encryption_type.as_deref().unwrap_or("-")
                ),
            ),
            None => (DEFAULT_NETIF.to_string(), "no satellite interface".to_string()),
        };
        if node.connection_status == "ONLINE" {
            return Err(Refusal(format!(
                "node {} is already registered at {shown} and ONLINE there, but this host's satellite is \
                 {}:{}: another machine answers under this name (or [controller] address is wrong); \
                 the agent never deletes and recreates a node (that orphans its volumes): check which \
                 host is {}, or fix [controller] address; nothing was changed",
                node.name, desired.address, desired.port, node.name
            ))
            .into());
        }
        let modify = NetInterface {
            name: name.clone(),
            ..satellite.clone()
        };
        if apply {
            if current.is_some() {
                client.modify_net_interface(&node.name, &modify)?;
            } else {
                client.create_net_interface(&node.name, &modify)?;
            }
        }
        report.act(
            "satellite interface",
            format!(
                "{} {name}: {shown} -> {}:{} ({})",
                node.name, desired.address, desired.port, desired.encryption
            ),
        );
    }
    if let Some(storage) = &storage {
        match node.interface(STORAGE_NETIF) {
            None => {
                if apply {
                    client.create_net_interface(&node.name, storage)?;
                }
                report.act(
                    "storage interface",
                    format!("create {STORAGE_NETIF} {} on {}", storage.address, node.name),
                );
            }
            Some(i) if i.address != storage.address => {
                if apply {
                    client.modify_net_interface(&node.name, storage)?;
                }
                report.act(
                    "storage interface",
                    format!(
                        "{STORAGE_NETIF} on {}: {} -> {}",
                        node.name, i.address, storage.address
                    ),
                );
            }
            Some(_) => {}
        }
        if node.props.get("PrefNic").map(String::as_str) != Some(STORAGE_NETIF) {
            set_prefnic(client, desired, apply, report)?;
        }
    }
    Ok(false)
}

fn set_prefnic(client: &Client, desired: &Desired, apply: bool, report: &mut RegisterReport) -> Result<()> {
    if apply {
        client.modify_node(
            &desired.name,
            &PropsModify {
                override_props: BTreeMap::from([("PrefNic".to_string(), STORAGE_NETIF.to_string())]),
                ..Default::default()
            },
        )?;
    }
    report.act("PrefNic", format!("{}: PrefNic = {STORAGE_NETIF}", desired.name));
    Ok(())
}

/// `COMBINED` → `Combined`, as python-linstor sends types.
fn title_case(upper: &str) -> String {
    let lower = upper.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Polls the node until the controller sees it ONLINE; the timeout names the status it saw
/// last and what to do about it.
fn wait_online(
    client: &Client,
    name: &str,
    deadline: Instant,
    timeout: Duration,
    controller_version: &str,
) -> Result<Node> {
    loop {
        let last = match client.node(name) {
            Ok(Some(node)) if node.connection_status == "ONLINE" => return Ok(node),
            Ok(Some(node)) => Some(node.connection_status),
            Ok(None) => Some("not registered".to_string()),
            Err(e @ LinstorError::Unreachable { .. }) => Some(format!("controller unreachable: {e}")),
            Err(e) => return Err(e.into()),
        };
        if Instant::now() + POLL >= deadline {
            let status = last.unwrap_or_else(|| "unknown".into());
            let todo = match status.as_str() {
                "VERSION_MISMATCH" => format!(
                    "this host's linstor-satellite is not at the controller's version {controller_version}: \
                     pin linstor-satellite = \"{controller_version}\" in [packages] pin, run `linstor-agent \
                     install`, restart linstor-satellite"
                ),
                "OFFLINE" | "CONNECTED" | "UNKNOWN" => "check that linstor-satellite runs on this host \
                     (`systemctl status linstor-satellite`), listens on the address registered, and that the \
                     firewall lets the controller reach port 3366/3367 (`linstor-agent network`)"
                    .to_string(),
                _ => "check the controller and this host's linstor-satellite, then run again".to_string(),
            };
            return Err(anyhow::anyhow!(
                "node {name} did not come ONLINE within {}s: last status {status}: {todo}",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the pool is there as wanted (`Ok(true)`), absent (`Ok(false)`), or there on
/// another backing (refused).
fn check_pool(client: &Client, node: &Node, pool: &PoolSpec) -> Result<bool> {
    let pools = client.storage_pools(&node.name)?;
    if let Some(found) = pools
        .iter()
        .find(|p| p.storage_pool_name.eq_ignore_ascii_case(&pool.name))
    {
        let backing = found.props.get("StorDriver/StorPoolName").map(String::as_str);
        if found.provider_kind == pool.provider_kind && backing == Some(pool.stor_pool_name.as_str()) {
            return Ok(true);
        }
        return Err(Refusal(format!(
            "storage pool {} on node {} is {} on {} but this host's storage is {} on {}: the agent does not \
             replace a storage pool (its volumes live there); fix [storage] or the pool by hand; nothing \
             was changed",
            pool.name,
            node.name,
            found.provider_kind,
            backing.unwrap_or("(none)"),
            pool.provider_kind,
            pool.stor_pool_name
        ))
        .into());
    }
    Ok(false)
}

/// Creates the storage pool, or checks the one there.
fn converge_pool(client: &Client, node: &Node, pool: &PoolSpec, report: &mut RegisterReport) -> Result<()> {
    if check_pool(client, node, pool)? {
        return Ok(());
    }
    let body = StoragePoolCreate {
        storage_pool_name: pool.name.clone(),
        provider_kind: pool.provider_kind.clone(),
        props: BTreeMap::from([("StorDriver/StorPoolName".to_string(), pool.stor_pool_name.clone())]),
    };
    if let Err(e) = client.create_storage_pool(&node.name, &body) {
        let mut err = anyhow::Error::new(e);
        if let Some(reasons) = node.unsupported_providers.get(&pool.provider_kind) {
            err = err.context(format!(
                "the satellite on {} cannot serve {}: {}",
                node.name,
                pool.provider_kind,
                reasons.join("; ")
            ));
        }
        return Err(err.context(format!("creating storage pool {} on {}", pool.name, node.name)));
    }
    report.act(
        "storage pool",
        format!(
            "create {} ({}, StorDriver/StorPoolName = {})",
            pool.name, pool.provider_kind, pool.stor_pool_name
        ),
    );
    Ok(())
}

/// The human rendering.
pub fn render(report: &RegisterReport) -> String {
    let mut out = String::new();
    let d = &report.node;
    out.push_str(&format!(
        "node {} ({}) satellite {}:{} ({})",
        d.name, d.node_type, d.address, d.port, d.encryption
    ));
    if let Some(s) = &d.storage_address {
        out.push_str(&format!(", storage interface {s} (PrefNic)"));
    }
    out.push('\n');
    match &d.storage_pool {
        Some(p) => out.push_str(&format!(
            "storage pool {} ({}, {})\n",
            p.name, p.provider_kind, p.stor_pool_name
        )),
        None => out.push_str("diskless: no storage pool\n"),
    }
    if let (Some(url), Some(v)) = (&report.controller, &report.controller_version) {
        out.push_str(&format!("controller {url} (LINSTOR {v})\n"));
    }
    let verb = if report.dry_run { "would" } else { "did" };
    for a in &report.actions {
        out.push_str(&format!("  {verb}: {}: {}\n", a.what, a.detail));
    }
    for s in &report.skipped {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    for n in &report.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    if let Some(status) = &report.connection_status {
        out.push_str(&format!("node status: {status}\n"));
    }
    if report.actions.is_empty() {
        out.push_str("nothing to change\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_names_follow_xcp_ng() {
        let thin = storage::StorageResult {
            volume_group: "linstor_group".into(),
            thin_pool: Some("thin_device".into()),
            size_bytes: 1,
            devices: vec!["/dev/sdb".into()],
        };
        let spec = pool_spec(&thin);
        assert_eq!(spec.name, "xcp-sr-linstor_group_thin_device");
        assert_eq!(spec.provider_kind, "LVM_THIN");
        assert_eq!(spec.stor_pool_name, "linstor_group/thin_device");
        let thick = storage::StorageResult {
            thin_pool: None,
            ..thin
        };
        let spec = pool_spec(&thick);
        assert_eq!(spec.name, "xcp-sr-linstor_group");
        assert_eq!(spec.provider_kind, "LVM");
        assert_eq!(spec.stor_pool_name, "linstor_group");
    }

    #[test]
    fn satellite_config_names_address_and_port() {
        let d = Desired {
            name: "h".into(),
            node_type: "COMBINED".into(),
            address: "10.0.0.11".into(),
            port: 3366,
            encryption: "Plain".into(),
            storage_address: None,
            storage_pool: None,
        };
        let text = satellite_config_text(&d);
        assert!(text.contains("[netcom]"));
        assert!(text.contains("type = \"plain\""));
        assert!(text.contains("bind_address = \"10.0.0.11\""));
        assert!(text.contains("port = 3366"));
        assert_eq!(title_case("COMBINED"), "Combined");
    }
}
