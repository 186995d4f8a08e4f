//! What the controller knows of a node through its satellite: the connection status and what
//! the satellite said it can do (storage providers, resource layers, with the reasons for what
//! it cannot). A satellite that is not ONLINE told the controller nothing, so the node then
//! lists no providers or layers, as on the real controller.

use crate::world::{self, State};
use std::collections::BTreeMap;

/// Every resource layer a satellite can report, in the controller's order.
const LAYERS: [&str; 7] = ["DRBD", "LUKS", "NVME", "WRITECACHE", "CACHE", "BCACHE", "STORAGE"];

/// The providers an XCP-ng dom0 satellite supports: LVM (thick and thin) and files; no ZFS.
const PROVIDERS: [&str; 5] = ["DISKLESS", "LVM", "LVM_THIN", "FILE", "FILE_THIN"];

/// `connection_status` of the node: "ONLINE", "OFFLINE" or "VERSION_MISMATCH".
pub fn connection_status(state: &State, node: &str) -> &'static str {
    world::connection_status(state, node)
}

pub fn is_online(state: &State, node: &str) -> bool {
    connection_status(state, node) == "ONLINE"
}

/// Layers the node's satellite cannot serve, with its reasons (e.g. DRBD without a module
/// for the booted kernel). Empty when the node is not ONLINE.
pub fn unsupported_layers(state: &State, node: &str) -> BTreeMap<String, Vec<String>> {
    if !is_online(state, node) {
        return BTreeMap::new();
    }
    world::unsupported_layers(state, node)
}

pub fn supported_layers(state: &State, node: &str) -> Vec<String> {
    if !is_online(state, node) {
        return Vec::new();
    }
    let unsupported = unsupported_layers(state, node);
    LAYERS
        .iter()
        .filter(|l| !unsupported.contains_key(**l))
        .map(|l| l.to_string())
        .collect()
}

pub fn supported_providers(state: &State, node: &str) -> Vec<String> {
    if !is_online(state, node) {
        return Vec::new();
    }
    PROVIDERS.iter().map(|p| p.to_string()).collect()
}

/// The providers dom0 lacks, with the reasons a real satellite gives for them.
pub fn unsupported_providers(state: &State, node: &str) -> BTreeMap<String, Vec<String>> {
    if !is_online(state, node) {
        return BTreeMap::new();
    }
    let zfs = vec!["'cat /sys/module/zfs/version' returned with exit code 1".to_string()];
    BTreeMap::from([
        ("ZFS".to_string(), zfs.clone()),
        ("ZFS_THIN".to_string(), zfs),
        (
            "SPDK".to_string(),
            vec![
                "IO exception occured when running 'rpc.py spdk_get_version': Cannot run program \
                 \"rpc.py\": error=2, No such file or directory"
                    .to_string(),
            ],
        ),
    ])
}

pub fn supports_provider(state: &State, node: &str, kind: &str) -> bool {
    supported_providers(state, node).iter().any(|p| p == kind)
}
