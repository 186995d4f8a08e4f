//! Phase 1: is the pool fit to be upgraded, and what is the plan? Every host live and
//! enabled, every node ONLINE and none evicted, every diskful replica UpToDate, a module for
//! every kernel of every host at the target versions, VMs evacuable, and batches that keep
//! quorum. Anything wrong is a refusal (exit 3) naming host and reason; nothing is changed.

use super::Upgrade;
use super::batches::{self, BatchMode, HostLoad, Replica};
use super::health;
use super::journal::{HOST_STEPS, HostEntry, Journal, PackageChange, Step, StepState};
use super::linstor_versions;
use super::plugin::{self, AgentAnswer, AgentArgs};
use super::targets;
use crate::error::{Refusal, UsageError};
use crate::linstor::Resource;
use crate::xapi::pool::{PoolHost, PoolRecord, PoolVm};
use anyhow::Result;
use std::collections::BTreeMap;

/// What preflight found: the journal to run (not saved yet).
pub fn run(up: &mut Upgrade) -> Result<Journal> {
    let opts = up.opts.clone();
    let mut problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let view = read_pool(up, &mut problems)?;
    super::xostor_checks::check(up, &view.pool.master, &mut problems, &mut warnings)?;
    let chosen = select_hosts(&view.hosts, &opts.hosts, &view.pool.master)?;

    // LINSTOR as installed on every host of the pool (not only the chosen ones: LINSTOR moves
    // pool-wide), against what the controller runs.
    let (installed, survey_problems) = linstor_versions::survey(up, &view.hosts, &opts.pins);
    problems.extend(survey_problems);
    let linstor_to = linstor_versions::target(&installed, &opts.pins);
    let targets = target_versions(up, &chosen, linstor_to.as_deref(), &mut problems)?;
    if let Some(to) = &linstor_to {
        problems.extend(linstor_versions::unfixable(
            &installed,
            &view.controller_version,
            to,
        ));
    }

    let mut entries = Vec::new();
    for h in &chosen {
        entries.push(host_plan(up, h, &view.vms, &targets, &mut problems)?);
    }
    let loads = host_loads(&view.hosts, &view.vms);
    let replicas = health::replicas(&view.resources);
    let node_batches = plan_batches(
        &entries,
        &view.pool.master,
        &replicas,
        &loads,
        opts.batch,
        &mut problems,
    );
    refuse_on(&problems)?;
    let batches = assign_batches(&mut entries, &node_batches);

    let linstor_change = linstor_to
        .as_deref()
        .is_some_and(|t| linstor_versions::needs_change(&installed, &view.controller_version, t));
    Ok(Journal {
        xapi_url: up.xapi.url().to_string(),
        pool_master: view.pool.master.clone(),
        linstor_packages: linstor_versions::packages_to_install(&installed, &targets),
        targets,
        linstor_from: view.controller_version,
        linstor_to: linstor_to.unwrap_or_default(),
        linstor_change,
        linstor_installed: installed,
        batch_mode: opts.batch.to_string(),
        batches,
        hosts: entries,
        warnings,
        ..Journal::blank()
    })
}

/// What preflight reads of the pool before it plans: XAPI's pool, hosts and VMs, and the
/// controller's version and resources.
struct PoolView {
    pool: PoolRecord,
    hosts: Vec<PoolHost>,
    vms: Vec<PoolVm>,
    controller_version: String,
    resources: Vec<Resource>,
}

/// Reads the pool; every host that is not live and enabled, every node not ONLINE (or
/// evicted) and every diskful replica not UpToDate is a problem.
fn read_pool(up: &mut Upgrade, problems: &mut Vec<String>) -> Result<PoolView> {
    let pool = up.xapi.pool_record()?;
    let hosts = up.xapi.pool_hosts()?;
    let vms = up.xapi.pool_vms()?;
    for h in &hosts {
        if !h.live {
            problems.push(format!("host {} is not live", h.name_label));
        } else if !h.enabled {
            problems.push(format!(
                "host {} is disabled (in maintenance?): enable it or finish what it is doing",
                h.name_label
            ));
        }
    }
    let controller_version = up.linstor.version()?.version;
    problems.extend(health::node_problems(&up.linstor, None)?);
    let resources = up.linstor.resources(None)?;
    problems.extend(health::resource_problems(&resources));
    Ok(PoolView {
        pool,
        hosts,
        vms,
        controller_version,
        resources,
    })
}

