//! XAPI's host and VM operations on the world, with XAPI's preconditions and its error
//! codes and parameters (as `xapi_host.ml`, `xapi_host_helpers.ml` and `xapi_vm_helpers.ml`
//! raise them). The XAPI face resolves refs to UUIDs and calls these; error parameters that
//! name objects carry refs, `OpaqueRef:<uuid>`, as XAPI's do.
//!
//! Synchronous calls that take time (`host.evacuate`, `VM.pool_migrate`) block the calling
//! thread for the simulated duration, as XAPI's synchronous calls do; the XAPI face needs a
//! thread per request.

use std::time::Duration;

use super::attach::unplugged_elsewhere;
use super::model::*;
use super::shared::World;
use super::violations::{PBD_UNPLUGGED, record_event};

pub use super::xapi_error::{XapiError, opaque_ref};

pub const HANDLE_INVALID: &str = "HANDLE_INVALID";
pub const HOST_OFFLINE: &str = "HOST_OFFLINE";
pub const HOST_NOT_DISABLED: &str = "HOST_NOT_DISABLED";
pub const HOST_IN_USE: &str = "HOST_IN_USE";
pub const HOST_IS_LIVE: &str = "HOST_IS_LIVE";
pub const HOST_NOT_LIVE: &str = "HOST_NOT_LIVE";
pub const HOST_DISABLED: &str = "HOST_DISABLED";
pub const HOST_NOT_ENOUGH_FREE_MEMORY: &str = "HOST_NOT_ENOUGH_FREE_MEMORY";
pub const NO_HOSTS_AVAILABLE: &str = "NO_HOSTS_AVAILABLE";
pub const CANNOT_EVACUATE_HOST: &str = "CANNOT_EVACUATE_HOST";
pub const VM_BAD_POWER_STATE: &str = "VM_BAD_POWER_STATE";
pub const VM_MIGRATE_FAILED: &str = "VM_MIGRATE_FAILED";
pub const OTHER_OPERATION_IN_PROGRESS: &str = "OTHER_OPERATION_IN_PROGRESS";
pub const HA_IS_ENABLED: &str = "HA_IS_ENABLED";
pub const HA_NOT_ENABLED: &str = "HA_NOT_ENABLED";

/// How long past its simulated end a blocking call waits (real time) before giving up.
const WAIT_SLACK: Duration = Duration::from_secs(30);

fn host_index(state: &State, uuid: &str) -> Result<usize, XapiError> {
    state
        .hosts
        .iter()
        .position(|h| h.uuid == uuid)
        .ok_or_else(|| XapiError::new(HANDLE_INVALID, vec!["host".into(), opaque_ref(uuid)]))
}

fn vm_index(state: &State, uuid: &str) -> Result<usize, XapiError> {
    state
        .vms
        .iter()
        .position(|v| v.uuid == uuid)
        .ok_or_else(|| XapiError::new(HANDLE_INVALID, vec!["VM".into(), opaque_ref(uuid)]))
}

/// Operations on a host go to that host's xapi: a host that is away cannot be reached.
fn assert_reachable(host: &Host) -> Result<(), XapiError> {
    if host.power != Power::Up {
        return Err(XapiError::new(HOST_OFFLINE, vec![opaque_ref(&host.uuid)]));
    }
    Ok(())
}

fn power_name(p: VmPower) -> &'static str {
    match p {
        VmPower::Running => "running",
        VmPower::Halted => "halted",
    }
}

/// Memory free on a host for one more VM: total less dom0's, less the VMs resident and
/// arriving.
/// Whether `host` can take a VM of `memory` bytes now: live, enabled, with the memory free
/// (XAPI's checks, in its order).
fn can_take(s: &State, host: &Host, memory: u64) -> Result<(), XapiError> {
    if host.power != Power::Up {
        return Err(XapiError::new(HOST_NOT_LIVE, vec![]));
    }
    if !host.enabled {
        return Err(XapiError::new(HOST_DISABLED, vec![opaque_ref(&host.uuid)]));
    }
    let free = free_memory(s, &host.uuid);
    if free < memory {
        return Err(XapiError::new(
            HOST_NOT_ENOUGH_FREE_MEMORY,
            vec![memory.to_string(), free.to_string()],
        ));
    }
    Ok(())
}

pub fn free_memory(state: &State, host_uuid: &str) -> u64 {
    let Some(host) = state.hosts.iter().find(|h| h.uuid == host_uuid) else {
        return 0;
    };
    let used: u64 = state
        .vms
        .iter()
        .filter(|vm| vm.power == VmPower::Running)
        .filter(|vm| {
            vm.resident_on.as_deref() == Some(host_uuid)
                || vm.migrating.as_ref().is_some_and(|(to, _)| to == host_uuid)
        })
        .map(|vm| vm.memory)
        .sum();
    host.memory_total
        .saturating_sub(state.params.dom0_memory)
        .saturating_sub(used)
}

