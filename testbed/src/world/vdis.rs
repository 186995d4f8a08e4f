//! VDIs of the LINSTOR SR and the VBDs that put them in VMs: `VDI.create`, `VDI.destroy`,
//! `VBD.create`.
//!
//! `VDI.create` is the driver's `LinstorVDI.create` → `create_volume` (docs/xostor.md §6.3):
//! a resource named `xcp-volume-<a fresh UUID>` (not the VDI's UUID), spawned from the SR's
//! resource group `xcp-sr-…` with the size rounded up to 512 bytes, auto-placed on
//! `redundancy` (the group's place count) nodes with the SR's storage pool, then made
//! available diskless on the creating host (the master) if it holds no replica. LINSTOR's
//! auto-placer as modelled: ONLINE nodes with the pool and room for the volume, most free
//! space first; with two diskful replicas and no other, LINSTOR adds a tie-breaker on
//! another node (`DrbdOptions/AutoAddQuorumTiebreaker`, on by default). Too few nodes fail
//! the call as the driver does after its retries (`VDICreate`, 78).
//!
//! XAPI runs the call on the master, which must have the SR attached (`SR_NO_PBDS`
//! otherwise), and the driver needs the controller (`SRUnavailable`, 47).
//!
//! Simplified: the volume is the virtual size (no VHD metadata, no thin inflation on
//! attach), nothing writes to it, and no KV store entry is kept (the testbed keeps the
//! VDI → resource mapping in the VDI). A VBD links its VM to the VDI's resource at once: no
//! `VBD.plug`, no diskless replica made on demand where the VM runs.

use std::collections::BTreeMap;

use super::controller;
use super::model::*;
use super::shared::World;
use super::storage_repo::{VDI_IN_USE, group_name, sr_group};
use super::xapi_error::{SM_SR_UNAVAILABLE, SM_VDI_CREATE, XapiError, opaque_ref};

/// `VDI.create`'s record, as the SDK sends it (the fields the simulation keeps).
#[derive(Debug, Clone, Default)]
pub struct VdiCreate {
    /// SR UUID.
    pub sr: String,
    pub name_label: String,
    pub name_description: String,
    pub virtual_size: u64,
    pub vdi_type: String,
    pub sharable: bool,
    pub read_only: bool,
    pub other_config: BTreeMap<String, String>,
    pub sm_config: BTreeMap<String, String>,
}

/// `VBD.create`'s record.
#[derive(Debug, Clone, Default)]
pub struct VbdCreate {
    pub vm: String,
    pub vdi: String,
    pub userdevice: String,
    pub mode: String,
    pub vbd_type: String,
    pub bootable: bool,
}

fn handle_invalid(class: &str, uuid: &str) -> XapiError {
    XapiError::new("HANDLE_INVALID", vec![class.into(), opaque_ref(uuid)])
}

