//! The JSON shapes of the LINSTOR REST API the agent uses (`linstor-rest-v1-openapi.yaml`,
//! API 1.28.0). Output types accept unknown and missing fields (the controller leaves empty
//! ones out); input types send only what the agent sets.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type Props = BTreeMap<String, String>;

/// `ApiCallRc.ret_code`'s type bits: both set is an error, the high one alone a warning.
pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;
/// The code bits of `ret_code` (`ApiConsts.MASK_BITS_CODE`).
pub const MASK_BITS_CODE: u64 = 0x7FFF;
/// `ApiConsts.FAIL_NOT_FOUND_NODE`'s code.
pub const CODE_NOT_FOUND_NODE: u64 = 300;
/// `ApiConsts.FAIL_NOT_FOUND_NET_IF`'s code.
pub const CODE_NOT_FOUND_NET_IF: u64 = 305;
/// `ApiConsts.FAIL_NOT_FOUND_STOR_POOL`'s code.
pub const CODE_NOT_FOUND_STOR_POOL: u64 = 310;

/// One entry of the controller's answer to a change, and of its error bodies.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ApiCallRc {
    pub ret_code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub obj_refs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_report_ids: Vec<String>,
}

impl ApiCallRc {
    pub fn code(&self) -> u64 {
        self.ret_code as u64
    }

    pub fn is_error(&self) -> bool {
        self.code() & MASK_ERROR == MASK_ERROR
    }

    pub fn is_warning(&self) -> bool {
        !self.is_error() && self.code() & MASK_WARN == MASK_WARN
    }

    /// The code without the type, operation and object masks.
    pub fn bare_code(&self) -> u64 {
        self.code() & MASK_BITS_CODE
    }

    /// `message`, then `cause`, `correction` (and `details`) on their own indented lines.
    pub fn render(&self) -> String {
        let mut out = self.message.trim_end().to_string();
        for (label, value) in [
            ("cause", &self.cause),
            ("correction", &self.correction),
            ("details", &self.details),
        ] {
            if let Some(v) = value.as_deref().map(str::trim_end).filter(|v| !v.is_empty()) {
                out.push_str(&format!("\n  {label}: {}", v.replace('\n', "\n    ")));
            }
        }
        if !self.error_report_ids.is_empty() {
            out.push_str(&format!(
                "\n  error reports: {}",
                self.error_report_ids.join(", ")
            ));
        }
        out
    }
}

/// `GET /v1/controller/version`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ControllerVersion {
    pub version: String,
    pub git_hash: String,
    pub build_time: String,
    pub rest_api_version: String,
}

/// A node's network interface, as listed and as sent on create/modify.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct NetInterface {
    pub name: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_port: Option<u16>,
    /// `Plain` or `SSL` when sending; the controller lists them as `PLAIN`/`SSL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_encryption_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub uuid: Option<String>,
}

/// `GET /v1/nodes/{node}`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Node {
    pub name: String,
    #[serde(rename = "type")]
    pub node_type: String,
    pub flags: Vec<String>,
    pub props: Props,
    pub net_interfaces: Vec<NetInterface>,
    /// `ONLINE`, `OFFLINE`, `VERSION_MISMATCH`, …
    pub connection_status: String,
    pub uuid: String,
    pub storage_providers: Vec<String>,
    pub resource_layers: Vec<String>,
    pub unsupported_providers: BTreeMap<String, Vec<String>>,
    pub unsupported_layers: BTreeMap<String, Vec<String>>,
}

impl Node {
    /// The interface the controller talks to the satellite through.
    pub fn satellite_interface(&self) -> Option<&NetInterface> {
        self.net_interfaces
            .iter()
            .find(|i| i.is_active == Some(true))
            .or_else(|| self.net_interfaces.iter().find(|i| i.satellite_port.is_some()))
    }

    pub fn interface(&self, name: &str) -> Option<&NetInterface> {
        self.net_interfaces
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }
}

/// `POST /v1/nodes`
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeCreate {
    pub name: String,
    /// `Combined` or `Satellite` (the controller answers in upper case).
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    pub net_interfaces: Vec<NetInterface>,
}

/// `PUT /v1/nodes/{node}` (and `POST /v1/controller/properties`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PropsModify {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_props: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_namespaces: Vec<String>,
}

/// `GET /v1/nodes/{node}/storage-pools`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StoragePool {
    pub storage_pool_name: String,
    pub node_name: String,
    /// `LVM`, `LVM_THIN`, `DISKLESS`, …
    pub provider_kind: String,
    pub props: Props,
    pub free_capacity: Option<u64>,
    pub total_capacity: Option<u64>,
    pub reports: Vec<ApiCallRc>,
}

/// `POST /v1/nodes/{node}/storage-pools`
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoragePoolCreate {
    pub storage_pool_name: String,
    pub provider_kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
}

/// A volume's state in `GET /v1/view/resources`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct VolumeState {
    /// `UpToDate`, `Outdated`, `Inconsistent`, `Diskless`, …
    pub disk_state: Option<String>,
    /// Per peer node: the DRBD replication state and, while it resyncs, how far (only shown
    /// on a terminal: `pool::live`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replication_states: BTreeMap<String, ReplicationState>,
}

/// `ReplicationState` of a volume towards one peer.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ReplicationState {
    /// `Established`, `SyncTarget`, `SyncSource`, …
    pub replication_state: Option<String>,
    /// Percent of the resync done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_percentage: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Volume {
    pub volume_number: u32,
    pub storage_pool_name: String,
    pub provider_kind: String,
    pub device_path: String,
    pub flags: Vec<String>,
    pub state: Option<VolumeState>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ResourceState {
    pub in_use: Option<bool>,
}

/// One replica in `GET /v1/view/resources`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Resource {
    pub name: String,
    pub node_name: String,
    pub flags: Vec<String>,
    pub props: Props,
    pub state: Option<ResourceState>,
    pub volumes: Vec<Volume>,
}

/// `GET /v1/resource-definitions/{r}/sync-status`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SyncStatus {
    pub synced_on_all: bool,
}
