//! The pool's XOSTOR SR as XAPI shows it: the SR of type `linstor` (the driver allows one per
//! pool), its PBDs, and what their `device_config` says (`group-name`, `redundancy`,
//! `provisioning`).

use super::SR_TYPE;
use crate::xapi::Client;
use crate::xapi::storage::{PbdRecord, SrRecord};
use anyhow::{Result, bail};

#[derive(Debug, Clone, serde::Serialize)]
pub struct XostorSr {
    pub sr: SrRecord,
    pub pbds: Vec<PbdRecord>,
    /// `VG` (thick) or `VG/LV` (thin).
    pub group_name: String,
    pub redundancy: String,
    pub provisioning: String,
}

impl XostorSr {
    /// The PBD of `host` (a host reference).
    pub fn pbd_of(&self, host: &str) -> Option<&PbdRecord> {
        self.pbds.iter().find(|p| p.host == host)
    }

    /// The device-config a new host's PBD gets: what the other PBDs have (as `addHost` takes
    /// `provisioning` from another host's PBD and the redundancy from LINSTOR).
    pub fn device_config(&self) -> std::collections::BTreeMap<String, String> {
        std::collections::BTreeMap::from([
            ("group-name".to_string(), self.group_name.clone()),
            ("redundancy".to_string(), self.redundancy.clone()),
            ("provisioning".to_string(), self.provisioning.clone()),
        ])
    }
}

/// The pool's XOSTOR SR, if it has one.
pub fn find(xapi: &mut Client) -> Result<Option<XostorSr>> {
    let linstor: Vec<SrRecord> = xapi.srs()?.into_iter().filter(|s| s.sr_type == SR_TYPE).collect();
    let sr = match linstor.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        many => bail!(
            "the pool has {} SRs of type {SR_TYPE} ({}): Vates' driver allows one per pool",
            many.len(),
            many.iter()
                .map(|s| s.name_label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let pbds: Vec<PbdRecord> = xapi
        .pbds()?
        .into_iter()
        .filter(|p| p.sr == sr.reference)
        .collect();
    let value = |key: &str| {
        pbds.iter()
            .find_map(|p| p.device_config.get(key).cloned())
            .unwrap_or_default()
    };
    let group_name = value("group-name");
    if group_name.is_empty() {
        bail!(
            "the {SR_TYPE} SR {} has no PBD with a group-name in its device-config",
            sr.name_label
        );
    }
    let (redundancy, provisioning) = (value("redundancy"), value("provisioning"));
    Ok(Some(XostorSr {
        sr,
        pbds,
        group_name,
        redundancy,
        provisioning: if provisioning.is_empty() {
            "thin".into()
        } else {
            provisioning
        },
    }))
}
