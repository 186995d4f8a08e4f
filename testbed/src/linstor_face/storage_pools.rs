//! Storage pools: `/v1/nodes/{node}/storage-pools` and the view `/v1/view/storage-pools`
//! (`StoragePools.java`, `View.java`, `CtrlStorPoolCrtApiCallHandler`, `StorPoolHelper`).

use super::api_call_rc::{self as rc, Context, RcEntry};
use super::http::{Call, Reply, name_in, props_match};
use super::json::{self, StoragePoolCreate};
use super::{lookup, names, nodes, satellite};
use crate::ids;
use crate::world::build::DEFAULT_POOL_KIB;
use crate::world::{Node, State, StoragePool, World};

pub fn uuid(node: &Node, pool: &StoragePool) -> String {
    ids::uuid(&["storpool", &node.uuid, &pool.name, ""])
}

/// `StaticTraits` the satellite reports per provider.
fn static_traits(provider: &str) -> json::Props {
    let (provisioning, snapshots) = match provider {
        "LVM_THIN" | "ZFS_THIN" => (Some("Thin"), "true"),
        "FILE_THIN" => (Some("Thin"), "false"),
        "DISKLESS" => (None, "false"),
        "ZFS" => (Some("Fat"), "true"),
        _ => (Some("Fat"), "false"),
    };
    let mut traits = json::Props::new();
    if let Some(p) = provisioning {
        traits.insert("Provisioning".into(), p.into());
    }
    traits.insert("SupportsSnapshots".into(), snapshots.into());
    traits
}

/// Diskless pools report Java's `Long.MAX_VALUE`: they never run out.
fn capacity(pool: &StoragePool, kib: u64) -> u64 {
    if pool.provider_kind == "DISKLESS" {
        i64::MAX as u64
    } else {
        kib
    }
}

/// The pool as the lists show it. Capacities come from the satellite: without a connection
/// there are none, and a report says why.
pub fn to_json(state: &State, node: &Node, pool: &StoragePool) -> json::StoragePool {
    let online = satellite::is_online(state, &node.name);
    let traits = static_traits(&pool.provider_kind);
    json::StoragePool {
        storage_pool_name: pool.name.clone(),
        node_name: node.name.clone(),
        provider_kind: pool.provider_kind.clone(),
        props: pool.props.clone(),
        supports_snapshots: traits.get("SupportsSnapshots").is_some_and(|v| v == "true"),
        static_traits: traits,
        free_capacity: online.then_some(capacity(pool, pool.free_capacity)),
        total_capacity: online.then_some(capacity(pool, pool.total_capacity)),
        free_space_mgr_name: format!("{};{}", node.name, pool.name),
        uuid: uuid(node, pool),
        reports: if online {
            Vec::new()
        } else {
            vec![nodes::not_connected(&node.name)]
        },
        external_locking: false,
    }
}

fn collect(
    state: &State,
    node_filter: &[String],
    pool_filter: &[String],
    props: &[String],
) -> Vec<json::StoragePool> {
    let mut out = Vec::new();
    for node in state.nodes.iter().filter(|n| name_in(&n.name, node_filter)) {
        for pool in node
            .storage_pools
            .iter()
            .filter(|p| name_in(&p.name, pool_filter))
        {
            if props_match(&pool.props, props) {
                out.push(to_json(state, node, pool));
            }
        }
    }
    out
}

/// `GET /v1/view/storage-pools?nodes=…&storage_pools=…&props=…`
pub fn view(world: &World, call: &Call) -> Reply {
    let (nodes, pools, props) = (
        call.query_all("nodes"),
        call.query_all("storage_pools"),
        call.query_all("props"),
    );
    let list = world.read(|s| collect(s, &nodes, &pools, &props));
    Reply::ok(call.page(list))
}

