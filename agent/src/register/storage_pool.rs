//! The node's storage pool: created on the storage step's volume group (or thin pool), or
//! checked when it is there; one on another backing is refused, never replaced.

use super::{Desired, PoolSpec, RegisterReport};
use crate::error::Refusal;
use crate::linstor::{Client, Node, StoragePoolCreate};
use anyhow::Result;
use std::collections::BTreeMap;

/// Whether the pool is there as wanted (`Ok(true)`), absent (`Ok(false)`), or there on
/// another backing (refused).
pub(super) fn check_pool(client: &Client, node: &Node, pool: &PoolSpec) -> Result<bool> {
    let pools = client.storage_pools(&node.name)?;
    if let Some(found) = pools
        .iter()
        .find(|p| p.storage_pool_name.eq_ignore_ascii_case(&pool.name))
    {
        let backing = found.props.get("StorDriver/StorPoolName").map(String::as_str);
        if found.provider_kind == pool.provider_kind && backing == Some(pool.stor_pool_name.as_str()) {
            return Ok(true);
        }
        return Err(Refusal(format!(
            "storage pool {} on node {} is {} on {} but this host's storage is {} on {}: the agent does not \
             replace a storage pool (its volumes live there); fix [storage] or the pool by hand; nothing \
             was changed",
            pool.name,
            node.name,
            found.provider_kind,
            backing.unwrap_or("(none)"),
            pool.provider_kind,
            pool.stor_pool_name
        ))
        .into());
    }
    Ok(false)
}

/// Creates the storage pool, or checks the one there.
pub(super) fn converge_pool(
    client: &Client,
    node: &Node,
    pool: &PoolSpec,
    report: &mut RegisterReport,
) -> Result<()> {
    if check_pool(client, node, pool)? {
        return Ok(());
    }
    let body = StoragePoolCreate {
        storage_pool_name: pool.name.clone(),
        provider_kind: pool.provider_kind.clone(),
        props: BTreeMap::from([("StorDriver/StorPoolName".to_string(), pool.stor_pool_name.clone())]),
    };
    if let Err(e) = client.create_storage_pool(&node.name, &body) {
        let mut err = anyhow::Error::new(e);
        if let Some(reasons) = node.unsupported_providers.get(&pool.provider_kind) {
            err = err.context(format!(
                "the satellite on {} cannot serve {}: {}",
                node.name,
                pool.provider_kind,
                reasons.join("; ")
            ));
        }
        return Err(err.context(format!("creating storage pool {} on {}", pool.name, node.name)));
    }
    act_create(pool, report);
    Ok(())
}

/// A dry run's storage pool: to be created unless the node (not to be created) has it.
pub(super) fn plan_pool(
    client: &Client,
    desired: &Desired,
    created: bool,
    report: &mut RegisterReport,
) -> Result<()> {
    let Some(pool) = &desired.storage_pool else {
        return Ok(());
    };
    let present = !created
        && client
            .storage_pools(&desired.name)?
            .iter()
            .any(|p| p.storage_pool_name.eq_ignore_ascii_case(&pool.name));
    if !present {
        act_create(pool, report);
    }
    Ok(())
}

/// The report's action for the pool's creation.
fn act_create(pool: &PoolSpec, report: &mut RegisterReport) {
    report.act(
        "storage pool",
        format!(
            "create {} ({}, StorDriver/StorPoolName = {})",
            pool.name, pool.provider_kind, pool.stor_pool_name
        ),
    );
}
