//! What the state says of DRBD and LINSTOR at this moment, read and never changed: which
//! replicas are present, whether a resource has quorum and takes writes, a node's
//! connection status, a replica's replication state and resync progress.
//!
//! DRBD as modelled here: every replica (diskful, diskless, tie-breaker) is a quorum voter;
//! a resource has quorum while a strict majority of its replicas is *present*: its host up
//! with the DRBD module loaded, and the resources brought up by the satellite since the host
//! booted (`Host::drbd_adjusted`). Writes go on only with quorum and an UpToDate replica
//! present.

use std::collections::BTreeMap;

use super::model::*;

/// Whether the host's DRBD takes part in replication now (see the module documentation).
pub fn drbd_serving(host: &Host) -> bool {
    host.power == Power::Up && host.drbd_loaded && host.drbd_adjusted
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
pub fn writes_go_on(state: &State, resource: &str) -> bool {
    has_quorum(state, resource)
        && state
            .resources
            .iter()
            .any(|r| r.name == resource && r.disk_state == "UpToDate" && is_present(state, r))
}
pub fn is_present(state: &State, r: &Resource) -> bool {
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
pub fn host_by_name<'a>(state: &'a State, name: &str) -> Option<&'a Host> {
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
