//! Typed helpers over the client for what the network step needs: this host, its PIFs, and
//! the two calls that configure a storage NIC (`PIF.reconfigure_ip`, `network.set_MTU`).

use super::Client;
use crate::host::{Sysroot, inventory};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// An XAPI host reference and the name it goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRef {
    pub reference: String,
    pub name: String,
}

/// The fields of a PIF record the network step reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pif {
    pub reference: String,
    pub device: String,
    pub network: String,
    pub ip_configuration_mode: String,
    #[serde(rename = "IP")]
    pub ip: String,
    pub netmask: String,
    pub gateway: String,
    #[serde(rename = "DNS")]
    pub dns: String,
    /// The network's MTU (what `network.set_MTU` sets).
    pub network_mtu: u32,
    /// Whether this is the host's management interface.
    pub management: bool,
}

fn field(record: &Value, name: &str) -> String {
    record
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl Client {
    /// This host: by `INSTALLATION_UUID` in `/etc/xensource-inventory` under the sysroot,
    /// else by its hostname (`/etc/hostname` under the sysroot, else the running system's).
    pub fn this_host(&mut self, sysroot: &Sysroot) -> Result<HostRef> {
        let uuid = inventory::load(sysroot)?.and_then(|inv| inv.get("INSTALLATION_UUID").cloned());
        let reference = if let Some(uuid) = uuid.filter(|u| !u.is_empty()) {
            self.call_str("host.get_by_uuid", vec![json!(uuid)])
                .with_context(|| {
                    format!("this host (INSTALLATION_UUID {uuid}) is not in the pool XAPI serves")
                })?
        } else {
            let name = hostname(sysroot)?;
            let found = self.call("host.get_by_name_label", vec![json!(name)])?;
            let refs: Vec<String> = found
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            match refs.as_slice() {
                [one] => one.clone(),
                [] => bail!(
                    "no host named {name:?} in the pool XAPI serves ({}): check [xapi] url",
                    self.url()
                ),
                _ => bail!("several hosts are named {name:?} in the pool: cannot tell which one is this one"),
            }
        };
        let name = self.call_str("host.get_name_label", vec![json!(reference)])?;
        Ok(HostRef { reference, name })
    }

    /// The host's PIFs with their network's MTU.
    pub fn host_pifs(&mut self, host: &HostRef) -> Result<Vec<Pif>> {
        let refs = self.call("host.get_PIFs", vec![json!(host.reference)])?;
        let refs: Vec<String> = refs
            .as_array()
            .ok_or_else(|| anyhow!("host.get_PIFs answered {refs}, not a list"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut pifs = Vec::new();
        for reference in refs {
            let record = self.call("PIF.get_record", vec![json!(reference)])?;
            let network = field(&record, "network");
            let mtu = self.call("network.get_MTU", vec![json!(network)])?;
            pifs.push(Pif {
                reference,
                device: field(&record, "device"),
                network,
                ip_configuration_mode: field(&record, "ip_configuration_mode"),
                ip: field(&record, "IP"),
                netmask: field(&record, "netmask"),
                gateway: field(&record, "gateway"),
                dns: field(&record, "DNS"),
                network_mtu: number(&mtu)
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(|| anyhow!("network.get_MTU answered {mtu}"))?,
                management: record.get("management").and_then(Value::as_bool).unwrap_or(false),
            });
        }
        Ok(pifs)
    }

    /// `PIF.reconfigure_ip(pif, "Static", ip, netmask, gateway, dns)`.
    pub fn pif_reconfigure_static(
        &mut self,
        pif: &str,
        ip: &str,
        netmask: &str,
        gateway: &str,
        dns: &str,
    ) -> Result<()> {
        self.call(
            "PIF.reconfigure_ip",
            vec![
                json!(pif),
                json!("Static"),
                json!(ip),
                json!(netmask),
                json!(gateway),
                json!(dns),
            ],
        )?;
        Ok(())
    }

    /// `network.set_MTU(network, mtu)`.
    pub fn network_set_mtu(&mut self, network: &str, mtu: u32) -> Result<()> {
        self.call("network.set_MTU", vec![json!(network), json!(mtu)])?;
        Ok(())
    }
}

fn hostname(sysroot: &Sysroot) -> Result<String> {
    let path = sysroot.path("/etc/hostname");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(name) = text.lines().next().map(str::trim).filter(|n| !n.is_empty())
    {
        return Ok(name.to_string());
    }
    if sysroot.is_live() {
        let name = nix::unistd::gethostname().context("cannot read this host's hostname")?;
        return Ok(name.to_string_lossy().into_owned());
    }
    bail!(
        "cannot tell which XAPI host this is: neither {} (INSTALLATION_UUID) nor {} says",
        sysroot.path(inventory::PATH).display(),
        path.display()
    )
}