/// Where each VM of a host would go: `Ok(target host uuid)` or the error that stops it.
/// XAPI's `compute_evacuation_plan_no_wlb`: enabled live hosts other than this one, VMs
/// packed by memory (largest first, onto the host with most free memory).
pub fn evacuation_plan(state: &State, host_uuid: &str) -> Vec<(String, Result<String, XapiError>)> {
    let targets: Vec<&Host> = state
        .hosts
        .iter()
        .filter(|h| h.uuid != host_uuid && h.enabled && h.power == Power::Up)
        .collect();
    let mut vms: Vec<&Vm> = state
        .vms
        .iter()
        .filter(|vm| vm.power == VmPower::Running && vm.resident_on.as_deref() == Some(host_uuid))
        .collect();
    vms.sort_by(|a, b| b.memory.cmp(&a.memory).then_with(|| a.uuid.cmp(&b.uuid)));
    let mut free: Vec<(String, u64)> = targets
        .iter()
        .map(|h| (h.uuid.clone(), free_memory(state, &h.uuid)))
        .collect();
    let mut plan = Vec::new();
    for vm in vms {
        let vm_ref = opaque_ref(&vm.uuid);
        if vm.migrating.is_some() {
            let err = XapiError::new(
                OTHER_OPERATION_IN_PROGRESS,
                vec!["VM".into(), vm_ref, "pool_migrate".into()],
            );
            plan.push((vm.uuid.clone(), Err(err)));
            continue;
        }
        if targets.is_empty() {
            plan.push((
                vm.uuid.clone(),
                Err(XapiError::new(NO_HOSTS_AVAILABLE, vec![vm_ref])),
            ));
            continue;
        }
        let best = free
            .iter_mut()
            .filter(|(_, f)| *f >= vm.memory)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        match best {
            Some((uuid, f)) => {
                *f -= vm.memory;
                plan.push((vm.uuid.clone(), Ok(uuid.clone())));
            }
            None => plan.push((
                vm.uuid.clone(),
                Err(XapiError::new(HOST_NOT_ENOUGH_FREE_MEMORY, vec![vm_ref])),
            )),
        }
    }
    plan
}

impl World {
    /// `host.disable`: no new VMs start or arrive on it.
    pub fn host_disable(&self, host_uuid: &str) -> Result<(), XapiError> {
        self.change(|s| {
            let i = host_index(s, host_uuid)?;
            assert_reachable(&s.hosts[i])?;
            s.hosts[i].enabled = false;
            Ok(())
        })
    }

    /// `host.enable`. Enabling a host whose PBD is unplugged is a [`PBD_UNPLUGGED`] violation.
    pub fn host_enable(&self, host_uuid: &str) -> Result<(), XapiError> {
        self.change(|s| {
            let i = host_index(s, host_uuid)?;
            assert_reachable(&s.hosts[i])?;
            s.hosts[i].enabled = true;
            let name = s.hosts[i].name.clone();
            let unplugged: Vec<String> = s
                .pbds
                .iter()
                .filter(|p| p.host == host_uuid && !p.currently_attached)
                .map(|p| p.sr.clone())
                .collect();
            for sr in unplugged {
                let detail = format!("{name} was enabled while its PBD of SR {sr} was unplugged");
                record_event(s, PBD_UNPLUGGED, &name, detail);
            }
            Ok(())
        })
    }

    /// `host.get_vms_which_prevent_evacuation`: VM uuid → `[code, params...]`.
    pub fn vms_which_prevent_evacuation(
        &self,
        host_uuid: &str,
    ) -> Result<Vec<(String, Vec<String>)>, XapiError> {
        self.read(|s| {
            host_index(s, host_uuid)?;
            Ok(evacuation_plan(s, host_uuid)
                .into_iter()
                .filter_map(|(vm, r)| r.err().map(|e| (vm, e.description())))
                .collect())
        })
    }

    /// `host.assert_can_evacuate`: `CANNOT_EVACUATE_HOST` with every VM's error as
    /// `code,params…`, joined by `|` (XAPI's "Miami style" encoding).
    pub fn host_assert_can_evacuate(&self, host_uuid: &str) -> Result<(), XapiError> {
        let errors = self.vms_which_prevent_evacuation(host_uuid)?;
        if errors.is_empty() {
            return Ok(());
        }
        let joined: Vec<String> = errors.into_iter().map(|(_, e)| e.join(",")).collect();
        Err(XapiError::new(CANNOT_EVACUATE_HOST, vec![joined.join("|")]))
    }

