//! The storage NIC: its static address and MTU. On XCP-ng the network belongs to XAPI
//! (`PIF.reconfigure_ip`, `network.set_MTU`: anything set with `ip` is reverted); elsewhere
//! (no `[xapi]`) with iproute2 (`ip addr replace`, `ip link set dev X mtu N`), live only.

use crate::exec;
use crate::xapi::{self, Pif};
use anyhow::{Context, Result, anyhow};
use std::process::Command;

pub use crate::cidr::Cidr;

/// One change to the storage NIC, from → to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NicChange {
    pub what: &'static str,
    pub device: String,
    pub from: String,
    pub to: String,
    /// How it is made: the XAPI call or the `ip` command.
    pub how: String,
}

/// What the storage NIC should be.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub device: String,
    pub address: Option<Cidr>,
    pub mtu: Option<u32>,
}

/// Through XAPI: the changes this host's PIF needs, and the PIF.
pub fn plan_xapi(pifs: &[Pif], wanted: &Wanted) -> Result<(Pif, Vec<NicChange>)> {
    let pif = pifs
        .iter()
        .find(|p| p.device == wanted.device)
        .cloned()
        .ok_or_else(|| {
            let devices: Vec<&str> = pifs.iter().map(|p| p.device.as_str()).collect();
            anyhow!(
                "this host has no PIF for storage_interface {:?} in XAPI (it has {}): fix [network] storage_interface",
                wanted.device,
                devices.join(", ")
            )
        })?;
    let mut changes = Vec::new();
    if let Some(addr) = wanted.address {
        let now = Cidr::from_netmask(&pif.ip, &pif.netmask);
        if pif.ip_configuration_mode != "Static" || now != Some(addr) {
            let from = match now {
                Some(c) => format!("{} {c}", pif.ip_configuration_mode),
                None => pif.ip_configuration_mode.clone(),
            };
            changes.push(NicChange {
                what: "address",
                device: pif.device.clone(),
                from,
                to: format!("Static {addr}"),
                how: format!("PIF.reconfigure_ip(Static, {}, {})", addr.addr, addr.netmask()),
            });
        }
    }
    if let Some(mtu) = wanted.mtu
        && pif.network_mtu != mtu
    {
        changes.push(NicChange {
            what: "mtu",
            device: pif.device.clone(),
            from: pif.network_mtu.to_string(),
            to: mtu.to_string(),
            how: format!("network.set_MTU({mtu})"),
        });
    }
    Ok((pif, changes))
}

