//! The methods that do more than read a record. Host and VM operations are the world's
//! (`world::ops`: XAPI's preconditions and errors live there); this file resolves references,
//! checks parameters and shapes results.

use super::args::Args;
use super::error::Failure;
use super::events::{self, Subscription};
use super::face::Xapi;
use super::linstor_manager;
use super::plugin;
use super::records::{Class, format_datetime, opaque_ref};
use super::service_plugin;
use super::value::Value;
use crate::world::Power;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn void() -> Result<Value, Failure> {
    // XAPI's `void` is an empty string on the wire.
    Ok(Value::str(""))
}

pub(super) fn login_with_password(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let user = args.str(0)?;
    let password = args.str(1)?;
    // version and originator are checked for type only: no behaviour here depends on them.
    for i in [2, 3] {
        if args.present(i) {
            args.str(i)?;
        }
    }
    // The pool's credentials are the world's (`testbed up` writes them into pool.json).
    let accepted =
        xapi.view(|v| v.state.credentials.username == user && v.state.credentials.password == password);
    if !accepted {
        return Err(Failure::authentication_failed(user));
    }
    Ok(Value::str(xapi.new_session()))
}

pub(super) fn logout(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    xapi.end_session(&args.session);
    void()
}

pub(super) fn session_get_this_host(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let session = args.str(1)?;
    if !xapi.session_valid(session) {
        return Err(Failure::handle_invalid("session", session));
    }
    // Every session here is a session on the master.
    Ok(Value::str(xapi.view(|v| opaque_ref(&v.state.pool.master))))
}

pub(super) fn host_disable(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    // `auto_enable` (default true) is accepted; the world always re-enables after a reboot,
    // which is the default and what Rolling Pool Update relies on.
    if args.present(2) {
        args.bool(2)?;
    }
    xapi.world.host_disable(&host)?;
    void()
}

pub(super) fn host_enable(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    xapi.world.host_enable(&host)?;
    void()
}

pub(super) fn host_evacuate(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    // `network` (a migration network, NULL for the management one) and the batch size are
    // accepted and do not change the simulation.
    if args.present(2) {
        let network = args.str(2)?;
        if network != super::records::NULL_REF {
            args.object(xapi, 2, Class::Network)?;
        }
    }
    if args.present(3) {
        args.int(3)?;
    }
    xapi.world.host_evacuate(&host)?;
    void()
}

pub(super) fn host_assert_can_evacuate(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    xapi.world.host_assert_can_evacuate(&host)?;
    void()
}

/// `(VM ref -> string set) map`: each VM that cannot leave, with its error as `[CODE, params…]`.
pub(super) fn host_get_vms_which_prevent_evacuation(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    let vms = xapi.world.vms_which_prevent_evacuation(&host)?;
    Ok(Value::Struct(
        vms.into_iter()
            .map(|(vm, error)| (opaque_ref(&vm), Value::strings(error)))
            .collect(),
    ))
}

pub(super) fn host_reboot(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    xapi.world.host_reboot(&host)?;
    void()
}

/// The master forwards a call for another host to that host's xapi: it fails if that host
/// is not up.
fn live_host_root(xapi: &Xapi, host: &str) -> Result<std::path::PathBuf, Failure> {
    xapi.view(|v| match v.host(host) {
        Some(h) if h.power == Power::Up => Ok(h.root.clone()),
        Some(_) => Err(Failure::host_offline(&opaque_ref(host))),
        None => Err(Failure::handle_invalid("host", &opaque_ref(host))),
    })
}

pub(super) fn host_call_plugin(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    let name = args.str(2)?;
    let function = args.str(3)?;
    let plugin_args = args.string_map(4)?;
    let root = live_host_root(xapi, &host)?;
    // Host-side work: accounted (simulated time) until the call returns.
    let _work = xapi.world.host_work(&host, &format!("{name}/{function}"));
    // Built in: the simulated linstor-manager answers where its file is installed.
    if name == linstor_manager::NAME {
        plugin::find(&root, name)?;
        return Ok(Value::String(linstor_manager::call(
            &xapi.world,
            &host,
            function,
            &plugin_args,
        )?));
    }
    // Built in, ahead of the plugin directory: the testbed has no systemd to run.
    if name == service_plugin::NAME {
        return Ok(Value::String(service_plugin::call(
            &xapi.world,
            &host,
            function,
            &plugin_args,
        )?));
    }
    // Outside the world's lock: a plugin may take its time, or call back into XAPI.
    let output = plugin::call(
        &root,
        &args.session,
        name,
        function,
        &plugin_args,
        xapi.agent_bin.as_deref(),
    )?;
    Ok(Value::String(output))
}

/// `pool.enable_ha(heartbeat_srs, configuration)`: the SR refs are checked for type only
/// (HA's statefiles are not modelled).
pub(super) fn pool_enable_ha(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let heartbeat_srs = args.strings(1)?;
    let configuration = args.string_map(2)?;
    xapi.world.pool_enable_ha(heartbeat_srs, configuration)?;
    void()
}

/// `pool.disable_ha()`.
pub(super) fn pool_disable_ha(xapi: &Xapi, _args: &Args<'_>) -> Result<Value, Failure> {
    xapi.world.pool_disable_ha()?;
    void()
}