    /// Starts `host.evacuate`: every resident VM migrates (in parallel) to the host the plan
    /// picked. Returns when the last migration lands (simulated time).
    pub fn start_host_evacuate(&self, host_uuid: &str) -> Result<SimTime, XapiError> {
        self.change(|s| {
            let i = host_index(s, host_uuid)?;
            assert_reachable(&s.hosts[i])?;
            let plan = evacuation_plan(s, host_uuid);
            if let Some((_, Err(e))) = plan.iter().find(|(_, r)| r.is_err()) {
                return Err(e.clone());
            }
            let done = s.now + s.params.migration_secs;
            for (vm, target) in plan {
                let Ok(target) = target else { continue };
                if let Some(v) = s.vms.iter_mut().find(|v| v.uuid == vm) {
                    v.migrating = Some((target, done));
                }
            }
            Ok(done)
        })
    }

    /// `host.evacuate`, synchronous: returns when every VM has left the host.
    pub fn host_evacuate(&self, host_uuid: &str) -> Result<(), XapiError> {
        let done = self.start_host_evacuate(host_uuid)?;
        let timeout = self.real_until(done) + WAIT_SLACK;
        let settled = self.wait_until(timeout, |s| {
            !s.vms
                .iter()
                .any(|v| v.resident_on.as_deref() == Some(host_uuid) && v.migrating.is_some())
        });
        self.read(|s| {
            let left: Vec<&Vm> = s
                .vms
                .iter()
                .filter(|v| v.power == VmPower::Running && v.resident_on.as_deref() == Some(host_uuid))
                .collect();
            match left.first() {
                None => Ok(()),
                Some(vm) => Err(XapiError::new(
                    VM_MIGRATE_FAILED,
                    vec![
                        opaque_ref(&vm.uuid),
                        opaque_ref(host_uuid),
                        vm.migrating
                            .as_ref()
                            .map(|(t, _)| opaque_ref(t))
                            .unwrap_or_default(),
                        if settled {
                            "the destination went away during the migration".into()
                        } else {
                            "the migration did not finish".into()
                        },
                    ],
                )),
            }
        })
    }

    /// Starts `VM.pool_migrate` (live); returns when it lands (simulated time).
    pub fn start_vm_pool_migrate(&self, vm_uuid: &str, host_uuid: &str) -> Result<SimTime, XapiError> {
        self.change(|s| {
            let v = vm_index(s, vm_uuid)?;
            let h = host_index(s, host_uuid)?;
            let vm = &s.vms[v];
            if vm.power != VmPower::Running {
                return Err(XapiError::new(
                    VM_BAD_POWER_STATE,
                    vec![opaque_ref(vm_uuid), "running".into(), power_name(vm.power).into()],
                ));
            }
            if vm.migrating.is_some() {
                return Err(XapiError::new(
                    OTHER_OPERATION_IN_PROGRESS,
                    vec!["VM".into(), opaque_ref(vm_uuid), "pool_migrate".into()],
                ));
            }
            if vm.resident_on.as_deref() == Some(host_uuid) {
                return Ok(s.now);
            }
            can_take(s, &s.hosts[h], vm.memory)?;
            let done = s.now + s.params.migration_secs;
            s.vms[v].migrating = Some((host_uuid.to_owned(), done));
            Ok(done)
        })
    }

    /// `VM.pool_migrate`, synchronous.
    pub fn vm_pool_migrate(&self, vm_uuid: &str, host_uuid: &str) -> Result<(), XapiError> {
        let done = self.start_vm_pool_migrate(vm_uuid, host_uuid)?;
        let timeout = self.real_until(done) + WAIT_SLACK;
        self.wait_until(timeout, |s| {
            s.vms.iter().any(|v| v.uuid == vm_uuid && v.migrating.is_none())
        });
        self.read(|s| {
            let vm = &s.vms[vm_index(s, vm_uuid)?];
            if vm.resident_on.as_deref() == Some(host_uuid) {
                return Ok(());
            }
            Err(XapiError::new(
                VM_MIGRATE_FAILED,
                vec![
                    opaque_ref(vm_uuid),
                    vm.resident_on.as_deref().map(opaque_ref).unwrap_or_default(),
                    opaque_ref(host_uuid),
                    "the destination went away during the migration".into(),
                ],
            ))
        })
    }

