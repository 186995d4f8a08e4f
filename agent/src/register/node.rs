//! The node on the controller: created, or checked and updated where LINSTOR allows (never
//! deleted and recreated); its storage interface and `PrefNic`; the wait until it is ONLINE;
//! and the retries while the controller does not answer.

use super::{DEFAULT_NETIF, Desired, POLL, RegisterReport, STORAGE_NETIF};
use crate::error::Refusal;
use crate::linstor::{Client, LinstorError, NetInterface, Node, NodeCreate, PropsModify};
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(super) enum Retry {
    Linstor(LinstorError),
    Other(anyhow::Error),
}

/// Calls `f` until it answers; an unreachable controller is tried again until `deadline`,
/// then the error names every URL tried.
pub(super) fn retry<T>(
    client: &Client,
    deadline: Instant,
    timeout: Duration,
    mut f: impl FnMut() -> std::result::Result<T, Retry>,
) -> Result<T> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match f() {
            Ok(v) => return Ok(v),
            Err(Retry::Linstor(e @ LinstorError::Unreachable { .. })) => {
                if Instant::now() + POLL >= deadline {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the LINSTOR controller did not answer within {}s ({attempts} attempts at {}): \
                         check that it runs (on XCP-ng drbd-reactor starts it where \
                         xcp-persistent-database is Primary) and [controller] urls, then run again",
                        timeout.as_secs(),
                        client.urls().join(", ")
                    )));
                }
                tracing::info!("LINSTOR controller unreachable, trying again: {e}");
                std::thread::sleep(POLL);
            }
            Err(Retry::Linstor(e)) => return Err(e.into()),
            Err(Retry::Other(e)) => return Err(e),
        }
    }
}

/// Creates the node, or checks the one there and updates what LINSTOR allows. Returns whether
/// the node is (to be) created.
pub(super) fn converge_node(
    client: &Client,
    desired: &Desired,
    existing: Option<&Node>,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<bool> {
    let satellite = NetInterface {
        name: DEFAULT_NETIF.into(),
        address: desired.address.clone(),
        satellite_port: Some(desired.port),
        satellite_encryption_type: Some(desired.encryption.clone()),
        is_active: Some(true),
        uuid: None,
    };
    let storage = desired.storage_address.as_ref().map(|a| NetInterface {
        name: STORAGE_NETIF.into(),
        address: a.clone(),
        ..Default::default()
    });
    let Some(node) = existing else {
        let mut interfaces = vec![satellite];
        interfaces.extend(storage.clone());
        let body = NodeCreate {
            name: desired.name.clone(),
            node_type: title_case(&desired.node_type),
            props: BTreeMap::new(),
            net_interfaces: interfaces,
        };
        if apply {
            client.create_node(&body)?;
        }
        report.act(
            "node",
            format!(
                "create {} ({}) with satellite interface {DEFAULT_NETIF} {}:{}",
                desired.name, desired.node_type, desired.address, desired.port
            ),
        );
        if storage.is_some() {
            set_prefnic(client, desired, apply, report)?;
        }
        return Ok(true);
    };

    if node.flags.iter().any(|f| f == "EVICTED") {
        return Err(Refusal(format!(
            "node {} is EVICTED on the controller: restore it with `linstor node restore {}` once this \
             host is healthy; nothing was changed",
            node.name, node.name
        ))
        .into());
    }
    if !node.node_type.eq_ignore_ascii_case(&desired.node_type) {
        return Err(Refusal(format!(
            "node {} exists as {} but the config wants {}: the agent does not change a node's type \
             (its resources depend on it); change it with `linstor node modify` or set [controller] \
             node_type; nothing was changed",
            node.name, node.node_type, desired.node_type
        ))
        .into());
    }
    let current = node.satellite_interface().cloned();
    let same = current.as_ref().is_some_and(|i| {
        i.address == desired.address
            && i.satellite_port == Some(desired.port)
            && i.satellite_encryption_type
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&desired.encryption))
    });
    if !same {
        let (name, shown) = match &current {
            Some(i) => (
                i.name.clone(),
                format!(
                    "{}:{} ({})",
                    i.address,
                    i.satellite_port.map_or("-".into(), |p| p.to_string()),
                    i.satellite_encryption_type.as_deref().unwrap_or("-")
                ),
            ),
            None => (DEFAULT_NETIF.to_string(), "no satellite interface".to_string()),
        };
        if node.connection_status == "ONLINE" {
            return Err(Refusal(format!(
                "node {} is already registered at {shown} and ONLINE there, but this host's satellite is \
                 {}:{}: another machine answers under this name (or [controller] address is wrong); \
                 the agent never deletes and recreates a node (that orphans its volumes): check which \
                 host is {}, or fix [controller] address; nothing was changed",
                node.name, desired.address, desired.port, node.name
            ))
            .into());
        }
        let modify = NetInterface {
            name: name.clone(),
            ..satellite.clone()
        };
        if apply {
            if current.is_some() {
                client.modify_net_interface(&node.name, &modify)?;
            } else {
                client.create_net_interface(&node.name, &modify)?;
            }
        }
        report.act(
            "satellite interface",
            format!(
                "{} {name}: {shown} -> {}:{} ({})",
                node.name, desired.address, desired.port, desired.encryption
            ),
        );
    }
    if let Some(storage) = &storage {
        match node.interface(STORAGE_NETIF) {
            None => {
                if apply {
                    client.create_net_interface(&node.name, storage)?;
                }
                report.act(
                    "storage interface",
                    format!("create {STORAGE_NETIF} {} on {}", storage.address, node.name),
                );
            }
            Some(i) if i.address != storage.address => {
                if apply {
                    client.modify_net_interface(&node.name, storage)?;
                }
                report.act(
                    "storage interface",
                    format!(
                        "{STORAGE_NETIF} on {}: {} -> {}",
                        node.name, i.address, storage.address
                    ),
                );
            }
            Some(_) => {}
        }
        if node.props.get("PrefNic").map(String::as_str) != Some(STORAGE_NETIF) {
            set_prefnic(client, desired, apply, report)?;
        }
    }
    Ok(false)
}

