//! The world watching itself: every interval in which a resource lost quorum or had no
//! UpToDate replica (with the VDI it backs, if any), a VM was not running, or more hosts were
//! away than the run allows; and the moments a host was taken down or enabled against the
//! XCP-ng rule for XOSTOR (docs/xostor.md §9: do not reboot the next host until the previous
//! one's PBD is plugged), [`PBD_UNPLUGGED`] events recorded by the XAPI operations.
//!
//! [`evaluate`] runs after every change and every timed event (see `dynamics`), so each
//! interval opens and closes at the exact simulated time of the event that caused it.

use std::collections::BTreeSet;

use super::model::*;
use super::replication::has_quorum;

pub const QUORUM_LOST: &str = "quorum_lost";
pub const NO_UPTODATE_REPLICA: &str = "no_uptodate_replica";
pub const VM_DOWN: &str = "vm_down";
pub const TOO_MANY_HOSTS_DOWN: &str = "too_many_hosts_down";
/// A host taken down (reboot requested through XAPI) while another live host's PBD of the
/// LINSTOR SR is unplugged, or a host enabled (`host.enable`) while its own PBD is unplugged:
/// an event (`from` = `to`), its subject the host whose PBD is unplugged.
pub const PBD_UNPLUGGED: &str = "pbd_unplugged";

/// The subject of pool-wide violations.
pub const POOL: &str = "pool";

/// What is wrong right now, as (kind, subject).
pub fn current(state: &State) -> BTreeSet<(String, String)> {
    let mut wrong = BTreeSet::new();
    let mut resources: Vec<&str> = state
        .resource_definitions
        .iter()
        .map(|rd| rd.name.as_str())
        .collect();
    for r in &state.resources {
        if !resources.contains(&r.name.as_str()) {
            resources.push(&r.name);
        }
    }
    for name in resources {
        let replicas: Vec<&Resource> = state.resources.iter().filter(|r| r.name == name).collect();
        if replicas.is_empty() {
            continue;
        }
        if !has_quorum(state, name) {
            wrong.insert((QUORUM_LOST.to_owned(), name.to_owned()));
        }
        let up_to_date = replicas.iter().any(|r| {
            r.disk_state == "UpToDate" && state.replica_dynamics.get(&r.uuid).is_some_and(|d| d.present)
        });
        if !up_to_date {
            wrong.insert((NO_UPTODATE_REPLICA.to_owned(), name.to_owned()));
        }
    }
    for vm in &state.vms {
        let host_up = vm.resident_on.as_ref().is_some_and(|h| {
            state
                .hosts
                .iter()
                .any(|host| &host.uuid == h && host.power == Power::Up)
        });
        if vm.power != VmPower::Running || !host_up {
            wrong.insert((VM_DOWN.to_owned(), vm.name.clone()));
        }
    }
    let down = state.hosts.iter().filter(|h| h.power != Power::Up).count();
    if down > state.params.max_hosts_down {
        wrong.insert((TOO_MANY_HOSTS_DOWN.to_owned(), POOL.to_owned()));
    }
    wrong
}

/// Opens an interval for what just went wrong, closes the ones that ended, at `state.now`.
pub fn evaluate(state: &mut State) {
    let now = state.now;
    let wrong = current(state);
    for v in state.violations.iter_mut().filter(|v| v.to.is_none()) {
        if !wrong.contains(&(v.kind.clone(), v.subject.clone())) {
            v.to = Some(now);
        }
    }
    for (kind, subject) in wrong {
        let open = state
            .violations
            .iter()
            .any(|v| v.to.is_none() && v.kind == kind && v.subject == subject);
        if !open {
            tracing::info!(%kind, %subject, at = now, "violation starts");
            let vdi = backed_vdi(state, &kind, &subject);
            state.violations.push(Violation {
                kind,
                subject,
                from: now,
                to: None,
                vdi,
                detail: None,
            });
        }
    }
}

/// The VDI a resource violation concerns: the one the resource backs.
fn backed_vdi(state: &State, kind: &str, subject: &str) -> Option<String> {
    if kind != QUORUM_LOST && kind != NO_UPTODATE_REPLICA {
        return None;
    }
    state
        .vdis
        .iter()
        .find(|v| v.resource == subject)
        .map(|v| v.uuid.clone())
}

/// Records an event (a violation that starts and ends now), e.g. [`PBD_UNPLUGGED`].
pub fn record_event(state: &mut State, kind: &str, subject: &str, detail: String) {
    let now = state.now;
    tracing::info!(%kind, %subject, %detail, at = now, "violation");
    state.violations.push(Violation {
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        from: now,
        to: Some(now),
        vdi: None,
        detail: Some(detail),
    });
}
