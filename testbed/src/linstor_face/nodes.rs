//! `/v1/nodes`: list, get, create, modify, delete, restore, evacuate (`Nodes.java`,
//! `CtrlNodeApiCallHandler`, `CtrlNodeCrtApiCallHandler`, `CtrlNodeDeleteApiCallHandler`).

use super::api_call_rc::{self as rc, Context, RcEntry};
use super::http::{Call, Reply, name_in, props_match};
use super::json::{self, NodeCreate, NodeEvacuate, NodeRestore, PropsModify};
use super::lookup::{self, find, find_mut};
use super::{names, netifs, satellite};
use crate::ids;
use crate::world::{NetInterface, Node, ReplicaKind, State, StoragePool, World};

/// The diskless pool every satellite or combined node gets on creation.
use crate::world::build::DISKLESS_POOL;

/// The node as `GET /v1/nodes` shows it.
pub fn to_json(state: &State, node: &Node) -> json::Node {
    json::Node {
        name: node.name.clone(),
        node_type: node.node_type.clone(),
        flags: node.flags.clone(),
        props: node.props.clone(),
        net_interfaces: node
            .net_interfaces
            .iter()
            .map(|n| netifs::to_json(node, n))
            .collect(),
        connection_status: satellite::connection_status(state, &node.name).to_string(),
        uuid: node.uuid.clone(),
        storage_providers: satellite::supported_providers(state, &node.name),
        resource_layers: satellite::supported_layers(state, &node.name),
        unsupported_providers: satellite::unsupported_providers(state, &node.name),
        unsupported_layers: satellite::unsupported_layers(state, &node.name),
    }
}

/// `GET /v1/nodes?nodes=…&props=…`
pub fn list(world: &World, call: &Call) -> Reply {
    let filter = call.query_all("nodes");
    let props = call.query_all("props");
    let nodes = world.read(|s| {
        s.nodes
            .iter()
            .filter(|n| name_in(&n.name, &filter) && props_match(&n.props, &props))
            .map(|n| to_json(s, n))
            .collect::<Vec<_>>()
    });
    Reply::ok(call.page(nodes))
}

/// `GET /v1/nodes/{node}`: one object, or 404 with the bare entry of
/// `RequestHelper.queryRequestResponse` (no cause, no correction).
pub fn get(world: &World, name: &str) -> Reply {
    let node = world.read(|s| find(s, name).map(|n| to_json(s, n)));
    Reply::found_or(node, rc::FAIL_NOT_FOUND_NODE, || {
        format!("Node '{name}' not found.")
    })
}

/// `Node.Type.valueOfIgnoreCase(type, SATELLITE)`.
fn node_type(requested: Option<&str>) -> Result<String, RcEntry> {
    let Some(t) = requested else {
        return Ok("SATELLITE".into());
    };
    let upper = t.to_ascii_uppercase();
    match upper.as_str() {
        "CONTROLLER" | "SATELLITE" | "COMBINED" | "AUXILIARY" => Ok(upper),
        _ => Err(RcEntry::new(
            rc::FAIL_INVLD_NODE_TYPE,
            format!("The specified node type '{t}' is invalid."),
        )
        .correction("Valid node types are:\nCONTROLLER\nSATELLITE\nCOMBINED\nAUXILIARY\n")),
    }
}

/// `POST /v1/nodes`
pub fn create(world: &World, call: &Call) -> Reply {
    let body: NodeCreate = match call.json() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let name = body.name.clone().unwrap_or_default();
    let ctx = Context::node(rc::MASK_CRT, &name);
    let entries = world.change(|s| match create_in(s, &name, &body) {
        Ok(node) => created_replies(s, &ctx, &node),
        Err(e) => vec![ctx.failed(e)],
    });
    Reply::rc(entries, 201)
}