fn set_prefnic(client: &Client, desired: &Desired, apply: bool, report: &mut RegisterReport) -> Result<()> {
    if apply {
        client.modify_node(
            &desired.name,
            &PropsModify {
                override_props: BTreeMap::from([("PrefNic".to_string(), STORAGE_NETIF.to_string())]),
                ..Default::default()
            },
        )?;
    }
    report.act("PrefNic", format!("{}: PrefNic = {STORAGE_NETIF}", desired.name));
    Ok(())
}

/// `COMBINED` → `Combined`, as python-linstor sends types.
pub(super) fn title_case(upper: &str) -> String {
    let lower = upper.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Polls the node until the controller sees it ONLINE; the timeout names the status it saw
/// last and what to do about it.
pub(super) fn wait_online(
    client: &Client,
    name: &str,
    deadline: Instant,
    timeout: Duration,
    controller_version: &str,
) -> Result<Node> {
    loop {
        let last = match client.node(name) {
            Ok(Some(node)) if node.connection_status == "ONLINE" => return Ok(node),
            Ok(Some(node)) => Some(node.connection_status),
            Ok(None) => Some("not registered".to_string()),
            Err(e @ LinstorError::Unreachable { .. }) => Some(format!("controller unreachable: {e}")),
            Err(e) => return Err(e.into()),
        };
        if Instant::now() + POLL >= deadline {
            let status = last.unwrap_or_else(|| "unknown".into());
            let todo = match status.as_str() {
                "VERSION_MISMATCH" => format!(
                    "this host's linstor-satellite is not at the controller's version {controller_version}: \
                     pin linstor-satellite = \"{controller_version}\" in [packages] pin, run `linstor-agent \
                     install`, restart linstor-satellite"
                ),
                "OFFLINE" | "CONNECTED" | "UNKNOWN" => "check that linstor-satellite runs on this host \
                     (`systemctl status linstor-satellite`), listens on the address registered, and that the \
                     firewall lets the controller reach port 3366/3367 (`linstor-agent network`)"
                    .to_string(),
                _ => "check the controller and this host's linstor-satellite, then run again".to_string(),
            };
            return Err(anyhow::anyhow!(
                "node {name} did not come ONLINE within {}s: last status {status}: {todo}",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
}
