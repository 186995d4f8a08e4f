//! Typed helpers for XAPI's storage classes, as XOSTOR uses them: SRs (`SR.create` of type
//! `linstor`), their PBDs (one per host, plugged when the host can reach the SR), and the dom0
//! memory of each host.

use super::Client;
use super::pool::{flag, number, records, text};
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// An SR as the agent reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SrRecord {
    pub reference: String,
    pub uuid: String,
    pub name_label: String,
    /// `linstor` for XOSTOR.
    pub sr_type: String,
    pub shared: bool,
}

/// A PBD: an SR on one host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PbdRecord {
    pub reference: String,
    pub uuid: String,
    pub host: String,
    pub sr: String,
    pub device_config: BTreeMap<String, String>,
    pub currently_attached: bool,
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How long XAPI may take to create an SR (the driver prepares every host, starts the
/// controller and builds the database volume).
const SR_CREATE_TIMEOUT: Duration = Duration::from_secs(1800);
/// How long a PBD plug may take (the driver reconnects to LINSTOR, retrying for a while).
const PBD_PLUG_TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
    /// Every SR of the pool.
    pub fn srs(&mut self) -> Result<Vec<SrRecord>> {
        let all = records(self.call("SR.get_all_records", vec![])?, "SR")?;
        let mut out: Vec<SrRecord> = all
            .into_iter()
            .map(|(reference, r)| SrRecord {
                reference,
                uuid: text(&r, "uuid"),
                name_label: text(&r, "name_label"),
                sr_type: text(&r, "type"),
                shared: flag(&r, "shared"),
            })
            .collect();
        out.sort_by(|a, b| a.name_label.cmp(&b.name_label));
        Ok(out)
    }

    /// Every PBD of the pool.
    pub fn pbds(&mut self) -> Result<Vec<PbdRecord>> {
        let all = records(self.call("PBD.get_all_records", vec![])?, "PBD")?;
        Ok(all
            .into_iter()
            .map(|(reference, r)| PbdRecord {
                reference,
                uuid: text(&r, "uuid"),
                host: text(&r, "host"),
                sr: text(&r, "SR"),
                device_config: string_map(r.get("device_config")),
                currently_attached: flag(&r, "currently_attached"),
            })
            .collect())
    }

    /// `SR.create` on `host` (the pool master for a shared SR); the new SR's reference.
    pub fn sr_create(
        &mut self,
        host: &str,
        device_config: &BTreeMap<String, String>,
        name_label: &str,
        name_description: &str,
        sr_type: &str,
    ) -> Result<String> {
        let value = self.call_with_timeout(
            "SR.create",
            vec![
                json!(host),
                json!(device_config),
                json!("0"),
                json!(name_label),
                json!(name_description),
                json!(sr_type),
                json!("user"),
                json!(true),
                json!({}),
            ],
            SR_CREATE_TIMEOUT,
        )?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// `PBD.create` for `host` on `sr`; the new PBD's reference.
    pub fn pbd_create(
        &mut self,
        host: &str,
        sr: &str,
        device_config: &BTreeMap<String, String>,
    ) -> Result<String> {
        let record = json!({"host": host, "SR": sr, "device_config": device_config, "other_config": {}});
        self.call_str("PBD.create", vec![record])
    }

    pub fn pbd_plug(&mut self, pbd: &str) -> Result<()> {
        self.call_with_timeout("PBD.plug", vec![json!(pbd)], PBD_PLUG_TIMEOUT)
            .map(|_| ())
    }

    /// Each host's dom0 memory (its control domain's `memory_target`, else its static
    /// maximum), by host reference.
    pub fn dom0_memory(&mut self) -> Result<BTreeMap<String, u64>> {
        let vms = records(self.call("VM.get_all_records", vec![])?, "VM")?;
        Ok(vms
            .values()
            .filter(|v| flag(v, "is_control_domain"))
            .map(|v| {
                let memory = match number(v, "memory_target") {
                    0 => number(v, "memory_static_max"),
                    m => m,
                };
                (text(v, "resident_on"), memory)
            })
            .collect())
    }
}
