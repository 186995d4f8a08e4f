//! The network step: sysctl, DRBD transport options, firewall, storage NIC, and the peer check
//! at the chosen MTU.
//!
//! `network` plans first (every change with its from → to), then applies only what differs, so
//! a second run changes nothing. Files are written under the sysroot; live-only actions
//! (`sysctl -w`, `iptables-restore`, `ip`) are skipped under `--root` and reported as skipped.

pub mod firewall;
mod firewall_step;
pub mod modprobe;
pub mod nic;
pub mod peers;
pub mod sysctl;

use crate::context::Context;
use crate::host::{FileMode, Sysroot, inventory, rootfs};
use crate::report::ReportCore;
use crate::settings::{FirewallSource, NetworkSettings};
use crate::xapi;
use anyhow::{Context as _, Result};
use nic::{Cidr, Wanted};
use std::collections::BTreeMap;
use std::path::Path;

/// One change, planned (`--dry-run`) or made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub what: String,
    pub target: String,
    pub from: String,
    pub to: String,
}

/// A sysctl value the kernel refused (the rest still apply).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefusedKey {
    pub key: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkReport {
    #[serde(flatten)]
    pub core: ReportCore,
    /// Made, or (with `--dry-run`) to be made.
    pub changes: Vec<Change>,
    pub refused: Vec<RefusedKey>,
    /// The peer check, per peer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<peers::PeerResult>,
    /// A dry run on a live host with peers: applying would run the peer check, which a plan
    /// does not (so a plan with no change does not prove the step converged).
    #[serde(skip)]
    pub peer_check_due: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub skip_peer_check: bool,
}

fn absent_or(text: Option<&String>) -> String {
    text.cloned().unwrap_or_else(|| "unset".into())
}

/// `key = value` lines of a sysctl.d file.
fn parse_sysctl_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), sysctl::normalise(v)))
        .collect()
}

/// The host file's text (links followed inside the root), `None` when it does not exist.
fn read_optional(sysroot: &Sysroot, host_path: &str) -> Result<Option<String>> {
    rootfs::read_optional(sysroot, Path::new(host_path))
        .with_context(|| format!("cannot read {}", sysroot.path(host_path).display()))
}

/// Replaces the host file atomically inside the root, keeping an existing file's permissions.
fn write_file(sysroot: &Sysroot, host_path: &str, text: &str) -> Result<()> {
    sysroot
        .write_file(host_path, text.as_bytes(), FileMode::KeepOr(0o644))
        .map(drop)
}

/// The management network: the management PIF through XAPI, else (live) the address of the
/// inventory's `MANAGEMENT_INTERFACE`.
fn management_network(sysroot: &Sysroot, pifs: Option<&[xapi::Pif]>) -> Result<Option<String>> {
    if let Some(pifs) = pifs {
        return Ok(pifs
            .iter()
            .find(|p| p.management)
            .and_then(|p| Cidr::from_netmask(&p.ip, &p.netmask))
            .map(|c| c.network()));
    }
    Ok(nic::management_cidr(sysroot)?.map(|c| c.network()))
}

/// The networks `[network] firewall_sources` names (empty: every source, as the driver opens
/// the ports). `management` unknown is an error: a restriction that cannot be built is not
/// silently widened.
fn firewall_sources(
    sysroot: &Sysroot,
    net: &NetworkSettings,
    pifs: Option<&[xapi::Pif]>,
) -> Result<Vec<String>> {
    let mut sources: Vec<String> = Vec::new();
    for source in &net.firewall_sources {
        let network = match source {
            FirewallSource::Network(cidr) => cidr.network(),
            FirewallSource::Storage => match net.storage_address {
                Some(a) => a.network(),
                None => continue,
            },
            FirewallSource::Management => management_network(sysroot, pifs)?.ok_or_else(|| {
                crate::error::UsageError(
                    "[network] firewall_sources names \"management\", but the management network is \
                     unknown here (no [xapi], no management interface address): list it as a CIDR"
                        .into(),
                )
            })?,
        };
        if !sources.contains(&network) {
            sources.push(network);
        }
    }
    Ok(sources)
}