/// `GET /v1/nodes/{node}/storage-pools[/{pool}]`
pub fn list(world: &World, call: &Call, node: &str, pool: Option<&str>) -> Reply {
    let found = world.read(|s| {
        lookup::find(s, node).map(|_| {
            let pools: Vec<String> = pool.map(|p| vec![p.to_string()]).unwrap_or_default();
            collect(s, &[node.to_string()], &pools, &[])
        })
    });
    Reply::node_items(call, node, found, pool, rc::FAIL_NOT_FOUND_STOR_POOL, |p| {
        format!("Storage pool '{p}' on node '{node}' not found.")
    })
}

fn context(op: u64, node: &str, pool: &str) -> Context {
    Context::new(
        op,
        rc::MASK_STOR_POOL,
        format!("Node: {node}, Storage pool name: {pool}"),
    )
    .obj_ref(rc::KEY_NODE, node)
    .obj_ref(rc::KEY_STOR_POOL_DFN, pool)
}

fn inline(node: &str, pool: &str) -> String {
    format!("storage pool '{pool}' on node '{node}'")
}

/// `LinstorParsingUtils.asProviderKind`, with its aliases.
fn provider_kind(kind: Option<&str>) -> Result<&'static str, RcEntry> {
    let Some(kind) = kind else {
        return Err(RcEntry::new(
            rc::FAIL_INVLD_LAYER_KIND,
            "Given provider kind is null.",
        ));
    };
    Ok(match kind.to_ascii_uppercase().as_str() {
        "DRBD_DISKLESS" | "DRBDDISKLESS" | "DISKLESS" => "DISKLESS",
        "LVM" => "LVM",
        "LVMTHIN" | "LVM_THIN" => "LVM_THIN",
        "ZFS" => "ZFS",
        "ZFSTHIN" | "ZFS_THIN" => "ZFS_THIN",
        "FILE" => "FILE",
        "FILE_THIN" => "FILE_THIN",
        "SPDK" => "SPDK",
        "REMOTE_SPDK" => "REMOTE_SPDK",
        "EBS_TARGET" => "EBS_TARGET",
        "EBS_INIT" => "EBS_INIT",
        _ => {
            return Err(RcEntry::new(
                rc::FAIL_INVLD_LAYER_KIND,
                format!("Given provider kind '{kind}' is invalid"),
            ));
        }
    })
}

/// `StoragePools.convertStorPoolProp`: the old per-driver keys become `StorDriver/StorPoolName`
/// (`vg/thinpool` for thin LVM).
fn convert_props(mut props: json::Props) -> json::Props {
    const NAME: &str = "StorDriver/StorPoolName";
    for key in [
        "StorDriver/LvmVg",
        "StorDriver/ZPool",
        "StorDriver/ZPoolThin",
        "StorDriver/FileDir",
    ] {
        if let Some(v) = props.remove(key) {
            props.insert(NAME.to_string(), v);
        }
    }
    if let Some(thin) = props.remove("StorDriver/ThinPool") {
        let vg = props.get(NAME).cloned().unwrap_or_else(|| "null".to_string());
        props.insert(NAME.to_string(), format!("{vg}/{thin}"));
    }
    props
}

/// `POST /v1/nodes/{node}/storage-pools`
pub fn create(world: &World, call: &Call, node: &str) -> Reply {
    let body: StoragePoolCreate = match call.json() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    // Parsed before the API call proper starts, so it has no context (500 either way).
    let kind = match provider_kind(body.provider_kind.as_deref()) {
        Ok(k) => k,
        Err(e) => return Reply::rc(vec![e], 201),
    };
    let name = body.storage_pool_name.clone().unwrap_or_default();
    let ctx = context(rc::MASK_CRT, node, &name);
    let props = convert_props(body.props.clone());
    let entries = world.change(|s| match create_in(s, node, &name, kind, props) {
        Ok(entry) => vec![ctx.with_op(entry)],
        // The controller catches these inside the transaction and returns them as values: the
        // context adds masks and references, not the description.
        Err(e) => vec![ctx.with_op(e)],
    });
    Reply::rc(entries, 201)
}

