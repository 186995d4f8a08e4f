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
    /// Durations and limits the dynamics follow (from the scenario).
    pub params: Params,
    /// Faults armed for later (a reboot that will not come back, XAPI errors to return).
    pub faults: Faults,
    /// What `session.login_with_password` accepts.
    pub credentials: Credentials,
    /// Bookkeeping of the dynamics that no API shows directly, per replica (`Resource::uuid`).
    pub replica_dynamics: BTreeMap<String, ReplicaDynamics>,
    /// LINSTOR nodes that lost their satellite connection, since when (for auto-eviction).
    pub node_offline_since: BTreeMap<String, SimTime>,
    /// Where simulated time went (for benchmarks; no API shows it, `testbed status` does).
    #[serde(default)]
    pub accounting: Accounting,
    /// LINSTOR resource groups (`xcp-sr-…` and `xcp-ha-…` once the SR exists).
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// XAPI's storage objects: the LINSTOR SR, its PBDs (one per host), VDIs and VBDs.
    #[serde(default)]
    pub srs: Vec<Sr>,
    #[serde(default)]
    pub pbds: Vec<Pbd>,
    #[serde(default)]
    pub vdis: Vec<Vdi>,
    #[serde(default)]
    pub vbds: Vec<Vbd>,
    /// Counter behind the fresh UUIDs of objects created through the APIs (`World::fresh_uuid`).
    #[serde(default)]
    pub next_id: u64,
    /// Hosts built but not in the XAPI pool yet (scenario `join_later`), with their PIFs, until
    /// `pool-join`.
    #[serde(default)]
    pub outside: Vec<(Host, Vec<Pif>)>,
}

impl State {
    /// A fresh UUID for an object created through an API (`kind`: "sr", "vdi", …): derived
    /// from the pool and a counter, so a pool's objects never collide and a rerun of the same
    /// calls gets the same UUIDs.
    pub fn fresh_uuid(&mut self, kind: &str) -> String {
        self.next_id += 1;
        crate::ids::uuid(&[
            crate::ids::WORLD,
            "fresh",
            &self.pool.uuid,
            kind,
            &self.next_id.to_string(),
        ])
    }

    /// Every resource's name: the definitions' in order, then those only replicas name.
    pub fn resource_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .resource_definitions
            .iter()
            .map(|rd| rd.name.as_str())
            .collect();
        for r in &self.resources {
            if !names.contains(&r.name.as_str()) {
                names.push(&r.name);
            }
        }
        names
    }
}

/// Where simulated time went: the intervals in which the scenario's own activities ran
/// (reboots, VM migrations, resyncs, the controller failing over), those in which host-side
/// work ran (`host.call_plugin`: a host's agent running dnf, `service.py`), and each host's
/// maintenance windows. Kept by the dynamics (`accounting::account`), for benchmarks: the time
/// a run took less the time anything unavoidable was in progress is the orchestrator's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    /// Simulated seconds during which at least one scenario activity was in progress: the
    /// length of the union of their intervals (two reboots at once count once).
    pub busy_secs: f64,
    /// The same per kind of activity (`reboot`, `migration`, `resync`,
    /// `controller_failover`), each the union of that kind's intervals.
    pub busy_secs_by_kind: BTreeMap<String, f64>,
    /// Simulated seconds during which at least one `host.call_plugin` was running.
    pub host_work_secs: f64,
    /// The union of both: simulated seconds during which a scenario activity or host-side
    /// work was in progress.
    pub busy_or_host_work_secs: f64,
    /// Every interval, in the order it started (`to` is None while it lasts).
    pub activities: Vec<Activity>,
    /// Each host's maintenance windows by host name: from the moment it is disabled to the
    /// moment it is enabled again. xapi's auto-enable when the host boots does not end one
    /// (the orchestrator disables it again); only an enable of a host that did not just boot
    /// does.
    pub windows: BTreeMap<String, Vec<Window>>,
    /// Hosts enabled by their boot while in a window (until they are disabled again).
    pub auto_enabled: Vec<String>,
    /// Host-side calls running now: call id → index in `activities`.
    pub calls_running: BTreeMap<u64, usize>,
    pub next_call: u64,
}

