//! A resolved scenario plus the hosts' sysroots → the world's initial state: an existing
//! XOSTOR pool (XAPI pool, hosts, networks and PIFs; LINSTOR nodes with their storage pool,
//! resource definitions and replicas; VMs on their home hosts), every host booted from its
//! sysroot at time 0. Joining hosts (the scenario's last `joining`) are XAPI pool members
//! with their PIFs, but no LINSTOR node yet (and so no replica). A bare pool (`xostor = false`)
//! has no node at all and its controller not started; a scenario's `[sr]` adds the LINSTOR SR
//! (`prebuilt_sr`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::dynamics;
use super::model::*;
use super::power_on;
use super::prebuilt_sr;
use super::replication::WRITE_RATE_PROP;
use super::scenario::{GIB, Resolved, ResourceSpec, VmSpec};
use crate::ids;
use crate::sysroot::Identity;

/// The thin storage pool XOSTOR creates on every host.
pub const STORAGE_POOL: &str = "xcp-sr-linstor_group_thin_device";
pub use super::model::DISKLESS_POOL;
/// dom0's memory on XCP-ng 8.3 (`dom0_mem=4096M`).
pub const DOM0_MEMORY: u64 = 4 * GIB;
/// Thin pool size when the host has no real disk behind it, in KiB.
pub const DEFAULT_POOL_KIB: u64 = 1024 * 1024 * 1024;

/// One host as the pool builder made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    pub root: PathBuf,
    pub config: PathBuf,
    /// Management address (LINSTOR satellite address too).
    pub address: String,
    /// Loop device backing its storage, and its size in KiB.
    pub disk: Option<(String, u64)>,
}

/// Hosts over empty sysroots made under `dir`, one directory per host name: nothing is
/// installed, so they boot no kernel. For tests that look at XAPI or LINSTOR, not at what
/// the hosts run.
pub fn empty_hosts(resolved: &Resolved, dir: &Path) -> Result<Vec<HostSpec>> {
    let mut specs = Vec::new();
    for (i, name) in resolved.host_names.iter().enumerate() {
        let root = dir.join(name);
        std::fs::create_dir_all(&root)?;
        specs.push(HostSpec {
            name: name.clone(),
            config: root.join("etc/linstor-agent/agent.toml"),
            root,
            address: management_address(i)?,
            disk: None,
        });
    }
    Ok(specs)
}

/// The management address of host `index`: 10.0.0.11, 10.0.0.12, …
pub fn management_address(index: usize) -> Result<String> {
    if index > 240 {
        bail!("at most 241 hosts: host index {index} has no address in 10.0.0.11-254");
    }
    Ok(format!("10.0.0.{}", 11 + index))
}

/// A UUID derived from what the object is (`crate::ids`, world namespace), so the same
/// pool gets the same UUIDs every time.
pub fn derived_uuid(kind: &str, name: &str) -> String {
    ids::uuid(&[ids::WORLD, kind, name])
}

/// Builds the initial state and boots every host from its sysroot.
pub fn initial_state(scenario: &Resolved, hosts: &[HostSpec], credentials: Credentials) -> Result<State> {
    if hosts.len() != scenario.host_names.len() {
        bail!(
            "the scenario has {} hosts but {} were built",
            scenario.host_names.len(),
            hosts.len()
        );
    }
    let mut state = empty_state(scenario, &hosts[0].name, credentials);
    let management = network("xenbr0", "eth0");
    let storage = network("xenbr1", "eth1");
    for (index, spec) in hosts.iter().enumerate() {
        let joining = scenario.is_joining(index);
        let host = booted_host(scenario, spec, joining);
        let pifs = vec![
            pif(spec, &host.uuid, &management, "eth0", Some(&spec.address)),
            // The storage NIC is cabled but not configured: giving it an address is the
            // agent's network step.
            pif(spec, &host.uuid, &storage, "eth1", None),
        ];
        if joining && scenario.join_later {
            state.outside.push((host, pifs));
            continue;
        }
        state.pifs.extend(pifs);
        state.hosts.push(host);
        if !joining && scenario.xostor {
            // Registering the node is what `linstor-agent provision` does on a new host.
            state.nodes.push(member_node(spec));
        }
    }
    state.pool.master = state.hosts[0].uuid.clone();
    state.networks = vec![management, storage];
    for r in &scenario.resources {
        add_resource(&mut state, hosts, r);
    }
    for vm in &scenario.vms {
        let home = state.hosts[vm.home].uuid.clone();
        state.vms.push(guest(vm, home));
    }
    if let Some(sr) = &scenario.sr {
        prebuilt_sr::add(&mut state, sr)?;
    }
    dynamics::settle(&mut state);
    Ok(state)
}

