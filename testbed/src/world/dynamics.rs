//! Time passing in the world: reboots end, migrations land, resyncs complete, the controller
//! moves, offline nodes get evicted; and what follows from who is up (replica disk states,
//! quorum, violations).
//!
//! Two entry points. [`advance`] jumps the state to a later time, applying the timed events
//! in between one at a time, in time order, and re-evaluating after each: a quorum dip that
//! starts and ends between two requests is still seen and recorded. [`settle`] re-evaluates
//! at the current time after a change (an API call, a fault).
//!
//! DRBD as modelled here: every replica (diskful, diskless, tie-breaker) is a quorum voter;
//! a resource has quorum while a strict majority of its replicas is *present*: its host up
//! with the DRBD module loaded, and the resources brought up by the satellite since the host
//! booted (`Host::drbd_adjusted`: set when the node is first ONLINE after a boot; a satellite
//! stopped, restarted or at another version than the controller afterwards does not take
//! DRBD down, as DRBD lives in the kernel). Writes go on only with quorum; a
//! diskful replica that is away meanwhile falls behind by the resource's write rate and
//! resyncs from an UpToDate peer when it is back, for `resync_base_secs` plus
//! `resync_secs_per_gib` per GiB it missed.
//!
//! Time is accounted on the way ([`Accounting`]): while the clock advances, the simulated
//! seconds during which a reboot, a migration, a resync or a controller failover was in
//! progress (the union of their intervals), and those during which host-side work ran
//! ([`host_work_started`] / [`host_work_ended`], around `host.call_plugin`); every interval
//! is logged, and each host's maintenance windows (disabled → enabled) are kept.

use std::collections::BTreeMap;

use super::boot;
use super::model::*;
use super::scenario::PERSISTENT_DATABASE;
use super::violations;

const KIB_PER_GIB: f64 = 1024.0 * 1024.0;

/// LINSTOR's defaults for auto-eviction (controller or node properties override them).
const AUTO_EVICT_ALLOW: &str = "DrbdOptions/AutoEvictAllowEviction";
const AUTO_EVICT_AFTER_MINUTES: &str = "DrbdOptions/AutoEvictAfterTime";
const DEFAULT_AUTO_EVICT_AFTER_MINUTES: f64 = 60.0;
pub const EVICTED: &str = "EVICTED";

/// Brings `state` to `now`, applying every timed event on the way in order. Returns
/// whether anything a client could see changed.
pub fn advance(state: &mut State, now: SimTime) -> bool {
    let mut changed = false;
    // Every event clears itself when applied; the cap only guards against a bug looping
    // forever under the world's lock.
    let mut budget = 100_000;
    while let Some(at) = next_event(state) {
        if at > now {
            break;
        }
        budget -= 1;
        if budget == 0 {
            tracing::error!(at, "timed events do not settle; skipping to now");
            break;
        }
        integrate(state, at.max(state.now));
        apply_due(state);
        settle(state);
        changed = true;
    }
    if now > state.now {
        integrate(state, now);
    }
    changed
}

/// Re-evaluates everything that follows from the current state, at `state.now`: node
/// connections, the controller's host, replica disk states and resyncs, violations.
pub fn settle(state: &mut State) {
    move_controller_if_its_host_is_away(state);
    track_offline_nodes(state);
    adjust_drbd(state);
    update_replicas(state);
    violations::evaluate(state);
    account(state);
}

/// A host's DRBD resources come up when its satellite first reaches the controller after a
/// boot, and stay up until the host goes down.
fn adjust_drbd(state: &mut State) {
    let online: Vec<bool> = state
        .hosts
        .iter()
        .map(|h| connection_status(state, &h.name) == "ONLINE")
        .collect();
    for (host, online) in state.hosts.iter_mut().zip(online) {
        if host.power != Power::Up || !host.drbd_loaded {
            host.drbd_adjusted = false;
        } else if online {
            host.drbd_adjusted = true;
        }
    }
}

/// Whether the host's DRBD takes part in replication now (see the module documentation).
pub fn drbd_serving(host: &Host) -> bool {
    host.power == Power::Up && host.drbd_loaded && host.drbd_adjusted
}

