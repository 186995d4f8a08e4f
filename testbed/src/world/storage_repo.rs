//! The LINSTOR SR's PBDs through XAPI (`PBD.create`, `plug`, `unplug`, `destroy`), with
//! XAPI's checks and the driver's attach (`attach::plug_refusal`), and what the other storage
//! operations ask of the SR: which one is the LINSTOR SR, its group name and resource groups.
//!
//! XAPI's checks, as xapi_pbd.ml raises them: one PBD per host and SR (`PBD_EXISTS`), a
//! plugged PBD is not destroyed (`OPERATION_NOT_ALLOWED`), a PBD is not unplugged under a
//! running VM's disk (`VDI_IN_USE`). Plugging or unplugging a plugged (unplugged) PBD does
//! nothing.

use std::collections::BTreeMap;

use super::attach::plug_refusal;
use super::model::*;
use super::shared::World;
use super::xapi_error::{XapiError, opaque_ref};

pub const PBD_EXISTS: &str = "PBD_EXISTS";
pub const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";
pub const VDI_IN_USE: &str = "VDI_IN_USE";

fn handle_invalid(class: &str, uuid: &str) -> XapiError {
    XapiError::new("HANDLE_INVALID", vec![class.into(), opaque_ref(uuid)])
}

/// The PBD's index in the state.
fn pbd_index(state: &State, uuid: &str) -> Result<usize, XapiError> {
    state
        .pbds
        .iter()
        .position(|p| p.uuid == uuid)
        .ok_or_else(|| handle_invalid("PBD", uuid))
}

/// The LINSTOR SR (type `linstor`), if the pool has one.
pub fn linstor_sr(state: &State) -> Option<&Sr> {
    state.srs.iter().find(|s| s.sr_type == "linstor")
}

/// The `group-name` of an SR: its PBDs' (docs/xostor.md §1.5 reads it there too).
pub fn group_name(state: &State, sr: &str) -> Option<String> {
    state
        .pbds
        .iter()
        .filter(|p| p.sr == sr)
        .find_map(|p| p.device_config.get("group-name").cloned())
}

/// The SR's storage pool and main resource group: `xcp-sr-<group-name, / → _>` (§6.1).
pub fn sr_group(group_name: &str) -> String {
    format!("xcp-sr-{}", group_name.replace('/', "_"))
}

/// The SR's HA resource group: `xcp-ha-<group-name, / → _>`.
pub fn ha_group(group_name: &str) -> String {
    format!("xcp-ha-{}", group_name.replace('/', "_"))
}

/// Running VMs resident on `host` with a VBD on a VDI of `sr`: (VM, VDI).
pub fn disks_in_use_on(state: &State, host: &str, sr: &str) -> Vec<(String, String)> {
    state
        .vbds
        .iter()
        .filter_map(|b| {
            let vm = state.vms.iter().find(|v| v.uuid == b.vm)?;
            let vdi = state.vdis.iter().find(|v| v.uuid == b.vdi && v.sr == sr)?;
            (vm.power == VmPower::Running && vm.resident_on.as_deref() == Some(host))
                .then(|| (vm.uuid.clone(), vdi.uuid.clone()))
        })
        .collect()
}

/// A new PBD of `sr` on `host`, unplugged.
pub fn new_pbd(
    state: &mut State,
    host: &str,
    sr: &str,
    device_config: BTreeMap<String, String>,
    other_config: BTreeMap<String, String>,
) -> Result<String, XapiError> {
    if let Some(existing) = state.pbds.iter().find(|p| p.host == host && p.sr == sr) {
        return Err(XapiError::new(
            PBD_EXISTS,
            vec![opaque_ref(sr), opaque_ref(host), opaque_ref(&existing.uuid)],
        ));
    }
    let uuid = state.fresh_uuid("pbd");
    state.pbds.push(Pbd {
        uuid: uuid.clone(),
        host: host.to_owned(),
        sr: sr.to_owned(),
        device_config,
        currently_attached: false,
        other_config,
    });
    Ok(uuid)
}

/// Plugs the PBD if it can be (see `attach`); a plugged one stays plugged.
pub fn plug(state: &mut State, pbd: &str) -> Result<(), XapiError> {
    let i = pbd_index(state, pbd)?;
    if state.pbds[i].currently_attached {
        return Ok(());
    }
    if let Some(refusal) = plug_refusal(state, &state.pbds[i]) {
        return Err(refusal);
    }
    state.pbds[i].currently_attached = true;
    Ok(())
}

/// Unplugs the PBD (refused under a running VM's disk).
pub fn unplug(state: &mut State, pbd: &str) -> Result<(), XapiError> {
    let i = pbd_index(state, pbd)?;
    if !state.pbds[i].currently_attached {
        return Ok(());
    }
    let (host, sr) = (state.pbds[i].host.clone(), state.pbds[i].sr.clone());
    if let Some((_, vdi)) = disks_in_use_on(state, &host, &sr).first() {
        return Err(XapiError::new(VDI_IN_USE, vec![opaque_ref(vdi), "unplug".into()]));
    }
    state.pbds[i].currently_attached = false;
    Ok(())
}

/// Destroys an unplugged PBD.
pub fn destroy(state: &mut State, pbd: &str) -> Result<(), XapiError> {
    let i = pbd_index(state, pbd)?;
    if state.pbds[i].currently_attached {
        return Err(XapiError::new(
            OPERATION_NOT_ALLOWED,
            vec!["PBD is currently attached".into()],
        ));
    }
    state.pbds.remove(i);
    Ok(())
}

impl World {
    /// `PBD.create({host, SR, device_config, other_config})`: a new, unplugged PBD.
    pub fn pbd_create(
        &self,
        host: &str,
        sr: &str,
        device_config: BTreeMap<String, String>,
        other_config: BTreeMap<String, String>,
    ) -> Result<String, XapiError> {
        self.change(|s| {
            if !s.hosts.iter().any(|h| h.uuid == host) {
                return Err(handle_invalid("host", host));
            }
            if !s.srs.iter().any(|x| x.uuid == sr) {
                return Err(handle_invalid("SR", sr));
            }
            new_pbd(s, host, sr, device_config, other_config)
        })
    }

    /// `PBD.plug`: the driver attaches the SR on the PBD's host (see `attach`).
    pub fn pbd_plug(&self, pbd: &str) -> Result<(), XapiError> {
        self.change(|s| plug(s, pbd))
    }

    /// `PBD.unplug`.
    pub fn pbd_unplug(&self, pbd: &str) -> Result<(), XapiError> {
        self.change(|s| unplug(s, pbd))
    }

    /// `PBD.destroy`.
    pub fn pbd_destroy(&self, pbd: &str) -> Result<(), XapiError> {
        self.change(|s| destroy(s, pbd))
    }
}