fn create_in(state: &mut State, name: &str, body: &NodeCreate) -> Result<Node, RcEntry> {
    if body.net_interfaces.is_empty() {
        return Err(RcEntry::new(
            rc::FAIL_MISSING_NETCOM,
            format!("Registration of node '{name}' failed."),
        )
        .cause("No network interfaces were given.")
        .correction(
            "At least one network interface has to be given and be marked to be used for \
                 controller-satellite communitaction.",
        ));
    }
    names::node_name(name)?;
    let node_type = node_type(body.node_type.as_deref())?;
    if find(state, name).is_some() {
        return Err(RcEntry::new(
            rc::FAIL_EXISTS_NODE,
            format!("Registration of node '{name}' failed."),
        )
        .cause(format!("A node with the specified name '{name}' already exists."))
        .correction(
            "- Specify another name for the new node\nor\n- Delete the existing node before creating a \
                 new node with the same name",
        ));
    }
    let mut interfaces: Vec<NetInterface> = Vec::new();
    for netif in &body.net_interfaces {
        let mut parsed = netifs::parse(netif)?;
        if interfaces
            .iter()
            .any(|i| i.name.eq_ignore_ascii_case(&parsed.name))
        {
            return Err(RcEntry::new(
                rc::FAIL_EXISTS_NET_IF,
                format!("Registration of node '{name}' failed."),
            )
            .cause("A duplicate network interface name was encountered during node registration.")
            .details(format!(
                "The network interface name '{}' was specified for more than one network interface.",
                parsed.name
            ))
            .correction("A name that is unique per node must be specified for each network interface."));
        }
        // The first interface with a satellite port becomes the satellite connection.
        parsed.is_active =
            parsed.satellite_port.is_some() && !interfaces.iter().any(|i: &NetInterface| i.is_active);
        interfaces.push(parsed);
    }
    if !interfaces.iter().any(|i| i.is_active) {
        return Err(RcEntry::new(
            rc::FAIL_NO_STLT_CONN_DEFINED,
            format!("No satellite connection defined for node '{name}'"),
        ));
    }
    let mut storage_pools = Vec::new();
    if node_type != "CONTROLLER" {
        storage_pools.push(diskless_pool());
    }
    let node = Node {
        name: name.to_string(),
        uuid: ids::uuid(&[
            "node",
            name,
            &state.generation.to_string(),
            &state.now.to_string(),
            "",
        ]),
        node_type,
        net_interfaces: interfaces,
        props: body.props.clone(),
        storage_pools,
        flags: Vec::new(),
    };
    state.nodes.push(node.clone());
    Ok(node)
}

pub fn diskless_pool() -> StoragePool {
    StoragePool {
        name: DISKLESS_POOL.to_string(),
        provider_kind: "DISKLESS".to_string(),
        props: Default::default(),
        total_capacity: 0,
        free_capacity: 0,
    }
}

/// "New node registered", then what connecting to the satellite gave: "authenticated" with
/// what it supports, or "no active connection".
fn created_replies(state: &State, ctx: &Context, node: &Node) -> Vec<RcEntry> {
    let inline = format!("node '{}'", node.name);
    let mut entries = vec![ctx.with_op(rc::new_entry(&node.uuid, &inline, "registered"))];
    if node.node_type == "CONTROLLER" || node.node_type == "AUXILIARY" {
        return entries;
    }
    if satellite::is_online(state, &node.name) {
        let details = authenticated_details(state, &node.name);
        entries.push(
            ctx.with_op(
                RcEntry::new(
                    rc::CONN_STATUS_AUTHENTICATED,
                    format!("Node '{}' authenticated", node.name),
                )
                .details(details),
            ),
        );
    } else {
        entries.push(ctx.with_op(not_connected(&node.name)));
    }
    entries
}

/// `ResponseUtils.makeNotConnectedWarning`.
pub fn not_connected(node: &str) -> RcEntry {
    RcEntry::new(
        rc::WARN_NOT_CONNECTED,
        format!("No active connection to satellite '{node}'"),
    )
}