/// One interval of activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// `reboot`, `migration`, `resync`, `controller_failover` or `host_work`.
    pub kind: String,
    /// The host rebooting or working, the VM migrating, the replica resyncing
    /// (`resource@node`), the host the controller moved to.
    pub subject: String,
    /// More about it: a migration's `from→to` hosts, a resync's KiB to copy, a host-side
    /// call's `plugin/function`.
    #[serde(default)]
    pub detail: String,
    pub from: SimTime,
    /// None while it lasts.
    pub to: Option<SimTime>,
}

/// A host's maintenance window: disabled at `disabled_at`, enabled again at `enabled_at`
/// (None while it lasts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub disabled_at: SimTime,
    pub enabled_at: Option<SimTime>,
}

/// Durations (simulated seconds) and limits of the world's dynamics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// A host is away this long when it reboots (or boots after being started).
    pub reboot_secs: f64,
    /// One live migration (VMs of one evacuation migrate in parallel).
    pub migration_secs: f64,
    /// Every resync takes at least this long (connection, handshake, bitmap exchange).
    pub resync_base_secs: f64,
    /// Plus this long per GiB written while the replica was away.
    pub resync_secs_per_gib: f64,
    /// drbd-reactor moves the controller to another host when its host goes away; it does not
    /// answer for this long.
    pub controller_failover_secs: f64,
    /// After a host boots, xapi keeps trying to plug its PBDs this long (then gives up: an
    /// operator plugs them).
    #[serde(default = "default_pbd_plug_retry_secs")]
    pub pbd_plug_retry_secs: f64,
    /// More hosts away at once than this is a violation.
    pub max_hosts_down: usize,
    /// Memory dom0 keeps on every host (not available to VMs), in bytes.
    pub dom0_memory: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Host UUIDs whose next reboot does not come back (they stay Down).
    pub no_return: Vec<String>,
    /// Host UUIDs whose next boot does not start the LINSTOR satellite.
    pub no_satellite: Vec<String>,
    /// Host UUIDs whose satellite, the next time it starts (boot or restart), refuses the
    /// controller's version (`Host::refuses_controller`).
    #[serde(default)]
    pub satellite_refuses: Vec<String>,
    /// Errors XAPI methods return instead of running.
    pub xapi_errors: Vec<XapiFault>,
    /// Host UUIDs whose PBDs do not plug (every plug attempt fails) until `pbd-plugs`.
    #[serde(default)]
    pub pbd_unplugged: Vec<String>,
}

pub fn default_pbd_plug_retry_secs() -> f64 {
    300.0
}

