//! What linstor-manager's host functions do to the world (docs/xostor.md §1): `addHost`
//! (§1.5), `removeHost` (§1.6), `updateDrbdReactor` (§1.4) and `hasControllerRunning`
//! (§1.9). The XAPI face's built-in plugin (`xapi_face::linstor_manager`) parses the
//! arguments, calls these and shapes the answers; an error here is the Python exception the
//! function raises ([`PluginError`]).
//!
//! The controller is found as SM-BR's `get_controller_uri` finds it: the host whose
//! `hasControllerRunning` says so (SM-PKG's `ss`-based discovery, which fails on a host not
//! yet registered, is not modelled). The firewall ports (§2) are noted on the host
//! (`Host::linstor_ports_open`); nothing else depends on them.

use std::collections::BTreeMap;

use super::controller;
use super::model::*;
use super::reactor;
use super::services::{Service, ServiceCommand};
use super::shared::World;
use super::storage_repo::{self, sr_group};

/// A Python exception out of a plugin function: its class and message
/// (`XenAPIPlugin.dispatch` sends `XENAPI_PLUGIN_FAILURE [fn, class, message]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub class: String,
    pub message: String,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for PluginError {}

impl PluginError {
    fn new(class: &str, message: impl Into<String>) -> PluginError {
        PluginError {
            class: class.to_owned(),
            message: message.into(),
        }
    }
}

/// The LINSTOR SR whose PBDs have `group-name` = `group`, and those PBDs (§1.5 steps 1–2).
fn group_pbds(state: &State, group: &str) -> Result<(Option<String>, Vec<Pbd>), PluginError> {
    let pbds: Vec<Pbd> = state
        .pbds
        .iter()
        .filter(|p| p.device_config.get("group-name").map(String::as_str) == Some(group))
        .filter(|p| state.srs.iter().any(|s| s.uuid == p.sr && s.sr_type == "linstor"))
        .cloned()
        .collect();
    let mut srs: Vec<&str> = pbds.iter().map(|p| p.sr.as_str()).collect();
    srs.dedup();
    if srs.len() > 1 {
        return Err(PluginError::new(
            "Exception",
            format!("Group `{group}` is used by many SRs!"),
        ));
    }
    Ok((srs.first().map(|s| (*s).to_owned()), pbds))
}

/// `LinstorVolumeManager(get_controller_uri(), group)`: a controller answering and the
/// group's resource group; returns the redundancy (its place count).
fn connect(state: &State, group: &str) -> Result<u32, PluginError> {
    if !controller::answering(state) {
        return Err(PluginError::new(
            "LinstorVolumeManagerError",
            "Unable to connect to the LINSTOR controller: no host runs it",
        ));
    }
    let name = sr_group(group);
    state
        .resource_groups
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.place_count)
        .ok_or_else(|| {
            PluginError::new(
                "LinstorVolumeManagerError",
                format!("Unable to find `{name}` Linstor SR"),
            )
        })
}

fn host<'a>(state: &'a State, uuid: &str) -> Result<&'a Host, PluginError> {
    state
        .hosts
        .iter()
        .find(|h| h.uuid == uuid)
        .ok_or_else(|| PluginError::new("Exception", format!("no host {uuid}")))
}

impl World {
    /// `update_drbd_reactor_service(start)` on a host: the toml and drbd-reactor as asked;
    /// stopping it stops the controller it ran there (which moves, §3.3).
    pub fn set_drbd_reactor(&self, host_uuid: &str, start: bool) {
        self.change(|s| {
            let Some(h) = s.hosts.iter_mut().find(|h| h.uuid == host_uuid) else {
                return;
            };
            reactor::set(h, start);
            // Stopping drbd-reactor stops the controller it started there.
            if !start && s.controller.host == h.name {
                s.controller.running = false;
            }
        });
        self.read(|s| {
            s.hosts
                .iter()
                .filter(|h| h.uuid == host_uuid)
                .for_each(reactor::sync_host)
        });
    }

    /// `update_all_ports(open)`: the LINSTOR and DRBD ports opened or closed (noted only).
    pub fn set_linstor_ports(&self, host_uuid: &str, open: bool) {
        self.change(|s| {
            if let Some(h) = s.hosts.iter_mut().find(|h| h.uuid == host_uuid) {
                h.linstor_ports_open = open;
            }
        });
    }

    /// `hasControllerRunning`: whether the controller runs on this host.
    pub fn has_controller_running(&self, host_uuid: &str) -> bool {
        self.read(|s| {
            s.hosts
                .iter()
                .find(|h| h.uuid == host_uuid)
                .is_some_and(|h| s.controller.running && s.controller.host == h.name && h.power == Power::Up)
        })
    }

