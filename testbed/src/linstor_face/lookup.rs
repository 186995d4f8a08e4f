//! The world's objects by their LINSTOR names (nodes match case-insensitively, as LINSTOR's
//! names do), and what handlers of several paths ask of them: the host behind a node, the
//! storage pool a replica lives in, whether a replica is in use.

use crate::world::build::DISKLESS_POOL;
use crate::world::{Host, Node, ReplicaKind, Resource, State, VmPower};

pub fn find<'a>(state: &'a State, name: &str) -> Option<&'a Node> {
    state.nodes.iter().find(|n| n.name.eq_ignore_ascii_case(name))
}
pub fn find_mut<'a>(state: &'a mut State, name: &str) -> Option<&'a mut Node> {
    state.nodes.iter_mut().find(|n| n.name.eq_ignore_ascii_case(name))
}
/// The world's host for a node, if it has one.
pub fn host<'a>(state: &'a State, node: &str) -> Option<&'a Host> {
    state.hosts.iter().find(|h| h.name.eq_ignore_ascii_case(node))
}

/// The storage pool a replica's volume lives in, and its provider.
pub fn pool_of(state: &State, r: &Resource) -> (String, String) {
    if r.kind != ReplicaKind::Diskful {
        return (DISKLESS_POOL.to_string(), "DISKLESS".to_string());
    }
    let node_pools = find(state, &r.node)
        .map(|n| n.storage_pools.as_slice())
        .unwrap_or(&[]);
    let wanted = state
        .resource_definitions
        .iter()
        .find(|d| d.name == r.name)
        .and_then(|d| d.props.get("StorPoolName"));
    let pool = match wanted {
        Some(w) => node_pools.iter().find(|p| p.name.eq_ignore_ascii_case(w)),
        None => node_pools.iter().find(|p| p.provider_kind != "DISKLESS"),
    };
    match (pool, wanted) {
        (Some(p), _) => (p.name.clone(), p.provider_kind.clone()),
        (None, Some(w)) => (w.clone(), "LVM_THIN".to_string()),
        (None, None) => (
            "xcp-sr-linstor_group_thin_device".to_string(),
            "LVM_THIN".to_string(),
        ),
    }
}
/// A running VM on the replica's host uses the resource: DRBD is Primary there.
pub fn in_use(state: &State, rsc: &str, node: &str) -> bool {
    let Some(host) = host(state, node) else {
        return false;
    };
    state.vms.iter().any(|vm| {
        vm.power == VmPower::Running
            && vm.resident_on.as_deref() == Some(host.uuid.as_str())
            && vm.resources.iter().any(|r| r == rsc)
    })
}