/// Nodes for the diskful replicas: ONLINE, with `pool` and `kib` free, most free first.
fn placement(state: &State, pool: &str, kib: u64, count: usize) -> Vec<String> {
    let mut candidates: Vec<(u64, usize, &str)> = state
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| super::replication::connection_status(state, &n.name) == "ONLINE")
        .filter_map(|(i, n)| {
            let p = n.storage_pools.iter().find(|p| p.name == pool)?;
            (p.free_capacity >= kib).then_some((p.free_capacity, i, n.name.as_str()))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates
        .into_iter()
        .take(count)
        .map(|(_, _, n)| n.to_owned())
        .collect()
}

fn replica(state: &mut State, name: &str, node: &str, kind: ReplicaKind) -> Resource {
    let uuid = state.fresh_uuid("resource");
    Resource::settled(name, node, uuid, kind)
}

/// Where the call runs: the master, with the SR attached and the controller answering.
fn master_attached(state: &State, sr: &str) -> Result<String, XapiError> {
    let master = state.pool.master.clone();
    let attached = state
        .pbds
        .iter()
        .any(|p| p.sr == sr && p.host == master && p.currently_attached);
    if !attached {
        return Err(XapiError::new("SR_NO_PBDS", vec![opaque_ref(sr)]));
    }
    if !controller::answering(state) {
        return Err(SM_SR_UNAVAILABLE.raise(Some("Unable to connect to the LINSTOR controller")));
    }
    Ok(master)
}

fn create_in(state: &mut State, req: &VdiCreate) -> Result<String, XapiError> {
    let sr = state
        .srs
        .iter()
        .find(|s| s.uuid == req.sr)
        .ok_or_else(|| handle_invalid("SR", &req.sr))?;
    if sr.sr_type != "linstor" {
        return Err(XapiError::new(
            "SR_OPERATION_NOT_SUPPORTED",
            vec![opaque_ref(&req.sr)],
        ));
    }
    let master = master_attached(state, &req.sr)?;
    let group = group_name(state, &req.sr).unwrap_or_default();
    let pool = sr_group(&group);
    let redundancy = state
        .resource_groups
        .iter()
        .find(|g| g.name == pool)
        .map_or(1, |g| g.place_count as usize);
    let kib = (req.virtual_size.div_ceil(512) * 512).div_ceil(1024);
    let name = format!("xcp-volume-{}", state.fresh_uuid("volume"));
    let master_name = super::attach::host_name(state, &master);
    spawn_volume(state, &name, &pool, kib, redundancy, &master_name)?;
    let uuid = state.fresh_uuid("vdi");
    let mut sm_config = req.sm_config.clone();
    sm_config.entry("vdi_type".into()).or_insert_with(|| "vhd".into());
    state.vdis.push(Vdi {
        uuid: uuid.clone(),
        sr: req.sr.clone(),
        name_label: req.name_label.clone(),
        name_description: req.name_description.clone(),
        virtual_size: req.virtual_size,
        vdi_type: req.vdi_type.clone(),
        resource: name,
        sharable: req.sharable,
        read_only: req.read_only,
        other_config: req.other_config.clone(),
        sm_config,
    });
    Ok(uuid)
}

/// `resource_group_spawn`, `resource_auto_place` and `resource_make_available` on the
/// creating host (§6.3 steps 2–5), with LINSTOR's tie-breaker.
fn spawn_volume(
    state: &mut State,
    name: &str,
    pool: &str,
    kib: u64,
    redundancy: usize,
    master: &str,
) -> Result<(), XapiError> {
    let nodes = placement(state, pool, kib, redundancy);
    if nodes.len() < redundancy {
        return Err(SM_VDI_CREATE.raise(Some(&format!(
            "Could not create volume `{name}`: Not enough available nodes (wanted {redundancy} with storage pool {pool}, found {})",
            nodes.len()
        ))));
    }
    let rd_uuid = state.fresh_uuid("resource-definition");
    state.resource_definitions.push(ResourceDefinition {
        name: name.to_owned(),
        uuid: rd_uuid,
        size_kib: kib,
        props: BTreeMap::new(),
        resource_group: Some(pool.to_owned()),
    });
    for node in &nodes {
        let r = replica(state, name, node, ReplicaKind::Diskful);
        state.resources.push(r);
        if let Some(p) = state
            .nodes
            .iter_mut()
            .find(|n| &n.name == node)
            .and_then(|n| n.storage_pools.iter_mut().find(|p| p.name == pool))
        {
            p.free_capacity = p.free_capacity.saturating_sub(kib);
        }
    }
    if !nodes.iter().any(|n| n == master) {
        let r = replica(state, name, master, ReplicaKind::Diskless);
        state.resources.push(r);
    }
    let placed = state.resources.iter().filter(|r| r.name == name).count();
    if placed == 2 && nodes.len() == 2 {
        let other = state
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .find(|n| !nodes.contains(n));
        if let Some(other) = other {
            let r = replica(state, name, &other, ReplicaKind::TieBreaker);
            state.resources.push(r);
        }
    }
    Ok(())
}

fn destroy_in(state: &mut State, vdi: &str) -> Result<(), XapiError> {
    let v = state
        .vdis
        .iter()
        .find(|v| v.uuid == vdi)
        .cloned()
        .ok_or_else(|| handle_invalid("VDI", vdi))?;
    let in_use = state.vbds.iter().any(|b| {
        b.vdi == vdi
            && state
                .vms
                .iter()
                .any(|vm| vm.uuid == b.vm && vm.power == VmPower::Running)
    });
    if in_use {
        return Err(XapiError::new(
            VDI_IN_USE,
            vec![opaque_ref(vdi), "destroy".into()],
        ));
    }
    master_attached(state, &v.sr)?;
    let size = state
        .resource_definitions
        .iter()
        .find(|d| d.name == v.resource)
        .map_or(0, |d| d.size_kib);
    let pool = sr_group(&group_name(state, &v.sr).unwrap_or_default());
    let freed: Vec<String> = state
        .resources
        .iter()
        .filter(|r| r.name == v.resource && r.kind == ReplicaKind::Diskful)
        .map(|r| r.node.clone())
        .collect();
    for node in freed {
        if let Some(p) = state
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .and_then(|n| n.storage_pools.iter_mut().find(|p| p.name == pool))
        {
            p.free_capacity = (p.free_capacity + size).min(p.total_capacity);
        }
    }
    state.resources.retain(|r| r.name != v.resource);
    state.resource_definitions.retain(|d| d.name != v.resource);
    state.vbds.retain(|b| b.vdi != vdi);
    for vm in &mut state.vms {
        vm.resources.retain(|r| *r != v.resource);
    }
    state.vdis.retain(|x| x.uuid != vdi);
    Ok(())
}

fn vbd_create_in(state: &mut State, req: &VbdCreate) -> Result<String, XapiError> {
    let vdi = state
        .vdis
        .iter()
        .find(|v| v.uuid == req.vdi)
        .cloned()
        .ok_or_else(|| handle_invalid("VDI", &req.vdi))?;
    let vm = state
        .vms
        .iter()
        .position(|v| v.uuid == req.vm)
        .ok_or_else(|| handle_invalid("VM", &req.vm))?;
    let taken = state
        .vbds
        .iter()
        .any(|b| b.vm == req.vm && b.device == req.userdevice);
    if taken {
        return Err(XapiError::new(
            "DEVICE_ALREADY_EXISTS",
            vec![req.userdevice.clone()],
        ));
    }
    if !state.vms[vm].resources.contains(&vdi.resource) {
        state.vms[vm].resources.push(vdi.resource.clone());
    }
    let uuid = state.fresh_uuid("vbd");
    state.vbds.push(Vbd {
        uuid: uuid.clone(),
        vm: req.vm.clone(),
        vdi: req.vdi.clone(),
        device: req.userdevice.clone(),
        mode: req.mode.clone(),
        vbd_type: req.vbd_type.clone(),
        bootable: req.bootable,
    });
    Ok(uuid)
}

impl World {
    /// `VDI.create` (see the module documentation); returns the VDI's UUID.
    pub fn vdi_create(&self, req: &VdiCreate) -> Result<String, XapiError> {
        self.change(|s| create_in(s, req))
    }

    /// `VDI.destroy`: its resource is deleted, its VBDs go (`VDI_IN_USE` while a running VM
    /// has it).
    pub fn vdi_destroy(&self, vdi: &str) -> Result<(), XapiError> {
        self.change(|s| destroy_in(s, vdi))
    }

    /// `VBD.create`: the VM's disk slot `userdevice` holds the VDI (`DEVICE_ALREADY_EXISTS`
    /// when the slot is taken).
    pub fn vbd_create(&self, req: &VbdCreate) -> Result<String, XapiError> {
        self.change(|s| vbd_create_in(s, req))
    }
}
