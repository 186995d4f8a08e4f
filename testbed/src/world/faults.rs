//! Faults a test injects into the world. Each either acts now (a crash, the controller
//! refusing connections, a resync stalling) or is armed in `State::faults` for the moment it
//! applies (the next boot of a host, the next calls of an XAPI method), so `testbed status`
//! shows what is pending.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::model::*;
use super::ops::{XapiError, opaque_ref};
use super::shared::World;

/// A fault, as `testbed fault` and the control endpoint take it (JSON: `{"kind": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The host's next reboot does not come back: it stays down.
    NoReturn { host: String },
    /// The host's next boot does not start its LINSTOR satellite: its node is OFFLINE.
    NoSatellite { host: String },
    /// The next time the host's satellite starts (boot or restart), it refuses the
    /// controller's version: its node is VERSION_MISMATCH until `satellite-accepts`.
    SatelliteRefuses { host: String },
    /// The host's satellite accepts the controller again (an operator fixed it): the
    /// `satellite-refuses` fault is cleared, armed or in effect.
    SatelliteAccepts { host: String },
    /// Resyncs of the resource (on one node, or all of its replicas) make no progress.
    StallResync { resource: String, node: Option<String> },
    /// Stalled resyncs of the resource go on.
    ResumeResync { resource: String, node: Option<String> },
    /// The controller refuses connections for this many simulated seconds.
    ControllerDown { seconds: f64 },
    /// The XAPI method fails with `[code, params...]` the next `times` calls.
    XapiError {
        method: String,
        code: String,
        #[serde(default)]
        params: Vec<String>,
        #[serde(default = "once")]
        times: u32,
    },
    /// The host crashes now: down, its VMs halted.
    Crash { host: String },
    /// A host that is down is started (XAPI `host.power_on`): it boots from its sysroot.
    PowerOn { host: String },
    /// The host's PBDs do not plug: every attempt (xapi's after a boot, `PBD.plug`) fails
    /// until `pbd-plugs`.
    PbdUnplugged { host: String },
    /// The host's PBDs plug again (clears `pbd-unplugged`).
    PbdPlugs { host: String },
    /// A host built outside the pool (scenario `join_later`) joins it, as `xe pool-join` does:
    /// an XAPI member, up and enabled, with its PIFs; nothing of LINSTOR yet.
    PoolJoin { host: String },
}

fn once() -> u32 {
    1
}

