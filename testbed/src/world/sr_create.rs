//! `SR.create` of type `linstor`: XAPI runs the driver's `sr_create` on the host it names
//! (the master), then creates and plugs one PBD per host. The driver's path, as
//! docs/xostor.md §4.1–4.2 records it:
//!
//! 1. `load` and `create`'s checks, in the driver's order: `group-name` (5004) and
//!    `redundancy` (5005) present, `provisioning` `thin` or `thick` (the SR's
//!    `sm_config:provisioning` wins), called on the master (5002), redundancy not above the
//!    pool's host count, no other LINSTOR SR, every host enabled, distinct hostnames, a thin
//!    group name `VG/LV` (all `LinstorSRCreate`, 5006).
//! 2. `prepareSr` on the master, then every online slave (§1.3): the LINSTOR and DRBD ports
//!    opened (noted), drbd-reactor's toml removed and drbd-reactor stopped (and the
//!    controller with it), the satellite restarted.
//! 3. `create_sr` (§4.2 step 3): the controller started on the master; a COMBINED node per
//!    enabled host, named by its hostname at its address (an existing node of that name is
//!    deleted and created again); the storage pool `xcp-sr-<group>` (`LVM_THIN` or `LVM`,
//!    `StorDriver/StorPoolName` = group-name) on each host whose volume group LVM finds
//!    (`lvm`), the others diskless ("No VG group found" when none has it); the resource
//!    groups `xcp-sr-…` (place count = redundancy) and `xcp-ha-…` (3); the 1 GiB
//!    `xcp-persistent-database`, diskful on the first `redundancy` hosts with the pool and
//!    diskless on every other, with the quorum properties of `monitor-db-quorum` (SM-BR).
//!    A failure after the nodes stops the controller and leaves the nodes.
//! 4. drbd-reactor's toml written and drbd-reactor enabled on every live host
//!    (`updateDrbdReactor enabled=True`, §1.4); the promoter keeps the controller on the
//!    master, which holds the database.
//! 5. XAPI: the SR record (`physical_size`: every storage pool's size), a PBD per host with
//!    the caller's device_config, each plugged if it can be (`attach`); a PBD that cannot is
//!    left unplugged, as xapi logs and goes on.
//!
//! Simplified: the controller hands over to drbd-reactor on the master without a gap; the
//! thin group-name format is checked with the other checks (the driver checks it once the
//! controller runs); LVM is asked by the testbed for every host, connected or not.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::controller;
use super::dynamics::controller_version_in;
use super::lvm::{self, Capacity};
use super::model::*;
use super::reactor;
use super::scenario::PERSISTENT_DATABASE;
use super::services::{Service, ServiceCommand};
use super::shared::World;
use super::storage_repo::{self, ha_group, linstor_sr, sr_group};
use super::xapi_error::{
    SM_GROUP_NAME_MISSING, SM_INVALID_ARG, SM_LINSTOR_MASTER, SM_LINSTOR_SR_CREATE, SM_REDUNDANCY_MISSING,
    SmError, XapiError, opaque_ref,
};

/// `DATABASE_SIZE`: 1 GiB, in KiB.
const DATABASE_KIB: u64 = 1024 * 1024;
/// The database's write rate (KiB/s): the controller writes little.
const DATABASE_WRITES: &str = "16";
/// `SMGeneral`: what an unexpected Python exception in the driver becomes.
const SM_GENERAL: SmError = SmError {
    code: 202,
    description: "General backend error",
};

/// `SR.create`'s parameters.
#[derive(Debug, Clone)]
pub struct SrCreate {
    /// Host UUID the driver's `sr_create` runs on.
    pub host: String,
    pub device_config: BTreeMap<String, String>,
    pub name_label: String,
    pub name_description: String,
    pub sr_type: String,
    pub content_type: String,
    pub shared: bool,
    pub sm_config: BTreeMap<String, String>,
}

/// A host as the creation sees it.
#[derive(Debug, Clone)]
struct PlanHost {
    uuid: String,
    name: String,
    address: String,
    root: PathBuf,
    disk: Option<String>,
    up: bool,
}

/// What the checks decided.
#[derive(Debug, Clone)]
struct Plan {
    group_name: String,
    redundancy: usize,
    thin: bool,
    monitor_db_quorum: bool,
    /// Every enabled host, in pool order (the driver's `ips`).
    hosts: Vec<PlanHost>,
    master: PlanHost,
}

