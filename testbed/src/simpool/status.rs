//! `testbed status`: the world as one JSON document, for tests to assert on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::world::{
    self, Activity, Faults, Host, Pif, Power, ReplicaKind, State, Vdi, Violation, VmPower, Window, World,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub clock: ClockStatus,
    #[serde(default)]
    pub pool: PoolStatus,
    pub controller: ControllerStatus,
    pub hosts: Vec<HostStatus>,
    pub nodes: Vec<NodeStatus>,
    pub resources: Vec<ResourceStatus>,
    pub vms: Vec<VmStatus>,
    /// XAPI's SRs (the LINSTOR SR once created).
    #[serde(default)]
    pub srs: Vec<SrStatus>,
    /// One per host and SR: whether it is plugged.
    #[serde(default)]
    pub pbds: Vec<PbdStatus>,
    /// The SR's VDIs with the LINSTOR resource behind each and its replicas.
    #[serde(default)]
    pub vdis: Vec<VdiStatus>,
    /// VMs' disks: which VDI in which slot.
    #[serde(default)]
    pub vbds: Vec<VbdStatus>,
    pub violations: Vec<Violation>,
    /// Faults armed and not yet applied.
    pub faults: Faults,
    /// Where simulated time went since the pool started (for benchmarks).
    #[serde(default)]
    pub accounting: AccountingStatus,
}