/// The earliest pending timed event, if any.
pub fn next_event(state: &State) -> Option<SimTime> {
    let mut times: Vec<SimTime> = Vec::new();
    for host in &state.hosts {
        if let Power::Rebooting { until } = host.power {
            times.push(until);
        }
    }
    times.extend(
        state
            .vms
            .iter()
            .filter_map(|vm| vm.migrating.as_ref().map(|(_, at)| *at)),
    );
    times.extend(
        state
            .resources
            .iter()
            .filter(|r| !r.sync_stalled)
            .filter_map(|r| r.sync_until),
    );
    times.extend(state.controller.refuse_until);
    for (node, since) in &state.node_offline_since {
        // Only nodes that exist and are not evicted yet: an event that cannot clear itself
        // would never stop coming due.
        let waiting = state
            .nodes
            .iter()
            .any(|n| &n.name == node && !n.flags.iter().any(|f| f == EVICTED));
        if let (true, Some(after)) = (waiting, eviction_delay(state, node)) {
            times.push(since + after);
        }
    }
    times.into_iter().min_by(f64::total_cmp)
}

/// Applies every event due at `state.now`.
fn apply_due(state: &mut State) {
    let now = state.now;
    // Reboots ending: the host boots whatever its sysroot holds now.
    let booting: Vec<usize> = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(h.power, Power::Rebooting { until } if until <= now))
        .map(|(i, _)| i)
        .collect();
    for i in booting {
        let uuid = state.hosts[i].uuid.clone();
        if take_armed(&mut state.faults.no_return, &uuid) {
            tracing::info!(host = %state.hosts[i].name, "host does not come back (fault)");
            state.hosts[i].power = Power::Down;
            continue;
        }
        let no_satellite = take_armed(&mut state.faults.no_satellite, &uuid);
        boot::boot(&mut state.hosts[i], no_satellite);
        if state.hosts[i].satellite_running && take_armed(&mut state.faults.satellite_refuses, &uuid) {
            tracing::info!(host = %state.hosts[i].name, "satellite refuses the controller's version (fault)");
            state.hosts[i].refuses_controller = true;
        }
        boot::stamp_boot_time(&mut state.hosts[i], now);
        // xapi's auto-enable at boot does not end the host's maintenance window.
        let name = &state.hosts[i].name;
        let acc = &mut state.accounting;
        if in_window(acc, name) && !acc.auto_enabled.contains(name) {
            acc.auto_enabled.push(name.clone());
        }
    }
    // Migrations landing; one whose destination went away meanwhile fails, the VM stays.
    for i in 0..state.vms.len() {
        let Some((target, at)) = state.vms[i].migrating.clone() else {
            continue;
        };
        if at > now {
            continue;
        }
        state.vms[i].migrating = None;
        let target_up = state
            .hosts
            .iter()
            .any(|h| h.uuid == target && h.power == Power::Up);
        if target_up && state.vms[i].power == VmPower::Running {
            state.vms[i].resident_on = Some(target);
        }
    }
    // Resyncs completing.
    for r in state.resources.iter_mut() {
        if r.sync_stalled || !r.sync_until.is_some_and(|at| at <= now) {
            continue;
        }
        r.sync_until = None;
        r.out_of_sync_kib = 0;
        r.disk_state = "UpToDate".into();
        let d = state.replica_dynamics.entry(r.uuid.clone()).or_default();
        d.behind = false;
        d.sync_started = None;
        d.sync_total_kib = 0;
    }
    if state.controller.refuse_until.is_some_and(|at| at <= now) {
        state.controller.refuse_until = None;
    }
    // Auto-eviction of nodes offline for too long.
    let due: Vec<String> = state
        .node_offline_since
        .iter()
        .filter(|(node, since)| eviction_delay(state, node).is_some_and(|after| *since + after <= now))
        .map(|(node, _)| node.clone())
        .collect();
    for name in due {
        if let Some(node) = state.nodes.iter_mut().find(|n| n.name == name)
            && !node.flags.iter().any(|f| f == EVICTED)
        {
            tracing::info!(node = %name, "node evicted after being offline too long");
            node.flags.push(EVICTED.into());
        }
    }
}

/// Removes `uuid` from an armed-fault list; whether it was there.
pub fn take_armed(list: &mut Vec<String>, uuid: &str) -> bool {
    let before = list.len();
    list.retain(|u| u != uuid);
    list.len() != before
}