fn create_error(opterr: &str) -> XapiError {
    SM_LINSTOR_SR_CREATE.raise(Some(opterr))
}

fn strtobool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `provisioning`: the device_config's, overridden by a valid `sm_config:provisioning`.
fn provisioning(req: &SrCreate) -> Result<bool, XapiError> {
    let valid = |p: &str| p == "thin" || p == "thick";
    let mut thin = true;
    if let Some(p) = req.device_config.get("provisioning").filter(|p| !p.is_empty()) {
        if !valid(p) {
            return Err(SM_INVALID_ARG.raise(Some("Provisioning parameter must be one of ['thin', 'thick']")));
        }
        thin = p == "thin";
    }
    if let Some(p) = req.sm_config.get("provisioning").filter(|p| valid(p)) {
        thin = p == "thin";
    }
    Ok(thin)
}

fn plan_host(h: &Host) -> PlanHost {
    PlanHost {
        uuid: h.uuid.clone(),
        name: h.name.clone(),
        address: h.address.clone(),
        root: h.root.clone(),
        disk: h.disk.clone(),
        up: h.power == Power::Up,
    }
}

/// What `load` read from the device_config.
struct Loaded {
    group_name: String,
    redundancy: String,
    thin: bool,
    monitor_db_quorum: bool,
}

/// `load`'s checks (§4.1): the keys, provisioning, `monitor-db-quorum`, the master.
fn load(state: &State, req: &SrCreate) -> Result<Loaded, XapiError> {
    let dconf = |key: &str| req.device_config.get(key).filter(|v| !v.is_empty());
    let group_name = dconf("group-name").ok_or_else(|| SM_GROUP_NAME_MISSING.raise(None))?;
    let redundancy = dconf("redundancy").ok_or_else(|| SM_REDUNDANCY_MISSING.raise(None))?;
    let thin = provisioning(req)?;
    let monitor_db_quorum = match dconf("monitor-db-quorum") {
        None => true,
        Some(v) => {
            strtobool(v).ok_or_else(|| SM_GENERAL.raise(Some(&format!("invalid truth value '{v}'"))))?
        }
    };
    if req.host != state.pool.master {
        return Err(SM_LINSTOR_MASTER.raise(None));
    }
    Ok(Loaded {
        group_name: group_name.clone(),
        redundancy: redundancy.clone(),
        thin,
        monitor_db_quorum,
    })
}