/// The details of "Node 'x' authenticated" (`CtrlFullSyncApiCallHandler`).
fn authenticated_details(state: &State, node: &str) -> String {
    let lower = |v: Vec<String>| format!("[{}]", v.join(", ").to_lowercase());
    let mut details = format!(
        "Supported storage providers: {}\nSupported resource layers  : {}",
        lower(satellite::supported_providers(state, node)),
        lower(satellite::supported_layers(state, node))
    );
    for (kind, map) in [
        ("storage providers", satellite::unsupported_providers(state, node)),
        ("resource layers", satellite::unsupported_layers(state, node)),
    ] {
        if map.is_empty() {
            continue;
        }
        details.push_str(&format!("\nUnsupported {kind}:\n"));
        for (key, reasons) in map {
            details.push_str(&format!("    {key}: "));
            let indent = " ".repeat(4 + 2 + key.len());
            for (i, reason) in reasons.iter().enumerate() {
                if i > 0 {
                    details.push_str(&indent);
                }
                details.push_str(reason);
                details.push('\n');
            }
        }
    }
    details
}

/// `PUT /v1/nodes/{node}`: properties (and the type).
pub fn modify(world: &World, call: &Call, name: &str) -> Reply {
    let body: PropsModify = match call.json() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let ctx = Context::node(rc::MASK_MOD, name);
    let entries = world.change(|s| ctx.outcome(modify_in(s, name, &body)));
    Reply::rc(entries, 200)
}

fn modify_in(state: &mut State, name: &str, body: &PropsModify) -> Result<RcEntry, RcEntry> {
    let new_type = body
        .node_type
        .as_deref()
        .map(|t| node_type(Some(t)))
        .transpose()?;
    let node = find_mut(state, name).ok_or_else(|| rc::node_not_found(name))?;
    if let Some(nic) = body.override_props.get("PrefNic")
        && !node
            .net_interfaces
            .iter()
            .any(|i| i.name.eq_ignore_ascii_case(nic))
    {
        return Err(RcEntry::new(
            rc::MASK_ERROR | rc::MASK_NODE | rc::FAIL_INVLD_PROP,
            format!(
                "The network interface '{nic}' of node '{}' does not exist!",
                node.name
            ),
        ));
    }
    if let Some(t) = new_type {
        node.node_type = t;
    }
    apply_props(&mut node.props, body);
    Ok(rc::modified_entry(&node.uuid, &format!("node '{}'", node.name)))
}

/// Deletes namespaces, then keys, then sets the overrides, as `CtrlPropsHelper` does.
pub fn apply_props(props: &mut json::Props, body: &PropsModify) {
    for ns in &body.delete_namespaces {
        let prefix = format!("{}/", ns.trim_end_matches('/'));
        props.retain(|k, _| !k.starts_with(&prefix));
    }
    for key in &body.delete_props {
        props.remove(key);
    }
    for (k, v) in &body.override_props {
        props.insert(k.clone(), v.clone());
    }
}

/// `DELETE /v1/nodes/{node}`
pub fn delete(world: &World, name: &str) -> Reply {
    let ctx = Context::node(rc::MASK_DEL, name);
    let entries = world.change(|s| delete_in(s, &ctx, name));
    Reply::rc(entries, 200)
}

fn delete_in(state: &mut State, ctx: &Context, name: &str) -> Vec<RcEntry> {
    let Some(node) = find(state, name).cloned() else {
        return vec![ctx.failed(rc::deletion_had_no_effect(&format!("node '{name}'")))];
    };
    if node.flags.iter().any(|f| f == "EVICTED") {
        return vec![
            ctx.failed(
                RcEntry::new(
                    rc::WARN_NODE_EVICTED,
                    format!("Deletion of node '{name}' had no effect."),
                )
                .cause(format!("Node '{name}' has been evicted."))
                .correction("Use node lost command to delete an evicted node."),
            ),
        ];
    }
    let blocked = blocking_resources(state, &node.name);
    if !blocked.is_empty() {
        let mut entries: Vec<RcEntry> = blocked.into_iter().map(|e| ctx.failed(e)).collect();
        entries.push(
            ctx.failed(
                RcEntry::new(
                    rc::FAIL_NODE_HAS_USED_RSC,
                    "Cannot delete node, because it has in use or last diskful resources.",
                )
                .cause(format!("Node '{name}' cannot be deleted.")),
            ),
        );
        return entries;
    }
    let described = format!("Node '{}'", node.name);
    let mut entries = Vec::new();
    let had_resources = state
        .resources
        .iter()
        .any(|r| r.node.eq_ignore_ascii_case(&node.name));
    if had_resources {
        entries.push(
            ctx.with_op(
                RcEntry::new(rc::DELETED, format!("{described} marked for deletion."))
                    .details(format!("{described} UUID is: {}", node.uuid)),
            ),
        );
    }
    // The satellite confirms the resources gone at once in the simulation: the node goes too.
    state
        .resources
        .retain(|r| !r.node.eq_ignore_ascii_case(&node.name));
    state.nodes.retain(|n| !n.name.eq_ignore_ascii_case(&node.name));
    entries.push(
        ctx.with_op(
            RcEntry::new(rc::DELETED, format!("{described} deleted."))
                .details(format!("{described} UUID was: {}", node.uuid)),
        ),
    );
    entries
}

