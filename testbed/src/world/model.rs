//! The simulated pool's data: what both API faces read and change. Plain data with public
//! fields, so each face translates its protocol onto it directly; the dynamics (clock, reboots,
//! resync, quorum, violations, faults) live in the world's other modules.
//!
//! Every object has a UUID (XAPI refs are `OpaqueRef:<uuid>`); hosts and LINSTOR nodes share
//! the host's name (XCP-ng's LINSTOR driver requires node name = hostname).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Simulated seconds since the world started (the clock runs `time_scale` times real time).
pub type SimTime = f64;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub pool: Pool,
    pub hosts: Vec<Host>,
    pub vms: Vec<Vm>,
    pub networks: Vec<Network>,
    pub pifs: Vec<Pif>,
    pub controller: Controller,
    pub nodes: Vec<Node>,
    pub resource_definitions: Vec<ResourceDefinition>,
    pub resources: Vec<Resource>,
    pub violations: Vec<Violation>,
    /// Bumped on every change a client could observe (XAPI `event.from` waits on it).
    pub generation: u64,
    pub now: SimTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pool {
    pub uuid: String,
    pub name_label: String,
    /// UUID of the master host.
    pub master: String,
    pub ha_enabled: bool,
    pub other_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    Up,
    /// Going down and coming back: live again at `until` (unless a fault says otherwise).
    Rebooting { until: SimTime },
    /// Down (crashed, or failed to come back) until something starts it.
    Down,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub uuid: String,
    pub name: String,
    /// Management address (also the LINSTOR satellite address).
    pub address: String,
    /// The host's filesystem: packages, kernels and plugins are read from here.
    pub root: PathBuf,
    pub config: PathBuf,
    /// Loop device backing its storage, with `--disks`.
    pub disk: Option<String>,
    pub enabled: bool,
    pub power: Power,
    /// `uname -r` of the kernel it booted last (from its sysroot's default boot kernel).
    pub booted_kernel: Option<String>,
    /// Whether the DRBD module for the booted kernel was there at boot.
    pub drbd_loaded: bool,
    /// `linstor-satellite` version found in the sysroot at boot (None: not installed).
    pub satellite_version: Option<String>,
    pub memory_total: u64,
    pub other_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmPower {
    Running,
    Halted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vm {
    pub uuid: String,
    pub name: String,
    pub memory: u64,
    pub power: VmPower,
    /// UUID of the host it runs on.
    pub resident_on: Option<String>,
    /// Migrating to this host until the given time.
    pub migrating: Option<(String, SimTime)>,
    /// LINSTOR resources its disks live on.
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub uuid: String,
    pub name_label: String,
    pub bridge: String,
    pub mtu: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pif {
    pub uuid: String,
    pub host: String,
    pub network: String,
    pub device: String,
    pub management: bool,
    /// "None", "DHCP" or "Static".
    pub ip_configuration_mode: String,
    pub ip: String,
    pub netmask: String,
    pub gateway: String,
    pub dns: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Controller {
    /// LINSTOR version the controller runs, e.g. "1.29.2".
    pub version: String,
    /// Host whose drbd-reactor runs the controller (it moves when that host goes down).
    pub host: String,
    pub properties: BTreeMap<String, String>,
    /// The controller refuses connections until then (fault).
    pub refuse_until: Option<SimTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetInterface {
    pub name: String,
    pub address: String,
    pub satellite_port: Option<u16>,
    pub satellite_encryption_type: Option<String>,
    pub is_active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoragePool {
    pub name: String,
    /// "LVM", "LVM_THIN", "DISKLESS", …
    pub provider_kind: String,
    pub props: BTreeMap<String, String>,
    pub total_capacity: u64,
    pub free_capacity: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub uuid: String,
    /// As the controller answers: "COMBINED", "SATELLITE", "CONTROLLER".
    pub node_type: String,
    pub net_interfaces: Vec<NetInterface>,
    pub props: BTreeMap<String, String>,
    pub storage_pools: Vec<StoragePool>,
    /// Set by evacuate / eviction; cleared by restore.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceDefinition {
    pub name: String,
    pub uuid: String,
    pub size_kib: u64,
    pub props: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaKind {
    Diskful,
    Diskless,
    TieBreaker,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub node: String,
    pub uuid: String,
    pub kind: ReplicaKind,
    /// LINSTOR `disk_state`: "UpToDate", "Outdated", "Inconsistent", "Diskless", "DUnknown", …
    pub disk_state: String,
    /// Resyncing from peers until this time (the replica is `Inconsistent` / SyncTarget).
    pub sync_until: Option<SimTime>,
    /// Data written while this replica was away (grows resync time), in KiB.
    pub out_of_sync_kib: u64,
    /// The resync stalls (fault): `sync_until` does not arrive.
    pub sync_stalled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// "quorum_lost", "no_uptodate_replica", "vm_down", "too_many_hosts_down".
    pub kind: String,
    /// The resource, VM or pool concerned.
    pub subject: String,
    pub from: SimTime,
    /// None while it lasts.
    pub to: Option<SimTime>,
}
