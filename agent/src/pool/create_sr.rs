//! `linstor-agent pool create-sr`: the pool's XOSTOR SR, created the way Vates creates it —
//! through XAPI `SR.create` of type `linstor`, which runs Vates' driver on the pool master (it
//! prepares every host, creates the nodes, storage pools, resource groups and the controller's
//! database, and hands the controller to drbd-reactor; docs/xostor.md §4) — after checking that
//! every host is ready, and verified afterwards.
//!
//! Checked first, on every host through its own agent (the `linstor-agent` XAPI plugin):
//! converged (module, packages, volume group, network: the host's `status`), the same package
//! versions on every host, and which hosts have the volume group (diskful) and which do not
//! (diskless). Refused (exit 3, nothing created): a pool that already has a `linstor` SR, a host
//! that is not ready (named, with why), a redundancy above the diskful hosts, diskful hosts that
//! disagree on the volume group, more hosts than XOSTOR supports (unless allowed).

use super::plugin::{self, AgentAnswer, AgentArgs};
use super::targets::{changes, nevra_version};
use super::wait::{self, Blocker, Wait};
use crate::context::Context;
use crate::error::{Refusal, UsageError};
use crate::linstor;
use crate::output::Render;
use crate::report::ReportCore;
use crate::xapi::{self, Client, pool::PoolHost};
use crate::xostor::{MAX_HOSTS, controller, sr, storage_pool_name};
use anyhow::{Result, anyhow};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    pub description: String,
    /// Diskful replicas of each volume; None: 2, or 1 with a single diskful host.
    pub redundancy: Option<u32>,
    /// `VG` or `VG/LV`; None: the diskful hosts' own.
    pub group_name: Option<String>,
    pub dry_run: bool,
    /// Go beyond Vates' supported pool size.
    pub allow_large_pool: bool,
    /// How long the SR may take to be verified healthy after its creation.
    pub verify_timeout: Duration,
    pub poll: Duration,
}