/// Replicas that forbid deleting their node: in use (a running VM's disk), or the last
/// diskful replica of their resource (`CtrlRscDeleteApiHelper.ensureNotInUse/NotLastDisk`).
fn blocking_resources(state: &State, node: &str) -> Vec<RcEntry> {
    let mut entries = Vec::new();
    for r in state
        .resources
        .iter()
        .filter(|r| r.node.eq_ignore_ascii_case(node))
    {
        if lookup::in_use(state, &r.name, &r.node) {
            entries.push(RcEntry::new(
                rc::FAIL_IN_USE,
                format!("Resource '{}' is still in use on node '{}'.", r.name, r.node),
            ));
        }
        let other_diskful = state.resources.iter().any(|o| {
            o.name == r.name && o.kind == ReplicaKind::Diskful && !o.node.eq_ignore_ascii_case(node)
        });
        if r.kind == ReplicaKind::Diskful && !other_diskful {
            entries.push(RcEntry::new(
                rc::FAIL_IN_USE,
                format!(
                    "Last diskful resource '{}' on node '{}' cannot be deleted.",
                    r.name, r.node
                ),
            ));
        }
    }
    entries
}

/// `PUT /v1/nodes/{node}/restore`: clears EVICTED/EVACUATE.
pub fn restore(world: &World, call: &Call, name: &str) -> Reply {
    // The options only matter for evicted resources, which the simulation does not keep.
    let _options: NodeRestore = match call.json_or_default() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let entries = world.change(|s| {
        let Some(node) = find_mut(s, name) else {
            return vec![rc::node_not_found(name)];
        };
        if !node.flags.iter().any(|f| f == "EVICTED" || f == "EVACUATE") {
            // An unmasked MASK_ERROR, sent without a response context: exactly as the controller.
            return vec![RcEntry::new(
                rc::MASK_ERROR,
                format!("Node '{name}' is neither evicted nor evacuated."),
            )];
        }
        node.flags.retain(|f| f != "EVICTED" && f != "EVACUATE");
        vec![RcEntry::new(
            rc::MASK_SUCCESS | rc::MASK_NODE,
            format!("Successfully restored node {name}"),
        )]
    });
    Reply::rc(entries, 200)
}

/// `PUT /v1/nodes/{node}/evacuate`: marks the node EVACUATE. The simulation does not move
/// replicas, so each resource on the node is reported as not evacuated, as the controller
/// does when it finds no other storage pool.
pub fn evacuate(world: &World, call: &Call, name: &str) -> Reply {
    let _targets: NodeEvacuate = match call.json_or_default() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let ctx = Context::node(rc::MASK_MOD, name);
    let entries = world.change(|s| {
        let Some(node) = find_mut(s, name) else {
            return vec![ctx.failed(rc::node_not_found(name))];
        };
        if !node.flags.iter().any(|f| f == "EVACUATE") {
            node.flags.push("EVACUATE".to_string());
        }
        let node_name = node.name.clone();
        s.resources
            .iter()
            .filter(|r| r.node.eq_ignore_ascii_case(&node_name))
            .map(|r| {
                RcEntry::new(
                    rc::WARN_NOT_EVACUATING,
                    format!(
                        "Resource '{}' cannot be evacuated as no available storage pool was found",
                        r.name
                    ),
                )
            })
            .collect()
    });
    Reply::rc(entries, 200)
}
