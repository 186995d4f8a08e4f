//! What the node should be: its name (the hostname), type, satellite address and port, the
//! storage interface, and the storage pool named as XCP-ng's driver names it.

use crate::context::Context;
use crate::error::UsageError;
use crate::host::facts;
use crate::settings::ControllerSettings;
use crate::storage;
use crate::xapi;
use anyhow::Result;
use serde::Serialize;

/// What the node should be.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Desired {
    pub name: String,
    /// `COMBINED` or `SATELLITE`.
    pub node_type: String,
    pub address: String,
    pub port: u16,
    /// `Plain` or `SSL`.
    pub encryption: String,
    pub storage_address: Option<String>,
    /// `None`: a diskless node.
    pub storage_pool: Option<PoolSpec>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    /// `LVM_THIN` or `LVM`.
    pub provider_kind: String,
    /// `StorDriver/StorPoolName`: `vg/thin` or `vg`.
    pub stor_pool_name: String,
}

/// What the node should be, from the config, the host and the storage step's result.
/// With an XOSTOR SR (`xostor_group`: its `group-name`), the storage pool is the SR's and
/// this host's storage must be that group (refused otherwise, naming both).
pub fn desired(
    ctx: &Context,
    controller: &ControllerSettings,
    xostor_group: Option<&str>,
) -> Result<Desired> {
    let name = match &controller.node_name {
        Some(n) => n.clone(),
        None => facts::hostname(&ctx.sysroot)?.ok_or_else(|| {
            UsageError(format!(
                "this host has no hostname ({} is missing or empty): set it, or give \
                 [controller] node_name (it must be the hostname XCP-ng knows this host by)",
                ctx.sysroot.path("/etc/hostname").display()
            ))
        })?,
    };
    let node_type = controller.node_type.linstor_name();
    let tls = controller.urls.iter().any(|u| u.starts_with("https://"));
    let address = management_address(ctx, controller)?;
    let storage_address = ctx.settings.network.storage_address.map(|a| a.addr.to_string());
    let storage_pool = if ctx.settings.storage.is_diskless() {
        None
    } else {
        let result = storage::inspect(ctx)?.ok_or_else(|| {
            anyhow::anyhow!(
                "the volume group for [storage] is not built yet: run `linstor-agent storage` (or \
                 `provision`) first, or leave [storage] devices empty for a diskless node"
            )
        })?;
        let spec = pool_spec(&result);
        if let Some(group) = xostor_group {
            check_xostor_group(&spec, group)?;
        }
        Some(spec)
    };
    Ok(Desired {
        name,
        node_type: node_type.to_string(),
        address,
        port: if tls { 3367 } else { 3366 },
        encryption: if tls { "SSL" } else { "Plain" }.to_string(),
        storage_address,
        storage_pool,
    })
}

/// The XOSTOR SR's storage pool is `xcp-sr-<group-name>` on the group itself: this host's
/// storage must be that group, or its pool would not be the SR's.
fn check_xostor_group(spec: &PoolSpec, group: &str) -> Result<()> {
    if spec.stor_pool_name == group {
        return Ok(());
    }
    Err(crate::error::Refusal(format!(
        "this host's storage is {} but the pool's XOSTOR SR uses group-name {group}: set [storage] \
         volume_group (and thin_pool) to match it, or leave [storage] devices empty to join diskless",
        spec.stor_pool_name
    ))
    .into())
}

/// `xcp-sr-<vg>_<thin>` (`LVM_THIN`) or `xcp-sr-<vg>` (`LVM`), as XCP-ng's driver names them.
pub fn pool_spec(result: &storage::StorageResult) -> PoolSpec {
    match &result.thin_pool {
        Some(thin) => PoolSpec {
            name: format!("xcp-sr-{}_{thin}", result.volume_group),
            provider_kind: "LVM_THIN".into(),
            stor_pool_name: format!("{}/{thin}", result.volume_group),
        },
        None => PoolSpec {
            name: format!("xcp-sr-{}", result.volume_group),
            provider_kind: "LVM".into(),
            stor_pool_name: result.volume_group.clone(),
        },
    }
}

/// `[controller] address`, else the management PIF's address through XAPI, else (live) the
/// address of the inventory's `MANAGEMENT_INTERFACE`.
fn management_address(ctx: &Context, controller: &ControllerSettings) -> Result<String> {
    if let Some(address) = controller.address {
        return Ok(address.to_string());
    }
    if let Some(x) = ctx.settings.xapi()? {
        let mut client = xapi::Client::new(xapi::Settings::from_settings(x)?)?;
        let host = client.this_host(&ctx.sysroot)?;
        let pifs = client.host_pifs(&host)?;
        client.logout();
        if let Some(pif) = pifs.iter().find(|p| p.management && !p.ip.is_empty()) {
            return Ok(pif.ip.clone());
        }
    }
    if let Some(cidr) = crate::network::nic::management_cidr(&ctx.sysroot)? {
        return Ok(cidr.addr.to_string());
    }
    Err(UsageError(format!(
        "the management address of this host is unknown (no management PIF address through [xapi], \
         no address on /etc/xensource-inventory's MANAGEMENT_INTERFACE): set [controller] address \
         in {} to the IP the controller reaches this host's satellite at",
        ctx.settings.sources.describe()
    ))
    .into())
}
