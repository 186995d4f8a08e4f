//! `/v1/nodes/{node}/net-interfaces` (`Nodes.java`, `CtrlNetIfApiCallHandler`). A second
//! interface plus the node property `PrefNic` is how XOSTOR gets a replication network.

use super::api_call_rc::{self as rc, Context, RcEntry};
use super::http::{Call, Reply};
use super::json::{self, NetInterfaceBody};
use super::{lookup, names};
use crate::ids;
use crate::world::{NetInterface, Node, State, World};

const FAIL_NO_ACTIVE_PORT: u64 = rc::FAIL_INVLD_NET_PORT | rc::FAIL_INVLD_ENCRYPT_TYPE;

pub fn uuid(node: &Node, netif: &NetInterface) -> String {
    ids::uuid(&["netif", &node.uuid, &netif.name, ""])
}

pub fn to_json(node: &Node, netif: &NetInterface) -> json::NetInterface {
    json::NetInterface {
        name: netif.name.clone(),
        address: netif.address.clone(),
        satellite_port: netif.satellite_port,
        satellite_encryption_type: netif.satellite_encryption_type.clone(),
        is_active: netif.is_active,
        uuid: uuid(node, netif),
    }
}

/// Validates a net-interface body into the model (not yet active). A satellite connection
/// needs both a port and an encryption type; the type is stored as the controller's enum
/// (`Plain` → `PLAIN`).
pub fn parse(body: &NetInterfaceBody) -> Result<NetInterface, RcEntry> {
    let name = body.name.clone().unwrap_or_default();
    names::net_if_name(&name)?;
    let address = body.address.clone().unwrap_or_default();
    names::ip_address(&address)?;
    let (port, encryption) = stlt_conn(body)?;
    Ok(NetInterface {
        name,
        address,
        satellite_port: port,
        satellite_encryption_type: encryption,
        is_active: false,
    })
}

fn stlt_conn(body: &NetInterfaceBody) -> Result<(Option<u16>, Option<String>), RcEntry> {
    match (body.satellite_port, &body.satellite_encryption_type) {
        (Some(port), Some(enc)) => {
            let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                RcEntry::new(
                    rc::FAIL_INVLD_NET_PORT,
                    format!("The given portNumber '{port}' is invalid."),
                )
            })?;
            let enc = enc.to_ascii_uppercase();
            if enc != "PLAIN" && enc != "SSL" {
                return Err(RcEntry::new(
                    rc::FAIL_INVLD_NET_TYPE,
                    format!(
                        "The given encryption type '{}' is invalid.",
                        body.satellite_encryption_type.as_deref().unwrap_or("")
                    ),
                ));
            }
            Ok((Some(port), Some(enc)))
        }
        _ => Ok((None, None)),
    }
}

fn context(op: u64, node: &str, netif: &str) -> Context {
    Context::new(
        op,
        rc::MASK_NET_IF,
        format!("Node: '{node}', NetIfName: {netif}'"),
    )
    .obj_ref(rc::KEY_NODE, node)
}

fn inline(node: &str, netif: &str) -> String {
    format!("netInterface '{netif}' on node '{node}'")
}

/// `GET /v1/nodes/{node}/net-interfaces[/{netif}]`
pub fn list(world: &World, call: &Call, node: &str, netif: Option<&str>) -> Reply {
    let found = world.read(|s| {
        lookup::find(s, node).map(|n| {
            n.net_interfaces
                .iter()
                .filter(|i| netif.is_none_or(|want| i.name.eq_ignore_ascii_case(want)))
                .map(|i| to_json(n, i))
                .collect::<Vec<_>>()
        })
    });
    Reply::node_items(call, node, found, netif, rc::FAIL_NOT_FOUND_NET_IF, |want| {
        format!("Netinterface '{want}' not found.")
    })
}

/// `POST /v1/nodes/{node}/net-interfaces`
pub fn create(world: &World, call: &Call, node: &str) -> Reply {
    let body: NetInterfaceBody = match call.json_400() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let name = body.name.clone().unwrap_or_default();
    let ctx = context(rc::MASK_CRT, node, &name);
    let entries = world.change(|s| ctx.outcome(create_in(s, node, &body)));
    Reply::rc(entries, 201)
}