/// Runs the network step.
pub fn run(ctx: &Context, options: Options) -> Result<NetworkReport> {
    let sysroot = &ctx.sysroot;
    let net = &ctx.settings.network;
    let mut report = NetworkReport {
        core: ReportCore::new("network", options.dry_run),
        changes: Vec::new(),
        refused: Vec::new(),
        peers: Vec::new(),
        peer_check_due: false,
    };
    let apply = !options.dry_run;

    // XAPI first: the storage NIC and the management network come from it.
    let mut client = match ctx.settings.xapi()? {
        Some(x) => Some(xapi::Client::new(xapi::Settings::from_settings(x)?)?),
        None => None,
    };
    let mut host_pifs = None;
    if let Some(client) = client.as_mut() {
        let host = client.this_host(sysroot)?;
        host_pifs = Some(client.host_pifs(&host)?);
    }

    sysctl_step(sysroot, net, apply, &mut report)?;
    modprobe_step(sysroot, apply, &mut report)?;

    let sources = firewall_sources(sysroot, net, host_pifs.as_deref())?;
    firewall_step::firewall_step(ctx, &sources, apply, &mut report)?;
    nic_step(ctx, client.as_mut(), host_pifs.as_deref(), apply, &mut report)?;

    report.core.changed = apply && !report.changes.is_empty();
    peer_step(sysroot, net, options, &mut report)?;
    Ok(report)
}

/// The storage NIC: its address (a dedicated storage NIC only) and MTU, through XAPI when there
/// is `[xapi]` (XAPI owns the host's network), else with `ip` on a live host.
fn nic_step(
    ctx: &Context,
    client: Option<&mut xapi::Client>,
    host_pifs: Option<&[xapi::Pif]>,
    apply: bool,
    report: &mut NetworkReport,
) -> Result<()> {
    let net = &ctx.settings.network;
    if net.storage_address.is_none() && net.mtu.is_none() {
        return Ok(());
    }
    let device = match (&net.storage_interface, host_pifs) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(pifs)) => pifs.iter().find(|p| p.management).map(|p| p.device.clone()),
        (None, None) => inventory::load(&ctx.sysroot)?.and_then(|i| i.get("MANAGEMENT_INTERFACE").cloned()),
    };
    let Some(device) = device else {
        anyhow::bail!(crate::error::UsageError(
            "[network] storage_interface is not set and the management interface is unknown: set storage_interface"
                .into()
        ));
    };
    let wanted = Wanted {
        device,
        // The management NIC keeps its address: only a dedicated storage NIC gets one.
        address: if net.storage_interface.is_some() {
            net.storage_address
        } else {
            None
        },
        mtu: net.mtu,
    };
    let changes = match (client, host_pifs) {
        (Some(client), Some(pifs)) => {
            let (pif, changes) = nic::plan_xapi(pifs, &wanted)?;
            if apply {
                nic::apply_xapi(client, &pif, &changes, &wanted)?;
            }
            changes
        }
        _ if ctx.sysroot.is_live() => {
            let changes = nic::plan_iproute(&wanted)?;
            if apply {
                nic::apply_iproute(&changes, &wanted)?;
            }
            changes
        }
        _ => {
            report.core.skip(format!(
                "storage NIC {} (address, MTU): live-only without [xapi], skipped under --root",
                wanted.device
            ));
            Vec::new()
        }
    };
    for c in changes {
        report.changes.push(Change {
            what: format!("storage NIC {}", c.what),
            target: c.device,
            from: c.from,
            to: c.to,
        });
    }
    Ok(())
}

/// The peers reachable at the storage MTU (live only; a dry run only says it is due).
fn peer_step(
    sysroot: &Sysroot,
    net: &NetworkSettings,
    options: Options,
    report: &mut NetworkReport,
) -> Result<()> {
    if net.peers.is_empty() {
        return Ok(());
    }
    if options.skip_peer_check {
        report.core.note("peer check skipped (--skip-peer-check)");
        return Ok(());
    }
    if !sysroot.is_live() {
        report.core.skip("peer check (live-only, skipped under --root)");
        return Ok(());
    }
    report.peer_check_due = options.dry_run;
    let mtu = net.mtu.unwrap_or(peers::BASE_MTU);
    report.peers = peers::check(&net.peers, mtu);
    if !peers::all_ok(&report.peers) && !options.dry_run {
        return Err(crate::error::Refusal(format!(
            "peer check at MTU {mtu} failed ({} change(s) made before it):\n{}\
             fix the storage network (or the peers' MTU), or pass --skip-peer-check",
            report.changes.len(),
            peers::render(&report.peers)
        ))
        .into());
    }
    Ok(())
}