/// Finds a host by name or UUID; the error lists the hosts there are.
pub fn find_host<'a>(state: &'a State, name_or_uuid: &str) -> Result<&'a Host> {
    match state
        .hosts
        .iter()
        .find(|h| h.name == name_or_uuid || h.uuid == name_or_uuid)
    {
        Some(h) => Ok(h),
        None => bail!(
            "no host {name_or_uuid:?} in the pool; hosts: {}",
            state
                .hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl World {
    /// Injects `fault`; the error says what was wrong with it (unknown host or resource).
    pub fn inject(&self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::NoReturn { host } => self.arm_host(host, |f| &mut f.no_return),
            Fault::NoSatellite { host } => self.arm_host(host, |f| &mut f.no_satellite),
            Fault::SatelliteRefuses { host } => self.arm_host(host, |f| &mut f.satellite_refuses),
            Fault::SatelliteAccepts { host } => self.change(|s| {
                let uuid = find_host(s, host)?.uuid.clone();
                s.faults.satellite_refuses.retain(|u| *u != uuid);
                if let Some(h) = s.hosts.iter_mut().find(|h| h.uuid == uuid) {
                    h.refuses_controller = false;
                }
                Ok(())
            }),
            Fault::StallResync { resource, node } => self.set_stalled(resource, node.as_deref(), true),
            Fault::ResumeResync { resource, node } => self.set_stalled(resource, node.as_deref(), false),
            Fault::ControllerDown { seconds } => {
                if !seconds.is_finite() || *seconds < 0.0 {
                    bail!("controller-down: seconds must be a non-negative number, not {seconds}");
                }
                self.change(|s| {
                    let until = s.now + seconds;
                    s.controller.refuse_until =
                        Some(s.controller.refuse_until.map_or(until, |u| u.max(until)));
                });
                Ok(())
            }
            Fault::XapiError {
                method,
                code,
                params,
                times,
            } => {
                if method.is_empty() || code.is_empty() {
                    bail!("xapi-error needs a method (e.g. host.evacuate) and an error code");
                }
                self.change(|s| {
                    s.faults.xapi_errors.push(XapiFault {
                        method: method.clone(),
                        code: code.clone(),
                        params: params.clone(),
                        remaining: *times,
                    })
                });
                Ok(())
            }
            Fault::Crash { host } => {
                let uuid = self.read(|s| find_host(s, host).map(|h| h.uuid.clone()))?;
                self.host_crash(&uuid);
                Ok(())
            }
            Fault::PbdUnplugged { host } => self.arm_host(host, |f| &mut f.pbd_unplugged),
            Fault::PbdPlugs { host } => self.change(|s| {
                let uuid = find_host(s, host)?.uuid.clone();
                s.faults.pbd_unplugged.retain(|u| *u != uuid);
                Ok(())
            }),
            Fault::PoolJoin { host } => self.change(|s| {
                let Some(i) = s.outside.iter().position(|(h, _)| h.name == *host) else {
                    let outside: Vec<&str> = s.outside.iter().map(|(h, _)| h.name.as_str()).collect();
                    anyhow::bail!(
                        "no host {host:?} outside the pool; hosts that can join: {}",
                        if outside.is_empty() {
                            "none".to_string()
                        } else {
                            outside.join(", ")
                        }
                    );
                };
                let (joined, pifs) = s.outside.remove(i);
                tracing::info!(host = %joined.name, "host joins the pool");
                s.pifs.extend(pifs);
                s.hosts.push(joined);
                Ok(())
            }),
            Fault::PowerOn { host } => {
                let uuid = self.read(|s| find_host(s, host).map(|h| h.uuid.clone()))?;
                self.host_power_on(&uuid)
                    .map_err(|e| anyhow::anyhow!("power-on {host}: {e}"))
            }
        }
    }

    fn arm_host(&self, host: &str, list: impl FnOnce(&mut Faults) -> &mut Vec<String>) -> Result<()> {
        self.change(|s| {
            let uuid = find_host(s, host)?.uuid.clone();
            let list = list(&mut s.faults);
            if !list.contains(&uuid) {
                list.push(uuid);
            }
            Ok(())
        })
    }

    fn set_stalled(&self, resource: &str, node: Option<&str>, stalled: bool) -> Result<()> {
        self.change(|s| {
            let now = s.now;
            let mut matched = 0;
            for r in s.resources.iter_mut() {
                if r.name != resource || node.is_some_and(|n| n != r.node) || r.kind != ReplicaKind::Diskful {
                    continue;
                }
                matched += 1;
                if r.sync_stalled == stalled {
                    continue;
                }
                r.sync_stalled = stalled;
                let d = s.replica_dynamics.entry(r.uuid.clone()).or_default();
                if let (false, Some(until), Some(started)) = (stalled, r.sync_until, d.sync_started) {
                    // Resume where it stopped: what is left takes its share of the time.
                    let span = until - started;
                    let left = if d.sync_total_kib == 0 {
                        1.0
                    } else {
                        r.out_of_sync_kib as f64 / d.sync_total_kib as f64
                    };
                    d.sync_started = Some(now - span * (1.0 - left));
                    r.sync_until = Some(now + span * left);
                }
            }
            if matched == 0 {
                bail!(
                    "no diskful replica of resource {resource:?}{} in the pool",
                    node.map(|n| format!(" on node {n:?}")).unwrap_or_default()
                );
            }
            Ok(())
        })
    }

    /// Consumes one armed error for XAPI `method`, if any: the XAPI face calls this before
    /// dispatching every call, and returns the error instead of running the method.
    pub fn take_xapi_fault(&self, method: &str) -> Option<XapiError> {
        // Only take the lock for writing (and wake waiters) when something is armed.
        if self.read(|s| {
            !s.faults
                .xapi_errors
                .iter()
                .any(|f| f.method.eq_ignore_ascii_case(method))
        }) {
            return None;
        }
        self.change(|s| {
            let i = s
                .faults
                .xapi_errors
                .iter()
                .position(|f| f.method.eq_ignore_ascii_case(method))?;
            let fault = &mut s.faults.xapi_errors[i];
            let error = XapiError {
                code: fault.code.clone(),
                params: fault.params.clone(),
            };
            fault.remaining = fault.remaining.saturating_sub(1);
            if fault.remaining == 0 {
                s.faults.xapi_errors.remove(i);
            }
            Some(error)
        })
    }

    /// A host crashes without warning: down at once, its VMs halted, migrations to or from
    /// it fail. It stays down until `host_power_on`.
    pub fn host_crash(&self, host_uuid: &str) {
        self.change(|s| {
            let Some(host) = s.hosts.iter_mut().find(|h| h.uuid == host_uuid) else {
                tracing::warn!(host = %opaque_ref(host_uuid), "crash of an unknown host ignored");
                return;
            };
            host.power = Power::Down;
            for vm in s.vms.iter_mut() {
                if vm.resident_on.as_deref() == Some(host_uuid) {
                    vm.power = VmPower::Halted;
                    vm.resident_on = None;
                    vm.migrating = None;
                } else if vm.migrating.as_ref().is_some_and(|(to, _)| to == host_uuid) {
                    vm.migrating = None;
                }
            }
        })
    }
}