pub fn apply_xapi(
    client: &mut xapi::Client,
    pif: &Pif,
    changes: &[NicChange],
    wanted: &Wanted,
) -> Result<()> {
    for change in changes {
        match change.what {
            "address" => {
                let addr = wanted.address.context("address change without an address")?;
                // The storage network keeps whatever gateway and DNS the PIF has (usually none).
                client
                    .pif_reconfigure_static(
                        &pif.reference,
                        &addr.addr.to_string(),
                        &addr.netmask().to_string(),
                        &pif.gateway,
                        &pif.dns,
                    )
                    .with_context(|| format!("cannot set {} to {addr} through XAPI", pif.device))?;
            }
            "mtu" => {
                let mtu = wanted.mtu.context("MTU change without an MTU")?;
                client.network_set_mtu(&pif.network, mtu).with_context(|| {
                    format!("cannot set the MTU of {}'s network through XAPI", pif.device)
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The device's IPv4 addresses and MTU, from `ip -o`.
fn ip_state(device: &str) -> Result<(Vec<Cidr>, u32)> {
    let link = exec::stdout(Command::new("ip").args(["-o", "link", "show", "dev", device]))
        .with_context(|| format!("storage_interface {device:?} is not a network device here"))?;
    let words: Vec<&str> = link.split_whitespace().collect();
    let mtu = words
        .windows(2)
        .find(|w| w[0] == "mtu")
        .and_then(|w| w[1].parse().ok())
        .ok_or_else(|| anyhow!("`ip -o link show dev {device}` printed no mtu: {link}"))?;
    let addrs = exec::stdout(Command::new("ip").args(["-o", "-4", "addr", "show", "dev", device]))?;
    let mut found = Vec::new();
    for line in addrs.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(w) = words.windows(2).find(|w| w[0] == "inet")
            && let Ok(c) = Cidr::parse(w[1])
        {
            found.push(c);
        }
    }
    Ok((found, mtu))
}

/// Through iproute2 (live only): the changes the device needs.
pub fn plan_iproute(wanted: &Wanted) -> Result<Vec<NicChange>> {
    let (addrs, mtu) = ip_state(&wanted.device)?;
    let mut changes = Vec::new();
    if let Some(addr) = wanted.address
        && !addrs.contains(&addr)
    {
        let from = if addrs.is_empty() {
            "none".to_string()
        } else {
            addrs.iter().map(Cidr::to_string).collect::<Vec<_>>().join(", ")
        };
        changes.push(NicChange {
            what: "address",
            device: wanted.device.clone(),
            from,
            to: addr.to_string(),
            how: format!("ip addr replace {addr} dev {}", wanted.device),
        });
    }
    if let Some(want) = wanted.mtu
        && want != mtu
    {
        changes.push(NicChange {
            what: "mtu",
            device: wanted.device.clone(),
            from: mtu.to_string(),
            to: want.to_string(),
            how: format!("ip link set dev {} mtu {want}", wanted.device),
        });
    }
    Ok(changes)
}

pub fn apply_iproute(changes: &[NicChange], wanted: &Wanted) -> Result<()> {
    // MTU first: an address is of no use on a link that cannot carry the frames.
    for change in changes.iter().filter(|c| c.what == "mtu") {
        let mtu = wanted.mtu.context("MTU change without an MTU")?;
        exec::run(Command::new("ip").args(["link", "set", "dev", &change.device, "mtu", &mtu.to_string()]))?;
    }
    for change in changes.iter().filter(|c| c.what == "address") {
        let addr = wanted.address.context("address change without an address")?;
        exec::run(Command::new("ip").args(["addr", "replace", &addr.to_string(), "dev", &change.device]))?;
        exec::run(Command::new("ip").args(["link", "set", "dev", &change.device, "up"]))?;
    }
    Ok(())
}

/// Validates `storage_address`.
/// The address of `/etc/xensource-inventory`'s `MANAGEMENT_INTERFACE` (`ip -o -4 addr show
/// dev …`), on a live host; `None` under `--root` or when there is none.
pub fn management_cidr(sysroot: &crate::host::Sysroot) -> Result<Option<Cidr>> {
    if !sysroot.is_live() {
        return Ok(None);
    }
    let Some(device) =
        crate::host::inventory::load(sysroot)?.and_then(|i| i.get("MANAGEMENT_INTERFACE").cloned())
    else {
        return Ok(None);
    };
    let out = crate::exec::run_unchecked(
        std::process::Command::new("ip").args(["-o", "-4", "addr", "show", "dev", &device]),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == "inet")
            .and_then(|w| Cidr::parse(w[1]).ok())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        let c = Cidr::parse("10.0.0.11/24").unwrap();
        assert_eq!(c.netmask().to_string(), "255.255.255.0");
        assert_eq!(c.network(), "10.0.0.0/24");
        assert_eq!(Cidr::from_netmask("10.0.0.11", "255.255.255.0"), Some(c));
        assert_eq!(Cidr::from_netmask("", ""), None);
        assert!(Cidr::parse("10.0.0.11").is_err());
        assert!(Cidr::parse("10.0.0.11/33").is_err());
    }

    fn pif(mode: &str, ip: &str, mask: &str, mtu: u32) -> Pif {
        Pif {
            reference: "OpaqueRef:p".into(),
            device: "eth1".into(),
            network: "OpaqueRef:n".into(),
            ip_configuration_mode: mode.into(),
            ip: ip.into(),
            netmask: mask.into(),
            gateway: String::new(),
            dns: String::new(),
            network_mtu: mtu,
            management: false,
        }
    }

    #[test]
    fn xapi_plan_shows_from_and_to_and_nothing_when_done() {
        let wanted = Wanted {
            device: "eth1".into(),
            address: Some(Cidr::parse("10.0.0.11/24").unwrap()),
            mtu: Some(9000),
        };
        let (_, changes) = plan_xapi(&[pif("None", "", "", 1500)], &wanted).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].from, "None");
        assert_eq!(changes[0].to, "Static 10.0.0.11/24");
        assert_eq!(
            (changes[1].from.as_str(), changes[1].to.as_str()),
            ("1500", "9000")
        );
        let (_, none) = plan_xapi(&[pif("Static", "10.0.0.11", "255.255.255.0", 9000)], &wanted).unwrap();
        assert!(none.is_empty());
        let err = plan_xapi(&[], &wanted).unwrap_err();
        assert!(err.to_string().contains("eth1"), "{err}");
    }
}
