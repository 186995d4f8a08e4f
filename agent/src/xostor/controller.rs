//! Where the LINSTOR controller is. Under drbd-reactor it runs on whichever host has promoted
//! `xcp-persistent-database`, and moves when that host goes down, so an XOSTOR pool has no
//! fixed controller address. The agent finds it the way Vates' driver does (docs/xostor.md §5):
//! it asks each host's `linstor-manager hasControllerRunning`, and otherwise tries each pool
//! host's address on the controller's port. All the pool's hosts become the client's URL list
//! (the host that answered first): when the controller moves, the client finds it on the next
//! URL that answers. `[controller] urls`, when given, are used as they are.

use super::manager;
use super::sr::XostorSr;
use crate::context::Context;
use crate::settings::ControllerSettings;
use crate::xapi::{self, Client, pool::PoolHost};
use anyhow::Result;
use std::time::Instant;

/// The controller's REST port, plain and with TLS.
pub const PORT: u16 = 3370;
pub const TLS_PORT: u16 = 3371;

/// The URL of the controller on `host` (its XAPI `address`).
pub fn url_on(host: &PoolHost, tls: bool) -> String {
    let (scheme, port) = if tls { ("https", TLS_PORT) } else { ("http", PORT) };
    let address = if host.address.contains(':') {
        format!("[{}]", host.address)
    } else {
        host.address.clone()
    };
    format!("{scheme}://{address}:{port}")
}

/// Every live host's controller URL, the host(s) whose `hasControllerRunning` says yes first.
pub fn urls(xapi: &mut Client, hosts: &[PoolHost], tls: bool) -> Vec<String> {
    let mut running = Vec::new();
    let mut others = Vec::new();
    for host in hosts.iter().filter(|h| !h.address.is_empty()) {
        let here = host.live
            && manager::has_controller_running(xapi, &host.reference, &host.name_label) == Some(true);
        if here {
            running.push(url_on(host, tls));
        } else {
            others.push(url_on(host, tls));
        }
    }
    running.extend(others);
    running
}

/// The controller to talk to, and the pool's XOSTOR SR when there is one.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: ControllerSettings,
    pub xostor: Option<XostorSr>,
}

/// The controller settings a step talks to LINSTOR with: `[controller]` with its urls, or, on
/// a pool with an XOSTOR SR, the discovered URLs (with `[controller]`'s other keys when the
/// section is there). None: no urls and no XOSTOR SR (nothing to talk to yet).
pub fn resolve(ctx: &Context) -> Result<Option<Resolved>> {
    resolve_by(ctx, None)
}

/// [`resolve`], with every XAPI call of it clipped to `deadline` (a step's `--timeout`).
pub fn resolve_by(ctx: &Context, deadline: Option<Instant>) -> Result<Option<Resolved>> {
    let configured = ctx.settings.controller.clone();
    let mut client = match ctx.settings.xapi()? {
        Some(x) => {
            let mut client = Client::new(xapi::Settings::from_settings(x)?)?;
            client.set_deadline(deadline);
            Some(client)
        }
        None => None,
    };
    let xostor = match client.as_mut() {
        Some(c) => super::sr::find(c)?,
        None => None,
    };
    if let Some(c) = configured.as_ref().filter(|c| !c.urls.is_empty()) {
        return Ok(Some(Resolved {
            settings: c.clone(),
            xostor,
        }));
    }
    let (Some(client), Some(_)) = (client.as_mut(), xostor.as_ref()) else {
        return Ok(None);
    };
    let tls = configured
        .as_ref()
        .is_some_and(|c| c.identity.is_some() || c.ca_file.is_some());
    let hosts = client.pool_hosts()?;
    let urls = urls(client, &hosts, tls);
    client.logout();
    let mut settings = configured.unwrap_or_else(|| ControllerSettings::with_urls(Vec::new()));
    settings.urls = urls;
    Ok(Some(Resolved { settings, xostor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_of_a_host_is_its_address_on_the_controller_port() {
        let host = PoolHost {
            reference: "r".into(),
            uuid: "u".into(),
            name_label: "h".into(),
            hostname: "h".into(),
            address: "10.0.0.11".into(),
            enabled: true,
            live: true,
            memory_free: 0,
            boot_time: String::new(),
        };
        assert_eq!(url_on(&host, false), "http://10.0.0.11:3370");
        assert_eq!(url_on(&host, true), "https://10.0.0.11:3371");
        let v6 = PoolHost {
            address: "fd00::11".into(),
            ..host
        };
        assert_eq!(url_on(&v6, false), "http://[fd00::11]:3370");
    }
}