/// Simulated time spent in the scenario's activities and in host-side work since the pool
/// started; the difference of two snapshots is what happened between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountingStatus {
    /// Simulated seconds during which a reboot, a VM migration, a resync or a controller
    /// failover was in progress (the union of their intervals).
    pub busy_secs: f64,
    /// The same per kind (`reboot`, `migration`, `resync`, `controller_failover`).
    pub busy_secs_by_kind: BTreeMap<String, f64>,
    /// Simulated seconds during which a `host.call_plugin` was running (a host's agent
    /// running dnf, `service.py`): real time the clock scales up.
    pub host_work_secs: f64,
    /// The union of both.
    pub busy_or_host_work_secs: f64,
    /// Every interval of activity and host-side work, in the order they started.
    pub activities: Vec<Activity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockStatus {
    /// Simulated seconds since the pool started.
    pub now: f64,
    /// Simulated seconds per real second.
    pub time_scale: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// Name of the master host.
    pub master: String,
    /// XAPI's `pool.ha_enabled` (`pool.enable_ha` / `pool.disable_ha`).
    pub ha_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerStatus {
    pub version: String,
    /// Where it runs (the last host it ran on while it does not run).
    pub host: String,
    pub refusing: bool,
    /// Whether a controller runs (false before the SR is created, or while no host can
    /// promote its database).
    #[serde(default)]
    pub running: bool,
    /// Every host the controller ran on, in order.
    #[serde(default)]
    pub hosts_seen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrStatus {
    pub uuid: String,
    pub name_label: String,
    /// XAPI's `type` ("linstor").
    #[serde(rename = "type")]
    pub sr_type: String,
    pub shared: bool,
    /// Bytes.
    pub physical_size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PbdStatus {
    pub uuid: String,
    /// Host name.
    pub host: String,
    /// SR UUID.
    pub sr: String,
    pub currently_attached: bool,
    pub device_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VdiStatus {
    pub uuid: String,
    pub name_label: String,
    /// SR UUID.
    pub sr: String,
    /// The LINSTOR resource behind it.
    pub resource: String,
    pub virtual_size: u64,
    pub replicas: Vec<VdiReplica>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VdiReplica {
    pub node: String,
    pub kind: ReplicaKind,
    pub disk_state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VbdStatus {
    pub uuid: String,
    /// VM name.
    pub vm: String,
    /// VDI UUID.
    pub vdi: String,
    /// `userdevice`.
    pub device: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    pub name: String,
    pub uuid: String,
    pub live: bool,
    /// "up", "rebooting" or "down".
    pub power: String,
    /// When a reboot in progress ends (simulated time).
    pub back_at: Option<f64>,
    pub enabled: bool,
    pub booted_kernel: Option<String>,
    pub drbd_loaded: bool,
    pub satellite_version: Option<String>,
    pub satellite_running: bool,
    pub boot_note: Option<String>,
    /// How many times `host.reboot` took the host down since the pool started.
    #[serde(default)]
    pub reboots: u32,
    /// The host's agent config (`<root>/etc/linstor-agent/agent.toml`).
    #[serde(default)]
    pub config: std::path::PathBuf,
    /// Joined the pool with no LINSTOR node (`testbed up --join`).
    #[serde(default)]
    pub joining: bool,
    /// Installed packages now (name → version-release), read from the sysroot.
    pub packages: BTreeMap<String, String>,
    /// The host's PIFs as XAPI has them (what `PIF.reconfigure_ip` and `network.set_MTU` set).
    #[serde(default)]
    pub pifs: Vec<PifStatus>,
    /// Its maintenance windows (simulated time): disabled → enabled again (xapi's
    /// auto-enable at boot does not end one).
    #[serde(default)]
    pub maintenance_windows: Vec<Window>,
    /// `/etc/drbd-reactor.d/sm-linstor.toml` is in place.
    #[serde(default)]
    pub reactor_config: bool,
    /// drbd-reactor is enabled.
    #[serde(default)]
    pub reactor_enabled: bool,
    /// linstor-manager opened the LINSTOR and DRBD ports.
    #[serde(default)]
    pub linstor_ports_open: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PifStatus {
    pub device: String,
    pub management: bool,
    /// `None`, `DHCP` or `Static`.
    pub ip_configuration_mode: String,
    pub ip: String,
    pub netmask: String,
    /// The MTU of the PIF's network.
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub connection_status: String,
    pub flags: Vec<String>,
    pub unsupported_layers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceStatus {
    pub name: String,
    pub quorum: bool,
    pub replicas: Vec<ReplicaStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub node: String,
    pub kind: ReplicaKind,
    pub disk_state: String,
    pub out_of_sync_kib: u64,
    /// Resync progress in percent while it resyncs.
    pub resync_done_percent: Option<f64>,
    pub sync_until: Option<f64>,
    pub sync_stalled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmStatus {
    pub name: String,
    pub uuid: String,
    pub power: VmPower,
    /// Host name.
    pub resident_on: Option<String>,
    /// Host name it is migrating to.
    pub migrating_to: Option<String>,
}

/// The status of `state`; `packages` gives each host's installed packages by host name.
pub fn of_state(
    state: &State,
    time_scale: f64,
    packages: &BTreeMap<String, BTreeMap<String, String>>,
) -> Status {
    let host_name = |uuid: &str| {
        state
            .hosts
            .iter()
            .find(|h| h.uuid == uuid)
            .map(|h| h.name.clone())
    };
    Status {
        clock: ClockStatus {
            now: state.now,
            time_scale,
        },
        pool: PoolStatus {
            master: host_name(&state.pool.master).unwrap_or_default(),
            ha_enabled: state.pool.ha_enabled,
        },
        controller: ControllerStatus {
            version: state.controller.version.clone(),
            host: state.controller.host.clone(),
            refusing: !world::controller::answering(state),
            running: state.controller.running,
            hosts_seen: state.controller.hosts_seen.clone(),
        },
        hosts: state
            .hosts
            .iter()
            .map(|h| host_status(state, h, packages))
            .collect(),
        nodes: state
            .nodes
            .iter()
            .map(|n| NodeStatus {
                name: n.name.clone(),
                connection_status: world::connection_status(state, &n.name).into(),
                flags: n.flags.clone(),
                unsupported_layers: world::unsupported_layers(state, &n.name),
            })
            .collect(),
        resources: state
            .resource_names()
            .into_iter()
            .map(|name| resource_status(state, name))
            .collect(),
        vms: state
            .vms
            .iter()
            .map(|vm| VmStatus {
                name: vm.name.clone(),
                uuid: vm.uuid.clone(),
                power: vm.power,
                resident_on: vm.resident_on.as_deref().and_then(host_name),
                migrating_to: vm.migrating.as_ref().and_then(|(to, _)| host_name(to)),
            })
            .collect(),
        srs: state
            .srs
            .iter()
            .map(|s| SrStatus {
                uuid: s.uuid.clone(),
                name_label: s.name_label.clone(),
                sr_type: s.sr_type.clone(),
                shared: s.shared,
                physical_size: s.physical_size,
            })
            .collect(),
        pbds: state
            .pbds
            .iter()
            .map(|p| PbdStatus {
                uuid: p.uuid.clone(),
                host: host_name(&p.host).unwrap_or_else(|| p.host.clone()),
                sr: p.sr.clone(),
                currently_attached: p.currently_attached,
                device_config: p.device_config.clone(),
            })
            .collect(),
        vdis: state.vdis.iter().map(|v| vdi_status(state, v)).collect(),
        vbds: state
            .vbds
            .iter()
            .map(|b| VbdStatus {
                uuid: b.uuid.clone(),
                vm: state
                    .vms
                    .iter()
                    .find(|vm| vm.uuid == b.vm)
                    .map_or_else(|| b.vm.clone(), |vm| vm.name.clone()),
                vdi: b.vdi.clone(),
                device: b.device.clone(),
                mode: b.mode.clone(),
            })
            .collect(),
        violations: state.violations.clone(),
        faults: state.faults.clone(),
        accounting: AccountingStatus {
            busy_secs: state.accounting.busy_secs,
            busy_secs_by_kind: state.accounting.busy_secs_by_kind.clone(),
            host_work_secs: state.accounting.host_work_secs,
            busy_or_host_work_secs: state.accounting.busy_or_host_work_secs,
            activities: state.accounting.activities.clone(),
        },
    }
}

fn host_status(state: &State, h: &Host, packages: &BTreeMap<String, BTreeMap<String, String>>) -> HostStatus {
    HostStatus {
        name: h.name.clone(),
        uuid: h.uuid.clone(),
        live: h.power == Power::Up,
        power: match h.power {
            Power::Up => "up",
            Power::Rebooting { .. } => "rebooting",
            Power::Down => "down",
        }
        .into(),
        back_at: match h.power {
            Power::Rebooting { until } => Some(until),
            _ => None,
        },
        enabled: h.enabled,
        booted_kernel: h.booted_kernel.clone(),
        drbd_loaded: h.drbd_loaded,
        satellite_version: h.satellite_version.clone(),
        satellite_running: h.satellite_running,
        boot_note: h.boot_note.clone(),
        reboots: h.reboots,
        config: h.config.clone(),
        joining: h.joining,
        packages: packages.get(&h.name).cloned().unwrap_or_default(),
        pifs: state
            .pifs
            .iter()
            .filter(|p| p.host == h.uuid)
            .map(|p| pif_status(state, p))
            .collect(),
        maintenance_windows: state.accounting.windows.get(&h.name).cloned().unwrap_or_default(),
        reactor_config: h.reactor_config,
        reactor_enabled: h.reactor_enabled,
        linstor_ports_open: h.linstor_ports_open,
    }
}

fn vdi_status(state: &State, v: &Vdi) -> VdiStatus {
    VdiStatus {
        uuid: v.uuid.clone(),
        name_label: v.name_label.clone(),
        sr: v.sr.clone(),
        resource: v.resource.clone(),
        virtual_size: v.virtual_size,
        replicas: state
            .resources
            .iter()
            .filter(|r| r.name == v.resource)
            .map(|r| VdiReplica {
                node: r.node.clone(),
                kind: r.kind,
                disk_state: r.disk_state.clone(),
            })
            .collect(),
    }
}

fn pif_status(state: &State, p: &Pif) -> PifStatus {
    PifStatus {
        device: p.device.clone(),
        management: p.management,
        ip_configuration_mode: p.ip_configuration_mode.clone(),
        ip: p.ip.clone(),
        netmask: p.netmask.clone(),
        mtu: state
            .networks
            .iter()
            .find(|n| n.uuid == p.network)
            .map_or(1500, |n| n.mtu),
    }
}

fn resource_status(state: &State, name: &str) -> ResourceStatus {
    ResourceStatus {
        name: name.to_owned(),
        quorum: world::has_quorum(state, name),
        replicas: state
            .resources
            .iter()
            .filter(|r| r.name == name)
            .map(|r| ReplicaStatus {
                node: r.node.clone(),
                kind: r.kind,
                disk_state: r.disk_state.clone(),
                out_of_sync_kib: r.out_of_sync_kib,
                resync_done_percent: world::sync_done_percent(state, r),
                sync_until: r.sync_until,
                sync_stalled: r.sync_stalled,
            })
            .collect(),
    }
}

/// The status of the world now, with every host's packages read from its sysroot (outside
/// the world's lock: rpm takes a while). The world is as it was when asked (its clock
/// included), not as it is after the rpm queries.
pub fn of_world(world: &World) -> Status {
    let snapshot = world.read(State::clone);
    let roots: Vec<(String, std::path::PathBuf)> = snapshot
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.root.clone()))
        .collect();
    let packages = roots
        .into_iter()
        .map(|(name, root)| {
            let installed = world::power_on::installed_packages(&root).unwrap_or_else(|e| {
                tracing::warn!(host = %name, "cannot list packages: {e:#}");
                BTreeMap::new()
            });
            (name, installed)
        })
        .collect();
    of_state(&snapshot, world.clock.time_scale(), &packages)
}
