//! The simulated XAPI's sessions, its generic error shapes (unknown methods, parameter counts,
//! handles), injected faults, and the records of every class.

mod xapi_support;

use testbed::world::XapiFault;
use testbed::xapi_face::Value;
use xapi_support::*;

#[test]
fn login_logout_and_session_errors() {
    let p = pool(1);
    let bad = p
        .call(
            "session.login_with_password",
            &[s(USER), s("wrong"), s("1.0"), s("t")],
        )
        .unwrap_err();
    assert_eq!(
        bad.description(),
        strings(&["SESSION_AUTHENTICATION_FAILED", USER, "Authentication failure"])
    );
    // version and originator have defaults and may be left out.
    assert!(
        p.call("session.login_with_password", &[s(USER), s(PASSWORD)])
            .is_ok()
    );

    let session = p.login();
    assert_eq!(
        p.fails("OpaqueRef:nope", "host.get_all", &[]),
        strings(&["SESSION_INVALID", "OpaqueRef:nope"])
    );
    p.ok(&session, "session.logout", &[]);
    assert_eq!(
        p.fails(&session, "pool.get_all", &[]),
        strings(&["SESSION_INVALID", &session])
    );
}

#[test]
fn unknown_methods_counts_and_handles() {
    let p = pool(1);
    let session = p.login();
    assert_eq!(
        p.fails(&session, "host.frobnicate", &[]),
        strings(&["MESSAGE_METHOD_UNKNOWN", "host.frobnicate"])
    );
    assert_eq!(
        p.fails(&session, "nosuch.get_all", &[]),
        strings(&["MESSAGE_METHOD_UNKNOWN", "nosuch.get_all"])
    );
    assert_eq!(
        p.fails(&session, "host.get_record", &[]),
        strings(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.get_record", "2", "1"])
    );
    assert_eq!(
        p.call("session.login_with_password", &[s(USER)])
            .unwrap_err()
            .description(),
        strings(&[
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "session.login_with_password",
            "4",
            "1"
        ])
    );
    assert_eq!(
        p.fails(
            &session,
            "host.get_record",
            &[s("OpaqueRef:00000000-0000-0000-0000-000000000000")]
        ),
        strings(&[
            "HANDLE_INVALID",
            "host",
            "OpaqueRef:00000000-0000-0000-0000-000000000000"
        ])
    );
    // A reference of another class is no handle of this one.
    let pool_ref = p.ok(&session, "pool.get_all", &[]).as_strings().unwrap()[0].clone();
    assert_eq!(
        p.fails(&session, "VM.get_record", &[s(&pool_ref)]),
        strings(&["HANDLE_INVALID", "VM", &pool_ref])
    );
    assert_eq!(
        p.fails(&session, "host.get_record", &[Value::Int(3)]),
        strings(&["FIELD_TYPE_ERROR", "self"])
    );
}

#[test]
fn injected_faults_come_back_the_given_number_of_times() {
    let p = pool(1);
    let session = p.login();
    p.xapi.world().change(|st| {
        st.faults.xapi_errors.push(XapiFault {
            method: "host.get_all".into(),
            code: "HOST_IS_SLAVE".into(),
            params: vec!["10.0.0.11".into()],
            remaining: 2,
        })
    });
    for _ in 0..2 {
        assert_eq!(
            p.fails(&session, "host.get_all", &[]),
            strings(&["HOST_IS_SLAVE", "10.0.0.11"])
        );
    }
    assert_eq!(p.host_refs(&session).len(), 1);
}

#[test]
fn pool_host_and_metrics_records() {
    let p = pool(3);
    let session = p.login();
    let pools = p.ok(&session, "pool.get_all", &[]).as_strings().unwrap();
    assert_eq!(pools.len(), 1);
    let master = p.ok(&session, "pool.get_master", &[s(&pools[0])]);
    assert_eq!(p.field(&session, "pool", &pools[0], "master"), master);

    let hosts = p.host_refs(&session);
    assert_eq!(hosts.len(), 3);
    let record = p.ok(&session, "host.get_record", &[s(&hosts[1])]);
    assert_eq!(record.get("name_label"), Some(&s("xcp-ng-2")));
    assert_eq!(record.get("hostname"), Some(&s("xcp-ng-2")));
    assert_eq!(record.get("address"), Some(&s("10.0.0.12")));
    assert_eq!(record.get("enabled"), Some(&Value::Bool(true)));
    assert_eq!(record.get("API_version_major"), Some(&Value::Int(2)));
    assert_eq!(
        record.get("software_version").unwrap().get("product_brand"),
        Some(&s("XCP-ng"))
    );
    assert_eq!(
        p.ok(&session, "host.get_by_name_label", &[s("xcp-ng-2")]),
        Value::Array(vec![s(&hosts[1])])
    );
    assert_eq!(
        p.ok(&session, "host.get_by_name_label", &[s("nope")]),
        Value::Array(vec![])
    );
    let uuid = record.get("uuid").unwrap().as_str().unwrap();
    assert_eq!(p.ok(&session, "host.get_by_uuid", &[s(uuid)]), s(&hosts[1]));
    assert_eq!(
        p.fails(&session, "host.get_by_uuid", &[s("x")]),
        strings(&["UUID_INVALID", "host", "x"])
    );
    assert_eq!(
        p.ok(&session, "host.get_enabled", &[s(&hosts[1])]),
        Value::Bool(true)
    );
    assert_eq!(
        p.ok(&session, "host.get_API_version_minor", &[s(&hosts[1])]),
        Value::Int(21)
    );

    // resident_VMs lists the control domain too, as XAPI's does.
    let resident = record.get("resident_VMs").unwrap().as_strings().unwrap();
    let dom0 = record.get("control_domain").unwrap().as_str().unwrap();
    assert!(resident.iter().any(|r| r == dom0));
    let dom0_record = p.ok(&session, "VM.get_record", &[s(dom0)]);
    assert_eq!(dom0_record.get("is_control_domain"), Some(&Value::Bool(true)));
    assert_eq!(dom0_record.get("resident_on"), Some(&s(&hosts[1])));
    // The control domain's UUID is the one the host's inventory gives.
    let inventory_uuid = testbed::sysroot::Identity::for_host("xcp-ng-2").control_domain_uuid;
    assert_eq!(dom0_record.get("uuid"), Some(&s(&inventory_uuid)));

    let metrics = record.get("metrics").unwrap().as_str().unwrap();
    assert_eq!(
        p.ok(&session, "host_metrics.get_live", &[s(metrics)]),
        Value::Bool(true)
    );
    let m = p.ok(&session, "host_metrics.get_record", &[s(metrics)]);
    assert!(
        m.get("memory_total").unwrap().as_int().unwrap() > m.get("memory_free").unwrap().as_int().unwrap()
    );
    assert!(matches!(m.get("last_updated"), Some(Value::DateTime(_))));

    let Value::DateTime(time) = p.ok(&session, "host.get_servertime", &[s(&hosts[0])]) else {
        panic!()
    };
    assert_eq!(time.len(), "20240131T12:34:56Z".len());
}

#[test]
fn vm_pif_and_network_records() {
    let p = pool(3);
    let session = p.login();
    let vms = p.ok(&session, "VM.get_all", &[]).as_strings().unwrap();
    let records = p.ok(&session, "VM.get_all_records", &[]);
    assert_eq!(records.as_struct().unwrap().len(), vms.len());
    let guests: Vec<&Value> = records
        .as_struct()
        .unwrap()
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.get("is_control_domain") == Some(&Value::Bool(false)))
        .collect();
    assert_eq!(vms.len(), guests.len() + 3, "one control domain per host");
    for vm in &guests {
        assert_eq!(vm.get("power_state"), Some(&s("Running")));
        assert_eq!(vm.get("is_a_template"), Some(&Value::Bool(false)));
        assert_eq!(vm.get("memory_static_max"), Some(&Value::Int(4 << 30)));
        assert!(
            vm.get("resident_on")
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("OpaqueRef:")
        );
    }

    let pifs = p.ok(&session, "PIF.get_all", &[]).as_strings().unwrap();
    assert_eq!(pifs.len(), 6);
    let pif = p.ok(&session, "PIF.get_record", &[s(&pifs[0])]);
    assert_eq!(pif.get("device"), Some(&s("eth0")));
    assert_eq!(pif.get("management"), Some(&Value::Bool(true)));
    assert_eq!(pif.get("IP"), Some(&s("10.0.0.11")));
    assert_eq!(pif.get("MTU"), Some(&Value::Int(1500)));
    let network = pif.get("network").unwrap().as_str().unwrap();
    let net = p.ok(&session, "network.get_record", &[s(network)]);
    assert_eq!(net.get("bridge"), Some(&s("xenbr0")));
    assert!(net.get("PIFs").unwrap().as_strings().unwrap().contains(&pifs[0]));
}