fn create_in(state: &mut State, node_name: &str, body: &NetInterfaceBody) -> Result<RcEntry, RcEntry> {
    let node = lookup::find_mut(state, node_name).ok_or_else(|| rc::node_not_found(node_name))?;
    let mut netif = parse(body)?;
    if node
        .net_interfaces
        .iter()
        .any(|i| i.name.eq_ignore_ascii_case(&netif.name))
    {
        return Err(RcEntry::new(
            rc::FAIL_EXISTS_NET_IF,
            format!(
                "{} already exists.",
                rc::first_letter_caps(&inline(&node.name, &netif.name))
            ),
        ));
    }
    let set_active = body.is_active.unwrap_or(false);
    let has_active = node.net_interfaces.iter().any(|i| i.is_active);
    if !has_active || set_active {
        if netif.satellite_port.is_some() {
            node.net_interfaces.iter_mut().for_each(|i| i.is_active = false);
            netif.is_active = true;
        } else if set_active {
            return Err(RcEntry::new(
                FAIL_NO_ACTIVE_PORT,
                "No satellite port / encryption type set for active satellite connection",
            ));
        }
    }
    let entry = rc::new_entry(
        &uuid(node, &netif),
        &inline(&node.name, &netif.name),
        "registered",
    );
    node.net_interfaces.push(netif);
    Ok(entry)
}

/// `PUT /v1/nodes/{node}/net-interfaces/{netif}`
pub fn modify(world: &World, call: &Call, node: &str, netif: &str) -> Reply {
    let body: NetInterfaceBody = match call.json_400() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let ctx = context(rc::MASK_MOD, node, netif);
    let entries = world.change(|s| ctx.outcome(modify_in(s, node, netif, &body)));
    Reply::rc(entries, 200)
}

fn modify_in(
    state: &mut State,
    node_name: &str,
    name: &str,
    body: &NetInterfaceBody,
) -> Result<RcEntry, RcEntry> {
    let node = lookup::find_mut(state, node_name).ok_or_else(|| rc::node_not_found(node_name))?;
    let not_found = || {
        RcEntry::new(
            rc::FAIL_NOT_FOUND_NET_IF,
            format!("Node '{node_name}' has no network interface named '{name}'."),
        )
    };
    let idx = node
        .net_interfaces
        .iter()
        .position(|i| i.name.eq_ignore_ascii_case(name))
        .ok_or_else(not_found)?;
    if let Some(address) = &body.address {
        names::ip_address(address)?;
    }
    let (port, encryption) = stlt_conn(body)?;
    let set_active = body.is_active.unwrap_or(false);
    let usable = port.is_some() || node.net_interfaces[idx].satellite_port.is_some();
    if set_active && !usable {
        return Err(RcEntry::new(
            FAIL_NO_ACTIVE_PORT,
            "No satellite port / encryption type set for active satellite connection",
        ));
    }
    if set_active {
        node.net_interfaces.iter_mut().for_each(|i| i.is_active = false);
    }
    let netif = &mut node.net_interfaces[idx];
    if let Some(address) = &body.address {
        netif.address = address.clone();
    }
    if port.is_some() {
        netif.satellite_port = port;
        netif.satellite_encryption_type = encryption;
    }
    if set_active {
        netif.is_active = true;
    }
    let netif = node.net_interfaces[idx].clone();
    Ok(rc::modified_entry(
        &uuid(node, &netif),
        &inline(&node.name, &netif.name),
    ))
}

/// `DELETE /v1/nodes/{node}/net-interfaces/{netif}`
pub fn delete(world: &World, node: &str, netif: &str) -> Reply {
    let ctx = context(rc::MASK_DEL, node, netif);
    let entries = world.change(|s| delete_in(s, &ctx, node, netif));
    Reply::rc(entries, 200)
}

fn delete_in(state: &mut State, ctx: &Context, node_name: &str, name: &str) -> Vec<RcEntry> {
    let found = lookup::find_mut(state, node_name).and_then(|n| {
        n.net_interfaces
            .iter()
            .position(|i| i.name.eq_ignore_ascii_case(name))
            .map(|idx| (n, idx))
    });
    let Some((node, idx)) = found else {
        return vec![ctx.failed(rc::deletion_had_no_effect(&inline(node_name, name)))];
    };
    let removed = node.net_interfaces.remove(idx);
    let removed_uuid = uuid(node, &removed);
    if removed.is_active
        && let Some(next) = node
            .net_interfaces
            .iter_mut()
            .find(|i| i.satellite_port.is_some())
    {
        next.is_active = true;
    }
    if !node.net_interfaces.iter().any(|i| i.is_active) {
        // Thrown after the deletion: the warning replaces the success entry.
        return vec![ctx.failed(RcEntry::new(
            rc::WARN_NO_STLT_CONN_DEFINED,
            format!(
                "{} was the last connection to the satellite! \nTo fix this, create at least one \
                 netInterface with a valid PORT and COMMUNICATION-TYPE.",
                rc::first_letter_caps(&inline(&node.name, name))
            ),
        ))];
    }
    vec![ctx.with_op(rc::deleted_entry(
        &removed_uuid,
        &inline(&node.name, &removed.name),
    ))]
}