/// `method` fails with `[code, params...]` the next `remaining` times it is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XapiFault {
    /// As on the wire, e.g. `host.evacuate` (compared without regard to case).
    pub method: String,
    pub code: String,
    pub params: Vec<String>,
    pub remaining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Per-replica state the dynamics keep beside the `Resource` the LINSTOR face shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaDynamics {
    /// The replica missed writes while it was away: it must resync when it is back.
    pub behind: bool,
    /// Whether the replica took part in DRBD at the last evaluation (its node connected with
    /// the module loaded).
    pub present: bool,
    /// When the running resync started, and how much it had to copy then.
    pub sync_started: Option<SimTime>,
    pub sync_total_kib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pool {
    pub uuid: String,
    pub name_label: String,
    /// UUID of the master host.
    pub master: String,
    pub ha_enabled: bool,
    /// What `pool.enable_ha` was given (`configuration`), cleared by `pool.disable_ha`.
    #[serde(default)]
    pub ha_configuration: BTreeMap<String, String>,
    /// The SR refs `pool.enable_ha` was given for heartbeating (no SR is modelled: they are
    /// kept as given, for the pool record's `ha_statefiles`).
    #[serde(default)]
    pub ha_heartbeat_srs: Vec<String>,
    pub other_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    Up,
    /// Going down and coming back: live again at `until` (unless a fault says otherwise).
    Rebooting {
        until: SimTime,
    },
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
    /// Whether the LINSTOR satellite service runs (false after a boot with the
    /// `no-satellite` fault: installed, but the node is OFFLINE).
    pub satellite_running: bool,
    /// Where the last boot read its default kernel from (boot loader file), or why it found
    /// none (for `testbed status` and error messages).
    pub boot_note: Option<String>,
    /// How many times `host.reboot` took this host down since the pool started (a test
    /// asserts an upgrade rebooted no host twice).
    #[serde(default)]
    pub reboots: u32,
    /// Whether the satellite brought this host's DRBD resources up since it booted. DRBD
    /// lives in the kernel: once up, the resources stay up (and keep their quorum votes) when
    /// the satellite stops, restarts or mismatches the controller; only a boot takes them
    /// down, and only a satellite that reaches the controller brings them up again.
    #[serde(default)]
    pub drbd_adjusted: bool,
    /// A host that joined the XAPI pool with no LINSTOR node (`testbed up --join`): no
    /// replicas, no VMs, no disk at the start; `linstor-agent provision` registers it.
    #[serde(default)]
    pub joining: bool,
    /// The satellite refuses the controller's version whatever the versions are: its node is
    /// VERSION_MISMATCH (fault `satellite-refuses`, until `satellite-accepts`).
    #[serde(default)]
    pub refuses_controller: bool,
    /// `/etc/drbd-reactor.d/sm-linstor.toml` is in place (the promoter of
    /// `xcp-persistent-database`; the file is in the host's sysroot too).
    #[serde(default)]
    pub reactor_config: bool,
    /// drbd-reactor is enabled (it runs whenever the host is up).
    #[serde(default)]
    pub reactor_enabled: bool,
    /// linstor-manager opened the LINSTOR and DRBD ports (`firewall-port open` of 3366, 3370,
    /// 3376, 3377, 8076, 8077 and the 7000:8000 rule, docs/xostor.md §2).
    #[serde(default)]
    pub linstor_ports_open: bool,
    /// xapi tries to plug the host's PBDs until then, after the host booted (None: it does not).
    #[serde(default)]
    pub pbd_plug_until: Option<SimTime>,
}

impl Host {
    /// drbd-reactor runs here with the promoter of the controller's database.
    pub fn reactor_promotes(&self) -> bool {
        self.reactor_config && self.reactor_enabled
    }
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
    /// LINSTOR resources its disks live on (a VBD on a VDI adds the VDI's resource).
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
    /// Name of the host whose drbd-reactor runs the controller (it moves when that host
    /// goes down); the last one it ran on while it does not run.
    pub host: String,
    pub properties: BTreeMap<String, String>,
    /// The controller refuses connections until then (fault).
    pub refuse_until: Option<SimTime>,
    /// Whether a controller runs at all: false before the SR is created (a bare pool), or
    /// while no host can promote its database.
    #[serde(default = "yes")]
    pub running: bool,
    /// Every host the controller ran on, in order (a host appears again when it comes back).
    #[serde(default)]
    pub hosts_seen: Vec<String>,
}

fn yes() -> bool {
    true
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
    /// The resource group it was spawned from (None: LINSTOR's `DfltRscGrp`).
    #[serde(default)]
    pub resource_group: Option<String>,
}

/// A LINSTOR resource group: where its resources are placed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub name: String,
    pub uuid: String,
    /// `select_filter.place_count`: diskful replicas per resource.
    pub place_count: u32,
    pub storage_pools: Vec<String>,
    pub diskless_on_remaining: bool,
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

impl Resource {
    /// A replica at rest: UpToDate when it has a disk, Diskless otherwise, nothing to resync.
    pub fn settled(name: &str, node: &str, uuid: String, kind: ReplicaKind) -> Resource {
        Resource {
            name: name.to_owned(),
            node: node.to_owned(),
            uuid,
            kind,
            disk_state: if kind == ReplicaKind::Diskful {
                "UpToDate"
            } else {
                "Diskless"
            }
            .into(),
            sync_until: None,
            out_of_sync_kib: 0,
            sync_stalled: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// "quorum_lost", "no_uptodate_replica", "vm_down", "too_many_hosts_down",
    /// "pbd_unplugged".
    pub kind: String,
    /// The resource, VM, host or pool concerned.
    pub subject: String,
    pub from: SimTime,
    /// None while it lasts (an event such as `pbd_unplugged` ends where it starts).
    pub to: Option<SimTime>,
    /// The VDI the resource backs, if it backs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vdi: Option<String>,
    /// What happened, in words (for events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An SR (XAPI). The testbed models `linstor` SRs only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sr {
    pub uuid: String,
    pub name_label: String,
    pub name_description: String,
    /// XAPI's `type`: "linstor".
    pub sr_type: String,
    pub shared: bool,
    pub content_type: String,
    pub sm_config: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    /// Bytes: every storage pool of the SR, all hosts together (as the driver counts it).
    pub physical_size: u64,
}

/// A PBD: an SR as one host sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pbd {
    pub uuid: String,
    /// Host UUID.
    pub host: String,
    /// SR UUID.
    pub sr: String,
    pub device_config: BTreeMap<String, String>,
    pub currently_attached: bool,
    pub other_config: BTreeMap<String, String>,
}

/// A VDI of the LINSTOR SR, backed by one LINSTOR resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vdi {
    pub uuid: String,
    /// SR UUID.
    pub sr: String,
    pub name_label: String,
    pub name_description: String,
    /// Bytes.
    pub virtual_size: u64,
    /// XAPI's `type`: "user", "system", …
    pub vdi_type: String,
    /// The LINSTOR resource: `xcp-volume-<a fresh UUID>`, not the VDI's UUID.
    pub resource: String,
    pub sharable: bool,
    pub read_only: bool,
    pub other_config: BTreeMap<String, String>,
    pub sm_config: BTreeMap<String, String>,
}

/// A VBD: a VM's disk slot holding a VDI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vbd {
    pub uuid: String,
    /// VM UUID.
    pub vm: String,
    /// VDI UUID.
    pub vdi: String,
    /// `userdevice`: the slot, "0", "1", …
    pub device: String,
    /// "RW" or "RO".
    pub mode: String,
    /// "Disk" or "CD".
    pub vbd_type: String,
    pub bootable: bool,
}