/// The sysctl profile: its sysctl.d file written where its text differs, then (live) every
/// value the kernel does not hold yet set with `sysctl -w`.
fn sysctl_step(
    sysroot: &Sysroot,
    net: &NetworkSettings,
    apply: bool,
    report: &mut NetworkReport,
) -> Result<()> {
    let profile = sysctl::profile(&net.sysctl);
    let text = sysctl::render(&profile);
    let existing = read_optional(sysroot, sysctl::PATH)?;
    if existing.as_deref() != Some(text.as_str()) {
        sysctl_file_changes(&profile, existing.as_deref(), report);
        if apply {
            write_file(sysroot, sysctl::PATH, &text)?;
        }
    }
    if !sysroot.is_live() {
        report.core.skip("sysctl -w (live-only, skipped under --root)");
        return Ok(());
    }
    sysctl_live(&profile, apply, report);
    Ok(())
}

/// The sysctl.d file's changes, key by key (a key set, changed or dropped); when the text
/// differs in nothing but its form, one change of the whole text.
fn sysctl_file_changes(
    profile: &BTreeMap<String, String>,
    existing: Option<&str>,
    report: &mut NetworkReport,
) {
    let old = existing.map(parse_sysctl_file).unwrap_or_default();
    let change = |k: &str, from: String, to: String| Change {
        what: "sysctl profile".into(),
        target: format!("{} {k}", sysctl::PATH),
        from,
        to,
    };
    for (k, v) in profile {
        if old.get(k) != Some(&sysctl::normalise(v)) {
            report.changes.push(change(k, absent_or(old.get(k)), v.clone()));
        }
    }
    for k in old.keys().filter(|k| !profile.contains_key(*k)) {
        report.changes.push(change(k, old[k].clone(), "unset".into()));
    }
    if !report.changes.iter().any(|c| c.what == "sysctl profile") {
        report.changes.push(Change {
            what: "sysctl profile".into(),
            target: sysctl::PATH.into(),
            from: "other text".into(),
            to: "the agent's text".into(),
        });
    }
}

/// Every profile value the running kernel does not hold: set (when `apply`) and reported as
/// a change; a value the kernel refuses is reported as refused, and the others still apply.
fn sysctl_live(profile: &BTreeMap<String, String>, apply: bool, report: &mut NetworkReport) {
    for (key, value) in profile {
        let now = sysctl::current(key);
        if now.as_deref() == Some(sysctl::normalise(value).as_str()) {
            continue;
        }
        let change = Change {
            what: "sysctl live".into(),
            target: key.clone(),
            from: absent_or(now.as_ref()),
            to: value.clone(),
        };
        if !apply {
            report.changes.push(change);
            continue;
        }
        match sysctl::apply(key, value) {
            Ok(()) => report.changes.push(change),
            Err(e) => {
                tracing::warn!(key = %key, value = %value, "the kernel refused a sysctl value: {e:#}");
                report.refused.push(RefusedKey {
                    key: key.clone(),
                    value: value.clone(),
                    reason: format!("{e:#}"),
                });
            }
        }
    }
}

fn modprobe_step(sysroot: &Sysroot, apply: bool, report: &mut NetworkReport) -> Result<()> {
    if let Some(shipped) = modprobe::shipped_elsewhere(sysroot)? {
        report.core.notes.push(format!(
            "drbd_transport_tcp options already set in {}: left as shipped",
            shipped.display()
        ));
        return Ok(());
    }
    let text = modprobe::render();
    let existing = read_optional(sysroot, modprobe::PATH)?;
    if existing.as_deref() != Some(text.as_str()) {
        report.changes.push(Change {
            what: "DRBD transport options".into(),
            target: modprobe::PATH.into(),
            from: if existing.is_some() {
                "other options".into()
            } else {
                "absent".into()
            },
            to: modprobe::OPTIONS.into(),
        });
        if apply {
            write_file(sysroot, modprobe::PATH, &text)?;
        }
    }
    Ok(())
}

/// The human rendering.
pub fn render(report: &NetworkReport) -> String {
    let mut out = String::new();
    let verb = if report.core.dry_run {
        "would change"
    } else {
        "changed"
    };
    if report.changes.is_empty() {
        out.push_str("network: nothing to change\n");
    }
    for c in &report.changes {
        out.push_str(&format!(
            "{verb} {} {}: {} → {}\n",
            c.what, c.target, c.from, c.to
        ));
    }
    for r in &report.refused {
        out.push_str(&format!(
            "refused by the kernel: {} = {} ({})\n",
            r.key, r.value, r.reason
        ));
    }
    for s in &report.core.skipped {
        out.push_str(&format!("skipped: {s}\n"));
    }
    if !report.peers.is_empty() {
        out.push_str("peers:\n");
        out.push_str(&peers::render(&report.peers));
    }
    for n in &report.core.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

impl crate::output::Render for NetworkReport {
    fn human(&self) -> String {
        render(self)
    }
}
