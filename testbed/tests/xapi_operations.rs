//! Host and VM operations through the simulated XAPI (their semantics are the world's; this
//! checks the face wires them), network settings, and pool HA on and off.

mod xapi_support;

use testbed::xapi_face::Value;
use xapi_support::*;

#[test]
fn disable_evacuate_reboot_enable() {
    let p = pool(3);
    let session = p.login();
    let host = p.host_refs(&session)[1].clone();
    assert!(!p.guests_on(&session, &host).is_empty());

    assert_eq!(
        p.fails(&session, "host.reboot", &[s(&host)]),
        strings(&["HOST_NOT_DISABLED"])
    );
    p.ok(&session, "host.disable", &[s(&host)]);
    assert_eq!(
        p.ok(&session, "host.get_enabled", &[s(&host)]),
        Value::Bool(false)
    );
    let in_use = p.fails(&session, "host.reboot", &[s(&host)]);
    assert_eq!(in_use[0], "HOST_IN_USE");

    p.ok(&session, "host.assert_can_evacuate", &[s(&host)]);
    assert_eq!(
        p.ok(&session, "host.get_vms_which_prevent_evacuation", &[s(&host)]),
        Value::Struct(vec![])
    );
    p.ok(&session, "host.evacuate", &[s(&host)]);
    assert!(p.guests_on(&session, &host).is_empty());

    p.ok(&session, "host.reboot", &[s(&host)]);
    let metrics = p.field(&session, "host", &host, "metrics");
    assert_eq!(
        p.ok(&session, "host_metrics.get_live", std::slice::from_ref(&metrics)),
        Value::Bool(false)
    );
    // The master cannot reach a host that is away.
    assert_eq!(
        p.fails(
            &session,
            "host.call_plugin",
            &[s(&host), s("x"), s("f"), Value::Struct(vec![])]
        ),
        strings(&["HOST_OFFLINE", &host])
    );
    p.xapi.world().skip(120.0);
    assert_eq!(
        p.ok(&session, "host_metrics.get_live", &[metrics]),
        Value::Bool(true)
    );
    // Disabled before the reboot, enabled after it (XAPI's auto_enable).
    assert_eq!(p.ok(&session, "host.get_enabled", &[s(&host)]), Value::Bool(true));
    p.ok(&session, "host.disable", &[s(&host), Value::Bool(true)]);
    p.ok(&session, "host.enable", &[s(&host)]);
    assert_eq!(p.ok(&session, "host.get_enabled", &[s(&host)]), Value::Bool(true));
}

#[test]
fn evacuation_blocked_and_migration_without_memory() {
    // 12 GiB hosts less 4 GiB for dom0: the second host, with two 4 GiB VMs, is full; the
    // others have room for one more.
    let p = pool_with(3, "host_memory_gib = 12.0");
    let session = p.login();
    let hosts = p.host_refs(&session);
    for other in &hosts[1..] {
        p.ok(&session, "host.disable", &[s(other)]);
    }
    let cannot = p.fails(&session, "host.assert_can_evacuate", &[s(&hosts[0])]);
    assert_eq!(cannot[0], "CANNOT_EVACUATE_HOST");
    let blocking = p.ok(&session, "host.get_vms_which_prevent_evacuation", &[s(&hosts[0])]);
    let (vm, error) = &blocking.as_struct().unwrap()[0];
    assert!(vm.starts_with("OpaqueRef:"));
    assert_eq!(error.as_strings().unwrap()[0], "NO_HOSTS_AVAILABLE");
    assert_eq!(
        p.fails(&session, "host.evacuate", &[s(&hosts[0])])[0],
        "NO_HOSTS_AVAILABLE"
    );

    p.ok(&session, "host.enable", &[s(&hosts[1])]);
    let vm = p.guests_on(&session, &hosts[0])[0].clone();
    let full = p.fails(
        &session,
        "VM.pool_migrate",
        &[s(&vm), s(&hosts[1]), Value::Struct(vec![])],
    );
    assert_eq!(full[0], "HOST_NOT_ENOUGH_FREE_MEMORY");
    assert_eq!(full.len(), 3, "[needed, available]");

    p.ok(&session, "host.enable", &[s(&hosts[2])]);
    let options = Value::Struct(vec![("live".into(), s("true"))]);
    p.ok(&session, "VM.pool_migrate", &[s(&vm), s(&hosts[2]), options]);
    assert!(p.guests_on(&session, &hosts[2]).contains(&vm));
    let dom0 = p.field(&session, "host", &hosts[0], "control_domain");
    assert_eq!(
        p.fails(
            &session,
            "VM.pool_migrate",
            &[dom0, s(&hosts[2]), Value::Struct(vec![])]
        )[0],
        "OPERATION_NOT_ALLOWED"
    );
}