/// `create`'s checks (§4.1): the redundancy, one LINSTOR SR, every host enabled with a
/// hostname of its own, a thin group name `VG/LV`. Returns the redundancy and the enabled
/// hosts.
fn create_checks<'s>(state: &'s State, loaded: &Loaded) -> Result<(usize, Vec<&'s Host>), XapiError> {
    let redundancy: usize = match loaded.redundancy.trim().parse::<usize>() {
        Ok(0) => 1,
        Ok(n) => n,
        Err(_) => {
            return Err(SM_GENERAL.raise(Some(&format!(
                "invalid literal for int() with base 10: '{}'",
                loaded.redundancy
            ))));
        }
    };
    if redundancy > state.hosts.len() {
        return Err(create_error("Redundancy greater than host count"));
    }
    if linstor_sr(state).is_some() {
        return Err(create_error("LINSTOR SR must be unique in a pool"));
    }
    let enabled: Vec<&Host> = state.hosts.iter().filter(|h| h.enabled).collect();
    if enabled.len() < state.hosts.len() {
        return Err(create_error("Not enough online hosts"));
    }
    let mut names: Vec<&str> = enabled.iter().map(|h| h.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() < enabled.len() {
        return Err(create_error("Multiple hosts with same hostname"));
    }
    if loaded.thin && loaded.group_name.matches('/').count() != 1 {
        return Err(create_error(
            "Invalid group name using thin provisioning. Expected format: 'VG/LV`'",
        ));
    }
    Ok((redundancy, enabled))
}

/// XAPI's checks, then the driver's `load` and `create` (see the module documentation).
fn check(state: &State, req: &SrCreate) -> Result<Plan, XapiError> {
    if req.sr_type != "linstor" {
        return Err(XapiError::new("SR_UNKNOWN_DRIVER", vec![req.sr_type.clone()]));
    }
    let on = state
        .hosts
        .iter()
        .find(|h| h.uuid == req.host)
        .ok_or_else(|| XapiError::new("HANDLE_INVALID", vec!["host".into(), opaque_ref(&req.host)]))?;
    if on.power != Power::Up {
        return Err(XapiError::new("HOST_OFFLINE", vec![opaque_ref(&on.uuid)]));
    }
    let loaded = load(state, req)?;
    let (redundancy, enabled) = create_checks(state, &loaded)?;
    Ok(Plan {
        group_name: loaded.group_name,
        redundancy,
        thin: loaded.thin,
        monitor_db_quorum: loaded.monitor_db_quorum,
        hosts: enabled.iter().map(|h| plan_host(h)).collect(),
        master: plan_host(on),
    })
}

impl World {
    /// `SR.create` of a `linstor` SR (see the module documentation); returns the SR's UUID.
    pub fn sr_create(&self, req: &SrCreate) -> Result<String, XapiError> {
        let plan = self.read(|s| check(s, req))?;
        // prepareSr: the master first, then every online slave.
        let mut order: Vec<&PlanHost> = vec![&plan.master];
        order.extend(plan.hosts.iter().filter(|h| h.up && h.uuid != plan.master.uuid));
        for host in order {
            self.prepare_sr(host)?;
        }
        // LVM and rpm outside the world's lock: they take a while.
        let capacities: Vec<Option<Capacity>> = plan
            .hosts
            .iter()
            .map(|h| {
                lvm::capacity(&h.root, h.disk.as_deref(), &plan.group_name).unwrap_or_else(|e| {
                    tracing::warn!(host = %h.name, "LVM: {e:#}");
                    None
                })
            })
            .collect();
        let version = controller_version_in(&plan.master.root);
        let outcome = self.change(|s| create(s, req, &plan, &capacities, version));
        self.read(|s| s.hosts.iter().for_each(reactor::sync_host));
        outcome
    }

    /// linstor-manager's `prepareSr` on one host (§1.3).
    fn prepare_sr(&self, host: &PlanHost) -> Result<(), XapiError> {
        self.change(|s| {
            if let Some(h) = s.hosts.iter_mut().find(|h| h.uuid == host.uuid) {
                reactor::set(h, false);
            }
            // Stopping drbd-reactor stops the controller it started there.
            if s.controller.host == host.name {
                s.controller.running = false;
            }
        });
        self.read(|s| {
            s.hosts
                .iter()
                .filter(|h| h.uuid == host.uuid)
                .for_each(reactor::sync_host)
        });
        self.systemctl(&host.uuid, ServiceCommand::Restart, Service::Satellite)
    }
}

/// `create_sr` and XAPI's part, under the world's lock.
fn create(
    s: &mut State,
    req: &SrCreate,
    plan: &Plan,
    capacities: &[Option<Capacity>],
    version: Option<String>,
) -> Result<String, XapiError> {
    if let Some(version) = version {
        s.controller.version = version;
    }
    s.controller.refuse_until = None;
    controller::start_on(s, &plan.master.name);
    for host in &plan.hosts {
        replace_node(s, host);
    }
    let created = linstor_objects(s, plan, capacities);
    if let Err(e) = created {
        // `finally`: the controller is stopped; drbd-reactor was never enabled to restart it.
        s.controller.running = false;
        return Err(e);
    }
    for host in s.hosts.iter_mut().filter(|h| h.power == Power::Up) {
        reactor::set(host, true);
    }
    Ok(xapi_objects(s, req, plan))
}

/// An existing node of that name is deleted (with its replicas) and created again.
fn replace_node(s: &mut State, host: &PlanHost) {
    s.resources.retain(|r| r.node != host.name);
    s.nodes.retain(|n| n.name != host.name);
    let uuid = s.fresh_uuid("node");
    s.nodes.push(Node::combined(&host.name, uuid, &host.address));
}

/// Storage pools, resource groups and the database (§4.2 steps 3.2.3–3.2.6).
fn linstor_objects(s: &mut State, plan: &Plan, capacities: &[Option<Capacity>]) -> Result<(), XapiError> {
    let pool = sr_group(&plan.group_name);
    let ha = ha_group(&plan.group_name);
    if s.resource_groups.iter().any(|g| g.name == pool || g.name == ha) {
        if !s.resource_definitions.is_empty() {
            return Err(create_error("The group name already exists"));
        }
        // No resource at all: the driver moves the old database aside and starts afresh.
        s.resource_groups.retain(|g| g.name != pool && g.name != ha);
    }
    let with_pool: Vec<(&PlanHost, Capacity)> = plan
        .hosts
        .iter()
        .zip(capacities)
        .filter_map(|(h, c)| c.map(|c| (h, c)))
        .collect();
    if with_pool.is_empty() {
        return Err(create_error("No VG group found"));
    }
    if let Some(rd) = s.resource_definitions.first() {
        return Err(create_error(&format!(
            "Could not create the database volume: resource definition `{}` already exists",
            rd.name
        )));
    }
    for (host, capacity) in &with_pool {
        if let Some(node) = s.nodes.iter_mut().find(|n| n.name == host.name) {
            node.storage_pools.push(StoragePool {
                name: pool.clone(),
                provider_kind: if plan.thin { "LVM_THIN" } else { "LVM" }.into(),
                props: BTreeMap::from([("StorDriver/StorPoolName".to_owned(), plan.group_name.clone())]),
                total_capacity: capacity.total_kib,
                free_capacity: capacity.free_kib,
            });
        }
    }
    let redundancy = u32::try_from(plan.redundancy).unwrap_or(u32::MAX);
    for (name, count) in [(&pool, redundancy), (&ha, 3)] {
        let uuid = s.fresh_uuid("resource-group");
        s.resource_groups.push(ResourceGroup {
            name: name.clone(),
            uuid,
            place_count: count,
            storage_pools: vec![pool.clone()],
            diskless_on_remaining: false,
            props: BTreeMap::new(),
        });
    }
    let diskful: Vec<String> = with_pool
        .iter()
        .take(plan.redundancy)
        .map(|(h, _)| h.name.clone())
        .collect();
    add_database(s, plan, &ha, &pool, &diskful);
    Ok(())
}

/// `_create_database_volume` (§4.2 step 3.2.6).
fn add_database(s: &mut State, plan: &Plan, ha: &str, pool: &str, diskful: &[String]) {
    let mut props = BTreeMap::from([(
        super::replication::WRITE_RATE_PROP.to_owned(),
        DATABASE_WRITES.to_owned(),
    )]);
    if plan.monitor_db_quorum {
        props.insert("DrbdOptions/auto-quorum".into(), "disabled".into());
        props.insert("DrbdOptions/Resource/quorum".into(), "majority".into());
    }
    let uuid = s.fresh_uuid("resource-definition");
    s.resource_definitions.push(ResourceDefinition {
        name: PERSISTENT_DATABASE.into(),
        uuid,
        size_kib: DATABASE_KIB,
        props,
        resource_group: Some(ha.to_owned()),
    });
    for host in &plan.hosts {
        let full = diskful.contains(&host.name);
        let uuid = s.fresh_uuid("resource");
        let kind = if full {
            ReplicaKind::Diskful
        } else {
            ReplicaKind::Diskless
        };
        s.resources
            .push(Resource::settled(PERSISTENT_DATABASE, &host.name, uuid, kind));
        if full
            && !plan.thin
            && let Some(p) = s
                .nodes
                .iter_mut()
                .find(|n| n.name == host.name)
                .and_then(|n| n.storage_pools.iter_mut().find(|p| p.name == pool))
        {
            p.free_capacity = p.free_capacity.saturating_sub(DATABASE_KIB);
        }
    }
}

/// The SR and its PBDs, plugged where they can be (§4.2 step 5).
fn xapi_objects(s: &mut State, req: &SrCreate, plan: &Plan) -> String {
    let pool = sr_group(&plan.group_name);
    let physical_kib: u64 = s
        .nodes
        .iter()
        .flat_map(|n| n.storage_pools.iter())
        .filter(|p| p.name == pool)
        .map(|p| p.total_capacity)
        .sum();
    let uuid = s.fresh_uuid("sr");
    s.srs.push(Sr {
        uuid: uuid.clone(),
        name_label: req.name_label.clone(),
        name_description: req.name_description.clone(),
        sr_type: req.sr_type.clone(),
        shared: req.shared,
        content_type: req.content_type.clone(),
        sm_config: req.sm_config.clone(),
        other_config: BTreeMap::new(),
        physical_size: physical_kib * 1024,
    });
    let hosts: Vec<String> = s.hosts.iter().map(|h| h.uuid.clone()).collect();
    for host in hosts {
        let Ok(pbd) = storage_repo::new_pbd(s, &host, &uuid, req.device_config.clone(), BTreeMap::new())
        else {
            continue;
        };
        if let Err(e) = storage_repo::plug(s, &pbd) {
            tracing::info!(host = %host, "SR.create: the PBD stays unplugged: {e}");
        }
    }
    uuid
}