/// Continuous quantities from `state.now` to `to`: data written while replicas are away,
/// resync progress.
fn integrate(state: &mut State, to: SimTime) {
    let dt = to - state.now;
    if dt > 0.0 {
        account_time(state, dt);
        let rates: BTreeMap<String, f64> = state
            .resource_definitions
            .iter()
            .map(|rd| (rd.name.clone(), write_rate(rd)))
            .collect();
        let writing: Vec<String> = state
            .resource_definitions
            .iter()
            .filter(|rd| writes_go_on(state, &rd.name))
            .map(|rd| rd.name.clone())
            .collect();
        for r in state.resources.iter_mut() {
            if r.kind != ReplicaKind::Diskful {
                continue;
            }
            let d = state.replica_dynamics.entry(r.uuid.clone()).or_default();
            if !d.present && writing.contains(&r.name) {
                d.behind = true;
                let rate = rates.get(&r.name).copied().unwrap_or(0.0);
                r.out_of_sync_kib += (rate * dt).round() as u64;
            }
            if let (Some(until), Some(started), false) = (r.sync_until, d.sync_started, r.sync_stalled) {
                let span = (until - started).max(f64::EPSILON);
                let left = ((until - to) / span).clamp(0.0, 1.0);
                r.out_of_sync_kib = (d.sync_total_kib as f64 * left).round() as u64;
            }
        }
    }
    state.now = state.now.max(to);
}

/// KiB/s the resource's users write (a resource definition property, set from the scenario).
pub fn write_rate(rd: &ResourceDefinition) -> f64 {
    rd.props
        .get(WRITE_RATE_PROP)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        .max(0.0)
}

/// Where the scenario's per-resource write rate is kept (testbed-only, namespaced so no
/// LINSTOR tool mistakes it for one of its own).
pub const WRITE_RATE_PROP: &str = "Aux/testbed/write-kib-per-sec";

/// Writes happen while the resource has quorum and an UpToDate replica is present.
fn writes_go_on(state: &State, resource: &str) -> bool {
    has_quorum(state, resource)
        && state
            .resources
            .iter()
            .any(|r| r.name == resource && r.disk_state == "UpToDate" && is_present(state, r))
}

fn is_present(state: &State, r: &Resource) -> bool {
    state.replica_dynamics.get(&r.uuid).is_some_and(|d| d.present)
}

/// Whether the resource has quorum: a strict majority of its replicas present.
pub fn has_quorum(state: &State, resource: &str) -> bool {
    let (total, present) = state
        .resources
        .iter()
        .filter(|r| r.name == resource)
        .fold((0, 0), |(t, p), r| (t + 1, p + usize::from(is_present(state, r))));
    total > 0 && present * 2 > total
}

fn host_by_name<'a>(state: &'a State, name: &str) -> Option<&'a Host> {
    state.hosts.iter().find(|h| h.name == name)
}

/// LINSTOR's `connection_status` of a node: ONLINE only when its host is up with the
/// satellite running at the controller's version.
pub fn connection_status(state: &State, node_name: &str) -> &'static str {
    let Some(host) = host_by_name(state, node_name) else {
        // A node with no host behind it: nothing answers at its address.
        return "OFFLINE";
    };
    if host.power != Power::Up || !host.satellite_running {
        return "OFFLINE";
    }
    match &host.satellite_version {
        None => "OFFLINE",
        Some(_) if host.refuses_controller => "VERSION_MISMATCH",
        Some(v) if *v != state.controller.version => "VERSION_MISMATCH",
        Some(_) => "ONLINE",
    }
}

/// What the node's satellite reports it cannot do, layer → reasons (LINSTOR's
/// `unsupported_layers`): DRBD without a module for the running kernel.
pub fn unsupported_layers(state: &State, node_name: &str) -> BTreeMap<String, Vec<String>> {
    let mut layers = BTreeMap::new();
    if let Some(host) = host_by_name(state, node_name)
        && connection_status(state, node_name) == "ONLINE"
        && !host.drbd_loaded
    {
        let kernel = host.booted_kernel.as_deref().unwrap_or("unknown");
        layers.insert(
            "DRBD".to_owned(),
            vec![format!(
                "DRBD kernel module not loaded for kernel {kernel}: no drbd.ko under /lib/modules/{kernel}"
            )],
        );
    }
    layers
}

/// DRBD's replication state of `res` towards `peer` (both replicas of one resource), as
/// `drbdsetup status` / LINSTOR's `replication_states` show it.
pub fn replication_state(state: &State, res: &Resource, peer: &Resource) -> &'static str {
    if !is_present(state, res) || !is_present(state, peer) {
        return "Off";
    }
    let syncing = |r: &Resource| r.sync_until.is_some();
    if syncing(res) && peer.disk_state == "UpToDate" {
        return if res.sync_stalled {
            "PausedSyncT"
        } else {
            "SyncTarget"
        };
    }
    if syncing(peer) && res.disk_state == "UpToDate" {
        return if peer.sync_stalled {
            "PausedSyncS"
        } else {
            "SyncSource"
        };
    }
    "Established"
}