/// The target versions: the pins given, else the lowest of every chosen host's newest fit;
/// the LINSTOR server packages at `linstor_to`. A host whose agent refuses is a problem.
fn target_versions(
    up: &mut Upgrade,
    chosen: &[PoolHost],
    linstor_to: Option<&str>,
    problems: &mut Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let newest = AgentArgs {
        pins: up.opts.pins.clone(),
        newest: true,
        ..AgentArgs::default()
    };
    let mut unpinned = Vec::new();
    for h in chosen {
        match plugin::agent(&mut up.xapi, &h.reference, &h.name_label, "plan", &newest)? {
            AgentAnswer::Done(doc) => unpinned.push(targets::changes(&doc)?),
            AgentAnswer::Refused(msg) => problems.push(format!("host {}: {msg}", h.name_label)),
        }
    }
    let mut target_versions = targets::common_targets(&unpinned, &up.kmod);
    target_versions.extend(up.opts.pins.clone());
    if let Some(to) = linstor_to {
        for name in linstor_versions::SERVER_PACKAGES {
            if let Some(v) = target_versions.get_mut(name) {
                to.clone_into(v);
            }
        }
    }
    Ok(target_versions)
}

/// One host's entry: its package changes at the targets, checked by its kernel guard and
/// for VMs that can be evacuated (what fails is a problem). A host already at the targets is
/// not taken down at all: every step is skipped.
fn host_plan(
    up: &mut Upgrade,
    h: &PoolHost,
    vms: &[PoolVm],
    targets: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Result<HostEntry> {
    let pinned = AgentArgs::pinned(targets);
    let changes = match plugin::agent(&mut up.xapi, &h.reference, &h.name_label, "plan", &pinned)? {
        AgentAnswer::Done(doc) => targets::changes(&doc)?,
        AgentAnswer::Refused(msg) => {
            problems.push(format!("host {}: {msg}", h.name_label));
            Vec::new()
        }
    };
    let guard = AgentArgs {
        pins: targets.clone(),
        dry_run: true,
        ..AgentArgs::default()
    };
    if let AgentAnswer::Refused(msg) =
        plugin::agent(&mut up.xapi, &h.reference, &h.name_label, "kernel_guard", &guard)?
    {
        problems.push(format!("host {}: kernel guard: {msg}", h.name_label));
    }
    if let Err(e) = up.xapi.host_assert_can_evacuate(&h.reference) {
        problems.push(format!(
            "host {}: its VMs cannot be evacuated: {e:#}",
            h.name_label
        ));
    }
    let reboot = targets::needs_reboot(&changes, &up.kmod);
    let mut e = entry(h, vms, changes, reboot);
    if e.changes.iter().all(|c| c.change == "keep") {
        for step in HOST_STEPS {
            e.steps.insert(
                step.to_string(),
                Step {
                    state: StepState::Skipped,
                    note: Some("already at the target versions".into()),
                    ..Step::default()
                },
            );
        }
    }
    Ok(e)
}

/// Each host's free memory and the memory of the VMs running on it, for batch planning.
fn host_loads(hosts: &[PoolHost], vms: &[PoolVm]) -> Vec<HostLoad> {
    hosts
        .iter()
        .map(|h| HostLoad {
            node: node_name(h),
            memory_free: h.memory_free,
            vm_memory: running_on(vms, &h.reference).map(|v| v.memory).collect(),
        })
        .collect()
}

/// The batches, of node names, of the hosts not done: the master first and alone (while it
/// reboots XAPI is away, and the other hosts of a batch could not be evacuated, rebooted or
/// waited for meanwhile), then the rest as `mode` and quorum allow. A host that cannot go
/// down safely is a problem (and then every host is a batch of its own).
fn plan_batches(
    entries: &[HostEntry],
    master: &str,
    replicas: &[Replica],
    loads: &[HostLoad],
    mode: BatchMode,
    problems: &mut Vec<String>,
) -> Vec<Vec<String>> {
    let max = match mode {
        BatchMode::Auto => None,
        BatchMode::AtMost(n) => Some(n),
    };
    let master_node = entries
        .iter()
        .find(|e| e.reference == master && !e.is_done())
        .map(|e| e.node.clone());
    let mut batches: Vec<Vec<String>> = Vec::new();
    if let Some(master) = &master_node {
        if let Err(reason) = batches::plan(std::slice::from_ref(master), replicas, loads, Some(1)) {
            problems.push(reason);
        }
        batches.push(vec![master.clone()]);
    }
    let rest: Vec<String> = entries
        .iter()
        .filter(|e| !e.is_done() && Some(&e.node) != master_node.as_ref())
        .map(|e| e.node.clone())
        .collect();
    match batches::plan(&rest, replicas, loads, max) {
        Ok(b) => batches.extend(b),
        Err(reason) => {
            problems.push(reason);
            batches.extend(rest.iter().map(|n| vec![n.clone()]));
        }
    }
    batches
}

/// Any problem refuses the upgrade, listing them all; nothing was changed.
fn refuse_on(problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(Refusal(format!(
        "preflight refused the upgrade; nothing was changed:\n  - {}\nFix these and run it again.",
        problems.join("\n  - ")
    ))
    .into())
}

/// Batches are of node names; the journal works with XAPI names. Numbers each host's batch
/// (from 1) and returns the batches of XAPI names.
fn assign_batches(entries: &mut [HostEntry], node_batches: &[Vec<String>]) -> Vec<Vec<String>> {
    let batches: Vec<Vec<String>> = node_batches
        .iter()
        .map(|b| {
            b.iter()
                .filter_map(|node| entries.iter().find(|e| &e.node == node).map(|e| e.name.clone()))
                .collect()
        })
        .collect();
    for (i, batch) in batches.iter().enumerate() {
        for name in batch {
            if let Some(e) = entries.iter_mut().find(|e| &e.name == name) {
                e.batch = i + 1;
            }
        }
    }
    batches
}

/// The LINSTOR node of an XAPI host: its hostname (what XCP-ng's LINSTOR driver requires).
pub fn node_name(h: &PoolHost) -> String {
    if h.hostname.is_empty() {
        h.name_label.clone()
    } else {
        h.hostname.clone()
    }
}

/// The VMs running on `host`.
fn running_on<'a>(vms: &'a [PoolVm], host: &'a str) -> impl Iterator<Item = &'a PoolVm> {
    vms.iter()
        .filter(move |v| v.power_state == "Running" && v.resident_on == host)
}

/// The journal entry of host `h`, with the VMs running on it.
fn entry(h: &PoolHost, vms: &[PoolVm], changes: Vec<PackageChange>, reboot: bool) -> HostEntry {
    HostEntry {
        name: h.name_label.clone(),
        uuid: h.uuid.clone(),
        reference: h.reference.clone(),
        node: node_name(h),
        batch: 0,
        changes,
        reboot,
        vms: running_on(vms, &h.reference)
            .map(|v| v.reference.clone())
            .collect(),
        boot_time_before: None,
        steps: BTreeMap::new(),
    }
}

/// The hosts to upgrade, the master first, then by name; `--hosts` names must all exist.
fn select_hosts(hosts: &[PoolHost], wanted: &[String], master: &str) -> Result<Vec<PoolHost>> {
    let known = |w: &String| hosts.iter().any(|h| &h.name_label == w || &h.hostname == w);
    let unknown: Vec<&String> = wanted.iter().filter(|w| !known(w)).collect();
    if !unknown.is_empty() {
        return Err(UsageError(format!(
            "--hosts names {} not in the pool; its hosts are: {}",
            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            hosts
                .iter()
                .map(|h| h.name_label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let mut chosen: Vec<PoolHost> = hosts
        .iter()
        .filter(|h| wanted.is_empty() || wanted.contains(&h.name_label) || wanted.contains(&h.hostname))
        .cloned()
        .collect();
    chosen.sort_by(|a, b| {
        (a.reference != master)
            .cmp(&(b.reference != master))
            .then(a.name_label.cmp(&b.name_label))
    });
    Ok(chosen)
}

/// Re-checks the world before `--resume`: XAPI and LINSTOR answer, and every host the run
/// is not in the middle of is live, with its node ONLINE and not evicted.
pub fn recheck(up: &mut Upgrade) -> Result<()> {
    let hosts = up.xapi.pool_hosts()?;
    let pool = up.xapi.pool_record()?;
    if pool.master != up.journal.pool_master {
        tracing::info!(
            before = %up.journal.pool_master,
            now = %pool.master,
            "the pool master changed since the journal was written"
        );
    }
    let busy = up.journal.unfinished_hosts();
    let mut problems = Vec::new();
    for h in &hosts {
        if busy.contains(&h.name_label) {
            continue;
        }
        if !h.live {
            problems.push(format!("host {} is not live", h.name_label));
        }
    }
    let others: Vec<String> = hosts
        .iter()
        .filter(|h| !busy.contains(&h.name_label))
        .map(node_name)
        .collect();
    if up.journal.phase("linstor") != super::journal::StepState::Started {
        problems.extend(
            health::node_problems(&up.linstor, Some(&others))?
                .into_iter()
                .filter(|p| p.contains("EVICTED") || up.journal.phase("linstor").is_finished()),
        );
    }
    if !problems.is_empty() {
        return Err(Refusal(format!(
            "cannot resume the upgrade journaled at {}:\n  - {}\nFix these and run `pool upgrade --resume` again.",
            up.file.path.display(),
            problems.join("\n  - ")
        ))
        .into());
    }
    Ok(())
}
