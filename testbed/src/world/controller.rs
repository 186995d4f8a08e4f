//! Where the LINSTOR controller runs, and whether it answers: read from the state, and kept
//! where drbd-reactor would put it ([`place`], run by the dynamics after every change).
//!
//! On XCP-ng the controller is never enabled as a service: drbd-reactor's promoter starts it
//! (after mounting its database, `var-lib-linstor.service`) on the one host that promotes the
//! DRBD resource `xcp-persistent-database` (docs/xostor.md §3.1, §3.3, §9 "Controller
//! moving"). As modelled here:
//!
//! - Before the SR exists (a bare pool) no controller runs: `running` is false and the LINSTOR
//!   REST API refuses connections. `SR.create` starts it on the master (§4.2 step 3.1), then
//!   hands it to drbd-reactor (§4.2 step 4).
//! - Under drbd-reactor (some host has the promoter's toml and drbd-reactor enabled), a host
//!   can run the controller when it is up with DRBD loaded, its satellite running, drbd-reactor
//!   enabled with the toml, and a replica of `xcp-persistent-database` (diskful or diskless:
//!   DRBD 9 promotes a diskless replica). The controller stays where it runs while that host
//!   can; otherwise it moves to the first host (pool order) that can, and does not answer for
//!   `controller_failover_secs`; when none can, it stops (`running` false) until one can.
//! - Scenarios that predate the SR model have no drbd-reactor config anywhere: their controller
//!   moves only when its host goes away, to the first host up with DRBD and a satellite (and a
//!   replica of the database when there is one), as before.
//!
//! Simplified: the promotion does not wait for the database's quorum, and the promoter picks
//! hosts in pool order (the real one takes whichever promotes first).

use std::path::PathBuf;

use super::model::*;
use super::replication::host_by_name;
use super::scenario::PERSISTENT_DATABASE;

/// Whether the controller answers now: it runs, its host is up, and it does not refuse
/// connections (fault, or moving).
pub fn answering(state: &State) -> bool {
    let c = &state.controller;
    c.running
        && !c.refuse_until.is_some_and(|t| t > state.now)
        && host_by_name(state, &c.host).is_some_and(|h| h.power == Power::Up)
}

/// Whether the controller answers on `host` (its REST port there, 3370).
pub fn answering_on(state: &State, host: &str) -> bool {
    answering(state) && state.controller.host == host
}

/// Whether drbd-reactor manages the controller: some host has the promoter's config enabled.
pub fn under_reactor(state: &State) -> bool {
    state.hosts.iter().any(Host::reactor_promotes)
}

/// Whether `host` holds a replica of the controller's database (any host when the pool has
/// no such resource).
fn holds_database(state: &State, host: &Host) -> bool {
    let has_database = state.resources.iter().any(|r| r.name == PERSISTENT_DATABASE);
    !has_database
        || state
            .resources
            .iter()
            .any(|r| r.name == PERSISTENT_DATABASE && r.node == host.name)
}

/// Whether the controller can run on `host` now (see the module documentation).
pub fn can_run_on(state: &State, host: &Host, reactor: bool) -> bool {
    host.power == Power::Up
        && host.drbd_loaded
        && host.satellite_running
        && (!reactor || host.reactor_promotes())
        && holds_database(state, host)
}

/// The controller starts on `host` now (answering at once): recorded in `hosts_seen`.
pub fn start_on(state: &mut State, host: &str) {
    let c = &mut state.controller;
    c.running = true;
    c.host = host.to_owned();
    if c.hosts_seen.last().map(String::as_str) != Some(host) {
        c.hosts_seen.push(host.to_owned());
    }
}

/// Puts the controller where drbd-reactor would (see the module documentation). Returns the
/// host it moved to and that host's sysroot (whose `linstor-controller` it now runs), if it
/// moved.
pub fn place(state: &mut State) -> Option<(String, PathBuf)> {
    let reactor = under_reactor(state);
    if !reactor && !state.controller.running {
        // Not started yet, and nothing would start it.
        return None;
    }
    let current = host_by_name(state, &state.controller.host);
    let stays = state.controller.running
        && current.is_some_and(|h| {
            if reactor {
                can_run_on(state, h, true)
            } else {
                h.power == Power::Up
            }
        });
    if stays {
        return None;
    }
    let next = state
        .hosts
        .iter()
        .find(|h| can_run_on(state, h, reactor))
        .map(|h| (h.name.clone(), h.root.clone()));
    let Some((name, root)) = next else {
        if reactor && state.controller.running {
            tracing::info!(host = %state.controller.host, "controller stops: no host can promote its database");
            state.controller.running = false;
        }
        return None;
    };
    tracing::info!(from = %state.controller.host, to = %name, "controller moves");
    start_on(state, &name);
    let until = state.now + state.params.controller_failover_secs;
    state.controller.refuse_until = Some(state.controller.refuse_until.map_or(until, |u| u.max(until)));
    Some((name, root))
}
