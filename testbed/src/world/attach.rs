//! PBDs of the LINSTOR SR: whether one can be plugged now, and what becomes of them as hosts
//! come and go (run by the dynamics after every change).
//!
//! Plugging a PBD is the driver's `sr_attach` on that host (docs/xostor.md §4.3): it needs
//! the `group-name` and `redundancy` device-config keys (§4.1), and a controller it can reach
//! (`_reconnect`, `SRUnavailable` otherwise). The testbed also asks the host's LINSTOR node to
//! be ONLINE: a host whose satellite is not connected cannot use the SR's volumes.
//!
//! A host that goes down loses its PBDs (`currently_attached` false). When it boots, xapi
//! plugs its PBDs, retrying for `pbd_plug_retry_secs` while the SR is not reachable (the
//! controller moving, the satellite not back yet); then it gives up and an operator must plug
//! them (§9: "Check in XOA that the PBD of the SR of this host is connected. If not, connect
//! it."). The fault `pbd-unplugged` makes every plug attempt of a host fail until `pbd-plugs`.

use super::controller;
use super::model::*;
use super::replication::connection_status;
use super::xapi_error::{
    SM_GROUP_NAME_MISSING, SM_REDUNDANCY_MISSING, SM_SR_UNAVAILABLE, XapiError, opaque_ref,
};

/// XAPI's `HOST_OFFLINE`.
const HOST_OFFLINE: &str = "HOST_OFFLINE";

/// Why the PBD cannot be plugged now (None: it can), as `PBD.plug` fails.
pub fn plug_refusal(state: &State, pbd: &Pbd) -> Option<XapiError> {
    let Some(host) = state.hosts.iter().find(|h| h.uuid == pbd.host) else {
        return Some(XapiError::new(
            "HANDLE_INVALID",
            vec!["host".into(), opaque_ref(&pbd.host)],
        ));
    };
    if host.power != Power::Up {
        return Some(XapiError::new(HOST_OFFLINE, vec![opaque_ref(&host.uuid)]));
    }
    if pbd.device_config.get("group-name").is_none_or(|g| g.is_empty()) {
        return Some(SM_GROUP_NAME_MISSING.raise(None));
    }
    if pbd.device_config.get("redundancy").is_none_or(|r| r.is_empty()) {
        return Some(SM_REDUNDANCY_MISSING.raise(None));
    }
    if state.faults.pbd_unplugged.contains(&host.uuid) {
        return Some(SM_SR_UNAVAILABLE.raise(Some(&format!(
            "the PBD of {} cannot be plugged (testbed fault pbd-unplugged)",
            host.name
        ))));
    }
    if !controller::answering(state) {
        return Some(SM_SR_UNAVAILABLE.raise(Some(
            "Unable to connect to the LINSTOR controller: no controller answers",
        )));
    }
    let status = connection_status(state, &host.name);
    let node = state.nodes.iter().any(|n| n.name == host.name);
    if !node || status != "ONLINE" {
        let why = if node {
            format!("LINSTOR node `{}` is {status}", host.name)
        } else {
            format!("no LINSTOR node `{}`", host.name)
        };
        return Some(SM_SR_UNAVAILABLE.raise(Some(&why)));
    }
    None
}

/// PBDs of hosts that are not up are unplugged; those of hosts xapi is still trying to plug
/// (after a boot) are plugged once they can be.
pub fn settle(state: &mut State) {
    let now = state.now;
    for i in 0..state.pbds.len() {
        let Some(host) = state.hosts.iter().find(|h| h.uuid == state.pbds[i].host) else {
            continue;
        };
        if host.power != Power::Up {
            state.pbds[i].currently_attached = false;
            continue;
        }
        let retrying = host.pbd_plug_until.is_some_and(|until| until >= now);
        if retrying && !state.pbds[i].currently_attached && plug_refusal(state, &state.pbds[i]).is_none() {
            tracing::info!(host = %host.name, pbd = %state.pbds[i].uuid, "xapi plugs the PBD");
            state.pbds[i].currently_attached = true;
        }
    }
}

/// The PBDs of live hosts other than `except` that are not plugged, as (host name, PBD).
pub fn unplugged_elsewhere<'a>(state: &'a State, except: &str) -> Vec<(&'a str, &'a Pbd)> {
    state
        .pbds
        .iter()
        .filter(|p| !p.currently_attached && p.host != except)
        .filter_map(|p| {
            let host = state.hosts.iter().find(|h| h.uuid == p.host)?;
            (host.power == Power::Up).then_some((host.name.as_str(), p))
        })
        .collect()
}

/// The host name of a host UUID (the UUID itself when unknown).
pub fn host_name(state: &State, uuid: &str) -> String {
    state
        .hosts
        .iter()
        .find(|h| h.uuid == uuid)
        .map_or_else(|| uuid.to_owned(), |h| h.name.clone())
}