/// How far the replica's running resync is, in percent (None when it is not resyncing).
pub fn sync_done_percent(state: &State, res: &Resource) -> Option<f64> {
    res.sync_until?;
    let d = state.replica_dynamics.get(&res.uuid)?;
    if d.sync_total_kib == 0 {
        return Some(0.0);
    }
    Some(100.0 * (1.0 - res.out_of_sync_kib as f64 / d.sync_total_kib as f64))
}

/// drbd-reactor promotes the controller's database on another host when the controller's
/// host goes away; the controller does not answer meanwhile, and comes back as the
/// `linstor-controller` installed on that host.
fn move_controller_if_its_host_is_away(state: &mut State) {
    let current_up = host_by_name(state, &state.controller.host).is_some_and(|h| h.power == Power::Up);
    if current_up {
        return;
    }
    // Only a host with a replica of the controller's database can promote it (any host
    // when the scenario has no such resource).
    let has_database = state.resources.iter().any(|r| r.name == PERSISTENT_DATABASE);
    let Some(next) = state
        .hosts
        .iter()
        .filter(|h| {
            !has_database
                || state
                    .resources
                    .iter()
                    .any(|r| r.name == PERSISTENT_DATABASE && r.node == h.name)
        })
        .find(|h| h.power == Power::Up && h.drbd_loaded && h.satellite_running)
        .map(|h| (h.name.clone(), h.root.clone()))
    else {
        return;
    };
    let (next, root) = next;
    tracing::info!(from = %state.controller.host, to = %next, "controller moves");
    state.controller.host = next;
    if let Some(version) = controller_version_in(&root) {
        state.controller.version = version;
    }
    let until = state.now + state.params.controller_failover_secs;
    state.controller.refuse_until = Some(state.controller.refuse_until.map_or(until, |u| u.max(until)));
}

/// The `linstor-controller` installed in `root`: what a controller started there runs. None
/// (keep the version it had) when it is not installed or rpm cannot tell, which is logged.
pub fn controller_version_in(root: &std::path::Path) -> Option<String> {
    match boot::installed_version(root, "linstor-controller") {
        Ok(Some(version)) => Some(version),
        Ok(None) => {
            tracing::warn!(
                root = %root.display(),
                "linstor-controller is not installed there: the controller keeps its version"
            );
            None
        }
        Err(e) => {
            tracing::warn!(
                root = %root.display(),
                "cannot query linstor-controller ({e:#}): the controller keeps its version"
            );
            None
        }
    }
}

fn track_offline_nodes(state: &mut State) {
    let now = state.now;
    let statuses: Vec<(String, bool)> = state
        .nodes
        .iter()
        .map(|n| (n.name.clone(), connection_status(state, &n.name) == "OFFLINE"))
        .collect();
    state
        .node_offline_since
        .retain(|name, _| statuses.iter().any(|(n, _)| n == name));
    for (name, offline) in statuses {
        if offline {
            state.node_offline_since.entry(name).or_insert(now);
        } else {
            state.node_offline_since.remove(&name);
        }
    }
}

/// Minutes → seconds after which an offline node is evicted, unless eviction is off for it.
fn eviction_delay(state: &State, node: &str) -> Option<f64> {
    let node_props = state.nodes.iter().find(|n| n.name == node).map(|n| &n.props);
    let prop = |key: &str| {
        node_props
            .and_then(|p| p.get(key))
            .or_else(|| state.controller.properties.get(key))
    };
    if prop(AUTO_EVICT_ALLOW).is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return None;
    }
    let minutes = prop(AUTO_EVICT_AFTER_MINUTES)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(DEFAULT_AUTO_EVICT_AFTER_MINUTES);
    Some(minutes * 60.0)
}