    /// `addHost` on `host_uuid` (§1.5); "True".
    pub fn add_host(&self, host_uuid: &str, group: &str) -> Result<String, PluginError> {
        let (sr, pbds, redundancy, had_node) = self.read(|s| {
            let (sr, pbds) = group_pbds(s, group)?;
            let Some(sr) = sr else {
                return Err(PluginError::new(
                    "Exception",
                    format!("Failed to find PBDs of group `{group}`"),
                ));
            };
            let redundancy = connect(s, group)?;
            let name = &host(s, host_uuid)?.name;
            Ok((sr, pbds, redundancy, s.nodes.iter().any(|n| &n.name == name)))
        })?;
        // Ports, drbd-reactor, the satellite (always restarted).
        self.set_linstor_ports(host_uuid, true);
        self.set_drbd_reactor(host_uuid, true);
        let started = self
            .systemctl(host_uuid, ServiceCommand::Restart, Service::Satellite)
            .is_ok()
            && self.read(|s| host(s, host_uuid).is_ok_and(|h| h.satellite_running));
        if !started {
            if !had_node {
                self.set_drbd_reactor(host_uuid, false);
                self.set_linstor_ports(host_uuid, false);
            }
            return Err(PluginError::new(
                "Exception",
                "Failed to enable and start linstor-satellite",
            ));
        }
        let outcome = self.change(|s| join(s, host_uuid, &sr, &pbds, group, redundancy));
        if let Err(e) = &outcome {
            self.change(|s| undo_join(s, host_uuid, had_node));
            if !had_node {
                let _ = self.systemctl(host_uuid, ServiceCommand::Stop, Service::Satellite);
                self.set_drbd_reactor(host_uuid, false);
                self.set_linstor_ports(host_uuid, false);
            }
            tracing::info!(host = %host_uuid, "addHost failed: {}", e.message);
        }
        outcome.map(|()| "True".to_owned())
    }

    /// `removeHost` on `host_uuid` (§1.6); "True".
    pub fn remove_host(&self, host_uuid: &str, group: &str) -> Result<String, PluginError> {
        self.change(|s| -> Result<(), PluginError> {
            group_pbds(s, group)?;
            connect(s, group)?;
            let name = host(s, host_uuid)?.name.clone();
            if s.nodes.iter().any(|n| n.name == name) {
                if let Some(why) = node_delete_refusal(s, &name) {
                    return Err(PluginError::new(
                        "LinstorVolumeManagerError",
                        format!("Failed to destroy node `{name}`: {why}"),
                    ));
                }
                s.resources.retain(|r| r.node != name);
                s.nodes.retain(|n| n.name != name);
            }
            let mine: Vec<String> = s
                .pbds
                .iter()
                .filter(|p| {
                    p.host == host_uuid && s.srs.iter().any(|x| x.uuid == p.sr && x.sr_type == "linstor")
                })
                .map(|p| p.uuid.clone())
                .collect();
            for pbd in mine {
                storage_repo::unplug(s, &pbd).map_err(|e| PluginError::new("Failure", e.to_string()))?;
                storage_repo::destroy(s, &pbd).map_err(|e| PluginError::new("Failure", e.to_string()))?;
            }
            Ok(())
        })?;
        // Errors of the services' teardown are only logged (§1.6 step 4).
        if let Err(e) = self.systemctl(host_uuid, ServiceCommand::Stop, Service::Satellite) {
            tracing::info!(host = %host_uuid, "removeHost: stopping the satellite: {e}");
        }
        self.set_drbd_reactor(host_uuid, false);
        self.set_linstor_ports(host_uuid, false);
        Ok("True".to_owned())
    }
}

/// Why LINSTOR would not delete the node: a replica in use, or the last diskful one.
fn node_delete_refusal(state: &State, node: &str) -> Option<String> {
    let host = state.hosts.iter().find(|h| h.name == node);
    for r in state.resources.iter().filter(|r| r.node == node) {
        let used = host.is_some_and(|h| {
            state.vms.iter().any(|vm| {
                vm.power == VmPower::Running
                    && vm.resident_on.as_deref() == Some(h.uuid.as_str())
                    && vm.resources.contains(&r.name)
            })
        });
        if used {
            return Some(format!("Resource '{}' is still in use on node '{node}'.", r.name));
        }
        let other = state
            .resources
            .iter()
            .any(|o| o.name == r.name && o.node != node && o.kind == ReplicaKind::Diskful);
        if r.kind == ReplicaKind::Diskful && !other {
            return Some(format!(
                "Last diskful resource '{}' on node '{node}' cannot be deleted.",
                r.name
            ));
        }
    }
    None
}

/// §1.5 steps 5–7: the node if absent, the PBD if this host has none (then plugged; a
/// failure is only logged).
fn join(
    s: &mut State,
    host_uuid: &str,
    sr: &str,
    pbds: &[Pbd],
    group: &str,
    redundancy: u32,
) -> Result<(), PluginError> {
    let (name, address) = {
        let h = host(s, host_uuid)?;
        (h.name.clone(), h.address.clone())
    };
    if !s.nodes.iter().any(|n| n.name == name) {
        let uuid = s.fresh_uuid("node");
        s.nodes.push(Node::combined(&name, uuid, &address));
    }
    if pbds.iter().any(|p| p.host == host_uuid) {
        return Ok(());
    }
    let provisioning = pbds
        .iter()
        .find_map(|p| p.device_config.get("provisioning").cloned())
        .ok_or_else(|| PluginError::new("KeyError", "'provisioning'"))?;
    let device_config = BTreeMap::from([
        ("group-name".to_owned(), group.to_owned()),
        ("redundancy".to_owned(), redundancy.to_string()),
        ("provisioning".to_owned(), provisioning),
    ]);
    let pbd = storage_repo::new_pbd(s, host_uuid, sr, device_config, BTreeMap::new())
        .map_err(|e| PluginError::new("Failure", e.to_string()))?;
    if let Err(e) = storage_repo::plug(s, &pbd) {
        tracing::info!(host = %name, "addHost: Failed to plug new PBD: {e}");
    }
    Ok(())
}

/// addHost's rollback: the node it created goes.
fn undo_join(s: &mut State, host_uuid: &str, had_node: bool) {
    if had_node {
        return;
    }
    if let Some(name) = s
        .hosts
        .iter()
        .find(|h| h.uuid == host_uuid)
        .map(|h| h.name.clone())
    {
        s.resources.retain(|r| r.node != name);
        s.nodes.retain(|n| n.name != name);
    }
}
