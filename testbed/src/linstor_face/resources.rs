//! Resources and resource definitions: `GET /v1/view/resources` (replicas with their volumes,
//! DRBD and storage layers and states), `/v1/resource-definitions` and `…/sync-status`
//! (`View.java`, `ResourceDefinitions.java`, `Json.apiToResourceWithVolumes`).
//!
//! The world keeps one volume per resource definition (`size_kib`, 0 for a definition without
//! volumes); minor numbers and DRBD ports follow the definition's position (1000+, 7000+) and
//! DRBD node ids the replica's position, as an auto-allocating controller hands them out.
//! Volume states come from the satellite: a replica on a node that is not ONLINE has none.

use super::api_call_rc::{self as rc, Context, RcEntry};
use super::http::{Call, Reply, name_in, props_match};
use super::json::{self, ResourceDefinitionCreate};
use super::lookup::{self, in_use, pool_of};
use super::{names, satellite};
use crate::ids;
use crate::world::{self, ReplicaKind, Resource, ResourceDefinition, State, World};
use serde_json::Value;
use std::collections::BTreeMap;

const PEER_SLOTS: u32 = 7;
const AL_STRIPES: u32 = 1;
const AL_SIZE_KIB: u64 = 32;
const DEFAULT_RSC_GRP: &str = "DfltRscGrp";

fn rd_index(state: &State, name: &str) -> usize {
    state
        .resource_definitions
        .iter()
        .position(|d| d.name == name)
        .unwrap_or(0)
}

fn minor(idx: usize) -> u32 {
    1000 + idx as u32
}

fn port(idx: usize) -> u16 {
    7000u16.saturating_add(idx as u16)
}

fn drbd_rd_layer(rd: &ResourceDefinition, idx: usize) -> json::DrbdResourceDefinitionLayer {
    json::DrbdResourceDefinitionLayer {
        peer_slots: PEER_SLOTS,
        al_stripes: AL_STRIPES,
        al_stripe_size_kib: AL_SIZE_KIB,
        port: port(idx),
        transport_type: "IP".to_string(),
        // A shared secret, stable per definition, shaped like the controller's 20 characters.
        secret: ids::uuid(&["secret", &rd.uuid, ""]).replace('-', "")[..20].to_string(),
        down: false,
    }
}

/// The replica as `GET /v1/view/resources` shows it.
pub fn to_json(state: &State, r: &Resource) -> json::ResourceWithVolumes {
    let idx = rd_index(state, &r.name);
    let rd = state.resource_definitions.get(idx);
    let size = rd.map(|d| d.size_kib).unwrap_or(0);
    let online = satellite::is_online(state, &r.node);
    let peers: Vec<&Resource> = state
        .resources
        .iter()
        .filter(|p| p.name == r.name && p.node != r.node)
        .collect();
    let (pool, provider) = pool_of(state, r);
    let diskful = r.kind == ReplicaKind::Diskful;
    let backing = diskful.then(|| backing_device(state, r, &pool));
    let disk_state = online.then(|| r.disk_state.clone());
    let device = format!("/dev/drbd{}", minor(idx));
    let allocated = if diskful { size } else { 0 };

    let drbd_volume = json::DrbdVolume {
        drbd_volume_definition: json::DrbdVolumeDefinition {
            volume_number: 0,
            minor_number: minor(idx),
        },
        device_path: device.clone(),
        backing_device: backing.clone(),
        meta_disk: "internal".to_string(),
        allocated_size_kib: allocated,
        usable_size_kib: size,
        disk_state: disk_state.clone(),
    };
    let storage_volume = json::StorageVolume {
        volume_number: 0,
        device_path: backing,
        allocated_size_kib: allocated,
        usable_size_kib: if diskful { size } else { 0 },
    };
    let volume = json::Volume {
        volume_number: 0,
        storage_pool_name: pool.clone(),
        provider_kind: provider,
        device_path: device,
        allocated_size_kib: diskful.then_some(size),
        flags: Vec::new(),
        state: online.then(|| volume_state(state, r, &peers, disk_state.clone())),
        layer_data_list: vec![
            json::VolumeLayer {
                layer_type: "DRBD".into(),
                data: to_value(&drbd_volume),
            },
            json::VolumeLayer {
                layer_type: "STORAGE".into(),
                data: to_value(&storage_volume),
            },
        ],
        uuid: ids::uuid(&["volume", &r.uuid, "0", ""]),
    };
    let connections = connections(state, &peers, online);
    let drbd = drbd_resource(r, rd, idx, node_id(state, r), drbd_volume, connections);
    json::ResourceWithVolumes {
        name: r.name.clone(),
        node_name: r.node.clone(),
        props: BTreeMap::from([("StorPoolName".to_string(), pool)]),
        flags: replica_flags(state, r),
        layer_object: json::ResourceLayer {
            children: vec![json::ResourceLayer {
                children: vec![],
                layer_type: "STORAGE".into(),
                drbd: None,
                storage: Some(json::StorageResource {
                    storage_volumes: vec![storage_volume],
                }),
            }],
            layer_type: "DRBD".into(),
            drbd: Some(drbd),
            storage: None,
        },
        state: online.then(|| json::ResourceState {
            in_use: in_use(state, &r.name, &r.node),
        }),
        uuid: r.uuid.clone(),
        volumes: if size > 0 { vec![volume] } else { vec![] },
    }
}