/// Disk states and resyncs from who is present now.
fn update_replicas(state: &mut State) {
    let now = state.now;
    // Who takes part in DRBD: host up with the module loaded and its resources brought up.
    let present: Vec<bool> = state
        .resources
        .iter()
        .map(|r| host_by_name(state, &r.node).is_some_and(drbd_serving))
        .collect();
    for (r, &p) in state.resources.iter().zip(&present) {
        state.replica_dynamics.entry(r.uuid.clone()).or_default().present = p;
    }
    // Replicas that went away: unknown to their peers; a resync in flight stops.
    for (r, &p) in state.resources.iter_mut().zip(&present) {
        if p {
            continue;
        }
        r.disk_state = "DUnknown".into();
        if r.sync_until.take().is_some() {
            let d = state.replica_dynamics.entry(r.uuid.clone()).or_default();
            d.sync_started = None;
            d.behind = true;
        }
    }
    // Present replicas: diskless ones are Diskless; diskful ones are UpToDate unless they
    // missed writes, in which case they resync from a present UpToDate peer (or wait for one).
    let names: Vec<String> = state
        .resource_definitions
        .iter()
        .map(|rd| rd.name.clone())
        .collect();
    let mut names = names;
    for r in &state.resources {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    for name in names {
        let per_gib = state.params.resync_secs_per_gib;
        let base = state.params.resync_base_secs;
        let idx: Vec<usize> = (0..state.resources.len())
            .filter(|&i| state.resources[i].name == name && present[i])
            .collect();
        for &i in &idx {
            let r = &mut state.resources[i];
            if r.kind != ReplicaKind::Diskful {
                r.disk_state = "Diskless".into();
                continue;
            }
            let d = state.replica_dynamics.entry(r.uuid.clone()).or_default();
            if !d.behind && r.sync_until.is_none() {
                r.disk_state = "UpToDate".into();
            }
        }
        let source = idx.iter().any(|&i| {
            let r = &state.resources[i];
            r.kind == ReplicaKind::Diskful && r.disk_state == "UpToDate"
        });
        for &i in &idx {
            let r = &mut state.resources[i];
            if r.kind != ReplicaKind::Diskful {
                continue;
            }
            let d = state.replica_dynamics.entry(r.uuid.clone()).or_default();
            if !d.behind {
                continue;
            }
            match (r.sync_until.is_some(), source) {
                (true, true) => r.disk_state = "Inconsistent".into(),
                (true, false) => {
                    // The sync source went away: the target stays Inconsistent, paused.
                    r.sync_until = None;
                    d.sync_started = None;
                    r.disk_state = "Inconsistent".into();
                }
                (false, true) => {
                    let gib = r.out_of_sync_kib as f64 / KIB_PER_GIB;
                    r.sync_until = Some(now + base + per_gib * gib);
                    d.sync_started = Some(now);
                    d.sync_total_kib = r.out_of_sync_kib;
                    r.disk_state = "Inconsistent".into();
                }
                (false, false) => {
                    if r.disk_state != "Inconsistent" {
                        r.disk_state = "Outdated".into();
                    }
                }
            }
        }
    }
}

/// Kinds of scenario activity (see [`Accounting`]).
pub const REBOOT: &str = "reboot";
pub const MIGRATION: &str = "migration";
pub const RESYNC: &str = "resync";
pub const CONTROLLER_FAILOVER: &str = "controller_failover";
/// Host-side work: a `host.call_plugin` running.
pub const HOST_WORK: &str = "host_work";

/// The scenario activities in progress now, as (kind, subject, detail): hosts rebooting, VMs
/// migrating, replicas resyncing (not a stalled resync: a fault, not progress), the
/// controller not answering while it fails over.
fn activities_now(state: &State) -> Vec<(&'static str, String, String)> {
    let host_name = |uuid: &str| {
        state
            .hosts
            .iter()
            .find(|h| h.uuid == uuid)
            .map_or_else(|| uuid.to_owned(), |h| h.name.clone())
    };
    let mut now = Vec::new();
    for h in &state.hosts {
        if matches!(h.power, Power::Rebooting { .. }) {
            now.push((REBOOT, h.name.clone(), String::new()));
        }
    }
    for vm in &state.vms {
        if let Some((to, _)) = &vm.migrating {
            let from = vm.resident_on.as_deref().map(host_name).unwrap_or_default();
            now.push((MIGRATION, vm.name.clone(), format!("{from}→{}", host_name(to))));
        }
    }
    for r in &state.resources {
        if r.sync_until.is_some() && !r.sync_stalled {
            let kib = state
                .replica_dynamics
                .get(&r.uuid)
                .map_or(0, |d| d.sync_total_kib);
            now.push((RESYNC, format!("{}@{}", r.name, r.node), format!("{kib} KiB")));
        }
    }
    if state.controller.refuse_until.is_some_and(|t| t > state.now) {
        now.push((CONTROLLER_FAILOVER, state.controller.host.clone(), String::new()));
    }
    now
}

/// The kinds of scenario activity in progress now (without building the list).
fn kinds_now(state: &State) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if state
        .hosts
        .iter()
        .any(|h| matches!(h.power, Power::Rebooting { .. }))
    {
        kinds.push(REBOOT);
    }
    if state.vms.iter().any(|vm| vm.migrating.is_some()) {
        kinds.push(MIGRATION);
    }
    if state
        .resources
        .iter()
        .any(|r| r.sync_until.is_some() && !r.sync_stalled)
    {
        kinds.push(RESYNC);
    }
    if state.controller.refuse_until.is_some_and(|t| t > state.now) {
        kinds.push(CONTROLLER_FAILOVER);
    }
    kinds
}