/// The pool with no hosts, networks, resources or VMs yet: its controller on the first host
/// (not started in a bare pool).
fn empty_state(scenario: &Resolved, first_host: &str, credentials: Credentials) -> State {
    let d = &scenario.durations;
    State {
        pool: Pool {
            uuid: derived_uuid("pool", first_host),
            name_label: "xostor-pool".into(),
            master: String::new(),
            ha_enabled: scenario.ha_enabled,
            ha_configuration: BTreeMap::new(),
            ha_heartbeat_srs: Vec::new(),
            other_config: BTreeMap::new(),
        },
        hosts: Vec::new(),
        vms: Vec::new(),
        networks: Vec::new(),
        pifs: Vec::new(),
        controller: Controller {
            version: scenario.controller_version.clone(),
            host: if scenario.xostor { first_host } else { "" }.to_owned(),
            properties: BTreeMap::new(),
            refuse_until: None,
            running: scenario.xostor,
            hosts_seen: if scenario.xostor {
                vec![first_host.to_owned()]
            } else {
                Vec::new()
            },
        },
        nodes: Vec::new(),
        resource_definitions: Vec::new(),
        resources: Vec::new(),
        violations: Vec::new(),
        generation: 0,
        now: 0.0,
        params: Params {
            reboot_secs: d.reboot_secs,
            migration_secs: d.migration_secs,
            resync_base_secs: d.resync_base_secs,
            resync_secs_per_gib: d.resync_secs_per_gib,
            controller_failover_secs: d.controller_failover_secs,
            pbd_plug_retry_secs: d.pbd_plug_retry_secs,
            max_hosts_down: scenario.max_hosts_down,
            dom0_memory: DOM0_MEMORY,
        },
        faults: Faults::default(),
        credentials,
        replica_dynamics: BTreeMap::new(),
        node_offline_since: BTreeMap::new(),
        accounting: Accounting::default(),
        resource_groups: Vec::new(),
        srs: Vec::new(),
        pbds: Vec::new(),
        vdis: Vec::new(),
        vbds: Vec::new(),
        next_id: 0,
        outside: Vec::new(),
    }
}

/// The pool-wide network on `bridge`, associated with the hosts' `nic`.
fn network(bridge: &str, nic: &str) -> Network {
    Network {
        uuid: derived_uuid("network", bridge),
        name_label: format!("Pool-wide network associated with {nic}"),
        bridge: bridge.into(),
        mtu: 1500,
    }
}

/// Host `spec` as it comes up from its sysroot (at the scenario's satellite version, if any).
fn booted_host(scenario: &Resolved, spec: &HostSpec, joining: bool) -> Host {
    let uuid = Identity::for_host(&spec.name).installation_uuid;
    let mut host = Host {
        uuid,
        name: spec.name.clone(),
        address: spec.address.clone(),
        root: spec.root.clone(),
        config: spec.config.clone(),
        disk: spec.disk.as_ref().map(|(dev, _)| dev.clone()),
        enabled: true,
        power: Power::Down,
        booted_kernel: None,
        drbd_loaded: false,
        satellite_version: None,
        memory_total: scenario.host_memory,
        other_config: BTreeMap::new(),
        satellite_running: false,
        boot_note: None,
        reboots: 0,
        drbd_adjusted: false,
        joining,
        refuses_controller: false,
        reactor_config: false,
        reactor_enabled: false,
        linstor_ports_open: false,
        pbd_plug_until: None,
    };
    power_on::boot(&mut host, false);
    if host.satellite_running
        && let Some(running) = &scenario.satellite_version
    {
        host.satellite_version = Some(running.clone());
    }
    power_on::stamp_boot_time(&mut host, 0.0);
    host
}