/// The LVM volume behind a diskful replica, in its storage pool's volume group.
fn backing_device(state: &State, r: &Resource, pool: &str) -> String {
    let vg = lookup::find(state, &r.node)
        .and_then(|n| n.storage_pools.iter().find(|p| p.name == pool))
        .and_then(|p| p.props.get("StorDriver/StorPoolName"))
        .map(|v| v.split('/').next().unwrap_or(v).to_string())
        .unwrap_or_else(|| "linstor_group".to_string());
    format!("/dev/{vg}/{}_00000", r.name)
}

/// DRBD's node id of the replica: its position among the resource's replicas.
fn node_id(state: &State, r: &Resource) -> u32 {
    state
        .resources
        .iter()
        .filter(|p| p.name == r.name)
        .position(|p| p.node == r.node)
        .unwrap_or(0) as u32
}

/// The replica's flags: what kind of replica it is, and `EVACUATE` while its node is.
fn replica_flags(state: &State, r: &Resource) -> Vec<String> {
    let mut flags = match r.kind {
        ReplicaKind::Diskful => vec![],
        ReplicaKind::Diskless => vec!["DISKLESS".to_string(), "DRBD_DISKLESS".to_string()],
        ReplicaKind::TieBreaker => {
            vec![
                "DISKLESS".to_string(),
                "DRBD_DISKLESS".to_string(),
                "TIE_BREAKER".to_string(),
            ]
        }
    };
    if lookup::find(state, &r.node).is_some_and(|n| n.flags.iter().any(|f| f == "EVACUATE")) {
        flags.push("EVACUATE".to_string());
    }
    flags
}

/// The replica's DRBD connections to its peers, as its satellite reports them (none when it
/// is not ONLINE).
fn connections(state: &State, peers: &[&Resource], online: bool) -> BTreeMap<String, json::DrbdConnection> {
    if online {
        peers
            .iter()
            .map(|p| {
                let up = satellite::is_online(state, &p.node);
                let message = if up { "Connected" } else { "Connecting" };
                (
                    p.node.clone(),
                    json::DrbdConnection {
                        connected: up,
                        message: message.to_string(),
                    },
                )
            })
            .collect()
    } else {
        BTreeMap::new()
    }
}

/// The volume's state: disk state and the replication state towards each peer.
fn volume_state(
    state: &State,
    r: &Resource,
    peers: &[&Resource],
    disk_state: Option<String>,
) -> json::VolumeState {
    json::VolumeState {
        disk_state,
        replication_states: peers
            .iter()
            .map(|p| {
                let rs = json::ReplicationState {
                    replication_state: world::replication_state(state, r, p).to_string(),
                    done_percentage: world::sync_done_percent(state, r),
                };
                (p.node.clone(), rs)
            })
            .collect(),
    }
}