/// Adds `dt` simulated seconds from `state.now` on to the accounting, as the activities
/// and host-side calls in progress now (nothing changes between two events).
fn account_time(state: &mut State, dt: f64) {
    let kinds = kinds_now(state);
    let acc = &mut state.accounting;
    let working = !acc.calls_running.is_empty();
    if !kinds.is_empty() {
        acc.busy_secs += dt;
    }
    for kind in &kinds {
        *acc.busy_secs_by_kind.entry((*kind).to_owned()).or_default() += dt;
    }
    if working {
        acc.host_work_secs += dt;
    }
    if working || !kinds.is_empty() {
        acc.busy_or_host_work_secs += dt;
    }
}

fn in_window(acc: &Accounting, host: &str) -> bool {
    acc.windows
        .get(host)
        .and_then(|w| w.last())
        .is_some_and(|w| w.enabled_at.is_none())
}

/// The activity log and the hosts' maintenance windows, brought up to `state.now`: an
/// activity that ended is closed, one that started is opened; a host disabled opens a
/// window, a host enabled (other than by its boot) closes it.
fn account(state: &mut State) {
    let now = state.now;
    let current = activities_now(state);
    let acc = &mut state.accounting;
    for a in acc
        .activities
        .iter_mut()
        .filter(|a| a.to.is_none() && a.kind != HOST_WORK)
    {
        if !current.iter().any(|(k, s, _)| *k == a.kind && *s == a.subject) {
            a.to = Some(now);
        }
    }
    for (kind, subject, detail) in current {
        let open = acc
            .activities
            .iter()
            .rev()
            .any(|a| a.to.is_none() && a.kind == kind && a.subject == subject);
        if !open {
            acc.activities.push(Activity {
                kind: kind.to_owned(),
                subject,
                detail,
                from: now,
                to: None,
            });
        }
    }
    for host in &state.hosts {
        let open = in_window(acc, &host.name);
        if !host.enabled {
            acc.auto_enabled.retain(|n| *n != host.name);
            if !open {
                acc.windows.entry(host.name.clone()).or_default().push(Window {
                    disabled_at: now,
                    enabled_at: None,
                });
            }
        } else if open
            && !acc.auto_enabled.contains(&host.name)
            && let Some(w) = acc.windows.get_mut(&host.name).and_then(|w| w.last_mut())
        {
            w.enabled_at = Some(now);
        }
    }
}

/// Host-side work starts on the host `host_uuid` (`what`: the plugin and function); returns
/// the id [`host_work_ended`] takes.
pub fn host_work_started(state: &mut State, host_uuid: &str, what: &str) -> u64 {
    let subject = state
        .hosts
        .iter()
        .find(|h| h.uuid == host_uuid)
        .map_or_else(|| host_uuid.to_owned(), |h| h.name.clone());
    let now = state.now;
    let acc = &mut state.accounting;
    let id = acc.next_call;
    acc.next_call += 1;
    acc.activities.push(Activity {
        kind: HOST_WORK.to_owned(),
        subject,
        detail: what.to_owned(),
        from: now,
        to: None,
    });
    acc.calls_running.insert(id, acc.activities.len() - 1);
    id
}

/// The host-side work `id` is over.
pub fn host_work_ended(state: &mut State, id: u64) {
    let now = state.now;
    let acc = &mut state.accounting;
    if let Some(i) = acc.calls_running.remove(&id)
        && let Some(a) = acc.activities.get_mut(i)
    {
        a.to = Some(now);
    }
}