pub(super) fn host_get_servertime(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    live_host_root(xapi, &host)?;
    Ok(Value::DateTime(xapi.view(|v| format_datetime(v.now_unix()))))
}

pub(super) fn vm_pool_migrate(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let vm = args.object(xapi, 1, Class::Vm)?;
    let host = args.object(xapi, 2, Class::Host)?;
    args.string_map(3)?;
    if xapi.view(|v| v.control_domain_host(&vm).is_some()) {
        return Err(Failure::new(
            "OPERATION_NOT_ALLOWED",
            ["This operation is not allowed on the control domain"],
        ));
    }
    xapi.world.vm_pool_migrate(&vm, &host)?;
    void()
}

fn parse_ipv4(value: &str, field: &str) -> Result<Ipv4Addr, Failure> {
    value
        .trim()
        .parse()
        .map_err(|_| Failure::new("INVALID_IP_ADDRESS_SPECIFIED", [field]))
}

/// `PIF.reconfigure_ip(self, mode, IP, netmask, gateway, DNS)`, with xapi_pif.ml's checks:
/// the mode is `None`, `DHCP` or `Static` (any case); a static address needs a valid IP and
/// netmask; gateway and DNS (comma-separated) must be addresses when given.
pub(super) fn pif_reconfigure_ip(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let pif = args.object(xapi, 1, Class::Pif)?;
    let mode = match args.str(2)?.to_ascii_lowercase().as_str() {
        "none" => "None",
        "dhcp" => "DHCP",
        "static" => "Static",
        _ => return Err(Failure::new("INVALID_VALUE", ["mode", args.str(2)?])),
    };
    let (ip, netmask, gateway, dns) = (args.str(3)?, args.str(4)?, args.str(5)?, args.str(6)?);
    if mode == "Static" {
        parse_ipv4(ip, "IP")?;
        parse_ipv4(netmask, "netmask")?;
        if !gateway.is_empty() {
            parse_ipv4(gateway, "gateway")?;
        }
        for server in dns.split(',').filter(|s| !s.trim().is_empty()) {
            parse_ipv4(server, "DNS")?;
        }
    }
    let host = xapi.view(|v| {
        v.state
            .pifs
            .iter()
            .find(|p| p.uuid == pif)
            .map(|p| p.host.clone())
    });
    if let Some(host) = host {
        live_host_root(xapi, &host)?;
    }
    xapi.world.change(|s| {
        if let Some(p) = s.pifs.iter_mut().find(|p| p.uuid == pif) {
            p.ip_configuration_mode = mode.to_string();
            // DHCP leaves the address to the DHCP server (the simulation keeps the old one).
            match mode {
                "Static" => {
                    p.ip = ip.to_string();
                    p.netmask = netmask.to_string();
                    p.gateway = gateway.to_string();
                    p.dns = dns.to_string();
                }
                "None" => {
                    p.ip.clear();
                    p.netmask.clear();
                    p.gateway.clear();
                    p.dns.clear();
                }
                _ => {}
            }
        }
    });
    void()
}

/// `network.set_MTU(self, value)`: an MTU Ethernet can carry (68 to 65535).
pub(super) fn network_set_mtu(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let network = args.object(xapi, 1, Class::Network)?;
    let value = args.int(2)?;
    let mtu = u32::try_from(value)
        .ok()
        .filter(|m| (68..=65535).contains(m))
        .ok_or_else(|| Failure::new("INVALID_VALUE", ["MTU".to_string(), value.to_string()]))?;
    xapi.world.change(|s| {
        if let Some(n) = s.networks.iter_mut().find(|n| n.uuid == network) {
            n.mtu = mtu;
        }
    });
    void()
}

/// `event.from(classes, token, timeout)`: waits (real seconds) until an object of the given
/// classes changes after `token`, or the timeout passes; returns the events and a new token.
pub(super) fn event_from(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let subs = Subscription::parse(&args.strings(1)?);
    let token = args.str(2)?;
    let timeout = args.float(3)?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
    loop {
        let generation = xapi.observe();
        let now = xapi.view(events::timestamp);
        let batch = {
            let log = xapi.lock_events();
            let batch = if token.is_empty() {
                log.everything(&subs, &now)
            } else {
                log.since(token, &subs)?
            };
            let counts = log.valid_ref_counts();
            (!batch.events.is_empty() || token.is_empty()).then(|| events::batch_value(batch, counts))
        };
        if let Some(result) = batch {
            return Ok(result);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let log = xapi.lock_events();
            let batch = log.since(token, &subs)?;
            return Ok(events::batch_value(batch, log.valid_ref_counts()));
        }
        xapi.world.wait_change(generation, left);
    }
}

/// `task.destroy(self)`.
pub(super) fn task_destroy(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let task = args.object(xapi, 1, Class::Task)?;
    xapi.destroy_task(&task)?;
    void()
}

/// `task.cancel(task)`.
pub(super) fn task_cancel(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let task = args.object(xapi, 1, Class::Task)?;
    xapi.cancel_task(&task, &args.session)?;
    void()
}
