//! Time accounted while the clock advances ([`Accounting`]): the simulated seconds during
//! which a reboot, a migration, a resync or a controller failover was in progress (the union
//! of their intervals), and those during which host-side work ran ([`host_work_started`] /
//! [`host_work_ended`], around `host.call_plugin`); every interval is logged, and each
//! host's maintenance windows (disabled → enabled) are kept.

use super::model::*;

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
pub fn account_time(state: &mut State, dt: f64) {
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
pub fn in_window(acc: &Accounting, host: &str) -> bool {
    acc.windows
        .get(host)
        .and_then(|w| w.last())
        .is_some_and(|w| w.enabled_at.is_none())
}
/// The activity log and the hosts' maintenance windows, brought up to `state.now`: an
/// activity that ended is closed, one that started is opened; a host disabled opens a
/// window, a host enabled (other than by its boot) closes it.
pub fn account(state: &mut State) {
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