/// Host `host`'s NIC `device` on `network`: with `address`, the configured management PIF;
/// without, cabled but not configured.
fn pif(spec: &HostSpec, host: &str, network: &Network, device: &str, address: Option<&str>) -> Pif {
    let configured = address.is_some();
    // The management network's .1: 10.0.0.1 in-process, 127.A.B.1 for `testbed up`.
    let gateway = address
        .and_then(|a| a.rsplit_once('.'))
        .map(|(net, _)| format!("{net}.1"))
        .unwrap_or_default();
    Pif {
        uuid: derived_uuid("pif", &format!("{}/{device}", spec.name)),
        host: host.to_owned(),
        network: network.uuid.clone(),
        device: device.into(),
        management: configured,
        ip_configuration_mode: if configured { "Static" } else { "None" }.into(),
        ip: address.unwrap_or_default().to_owned(),
        netmask: if configured { "255.255.255.0" } else { "" }.into(),
        dns: gateway.clone(),
        gateway,
    }
}

/// The LINSTOR node of a member host: a combined node with the diskless pool and the thin
/// pool on its disk.
fn member_node(spec: &HostSpec) -> Node {
    let pool_kib = spec.disk.as_ref().map_or(DEFAULT_POOL_KIB, |(_, kib)| *kib);
    let mut node = Node::combined(&spec.name, derived_uuid("node", &spec.name), &spec.address);
    node.storage_pools.push(StoragePool {
        name: STORAGE_POOL.into(),
        provider_kind: "LVM_THIN".into(),
        props: BTreeMap::from([(
            "StorDriver/StorPoolName".to_owned(),
            "linstor_group/thin_device".to_owned(),
        )]),
        total_capacity: pool_kib,
        free_capacity: pool_kib,
    });
    node
}

/// A resource definition of the scenario and its replicas, placed on `hosts`; diskful
/// replicas take their size from their node's thin pool.
fn add_resource(state: &mut State, hosts: &[HostSpec], r: &ResourceSpec) {
    let size_kib = (r.size_gib * 1024.0 * 1024.0).round() as u64;
    state.resource_definitions.push(ResourceDefinition {
        name: r.name.clone(),
        uuid: derived_uuid("resource-definition", &r.name),
        size_kib,
        props: BTreeMap::from([
            ("DrbdOptions/Resource/quorum".to_owned(), "majority".to_owned()),
            (
                "DrbdOptions/Resource/on-no-quorum".to_owned(),
                "io-error".to_owned(),
            ),
            (WRITE_RATE_PROP.to_owned(), r.write_kib_per_sec.to_string()),
        ]),
        resource_group: None,
    });
    let placements = r
        .diskful
        .iter()
        .map(|&h| (h, ReplicaKind::Diskful))
        .chain(r.diskless.iter().map(|&h| (h, ReplicaKind::Diskless)))
        .chain(r.tiebreaker.iter().map(|&h| (h, ReplicaKind::TieBreaker)));
    for (h, kind) in placements {
        let node = hosts[h].name.clone();
        if kind == ReplicaKind::Diskful
            && let Some(pool) = state.nodes[h]
                .storage_pools
                .iter_mut()
                .find(|p| p.name == STORAGE_POOL)
        {
            pool.free_capacity = pool.free_capacity.saturating_sub(size_kib);
        }
        let uuid = derived_uuid("resource", &format!("{}/{node}", r.name));
        state
            .resources
            .push(Resource::settled(&r.name, &node, uuid, kind));
    }
}

/// A guest VM of the scenario, running on its home host.
fn guest(vm: &VmSpec, home: String) -> Vm {
    Vm {
        uuid: derived_uuid("vm", &vm.name),
        name: vm.name.clone(),
        memory: (vm.memory_gib * GIB as f64) as u64,
        power: VmPower::Running,
        resident_on: Some(home),
        migrating: None,
        resources: vm.resources.clone(),
    }
}
