//! Time passing in the world: reboots end, migrations land, resyncs complete, the controller
//! moves, offline nodes get evicted; and what follows from who is up (replica disk states,
//! quorum, violations).
//!
//! PBDs follow their hosts (`attach`): unplugged when the host goes down, plugged again
//! after it boots once the SR is reachable from it.
//!
//! Two entry points. [`advance`] jumps the state to a later time, applying the timed events
//! in between one at a time, in time order, and re-evaluating after each: a quorum dip that
//! starts and ends between two requests is still seen and recorded. [`settle`] re-evaluates
//! at the current time after a change (an API call, a fault).
//!
//! DRBD as modelled here ([`super::replication`] has the rules for presence and quorum): a
//! host's resources come up when its satellite is first ONLINE after a boot; a satellite
//! stopped, restarted or at another version than the controller afterwards does not take
//! DRBD down, as DRBD lives in the kernel. A diskful replica that is away while writes go on
//! falls behind by the resource's write rate and resyncs from an UpToDate peer when it is
//! back, for `resync_base_secs` plus `resync_secs_per_gib` per GiB it missed.
//!
//! Time is accounted on the way ([`super::accounting`]).

use std::collections::BTreeMap;

use super::accounting::{self, in_window};
use super::model::*;
use super::power_on;
use super::replication::{connection_status, drbd_serving, host_by_name, write_rate, writes_go_on};
use super::{attach, controller, violations};

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
    move_controller(state);
    track_offline_nodes(state);
    adjust_drbd(state);
    update_replicas(state);
    attach::settle(state);
    violations::evaluate(state);
    accounting::account(state);
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
        power_on::boot(&mut state.hosts[i], no_satellite);
        if state.hosts[i].satellite_running && take_armed(&mut state.faults.satellite_refuses, &uuid) {
            tracing::info!(host = %state.hosts[i].name, "satellite refuses the controller's version (fault)");
            state.hosts[i].refuses_controller = true;
        }
        power_on::stamp_boot_time(&mut state.hosts[i], now);
        // xapi plugs the host's PBDs at start, and retries while the SR is not reachable.
        state.hosts[i].pbd_plug_until = Some(now + state.params.pbd_plug_retry_secs);
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
        accounting::account_time(state, dt);
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

/// drbd-reactor promotes the controller's database elsewhere when the controller's host can no
/// longer run it (`controller::place`); the controller comes back as the `linstor-controller`
/// installed on the host it moved to.
fn move_controller(state: &mut State) {
    if let Some((_, root)) = controller::place(state)
        && let Some(version) = controller_version_in(&root)
    {
        state.controller.version = version;
    }
}

/// The `linstor-controller` installed in `root`: what a controller started there runs. None
/// (keep the version it had) when it is not installed or rpm cannot tell, which is logged.
pub fn controller_version_in(root: &std::path::Path) -> Option<String> {
    match power_on::installed_version(root, "linstor-controller") {
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
    let names: Vec<String> = state.resource_names().into_iter().map(str::to_owned).collect();
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
