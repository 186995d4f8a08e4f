//! linstor-manager's `healthCheck` (docs/xostor.md §1.8): the controller's URI, every node's
//! connection status, the SR's storage pools, every resource with its replicas, and the
//! errors found, as one JSON document.
//!
//! This is the function's intended behaviour: the real one's volume check loops over the
//! wrong level of `resources` and reports a single `GENERIC_UNEXPECTED` (`'volumes'`)
//! whenever a resource exists (§1.8, "two apparent bugs"); here every volume's disk state is
//! checked. Its other quirk is kept: a capacity of 0 is not reported.

use serde_json::{Value, json};

use crate::ids;
use crate::world::{self, ReplicaKind, Resource, State, World};

const GENERIC_LINSTOR_UNREACHABLE: i64 = 0x2010001;
const NODE_NOT_ONLINE: i64 = 0x1020000;
const STORAGE_POOL_UNKNOWN_FREE_SIZE: i64 = 0x2030000;
const STORAGE_POOL_UNKNOWN_CAPACITY: i64 = 0x2030001;
const STORAGE_POOL_LOW_FREE_SIZE: i64 = 0x1030002;
const VOLUME_UNKNOWN_STATE: i64 = 0x1040000;
const VOLUME_INVALID_STATE: i64 = 0x2040001;
const VOLUME_WRONG_DISKLESS_STATE: i64 = 0x1040002;
const VOLUME_INTERNAL_UNVERIFIED_STATE: i64 = 0x1040003;
/// Below this much free space (percent) a storage pool is reported.
const LOW_FREE_THRESHOLD: f64 = 10.0;

/// `healthCheck {groupName}` (on any host: every host finds the same controller).
pub fn run(world: &World, group: &str) -> String {
    world.read(|s| document(s, group)).to_string()
}

fn document(state: &State, group: &str) -> Value {
    let mut errors: Vec<Value> = Vec::new();
    let pool = format!("xcp-sr-{}", group.replace('/', "_"));
    // `linstor://localhost` is shown as the address of the host the controller runs on.
    let controller = world::controller::answering(state)
        .then(|| world::replication::host_by_name(state, &state.controller.host))
        .flatten();
    let has_group = state.resource_groups.iter().any(|g| g.name == pool);
    let Some(controller) = controller.filter(|_| has_group) else {
        let message = if controller.is_none() {
            "Unable to connect to the LINSTOR controller".to_string()
        } else {
            format!("Unable to find `{pool}` Linstor SR")
        };
        errors.push(json!({"code": GENERIC_LINSTOR_UNREACHABLE, "message": message}));
        return json!({
            "controller-uri": controller.map(|h| format!("linstor://{}", h.address)).unwrap_or_default(),
            "nodes": {}, "storage-pools": {}, "resources": {}, "errors": errors,
        });
    };
    let mut nodes = serde_json::Map::new();
    for node in &state.nodes {
        let status = world::connection_status(state, &node.name);
        if status != "ONLINE" {
            errors.push(json!({"code": NODE_NOT_ONLINE, "name": node.name, "status": status}));
        }
        nodes.insert(node.name.clone(), json!(status));
    }
    json!({
        "controller-uri": format!("linstor://{}", controller.address),
        "nodes": nodes,
        "storage-pools": storage_pools(state, &pool, &mut errors),
        "resources": resources(state, &pool, &mut errors),
        "errors": errors,
    })
}

/// `get_storage_pools_info`: the SR's pools by node, sizes in bytes (-1 when unknown).
fn storage_pools(state: &State, pool: &str, errors: &mut Vec<Value>) -> Value {
    let mut by_node = serde_json::Map::new();
    for node in &state.nodes {
        let online = world::connection_status(state, &node.name) == "ONLINE";
        let mut list = Vec::new();
        for p in node.storage_pools.iter().filter(|p| p.name == pool) {
            let (free, capacity): (i64, i64) = if online {
                (to_bytes(p.free_capacity), to_bytes(p.total_capacity))
            } else {
                (-1, -1)
            };
            let name = &p.name;
            if free < 0 {
                errors.push(json!({"code": STORAGE_POOL_UNKNOWN_FREE_SIZE, "name": name}));
            } else if capacity < 0 {
                errors.push(json!({"code": STORAGE_POOL_UNKNOWN_CAPACITY, "name": name}));
            } else if capacity > 0 && (free as f64) / (capacity as f64) * 100.0 < LOW_FREE_THRESHOLD {
                errors.push(json!({"code": STORAGE_POOL_LOW_FREE_SIZE, "name": name, "threshold": LOW_FREE_THRESHOLD}));
            }
            list.push(json!({
                "name": p.name,
                "linstor-uuid": ids::uuid(&["storpool", &node.uuid, &p.name, ""]),
                "free-size": free,
                "capacity": capacity,
            }));
        }
        by_node.insert(node.name.clone(), Value::Array(list));
    }
    Value::Object(by_node)
}

