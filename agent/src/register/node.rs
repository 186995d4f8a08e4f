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
    let satellite = satellite_interface(desired);
    let storage = storage_interface(desired);
    let Some(node) = existing else {
        create_node(client, desired, satellite, storage, apply, report)?;
        return Ok(true);
    };
    refuse_unfit(node, desired)?;
    converge_satellite_interface(client, node, desired, &satellite, apply, report)?;
    if let Some(storage) = &storage {
        converge_storage_interface(client, node, storage, apply, report)?;
        if node.props.get("PrefNic").map(String::as_str) != Some(STORAGE_NETIF) {
            set_prefnic(client, desired, apply, report)?;
        }
    }
    Ok(false)
}

/// The satellite interface the node should have: the management address and the port and
/// encryption the satellite listens with.
fn satellite_interface(desired: &Desired) -> NetInterface {
    NetInterface {
        name: DEFAULT_NETIF.into(),
        address: desired.address.clone(),
        satellite_port: Some(desired.port),
        satellite_encryption_type: Some(desired.encryption.clone()),
        is_active: Some(true),
        uuid: None,
    }
}

/// The storage interface the node should have, with `[network] storage_address`.
fn storage_interface(desired: &Desired) -> Option<NetInterface> {
    desired.storage_address.as_ref().map(|a| NetInterface {
        name: STORAGE_NETIF.into(),
        address: a.clone(),
        ..Default::default()
    })
}

/// Creates the node with its interfaces (and `PrefNic` with a storage interface).
fn create_node(
    client: &Client,
    desired: &Desired,
    satellite: NetInterface,
    storage: Option<NetInterface>,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<()> {
    let with_storage = storage.is_some();
    let body = NodeCreate {
        name: desired.name.clone(),
        node_type: title_case(&desired.node_type),
        props: BTreeMap::new(),
        net_interfaces: std::iter::once(satellite).chain(storage).collect(),
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
    if with_storage {
        set_prefnic(client, desired, apply, report)?;
    }
    Ok(())
}

/// Refuses a node the agent must not touch: EVICTED, or of another type than the config's.
fn refuse_unfit(node: &Node, desired: &Desired) -> Result<()> {
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
    Ok(())
}

/// The node's satellite interface set to `satellite` where it differs: refused while the
/// node is ONLINE there (another machine answers under this name).
fn converge_satellite_interface(
    client: &Client,
    node: &Node,
    desired: &Desired,
    satellite: &NetInterface,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<()> {
    let current = node.satellite_interface();
    if current.is_some_and(|i| listens_as_desired(i, desired)) {
        return Ok(());
    }
    let (name, shown) = match current {
        Some(i) => (i.name.clone(), describe_satellite(i)),
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
    Ok(())
}

/// Whether the interface has the address, port and encryption the satellite listens with.
fn listens_as_desired(i: &NetInterface, desired: &Desired) -> bool {
    i.address == desired.address
        && i.satellite_port == Some(desired.port)
        && i.satellite_encryption_type
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&desired.encryption))
}

/// `address:port (encryption)`, `-` for what is not set.
fn describe_satellite(i: &NetInterface) -> String {
    format!(
        "{}:{} ({})",
        i.address,
        i.satellite_port.map_or("-".into(), |p| p.to_string()),
        i.satellite_encryption_type.as_deref().unwrap_or("-")
    )
}

/// The node's storage interface created, or moved to `storage`'s address.
fn converge_storage_interface(
    client: &Client,
    node: &Node,
    storage: &NetInterface,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<()> {
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
    Ok(())
}

/// Sets the node's `PrefNic` to the storage interface.
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
