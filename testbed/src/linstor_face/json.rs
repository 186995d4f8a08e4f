//! The JSON shapes of the REST API (`JsonGenTypes` in linstor-server, the schemas of the
//! OpenAPI spec).
//!
//! Output types skip empty fields the way the controller's Jackson `NON_EMPTY` does, so a node
//! without properties has no `props` key at all. Input types reject unknown fields, as the
//! controller's `ObjectMapper` does (`FAIL_ON_UNKNOWN_PROPERTIES`), and accept every field
//! the real type has, even those the simulation ignores.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub type Props = BTreeMap<String, String>;

// ---------------------------------------------------------------- output

#[derive(Debug, Serialize)]
pub struct ControllerVersion {
    pub version: String,
    pub git_hash: String,
    pub build_time: String,
    pub rest_api_version: String,
}

#[derive(Debug, Serialize)]
pub struct Node {
    pub name: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub net_interfaces: Vec<NetInterface>,
    pub connection_status: String,
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_providers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_layers: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unsupported_providers: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unsupported_layers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct NetInterface {
    pub name: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_encryption_type: Option<String>,
    pub is_active: bool,
    pub uuid: String,
}

#[derive(Debug, Serialize)]
pub struct StoragePool {
    pub storage_pool_name: String,
    pub node_name: String,
    pub provider_kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub static_traits: Props,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_capacity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_capacity: Option<u64>,
    pub free_space_mgr_name: String,
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<super::api_call_rc::RcEntry>,
    pub supports_snapshots: bool,
    /// A primitive `boolean` in `JsonGenTypes`: `NON_EMPTY` keeps `false`.
    pub external_locking: bool,
}

#[derive(Debug, Serialize)]
pub struct ResourceGroup {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    pub select_filter: AutoSelectFilter,
    pub uuid: String,
}

#[derive(Debug, Serialize)]
pub struct AutoSelectFilter {
    pub place_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_pool_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diskless_on_remaining: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct DrbdResourceDefinitionLayer {
    pub peer_slots: u32,
    pub al_stripes: u32,
    pub al_stripe_size_kib: u64,
    pub port: u16,
    pub transport_type: String,
    pub secret: String,
    pub down: bool,
}

#[derive(Debug, Serialize)]
pub struct ResourceDefinitionLayer {
    #[serde(rename = "type")]
    pub layer_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<DrbdResourceDefinitionLayer>,
}

#[derive(Debug, Serialize)]
pub struct DrbdVolumeDefinition {
    pub volume_number: u32,
    pub minor_number: u32,
}

#[derive(Debug, Serialize)]
pub struct VolumeDefinitionLayer {
    #[serde(rename = "type")]
    pub layer_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<DrbdVolumeDefinition>,
}

#[derive(Debug, Serialize)]
pub struct VolumeDefinition {
    pub volume_number: u32,
    pub size_kib: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_data: Vec<VolumeDefinitionLayer>,
    pub uuid: String,
}

#[derive(Debug, Serialize)]
pub struct ResourceDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_data: Vec<ResourceDefinitionLayer>,
    pub uuid: String,
    pub resource_group_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_definitions: Vec<VolumeDefinition>,
}

#[derive(Debug, Serialize)]
pub struct ResourceDefinitionSyncStatus {
    pub synced_on_all: bool,
}

#[derive(Debug, Serialize)]
pub struct DrbdConnection {
    pub connected: bool,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct DrbdVolume {
    pub drbd_volume_definition: DrbdVolumeDefinition,
    pub device_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_device: Option<String>,
    pub meta_disk: String,
    pub allocated_size_kib: u64,
    pub usable_size_kib: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_state: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StorageVolume {
    pub volume_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_path: Option<String>,
    pub allocated_size_kib: u64,
    pub usable_size_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct DrbdResource {
    pub drbd_resource_definition: DrbdResourceDefinitionLayer,
    pub node_id: u32,
    pub tcp_ports: Vec<u16>,
    pub peer_slots: u32,
    pub al_stripes: u32,
    pub al_size: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    pub drbd_volumes: Vec<DrbdVolume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, DrbdConnection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_promote: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct StorageResource {
    pub storage_volumes: Vec<StorageVolume>,
}

#[derive(Debug, Serialize)]
pub struct ResourceLayer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ResourceLayer>,
    #[serde(rename = "type")]
    pub layer_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drbd: Option<DrbdResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageResource>,
}

#[derive(Debug, Serialize)]
pub struct ResourceState {
    pub in_use: bool,
}

#[derive(Debug, Serialize)]
pub struct ReplicationState {
    pub replication_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_percentage: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct VolumeState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_state: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replication_states: BTreeMap<String, ReplicationState>,
}

/// `VolumeLayer`: `data` is the layer's own volume object, told apart by `type`.
#[derive(Debug, Serialize)]
pub struct VolumeLayer {
    #[serde(rename = "type")]
    pub layer_type: String,
    pub data: Value,
}

#[derive(Debug, Serialize)]
pub struct Volume {
    pub volume_number: u32,
    pub storage_pool_name: String,
    pub provider_kind: String,
    pub device_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_size_kib: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<VolumeState>,
    pub layer_data_list: Vec<VolumeLayer>,
    pub uuid: String,
}

#[derive(Debug, Serialize)]
pub struct ResourceWithVolumes {
    pub name: String,
    pub node_name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    pub layer_object: ResourceLayer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ResourceState>,
    pub uuid: String,
    pub volumes: Vec<Volume>,
}

// ---------------------------------------------------------------- input

/// `POST /v1/nodes`: a `Node` (python-linstor sends `type: "Combined"`, net-interfaces with
/// `satellite_encryption_type: "Plain"`).
// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCreate {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub node_type: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub props: Props,
    #[serde(default)]
    pub net_interfaces: Vec<NetInterfaceBody>,
    pub connection_status: Option<String>,
    pub uuid: Option<String>,
    #[serde(default)]
    pub storage_providers: Vec<String>,
    #[serde(default)]
    pub resource_layers: Vec<String>,
    #[serde(default)]
    pub unsupported_providers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub unsupported_layers: BTreeMap<String, Vec<String>>,
    pub eviction_timestamp: Option<i64>,
    pub platform: Option<String>,
    pub os_variant: Option<String>,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetInterfaceBody {
    pub name: Option<String>,
    pub address: Option<String>,
    pub satellite_port: Option<u32>,
    pub satellite_encryption_type: Option<String>,
    pub is_active: Option<bool>,
    pub uuid: Option<String>,
}

/// `NodeModify`, `StoragePoolDefinitionModify`, `ControllerPropsModify`: the same three maps
/// (plus the node type for nodes).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropsModify {
    pub node_type: Option<String>,
    #[serde(default)]
    pub override_props: Props,
    #[serde(default)]
    pub delete_props: Vec<String>,
    #[serde(default)]
    pub delete_namespaces: Vec<String>,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRestore {
    pub delete_resources: Option<bool>,
    pub delete_snapshots: Option<bool>,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEvacuate {
    #[serde(default)]
    pub target: Vec<String>,
    #[serde(default)]
    pub do_not_target: Vec<String>,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoragePoolCreate {
    pub storage_pool_name: Option<String>,
    pub node_name: Option<String>,
    pub provider_kind: Option<String>,
    #[serde(default)]
    pub props: Props,
    #[serde(default)]
    pub static_traits: Props,
    pub free_capacity: Option<i64>,
    pub total_capacity: Option<i64>,
    pub free_space_mgr_name: Option<String>,
    pub uuid: Option<String>,
    #[serde(default)]
    pub reports: Vec<Value>,
    pub supports_snapshots: Option<bool>,
    pub shared_space: Option<String>,
    #[serde(default)]
    pub external_locking: bool,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDefinitionCreate {
    pub drbd_port: Option<i64>,
    pub drbd_secret: Option<String>,
    pub drbd_peer_slots: Option<i64>,
    pub drbd_transport_type: Option<String>,
    pub resource_definition: ResourceDefinitionBody,
}

// Every field the real type has is accepted; the simulation reads only some of them.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDefinitionBody {
    #[serde(default)]
    pub name: String,
    pub external_name: Option<String>,
    #[serde(default)]
    pub props: Props,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub layer_data: Vec<Value>,
    pub uuid: Option<String>,
    pub resource_group_name: Option<String>,
    #[serde(default)]
    pub volume_definitions: Vec<Value>,
}