impl Node {
    /// A COMBINED node at `address` (satellite on 3366, plain), with the diskless pool, as
    /// the driver and the agent create them.
    pub fn combined(name: &str, uuid: String, address: &str) -> Node {
        Node {
            name: name.to_owned(),
            uuid,
            node_type: "COMBINED".into(),
            net_interfaces: vec![NetInterface {
                name: "default".into(),
                address: address.to_owned(),
                satellite_port: Some(3366),
                satellite_encryption_type: Some("PLAIN".into()),
                is_active: true,
            }],
            props: BTreeMap::from([
                ("CurStltConnName".to_owned(), "default".to_owned()),
                ("NodeUname".to_owned(), name.to_owned()),
            ]),
            storage_pools: vec![StoragePool::diskless()],
            flags: Vec::new(),
        }
    }
}

impl StoragePool {
    /// `DfltDisklessStorPool`, which every satellite or combined node gets.
    pub fn diskless() -> StoragePool {
        StoragePool {
            name: DISKLESS_POOL.into(),
            provider_kind: "DISKLESS".into(),
            props: BTreeMap::new(),
            total_capacity: 0,
            free_capacity: 0,
        }
    }
}

/// LINSTOR's diskless pool.
pub const DISKLESS_POOL: &str = "DfltDisklessStorPool";