/// The replica's DRBD layer.
fn drbd_resource(
    r: &Resource,
    rd: Option<&ResourceDefinition>,
    idx: usize,
    node_id: u32,
    drbd_volume: json::DrbdVolume,
    connections: BTreeMap<String, json::DrbdConnection>,
) -> json::DrbdResource {
    let diskful = r.kind == ReplicaKind::Diskful;
    json::DrbdResource {
        drbd_resource_definition: match rd {
            Some(d) => drbd_rd_layer(d, idx),
            None => drbd_rd_layer(&placeholder_rd(&r.name), idx),
        },
        node_id,
        tcp_ports: vec![port(idx)],
        peer_slots: PEER_SLOTS,
        al_stripes: AL_STRIPES,
        al_size: AL_SIZE_KIB,
        flags: if diskful {
            vec![]
        } else {
            vec!["DISKLESS".to_string()]
        },
        drbd_volumes: vec![drbd_volume],
        connections,
        promotion_score: None,
        may_promote: None,
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// For a replica whose definition is missing from the world (should not happen).
fn placeholder_rd(name: &str) -> ResourceDefinition {
    ResourceDefinition {
        name: name.to_string(),
        uuid: ids::uuid(&["rd", name, ""]),
        size_kib: 0,
        props: BTreeMap::new(),
        resource_group: None,
    }
}

/// `GET /v1/view/resources?nodes=…&resources=…&storage_pools=…&props=…`
pub fn view(world: &World, call: &Call) -> Reply {
    let (nodes, rscs, pools, props) = (
        call.query_all("nodes"),
        call.query_all("resources"),
        call.query_all("storage_pools"),
        call.query_all("props"),
    );
    let list = world.read(|s| {
        s.resources
            .iter()
            .filter(|r| name_in(&r.node, &nodes) && name_in(&r.name, &rscs))
            .filter(|r| name_in(&pool_of(s, r).0, &pools))
            .map(|r| to_json(s, r))
            .filter(|j| props_match(&j.props, &props))
            .collect::<Vec<_>>()
    });
    Reply::ok(call.page(list))
}

pub fn rd_to_json(state: &State, rd: &ResourceDefinition, with_volumes: bool) -> json::ResourceDefinition {
    let idx = rd_index(state, &rd.name);
    let volume_definitions = if with_volumes && rd.size_kib > 0 {
        vec![json::VolumeDefinition {
            volume_number: 0,
            size_kib: rd.size_kib,
            layer_data: vec![
                json::VolumeDefinitionLayer {
                    layer_type: "DRBD".into(),
                    data: Some(json::DrbdVolumeDefinition {
                        volume_number: 0,
                        minor_number: minor(idx),
                    }),
                },
                json::VolumeDefinitionLayer {
                    layer_type: "STORAGE".into(),
                    data: None,
                },
            ],
            uuid: ids::uuid(&["vlmdfn", &rd.uuid, "0", ""]),
        }]
    } else {
        vec![]
    };
    json::ResourceDefinition {
        name: rd.name.clone(),
        props: rd.props.clone(),
        layer_data: vec![
            json::ResourceDefinitionLayer {
                layer_type: "DRBD".into(),
                data: Some(drbd_rd_layer(rd, idx)),
            },
            json::ResourceDefinitionLayer {
                layer_type: "STORAGE".into(),
                data: None,
            },
        ],
        uuid: rd.uuid.clone(),
        resource_group_name: rd
            .resource_group
            .clone()
            .unwrap_or_else(|| DEFAULT_RSC_GRP.to_string()),
        volume_definitions,
    }
}

/// `GET /v1/resource-definitions?resource_definitions=…&with_volume_definitions=…&props=…`
pub fn rd_list(world: &World, call: &Call) -> Reply {
    let (names, props) = (call.query_all("resource_definitions"), call.query_all("props"));
    let with_volumes = call.query_bool("with_volume_definitions");
    let list = world.read(|s| {
        s.resource_definitions
            .iter()
            .filter(|d| name_in(&d.name, &names) && props_match(&d.props, &props))
            .map(|d| rd_to_json(s, d, with_volumes))
            .collect::<Vec<_>>()
    });
    Reply::ok(call.page(list))
}

fn find_rd<'a>(state: &'a State, name: &str) -> Option<&'a ResourceDefinition> {
    state
        .resource_definitions
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// `GET /v1/resource-definitions/{resource}`
pub fn rd_get(world: &World, name: &str) -> Reply {
    let rd = world.read(|s| find_rd(s, name).map(|d| rd_to_json(s, d, false)));
    Reply::found_or(rd, rc::FAIL_NOT_FOUND_RSC_DFN, || {
        format!("Resource definition '{name}' not found.")
    })
}

fn rd_context(op: u64, name: &str) -> Context {
    Context::new(op, rc::MASK_RSC_DFN, format!("Resource definition: {name}")).obj_ref(rc::KEY_RSC_DFN, name)
}

/// `POST /v1/resource-definitions`: the definition only; volume definitions are not created
/// this way (the controller ignores them here too).
pub fn rd_create(world: &World, call: &Call) -> Reply {
    let body: ResourceDefinitionCreate = match call.json_400() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let name = body.resource_definition.name.clone();
    let ctx = rd_context(rc::MASK_CRT, &name);
    let entries = world.change(|s| {
        if let Err(e) = names::rsc_name(&name) {
            return vec![ctx.failed(e)];
        }
        if find_rd(s, &name).is_some() {
            return vec![ctx.failed(RcEntry::new(
                rc::FAIL_EXISTS_RSC_DFN,
                format!("A resource definition with the name '{name}' already exists"),
            ))];
        }
        let rd = ResourceDefinition {
            name: name.clone(),
            uuid: ids::uuid(&["rd", &name, &s.generation.to_string(), &s.now.to_string(), ""]),
            size_kib: 0,
            props: body.resource_definition.props.clone(),
            resource_group: None,
        };
        let entry = rc::new_entry(&rd.uuid, &format!("resource definition '{name}'"), "created");
        s.resource_definitions.push(rd);
        vec![ctx.with_op(entry)]
    });
    Reply::rc(entries, 201)
}

/// `DELETE /v1/resource-definitions/{resource}`: refused while a replica is in use; otherwise
/// the replicas go, then the definition.
pub fn rd_delete(world: &World, name: &str) -> Reply {
    let ctx = rd_context(rc::MASK_DEL, name);
    let entries = world.change(|s| {
        let Some(rd) = find_rd(s, name).cloned() else {
            return vec![ctx.failed(rc::deletion_had_no_effect(&format!(
                "resource definition '{name}'"
            )))];
        };
        let users: Vec<String> = s
            .resources
            .iter()
            .filter(|r| r.name == rd.name && in_use(s, &r.name, &r.node))
            .map(|r| r.node.clone())
            .collect();
        if !users.is_empty() {
            return vec![
                ctx.failed(
                    RcEntry::new(
                        rc::FAIL_IN_USE,
                        format!("Resource '{}' is still in use.", rd.name),
                    )
                    .cause(format!(
                        "Resource is mounted/in use on nodes: {}",
                        users.join(", ")
                    ))
                    .correction(format!(
                        "Un-mount resource '{}' on the nodes: {}.",
                        rd.name,
                        users.join(", ")
                    )),
                ),
            ];
        }
        let mut entries = Vec::new();
        let described = format!("Resource definition '{}'", rd.name);
        if s.resources.iter().any(|r| r.name == rd.name) {
            entries.push(
                ctx.with_op(
                    RcEntry::new(rc::DELETED, format!("{described} marked for deletion."))
                        .details(format!("{described} UUID is: {}", rd.uuid)),
                ),
            );
        }
        s.resources.retain(|r| r.name != rd.name);
        s.resource_definitions.retain(|d| d.name != rd.name);
        entries.push(ctx.with_op(rc::deleted_entry(
            &rd.uuid,
            &format!("resource definition '{}'", rd.name),
        )));
        entries
    });
    Reply::rc(entries, 200)
}

/// Every diskful replica is on an ONLINE node and UpToDate.
pub fn synced_on_all(state: &State, name: &str) -> bool {
    state
        .resources
        .iter()
        .filter(|r| r.name == name && r.kind == ReplicaKind::Diskful)
        .all(|r| satellite::is_online(state, &r.node) && r.disk_state == "UpToDate" && r.sync_until.is_none())
}

/// `GET /v1/resource-definitions/{resource}/sync-status`
pub fn sync_status(world: &World, name: &str) -> Reply {
    match world.read(|s| find_rd(s, name).map(|d| synced_on_all(s, &d.name))) {
        Some(synced) => Reply::ok(json::ResourceDefinitionSyncStatus {
            synced_on_all: synced,
        }),
        None => Reply::rc(vec![rc::rsc_dfn_not_found(name)], 200),
    }
}