#[test]
fn pif_reconfigure_ip_and_network_mtu() {
    let p = pool(2);
    let session = p.login();
    let pifs = p.ok(&session, "PIF.get_all", &[]).as_strings().unwrap();
    let eth1 = pifs
        .iter()
        .find(|r| p.field(&session, "PIF", r, "device") == s("eth1"))
        .unwrap()
        .clone();
    let set = |ip: &str, mask: &str| vec![s(&eth1), s("static"), s(ip), s(mask), s(""), s("")];
    assert_eq!(
        p.fails(
            &session,
            "PIF.reconfigure_ip",
            &set("10.1.0.300", "255.255.255.0")
        ),
        strings(&["INVALID_IP_ADDRESS_SPECIFIED", "IP"])
    );
    assert_eq!(
        p.fails(&session, "PIF.reconfigure_ip", &set("10.1.0.11", "x")),
        strings(&["INVALID_IP_ADDRESS_SPECIFIED", "netmask"])
    );
    p.ok(&session, "PIF.reconfigure_ip", &set("10.1.0.11", "255.255.255.0"));
    let record = p.ok(&session, "PIF.get_record", &[s(&eth1)]);
    assert_eq!(record.get("ip_configuration_mode"), Some(&s("Static")));
    assert_eq!(record.get("IP"), Some(&s("10.1.0.11")));

    let network = record.get("network").unwrap().clone();
    // XML-RPC clients send an API int as a decimal string; JSON clients as a number.
    p.ok(&session, "network.set_MTU", &[network.clone(), s("9000")]);
    assert_eq!(
        p.ok(&session, "network.get_MTU", std::slice::from_ref(&network)),
        Value::Int(9000)
    );
    assert_eq!(p.ok(&session, "PIF.get_MTU", &[s(&eth1)]), Value::Int(9000));
    p.ok(&session, "network.set_MTU", &[network.clone(), Value::Int(1500)]);
    assert_eq!(
        p.fails(&session, "network.set_MTU", &[network, Value::Int(10)]),
        strings(&["INVALID_VALUE", "MTU", "10"])
    );
}

#[test]
fn pool_enable_and_disable_ha() {
    // A reboot long enough that the host is still away when enable_ha is tried (the clock
    // runs 1000 times real time).
    let p = pool_with(3, "[durations]\nreboot_secs = 3600.0");
    let session = p.login();
    let pool_ref = p.ok(&session, "pool.get_all", &[]).as_strings().unwrap()[0].clone();
    assert_eq!(
        p.field(&session, "pool", &pool_ref, "ha_enabled"),
        Value::Bool(false)
    );
    assert_eq!(
        p.fails(&session, "pool.disable_ha", &[]),
        strings(&["HA_NOT_ENABLED"])
    );
    // Pool-wide calls without a pool reference, as in the datamodel.
    assert_eq!(
        p.fails(&session, "pool.enable_ha", &[s(&pool_ref)]),
        strings(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "pool.enable_ha", "3", "2"])
    );
    let srs = Value::Array(vec![s("OpaqueRef:heartbeat-sr")]);
    let configuration = Value::Struct(vec![("timeout".into(), s("60"))]);
    p.ok(&session, "pool.enable_ha", &[srs.clone(), configuration.clone()]);
    let record = p.ok(&session, "pool.get_record", &[s(&pool_ref)]);
    assert_eq!(record.get("ha_enabled"), Some(&Value::Bool(true)));
    assert_eq!(record.get("ha_configuration"), Some(&configuration));
    assert_eq!(
        record
            .get("ha_statefiles")
            .and_then(Value::as_strings)
            .map(|v| v.len()),
        Some(1)
    );
    assert_eq!(
        p.fails(&session, "pool.enable_ha", &[srs.clone(), configuration.clone()]),
        strings(&["HA_IS_ENABLED"])
    );

    // host.reboot on an HA pool behaves as without HA.
    let host = p.host_refs(&session)[1].clone();
    p.ok(&session, "host.disable", &[s(&host)]);
    p.ok(&session, "host.evacuate", &[s(&host)]);
    p.ok(&session, "host.reboot", &[s(&host)]);
    // Enabling HA needs every host live.
    p.ok(&session, "pool.disable_ha", &[]);
    assert_eq!(
        p.field(&session, "pool", &pool_ref, "ha_enabled"),
        Value::Bool(false)
    );
    assert_eq!(
        p.fails(&session, "pool.enable_ha", &[srs.clone(), configuration.clone()]),
        strings(&["HOST_OFFLINE", &host])
    );
    p.xapi.world().skip(3700.0);
    p.ok(
        &session,
        "pool.enable_ha",
        &[Value::Array(vec![]), Value::Struct(vec![])],
    );
    assert_eq!(
        p.field(&session, "pool", &pool_ref, "ha_enabled"),
        Value::Bool(true)
    );
}

#[test]
fn a_scenario_can_start_with_ha_on() {
    let p = pool_with(2, "ha_enabled = true");
    let session = p.login();
    let pool_ref = p.ok(&session, "pool.get_all", &[]).as_strings().unwrap()[0].clone();
    assert_eq!(
        p.field(&session, "pool", &pool_ref, "ha_enabled"),
        Value::Bool(true)
    );
    p.ok(&session, "pool.disable_ha", &[]);
    assert_eq!(
        p.field(&session, "pool", &pool_ref, "ha_enabled"),
        Value::Bool(false)
    );
}