/// One host as the check found it.
#[derive(Debug, Clone, Serialize)]
pub struct HostReady {
    pub name: String,
    pub hostname: String,
    /// The volume group (`VG` or `VG/LV`) of a diskful host; None: diskless.
    pub group: Option<String>,
    /// Managed packages and their installed versions.
    #[serde(skip)]
    versions: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct CreateSrReport {
    #[serde(flatten)]
    pub core: ReportCore,
    pub hosts: Vec<HostReady>,
    pub device_config: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sr_uuid: Option<String>,
    /// What was verified after the creation.
    pub verified: Vec<String>,
}

/// Runs `pool create-sr`.
pub fn run(ctx: &Context, options: &Options) -> Result<CreateSrReport> {
    let xapi_settings = xapi::Settings::from_settings(ctx.settings.require_xapi("`pool create-sr`")?)?;
    let mut xapi = Client::new(xapi_settings)?;
    xapi.login()?;
    if let Some(existing) = sr::find(&mut xapi)? {
        return Err(Refusal(format!(
            "the pool already has a linstor SR ({}, {}): nothing was created. To add a host to it, \
             run `linstor-agent provision` on that host (it joins the SR)",
            existing.sr.name_label, existing.sr.uuid
        ))
        .into());
    }
    let hosts = xapi.pool_hosts()?;
    let master = xapi.pool_record()?.master;
    let ready = check_hosts(&mut xapi, &hosts, options)?;
    let device_config = device_config(&ready, options)?;
    let mut report = CreateSrReport {
        core: ReportCore::new("pool create-sr", options.dry_run),
        hosts: ready,
        device_config,
        sr_uuid: None,
        verified: Vec::new(),
    };
    if options.dry_run {
        return Ok(report);
    }
    let reference = xapi
        .sr_create(
            &master,
            &report.device_config,
            &options.name,
            &options.description,
            crate::xostor::SR_TYPE,
        )
        .map_err(|e| e.context("SR.create of the linstor SR (Vates' driver on the pool master)"))?;
    report.core.changed = true;
    report.sr_uuid = xapi
        .srs()?
        .into_iter()
        .find(|s| s.reference == reference)
        .map(|s| s.uuid);
    report.verified = verify(ctx, &mut xapi, &report, options)?;
    Ok(report)
}

/// Every host ready, or a refusal naming each host that is not and why.
fn check_hosts(xapi: &mut Client, hosts: &[PoolHost], options: &Options) -> Result<Vec<HostReady>> {
    let mut problems = Vec::new();
    if hosts.len() > MAX_HOSTS && !options.allow_large_pool {
        problems.push(format!(
            "the pool has {} hosts; XOSTOR supports at most {MAX_HOSTS} per pool (xcp-ng docs): \
             pass --allow-large-pool to go beyond it",
            hosts.len()
        ));
    }
    let mut ready = Vec::new();
    for host in hosts {
        match check_host(xapi, host) {
            Ok(r) => ready.push(r),
            Err(why) => problems.push(format!("host {}: {why}", host.name_label)),
        }
    }
    problems.extend(version_mismatches(&ready));
    if !problems.is_empty() {
        return Err(Refusal(format!(
            "the pool is not ready for an XOSTOR SR; nothing was created:\n  - {}\n\
             Run `linstor-agent provision` on the hosts named (or fix what is said), then again.",
            problems.join("\n  - ")
        ))
        .into());
    }
    Ok(ready)
}

/// One host: live, converged (`status` checks of module, packages, volume group, network),
/// its package versions (`plan`).
fn check_host(xapi: &mut Client, host: &PoolHost) -> std::result::Result<HostReady, String> {
    if !host.live || !host.enabled {
        return Err(format!(
            "not live and enabled (live={}, enabled={})",
            host.live, host.enabled
        ));
    }
    let status = plugin::status(xapi, &host.reference, &host.name_label).map_err(|e| format!("{e:#}"))?;
    let mut group = None;
    let mut failing = Vec::new();
    for check in status["checks"].as_array().into_iter().flatten() {
        let name = check["check"].as_str().unwrap_or_default();
        let detail = check["detail"].as_str().unwrap_or_default();
        let relevant = name.starts_with("module ") || ["packages", "volume group", "network"].contains(&name);
        if relevant && check["ok"] != true {
            failing.push(format!("{name}: {detail}"));
        }
        if name == "volume group" && check["ok"] == true && !detail.starts_with("diskless") {
            group = detail.split(',').next().map(str::to_string);
        }
    }
    if !failing.is_empty() {
        return Err(format!("not provisioned: {}", failing.join("; ")));
    }
    let plan = match plugin::agent(
        xapi,
        &host.reference,
        &host.name_label,
        "plan",
        &AgentArgs::default(),
    ) {
        Ok(AgentAnswer::Done(doc)) => doc,
        Ok(AgentAnswer::Refused(msg)) => return Err(msg),
        Err(e) => return Err(format!("{e:#}")),
    };
    let mut versions = BTreeMap::new();
    for change in changes(&plan).map_err(|e| format!("{e:#}"))? {
        let installed: Vec<String> = change
            .from
            .iter()
            .filter_map(|f| nevra_version(f, &change.name))
            .collect();
        if let Some(v) = installed.iter().max() {
            let v = v.split('_').next().unwrap_or(v).to_string();
            versions.insert(change.name.clone(), v);
        }
    }
    if !versions.contains_key("linstor-satellite") {
        return Err("linstor-satellite is not installed: run `linstor-agent provision` on it".into());
    }
    Ok(HostReady {
        name: host.name_label.clone(),
        hostname: if host.hostname.is_empty() {
            host.name_label.clone()
        } else {
            host.hostname.clone()
        },
        group,
        versions,
    })
}

/// Packages installed at different versions on different hosts, named.
fn version_mismatches(ready: &[HostReady]) -> Vec<String> {
    let mut by_package: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for host in ready {
        for (name, version) in &host.versions {
            by_package
                .entry(name)
                .or_default()
                .entry(version)
                .or_default()
                .push(&host.name);
        }
    }
    by_package
        .into_iter()
        .filter(|(_, versions)| versions.len() > 1)
        .map(|(name, versions)| {
            let spread: Vec<String> = versions
                .iter()
                .map(|(v, hosts)| format!("{v} on {}", hosts.join(", ")))
                .collect();
            format!(
                "{name} differs between hosts ({}): install one version everywhere (`pool upgrade`, \
                 or `linstor-agent install` with the same pins on each host)",
                spread.join("; ")
            )
        })
        .collect()
}

/// The device-config Vates' `linstor-manager createSr` gives `SR.create` (docs/xostor.md §1.7).
fn device_config(ready: &[HostReady], options: &Options) -> Result<BTreeMap<String, String>> {
    let diskful: Vec<&HostReady> = ready.iter().filter(|h| h.group.is_some()).collect();
    if diskful.is_empty() {
        return Err(Refusal(
            "no host has a volume group: XOSTOR needs at least one host with disks. Set [storage] \
             devices on the hosts with disks and run `linstor-agent provision` there; nothing was created"
                .into(),
        )
        .into());
    }
    let groups: BTreeMap<&str, Vec<&str>> = diskful.iter().fold(BTreeMap::new(), |mut m, h| {
        m.entry(h.group.as_deref().unwrap_or_default())
            .or_insert_with(Vec::new)
            .push(&h.name);
        m
    });
    let group = match (&options.group_name, groups.len()) {
        (Some(g), _) => g.clone(),
        (None, 1) => groups.keys().next().map(|g| g.to_string()).unwrap_or_default(),
        (None, _) => {
            let list: Vec<String> = groups
                .iter()
                .map(|(g, h)| format!("{g} on {}", h.join(", ")))
                .collect();
            return Err(Refusal(format!(
                "the diskful hosts have different volume groups ({}): the SR uses one group-name on \
                 every host. Make [storage] volume_group and thin_pool the same everywhere; nothing was created",
                list.join("; ")
            ))
            .into());
        }
    };
    if let Some((g, hosts)) = groups.iter().find(|(g, _)| **g != group) {
        return Err(Refusal(format!(
            "--group-name {group}, but {} have {g}: nothing was created",
            hosts.join(", ")
        ))
        .into());
    }
    let redundancy = options
        .redundancy
        .unwrap_or(if diskful.len() >= 2 { 2 } else { 1 });
    if redundancy == 0 || redundancy as usize > diskful.len() {
        return Err(Refusal(format!(
            "redundancy {redundancy} needs {redundancy} hosts with disks, and the pool has {} ({}): \
             give --redundancy {} or less (1 to 3, fixed once the SR exists); nothing was created",
            diskful.len(),
            diskful
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            diskful.len().min(3)
        ))
        .into());
    }
    if redundancy > 3 {
        return Err(UsageError(format!("--redundancy {redundancy}: XOSTOR takes 1, 2 or 3")).into());
    }
    let hostnames: Vec<&str> = ready.iter().map(|h| h.hostname.as_str()).collect();
    Ok(BTreeMap::from([
        ("group-name".to_string(), group.clone()),
        ("redundancy".to_string(), redundancy.to_string()),
        (
            "provisioning".to_string(),
            if group.contains('/') { "thin" } else { "thick" }.to_string(),
        ),
        ("hosts".to_string(), hostnames.join(",")),
        (
            "monitor-db-quorum".to_string(),
            if ready.len() > 2 { "True" } else { "False" }.to_string(),
        ),
    ]))
}

/// After `SR.create`: the SR shared, every host's PBD plugged, every host an ONLINE node, every
/// diskful host with the storage pool, the database replicated, drbd-reactor set up on every
/// host. Waits up to the verify timeout for what settles (PBDs plugging, satellites connecting).
fn verify(
    ctx: &Context,
    xapi: &mut Client,
    report: &CreateSrReport,
    options: &Options,
) -> Result<Vec<String>> {
    let found =
        sr::find(xapi)?.ok_or_else(|| anyhow!("SR.create answered, but the pool lists no linstor SR"))?;
    if !found.sr.shared {
        return Err(anyhow!("the SR {} is not shared", found.sr.uuid));
    }
    let controller = controller::resolve(ctx)?
        .ok_or_else(|| anyhow!("the SR exists, but no LINSTOR controller can be found"))?;
    let linstor = linstor::Client::new(&controller.settings)?;
    let group = report.device_config["group-name"].clone();
    let hosts = xapi.pool_hosts()?;
    let check = Wait {
        step: "pool create-sr".into(),
        host: None,
        waits_for: "the new SR healthy on every host".into(),
        deadline: options.verify_timeout,
        stuck_after: options.verify_timeout,
        poll: options.poll,
        deadline_hint:
            "Check the SR's PBDs (`xe pbd-list`), `linstor node list` and `linstor resource list`.".into(),
        show: false,
    };
    wait::until(&check, || {
        let found = sr::find(xapi)?.ok_or_else(|| anyhow!("no linstor SR"))?;
        let mut blockers = Vec::new();
        for host in &hosts {
            if !found
                .pbd_of(&host.reference)
                .is_some_and(|p| p.currently_attached)
            {
                blockers.push(Blocker::Pending(format!("{}: PBD not plugged", host.name_label)));
            }
        }
        blockers.extend(linstor_blockers(&linstor, report, &group)?);
        for host in &hosts {
            let status = plugin::status(xapi, &host.reference, &host.name_label)?;
            let reactor = status["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["check"] == "drbd-reactor");
            if reactor.is_none_or(|c| c["ok"] != true) {
                blockers.push(Blocker::Pending(format!(
                    "{}: drbd-reactor not set up",
                    host.name_label
                )));
            }
        }
        Ok(blockers)
    })
    .map_err(|e| e.context("the SR was created but is not healthy yet"))?;
    Ok(vec![
        format!("SR {} shared", found.sr.uuid),
        format!("{} PBDs plugged", hosts.len()),
        "every host an ONLINE LINSTOR node".into(),
        format!("storage pool {} on every diskful host", storage_pool_name(&group)),
        format!("{} replicated", crate::xostor::DATABASE),
        "drbd-reactor set up on every host".into(),
    ])
}

/// Nodes ONLINE, the storage pool on every diskful host, the database on enough disks.
fn linstor_blockers(linstor: &linstor::Client, report: &CreateSrReport, group: &str) -> Result<Vec<Blocker>> {
    let mut blockers = Vec::new();
    let nodes = linstor.nodes()?;
    let pool = storage_pool_name(group);
    for host in &report.hosts {
        match nodes.iter().find(|n| n.name == host.hostname) {
            Some(n) if n.connection_status == "ONLINE" => {}
            Some(n) => blockers.push(Blocker::Pending(format!(
                "node {} is {}",
                n.name, n.connection_status
            ))),
            None => blockers.push(Blocker::Pending(format!("no node {}", host.hostname))),
        }
        if host.group.is_some()
            && !linstor
                .storage_pools(&host.hostname)?
                .iter()
                .any(|p| p.storage_pool_name == pool)
        {
            blockers.push(Blocker::Pending(format!(
                "{}: no storage pool {pool}",
                host.hostname
            )));
        }
    }
    let redundancy: usize = report.device_config["redundancy"].parse().unwrap_or(1);
    let diskful = linstor
        .resources(None)?
        .iter()
        .filter(|r| {
            r.name == crate::xostor::DATABASE
                && super::health::replica_kind(r) == super::batches::ReplicaKind::Diskful
        })
        .count();
    if diskful < redundancy {
        blockers.push(Blocker::Pending(format!(
            "{} has {diskful} diskful replicas, {redundancy} wanted",
            crate::xostor::DATABASE
        )));
    }
    Ok(blockers)
}

impl Render for CreateSrReport {
    fn human(&self) -> String {
        let mut out = String::new();
        let verb = if self.core.dry_run {
            "Would create"
        } else {
            "Created"
        };
        out.push_str(&format!(
            "{verb} the XOSTOR SR with SR.create type=linstor on the pool master, device-config:\n"
        ));
        for (k, v) in &self.device_config {
            out.push_str(&format!("  {k} = {v}\n"));
        }
        for h in &self.hosts {
            match &h.group {
                Some(g) => out.push_str(&format!("  {}: diskful ({g})\n", h.name)),
                None => out.push_str(&format!("  {}: diskless\n", h.name)),
            }
        }
        if let Some(uuid) = &self.sr_uuid {
            out.push_str(&format!("SR {uuid}\n"));
        }
        for v in &self.verified {
            out.push_str(&format!("verified: {v}\n"));
        }
        out
    }
}