fn to_bytes(kib: u64) -> i64 {
    i64::try_from(kib.saturating_mul(1024)).unwrap_or(i64::MAX)
}

/// `get_resources_info`, and the volume check of every replica in the SR's pool.
fn resources(state: &State, pool: &str, errors: &mut Vec<Value>) -> Value {
    let mut by_name = serde_json::Map::new();
    for name in state.resource_names() {
        let mut nodes = serde_json::Map::new();
        for r in state.resources.iter().filter(|r| r.name == name) {
            nodes.insert(r.node.clone(), replica(state, r, pool, errors));
        }
        let uuid = state
            .vdis
            .iter()
            .find(|v| v.resource == name)
            .map(|v| v.uuid.clone())
            .unwrap_or_default();
        by_name.insert(name.to_owned(), json!({"nodes": nodes, "uuid": uuid}));
    }
    Value::Object(by_name)
}

fn replica(state: &State, r: &Resource, pool: &str, errors: &mut Vec<Value>) -> Value {
    let online = world::connection_status(state, &r.node) == "ONLINE";
    let diskful = r.kind == ReplicaKind::Diskful;
    let idx = state
        .resource_definitions
        .iter()
        .position(|d| d.name == r.name)
        .unwrap_or(0);
    let size = state
        .resource_definitions
        .get(idx)
        .map_or(0, |d| to_bytes(d.size_kib));
    let mut volumes = Vec::new();
    // Diskless volumes live in the diskless pool, which the listing leaves out.
    if diskful {
        let state_text = if online {
            r.disk_state.clone()
        } else {
            "DUnknown".into()
        };
        check_volume(r, &state_text, errors);
        volumes.push(json!({
            "storage-pool-name": pool,
            "linstor-uuid": ids::uuid(&["volume", &r.uuid, "0", ""]),
            "number": 0,
            "device-path": format!("/dev/drbd{}", 1000 + idx),
            "usable-size": if online { size } else { -1 },
            "allocated-size": if online { size } else { -1 },
            "disk-state": state_text,
        }));
    }
    let mut value = json!({
        "volumes": volumes,
        "diskful": diskful,
        "tie-breaker": r.kind == ReplicaKind::TieBreaker,
    });
    if online {
        value["in-use"] = json!(in_use(state, r));
    }
    value
}

/// A running VM on the replica's host uses the resource.
fn in_use(state: &State, r: &Resource) -> bool {
    let Some(host) = state.hosts.iter().find(|h| h.name == r.node) else {
        return false;
    };
    state.vms.iter().any(|vm| {
        vm.power == world::VmPower::Running
            && vm.resident_on.as_deref() == Some(host.uuid.as_str())
            && vm.resources.contains(&r.name)
    })
}

fn check_volume(r: &Resource, disk_state: &str, errors: &mut Vec<Value>) {
    let params = json!({"node": r.node, "resource": r.name, "number": 0});
    let code = match disk_state {
        "UpToDate" | "Created" | "Attached" => return,
        "DUnknown" => VOLUME_UNKNOWN_STATE,
        "Inconsistent" | "Failed" | "To: Creating" | "To: Attachable" | "To: Attaching" => {
            VOLUME_INVALID_STATE
        }
        "Diskless" => VOLUME_WRONG_DISKLESS_STATE,
        _ => VOLUME_INTERNAL_UNVERIFIED_STATE,
    };
    let mut error = params;
    error["code"] = json!(code);
    if code != VOLUME_UNKNOWN_STATE {
        error["state"] = json!(disk_state);
    }
    errors.push(error);
}