    /// `host.reboot`: the host must be disabled (`HOST_NOT_DISABLED`) and run no VM
    /// (`HOST_IN_USE`). It goes away now and boots from its sysroot `reboot_secs` later.
    /// Rebooting while another live host's PBD is unplugged is a [`PBD_UNPLUGGED`] violation.
    pub fn host_reboot(&self, host_uuid: &str) -> Result<(), XapiError> {
        self.change(|s| {
            let i = host_index(s, host_uuid)?;
            assert_reachable(&s.hosts[i])?;
            if s.hosts[i].enabled {
                return Err(XapiError::new(HOST_NOT_DISABLED, vec![]));
            }
            let busy = s.vms.iter().find(|v| {
                v.power == VmPower::Running
                    && (v.resident_on.as_deref() == Some(host_uuid)
                        || v.migrating.as_ref().is_some_and(|(to, _)| to == host_uuid))
            });
            if let Some(vm) = busy {
                return Err(XapiError::new(
                    HOST_IN_USE,
                    vec![opaque_ref(host_uuid), "vm".into(), opaque_ref(&vm.uuid)],
                ));
            }
            let events: Vec<(String, String)> = unplugged_elsewhere(s, host_uuid)
                .into_iter()
                .map(|(other, pbd)| {
                    let detail = format!(
                        "{} was rebooted while the PBD of {other} on SR {} was unplugged",
                        s.hosts[i].name, pbd.sr
                    );
                    (other.to_owned(), detail)
                })
                .collect();
            for (other, detail) in events {
                record_event(s, PBD_UNPLUGGED, &other, detail);
            }
            s.hosts[i].power = Power::Rebooting {
                until: s.now + s.params.reboot_secs,
            };
            s.hosts[i].reboots += 1;
            Ok(())
        })
    }

    /// `pool.enable_ha(heartbeat_srs, configuration)`: `HA_IS_ENABLED` when it is on already,
    /// `HOST_OFFLINE` while a host is away (xapi_ha.ml checks every host is live first). HA's
    /// effects (restarting protected VMs, fencing) are not modelled: host operations behave
    /// as without it.
    pub fn pool_enable_ha(
        &self,
        heartbeat_srs: Vec<String>,
        configuration: std::collections::BTreeMap<String, String>,
    ) -> Result<(), XapiError> {
        self.change(|s| {
            if s.pool.ha_enabled {
                return Err(XapiError::new(HA_IS_ENABLED, vec![]));
            }
            if let Some(away) = s.hosts.iter().find(|h| h.power != Power::Up) {
                return Err(XapiError::new(HOST_OFFLINE, vec![opaque_ref(&away.uuid)]));
            }
            s.pool.ha_enabled = true;
            s.pool.ha_heartbeat_srs = heartbeat_srs;
            s.pool.ha_configuration = configuration;
            Ok(())
        })
    }

    /// `pool.disable_ha`: `HA_NOT_ENABLED` when it is off.
    pub fn pool_disable_ha(&self) -> Result<(), XapiError> {
        self.change(|s| {
            if !s.pool.ha_enabled {
                return Err(XapiError::new(HA_NOT_ENABLED, vec![]));
            }
            s.pool.ha_enabled = false;
            s.pool.ha_heartbeat_srs.clear();
            s.pool.ha_configuration.clear();
            Ok(())
        })
    }

    /// `host.power_on`: a host that is down boots (taking `reboot_secs`).
    pub fn host_power_on(&self, host_uuid: &str) -> Result<(), XapiError> {
        self.change(|s| {
            let i = host_index(s, host_uuid)?;
            match s.hosts[i].power {
                Power::Down => {
                    s.hosts[i].power = Power::Rebooting {
                        until: s.now + s.params.reboot_secs,
                    };
                    Ok(())
                }
                _ => Err(XapiError::new(HOST_IS_LIVE, vec![opaque_ref(host_uuid)])),
            }
        })
    }

    /// `VM.start_on` (or `VM.start` with `host_uuid` None: the VM's last host if it can, else
    /// the enabled live host with most free memory). Instant.
    pub fn vm_start(&self, vm_uuid: &str, host_uuid: Option<&str>) -> Result<(), XapiError> {
        self.change(|s| {
            let v = vm_index(s, vm_uuid)?;
            if s.vms[v].power != VmPower::Halted {
                return Err(XapiError::new(
                    VM_BAD_POWER_STATE,
                    vec![
                        opaque_ref(vm_uuid),
                        "halted".into(),
                        power_name(s.vms[v].power).into(),
                    ],
                ));
            }
            let memory = s.vms[v].memory;
            let target = match host_uuid {
                Some(h) => {
                    let i = host_index(s, h)?;
                    can_take(s, &s.hosts[i], memory)?;
                    h.to_owned()
                }
                None => s
                    .hosts
                    .iter()
                    .filter(|h| h.enabled && h.power == Power::Up && free_memory(s, &h.uuid) >= memory)
                    .max_by_key(|h| free_memory(s, &h.uuid))
                    .map(|h| h.uuid.clone())
                    .ok_or_else(|| XapiError::new(NO_HOSTS_AVAILABLE, vec![opaque_ref(vm_uuid)]))?,
            };
            s.vms[v].power = VmPower::Running;
            s.vms[v].resident_on = Some(target);
            Ok(())
        })
    }
}
