//! `systemctl <command> <service>` on a host, for the LINSTOR services XCP-ng's `service.py`
//! plugin may drive (`host.call_plugin(host, "service.py", "restart_service", {service})`). The
//! testbed runs no systemd, so the world does what the units would:
//!
//! | service | command | effect |
//! |---|---|---|
//! | `linstor-satellite` | `restart`, `start` (when stopped), `try-restart` (when running) | the satellite runs the `linstor-satellite` now installed in the host's sysroot: ONLINE, or VERSION_MISMATCH against the controller; not installed: stays stopped |
//! | `linstor-satellite` | `stop` | the node goes OFFLINE (DRBD stays up: it lives in the kernel) |
//! | `linstor-controller` | `stop`, `restart`, `try-restart`, on the controller's host | the controller refuses connections for `controller_failover_secs` while drbd-reactor promotes it again (on the same host here), then runs the `linstor-controller` installed in that host's sysroot (not installed: its version stays, and this is logged) |
//! | `linstor-controller` | anything on another host, `start` where it runs | nothing (drbd-reactor alone starts it) |
//!
//! `start` on a running unit does nothing, as systemd does: a satellite picks up an upgraded
//! package on `restart` (or `try-restart`), not on `start`.

use std::fmt;

use super::dynamics::controller_version_in;
use super::model::Power;
use super::ops::{HOST_OFFLINE, XapiError, opaque_ref};
use super::power_on;
use super::shared::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCommand {
    Start,
    Stop,
    Restart,
    TryRestart,
}

impl ServiceCommand {
    /// As `systemctl` spells it.
    pub fn verb(self) -> &'static str {
        match self {
            ServiceCommand::Start => "start",
            ServiceCommand::Stop => "stop",
            ServiceCommand::Restart => "restart",
            ServiceCommand::TryRestart => "try-restart",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Satellite,
    Controller,
}

impl Service {
    /// The systemd unit name (without `.service`), as `service.py` takes it.
    pub fn unit(self) -> &'static str {
        match self {
            Service::Satellite => "linstor-satellite",
            Service::Controller => "linstor-controller",
        }
    }

    pub fn from_unit(name: &str) -> Option<Service> {
        match name {
            "linstor-satellite" => Some(Service::Satellite),
            "linstor-controller" => Some(Service::Controller),
            _ => None,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.unit())
    }
}

impl World {
    /// `systemctl <command> <service>` on the host (see the module documentation). Fails only
    /// when the host is not up or unknown.
    pub fn systemctl(
        &self,
        host_uuid: &str,
        command: ServiceCommand,
        service: Service,
    ) -> Result<(), XapiError> {
        let (name, root) = self.read(|s| {
            let host = s.hosts.iter().find(|h| h.uuid == host_uuid).ok_or_else(|| {
                XapiError::new("HANDLE_INVALID", vec!["host".into(), opaque_ref(host_uuid)])
            })?;
            if host.power != Power::Up {
                return Err(XapiError::new(HOST_OFFLINE, vec![opaque_ref(host_uuid)]));
            }
            Ok((host.name.clone(), host.root.clone()))
        })?;
        tracing::info!(host = %name, service = %service, command = command.verb(), "systemctl");
        match service {
            Service::Satellite => self.satellite(host_uuid, &root, command),
            Service::Controller => self.controller(&name, &root, command),
        }
    }

    fn satellite(
        &self,
        host_uuid: &str,
        root: &std::path::Path,
        command: ServiceCommand,
    ) -> Result<(), XapiError> {
        let running = self.read(|s| {
            s.hosts
                .iter()
                .find(|h| h.uuid == host_uuid)
                .is_some_and(|h| h.satellite_running)
        });
        let starts = match command {
            ServiceCommand::Stop => false,
            ServiceCommand::Restart => true,
            // `start` of a running unit and `try-restart` of a stopped one do nothing.
            ServiceCommand::Start if running => return Ok(()),
            ServiceCommand::TryRestart if !running => return Ok(()),
            ServiceCommand::Start | ServiceCommand::TryRestart => true,
        };
        // rpm outside the world's lock: it takes a while, and nothing else waits on it.
        let version = if starts {
            power_on::installed_version(root, "linstor-satellite").unwrap_or_else(|e| {
                tracing::warn!(root = %root.display(), "cannot query linstor-satellite: {e:#}");
                None
            })
        } else {
            None
        };
        self.change(|s| {
            let host = s.hosts.iter_mut().find(|h| h.uuid == host_uuid).ok_or_else(|| {
                XapiError::new("HANDLE_INVALID", vec!["host".into(), opaque_ref(host_uuid)])
            })?;
            if host.power != Power::Up {
                return Err(XapiError::new(HOST_OFFLINE, vec![opaque_ref(host_uuid)]));
            }
            if starts {
                // Not installed: systemctl fails, which service.py does not check.
                host.satellite_running = version.is_some();
                if version.is_some() {
                    host.satellite_version = version;
                    if super::dynamics::take_armed(&mut s.faults.satellite_refuses, host_uuid) {
                        tracing::info!(host = %host.name, "satellite refuses the controller's version (fault)");
                        host.refuses_controller = true;
                    }
                }
            } else {
                host.satellite_running = false;
            }
            Ok(())
        })
    }

    fn controller(
        &self,
        host_name: &str,
        root: &std::path::Path,
        command: ServiceCommand,
    ) -> Result<(), XapiError> {
        let here = self.read(|s| s.controller.host == host_name);
        if !here || command == ServiceCommand::Start {
            return Ok(());
        }
        let version = controller_version_in(root);
        self.change(|s| {
            // It may have moved meanwhile (its host went away): then this call found it gone.
            if s.controller.host != host_name {
                return;
            }
            let until = s.now + s.params.controller_failover_secs;
            s.controller.refuse_until = Some(s.controller.refuse_until.map_or(until, |u| u.max(until)));
            if let Some(version) = version {
                if version != s.controller.version {
                    tracing::info!(from = %s.controller.version, to = %version, "controller comes back at another version");
                }
                s.controller.version = version;
            }
        });
        Ok(())
    }
}