fn create_in(
    state: &mut State,
    node_name: &str,
    name: &str,
    kind: &str,
    props: json::Props,
) -> Result<RcEntry, RcEntry> {
    if lookup::find(state, node_name).is_none() {
        return Err(rc::node_not_found(node_name));
    }
    if !satellite::supports_provider(state, node_name, kind) {
        return Err(RcEntry::new(
            rc::FAIL_STLT_DOES_NOT_SUPPORT_PROVIDER,
            format!("The satellite does not support the device provider {kind}"),
        ));
    }
    names::stor_pool_name(name)?;
    let node = lookup::find_mut(state, node_name).ok_or_else(|| rc::node_not_found(node_name))?;
    if node
        .storage_pools
        .iter()
        .any(|p| p.name.eq_ignore_ascii_case(name))
    {
        return Err(RcEntry::new(
            rc::FAIL_EXISTS_STOR_POOL,
            format!("Node: {}, Storage pool name: {name} already exists.", node.name),
        ));
    }
    // A new pool is empty; its size is the world's default (no disk is measured here).
    let (total, free) = if kind == "DISKLESS" {
        (0, 0)
    } else {
        (DEFAULT_POOL_KIB, DEFAULT_POOL_KIB)
    };
    let pool = StoragePool {
        name: name.to_string(),
        provider_kind: kind.to_string(),
        props,
        total_capacity: total,
        free_capacity: free,
    };
    let entry = rc::new_entry(&uuid(node, &pool), &inline(&node.name, name), "registered");
    node.storage_pools.push(pool);
    Ok(entry)
}

/// `DELETE /v1/nodes/{node}/storage-pools/{pool}`
pub fn delete(world: &World, node: &str, pool: &str) -> Reply {
    let ctx = context(rc::MASK_DEL, node, pool);
    let entries = world.change(|s| delete_in(s, &ctx, node, pool));
    Reply::rc(entries, 200)
}

fn delete_in(state: &mut State, ctx: &Context, node_name: &str, name: &str) -> Vec<RcEntry> {
    let Some(node) = lookup::find(state, node_name) else {
        return vec![ctx.failed(rc::node_not_found(node_name))];
    };
    let Some(pool) = node
        .storage_pools
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    else {
        return vec![ctx.failed(rc::deletion_had_no_effect(&inline(node_name, name)))];
    };
    let in_use = state.resources.iter().any(|r| {
        r.node.eq_ignore_ascii_case(&node.name)
            && lookup::pool_of(state, r).0.eq_ignore_ascii_case(&pool.name)
    });
    if in_use {
        return vec![ctx.failed(RcEntry::new(
            rc::FAIL_IN_USE,
            format!(
                "The specified storage pool '{}' on node '{}' can not be deleted as volumes / snapshot-volumes \
                 are still using it.",
                pool.name, node.name
            ),
        ))];
    }
    let entry = rc::deleted_entry(&uuid(node, pool), &inline(&node.name, &pool.name));
    let pool_name = pool.name.clone();
    if let Some(node) = lookup::find_mut(state, node_name) {
        node.storage_pools.retain(|p| p.name != pool_name);
    }
    vec![ctx.with_op(entry)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lvm_keys_become_stor_pool_name() {
        let props = json::Props::from([
            ("StorDriver/LvmVg".to_string(), "linstor_group".to_string()),
            ("StorDriver/ThinPool".to_string(), "thin_device".to_string()),
        ]);
        let converted = convert_props(props);
        assert_eq!(
            converted.get("StorDriver/StorPoolName").map(String::as_str),
            Some("linstor_group/thin_device")
        );
        assert_eq!(converted.len(), 1);
    }

    #[test]
    fn provider_aliases() {
        assert_eq!(provider_kind(Some("lvmthin")).ok(), Some("LVM_THIN"));
        assert!(provider_kind(Some("nope")).is_err());
    }
}
