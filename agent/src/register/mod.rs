//! The register step (the fourth step of `provision`): this host as a LINSTOR node, its storage interface
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

mod desired;
mod node;
mod satellite;
mod storage_pool;

use crate::context::Context;
use crate::linstor::{Client, LinstorError, Node};
use crate::report::ReportCore;
use anyhow::Result;
use node::{Retry, converge_node, retry, wait_online};
use satellite::{enable_satellite, satellite_config};
use serde::Serialize;
use std::time::{Duration, Instant};
use storage_pool::{check_pool, converge_pool, plan_pool};

pub use desired::{Desired, PoolSpec, desired, pool_spec};
pub use satellite::satellite_config_text;

/// Where the satellite's own config lives (under the root).
pub const SATELLITE_CONFIG: &str = "/etc/linstor/linstor_satellite.toml";
/// The satellite's systemd unit.
pub const SATELLITE_UNIT: &str = "linstor-satellite.service";
/// The name of the satellite interface the agent creates.
pub const DEFAULT_NETIF: &str = "default";
/// The name of the replication interface (and the `PrefNic` value).
pub const STORAGE_NETIF: &str = "storage";
/// The default for `--timeout`: the deadline of the whole step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Between two tries while waiting for the controller or the node.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    /// For the whole step: the controller answering, and the node coming ONLINE.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub what: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct RegisterReport {
    #[serde(flatten)]
    pub core: ReportCore,
    /// The controller URL that answered, and its LINSTOR version.
    pub controller: Option<String>,
    pub controller_version: Option<String>,
    /// What the node should be (None: nothing to register with yet).
    pub node: Option<Desired>,
    pub diskless: bool,
    /// Done (or, with `--dry-run`, to do).
    pub actions: Vec<Action>,
    /// The node's connection status when the step ended.
    pub connection_status: Option<String>,
}

impl RegisterReport {
    pub(crate) fn act(&mut self, what: &str, detail: impl Into<String>) {
        self.actions.push(Action {
            what: what.to_string(),
            detail: detail.into(),
        });
        if !self.core.dry_run {
            self.core.changed = true;
        }
    }
}

/// Runs the register step.
pub fn run(ctx: &Context, options: &Options) -> Result<RegisterReport> {
    let deadline = Instant::now() + options.timeout;
    // One deadline for the whole step: finding the controller through XAPI, every LINSTOR
    // request (each clipped to the time left), and the wait for ONLINE.
    let Some(resolved) = crate::xostor::controller::resolve_by(ctx, Some(deadline))? else {
        if ctx.settings.xapi()?.is_none() {
            ctx.settings.require_controller("register")?;
        }
        return Ok(no_controller_yet(options.dry_run));
    };
    let group = resolved.xostor.as_ref().map(|x| x.group_name.as_str());
    let desired = desired(ctx, &resolved.settings, group)?;
    let client = Client::new(&resolved.settings)?.with_deadline(deadline);
    let mut report = empty_report(&desired, options.dry_run);
    if report.diskless {
        report
            .core
            .note("no storage devices: the node joins diskless (its VMs read and write over the network)");
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
    refuse_first(&client, &desired, existing.as_ref())?;

    satellite_config(&ctx.sysroot, &desired, apply, &mut report)?;
    enable_satellite(&ctx.sysroot, apply, &mut report)?;
    let created = converge_node(&client, &desired, existing.as_ref(), apply, &mut report)?;
    if !apply {
        report.connection_status = existing.map(|n| n.connection_status);
        plan_pool(&client, &desired, created, &mut report)?;
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

/// A report of `desired` with nothing done yet.
fn empty_report(desired: &Desired, dry_run: bool) -> RegisterReport {
    RegisterReport {
        core: ReportCore::new("register", dry_run),
        controller: None,
        controller_version: None,
        diskless: desired.storage_pool.is_none(),
        node: Some(desired.clone()),
        actions: Vec::new(),
        connection_status: None,
    }
}

/// No `[controller] urls` and no XOSTOR SR in the pool: nothing to register with yet (an
/// XOSTOR pool before `pool create-sr`, whose driver creates the nodes).
fn no_controller_yet(dry_run: bool) -> RegisterReport {
    let mut core = ReportCore::new("register", dry_run);
    core.skip(
        "register: no [controller] urls and no XOSTOR SR in the pool yet; `linstor-agent pool \
         create-sr` creates the SR and its nodes",
    );
    RegisterReport {
        core,
        controller: None,
        controller_version: None,
        node: None,
        diskless: false,
        actions: Vec::new(),
        connection_status: None,
    }
}

/// Every refusal of the node and its storage pool, before anything changes here or on the
/// controller: the node converged as a dry run, into a report thrown away.
fn refuse_first(client: &Client, desired: &Desired, existing: Option<&Node>) -> Result<()> {
    let mut scratch = empty_report(desired, true);
    converge_node(client, desired, existing, false, &mut scratch)?;
    if let (Some(node), Some(pool)) = (existing, &desired.storage_pool) {
        check_pool(client, node, pool)?;
    }
    Ok(())
}

/// The human rendering.
pub fn render(report: &RegisterReport) -> String {
    let mut out = String::new();
    let Some(d) = &report.node else {
        for s in &report.core.skipped {
            out.push_str(&format!("skipped: {s}\n"));
        }
        return out;
    };
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
    let verb = if report.core.dry_run { "would" } else { "did" };
    for a in &report.actions {
        out.push_str(&format!("  {verb}: {}: {}\n", a.what, a.detail));
    }
    for s in &report.core.skipped {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    for n in &report.core.notes {
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

impl crate::output::Render for RegisterReport {
    fn human(&self) -> String {
        render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::node::title_case;
    use super::*;
    use crate::storage;

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
