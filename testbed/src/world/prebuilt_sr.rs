//! A scenario's `[sr]`: the pool starts as the driver's `SR.create` leaves it
//! (docs/xostor.md §4.2), over the member hosts the builder made: their storage pool renamed
//! to the SR's (`xcp-sr-<group-name, / → _>`, `LVM_THIN` or `LVM`, `StorDriver/StorPoolName`
//! = the group name), the resource groups `xcp-sr-…` (place count = redundancy) and `xcp-ha-…`
//! (3), drbd-reactor with the promoter's toml on every member (the file in each sysroot), the
//! SR with one plugged PBD per member (device_config `group-name`, `redundancy`,
//! `provisioning`), every scenario volume but the database a VDI of the SR, and every VM's
//! volume a VBD of it. Joining hosts get nothing (no node, no PBD: `addHost` makes those).
//!
//! Simplified: the database replicas are the scenario's (3 diskful by default, where the
//! driver makes `redundancy` diskful and the rest diskless), and VDIs keep their scenario
//! names as resource names.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::model::*;
use super::reactor;
use super::scenario::{PERSISTENT_DATABASE, SrSpec};

/// As `build::derived_uuid` (the world's derived UUIDs).
fn derived_uuid(kind: &str, name: &str) -> String {
    crate::ids::uuid(&[crate::ids::WORLD, kind, name])
}

/// The HA resource group of a group name (§6.1).
pub fn ha_group(sr: &SrSpec) -> String {
    format!("xcp-ha-{}", sr.group_name.replace('/', "_"))
}

/// A resource group as `_create_sr` makes it (§4.2 step 3.2.5).
pub fn resource_group(name: &str, uuid: String, place_count: u32, pool: &str) -> ResourceGroup {
    ResourceGroup {
        name: name.to_owned(),
        uuid,
        place_count,
        storage_pools: vec![pool.to_owned()],
        diskless_on_remaining: false,
        props: BTreeMap::new(),
    }
}

/// The SR's storage pool on a node: `provider` over `group_name`, `kib` large.
pub fn sr_storage_pool(sr: &SrSpec, kib: u64) -> StoragePool {
    StoragePool {
        name: sr.storage_pool(),
        provider_kind: if sr.thin() { "LVM_THIN" } else { "LVM" }.into(),
        props: BTreeMap::from([("StorDriver/StorPoolName".to_owned(), sr.group_name.clone())]),
        total_capacity: kib,
        free_capacity: kib,
    }
}

/// The SR record (a `linstor` SR, shared, `user` content).
pub fn sr_record(uuid: String, name_label: &str, physical_size: u64) -> Sr {
    Sr {
        uuid,
        name_label: name_label.to_owned(),
        name_description: String::new(),
        sr_type: "linstor".into(),
        shared: true,
        content_type: "user".into(),
        sm_config: BTreeMap::new(),
        other_config: BTreeMap::new(),
        physical_size,
    }
}

/// The device_config the PBDs of an SR made from `sr` carry.
pub fn device_config(sr: &SrSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("group-name".to_owned(), sr.group_name.clone()),
        ("redundancy".to_owned(), sr.redundancy.to_string()),
        ("provisioning".to_owned(), sr.provisioning.clone()),
    ])
}

/// Adds the SR to a freshly built state (see the module documentation).
pub fn add(state: &mut State, sr: &SrSpec) -> Result<()> {
    if state.nodes.is_empty() {
        bail!("[sr] needs LINSTOR nodes: a bare pool (xostor = false) has none");
    }
    let pool = sr.storage_pool();
    let mut physical_kib = 0;
    for node in &mut state.nodes {
        for p in node
            .storage_pools
            .iter_mut()
            .filter(|p| p.provider_kind != "DISKLESS")
        {
            *p = sr_storage_pool(sr, p.total_capacity);
            physical_kib += p.total_capacity;
        }
    }
    let redundancy = u32::try_from(sr.redundancy).unwrap_or(u32::MAX);
    state.resource_groups = vec![
        resource_group(&pool, derived_uuid("resource-group", &pool), redundancy, &pool),
        resource_group(
            &ha_group(sr),
            derived_uuid("resource-group", &ha_group(sr)),
            3,
            &pool,
        ),
    ];
    let sr_uuid = derived_uuid("sr", &pool);
    state
        .srs
        .push(sr_record(sr_uuid.clone(), "XOSTOR", physical_kib * 1024));
    let members: Vec<usize> = (0..state.hosts.len())
        .filter(|&i| !state.hosts[i].joining)
        .collect();
    for &i in &members {
        let host = &mut state.hosts[i];
        reactor::set(host, true);
        reactor::sync_host(host);
        host.linstor_ports_open = true;
        state.pbds.push(Pbd {
            uuid: derived_uuid("pbd", &format!("{}/{pool}", host.name)),
            host: host.uuid.clone(),
            sr: sr_uuid.clone(),
            device_config: device_config(sr),
            currently_attached: true,
            other_config: BTreeMap::new(),
        });
    }
    for rd in &mut state.resource_definitions {
        let group = if rd.name == PERSISTENT_DATABASE {
            ha_group(sr)
        } else {
            pool.clone()
        };
        rd.resource_group = Some(group);
    }
    let volumes: Vec<(String, u64)> = state
        .resource_definitions
        .iter()
        .filter(|rd| rd.name != PERSISTENT_DATABASE)
        .map(|rd| (rd.name.clone(), rd.size_kib * 1024))
        .collect();
    for (name, bytes) in volumes {
        state.vdis.push(scenario_vdi(&sr_uuid, &name, bytes));
    }
    let disks: Vec<(String, Vec<String>)> = state
        .vms
        .iter()
        .map(|vm| (vm.uuid.clone(), vm.resources.clone()))
        .collect();
    for (vm, resources) in disks {
        for (slot, resource) in resources.iter().enumerate() {
            let Some(vdi) = state.vdis.iter().find(|v| &v.resource == resource) else {
                continue;
            };
            state.vbds.push(Vbd {
                uuid: derived_uuid("vbd", &format!("{vm}/{slot}")),
                vm: vm.clone(),
                vdi: vdi.uuid.clone(),
                device: slot.to_string(),
                mode: "RW".into(),
                vbd_type: "Disk".into(),
                bootable: slot == 0,
            });
        }
    }
    Ok(())
}

fn scenario_vdi(sr: &str, resource: &str, bytes: u64) -> Vdi {
    Vdi {
        uuid: derived_uuid("vdi", resource),
        sr: sr.to_owned(),
        name_label: resource.to_owned(),
        name_description: String::new(),
        virtual_size: bytes,
        vdi_type: "user".into(),
        resource: resource.to_owned(),
        sharable: false,
        read_only: false,
        other_config: BTreeMap::new(),
        sm_config: BTreeMap::from([("vdi_type".to_owned(), "vhd".to_owned())]),
    }
}
