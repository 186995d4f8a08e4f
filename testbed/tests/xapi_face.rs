//! The simulated XAPI: its codecs, every method and error shape through the dispatcher, the
//! same answers over XML-RPC and JSON-RPC through HTTP, `host.call_plugin` running a real
//! plugin from a host's sysroot (with the agent binary in its environment) and the built-in
//! `service.py`, pool HA on and off, and `event.from` waking on a change or timing out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testbed::world::build::{HostSpec, initial_state, management_address};
use testbed::world::{Clock, Credentials, Scenario, World, XapiFault};
use testbed::xapi_face::jsonrpc;
use testbed::xapi_face::xmlrpc::{self, MethodCall, MethodResponse};
use testbed::xapi_face::{Failure, Value, Xapi};

const USER: &str = "root";
const PASSWORD: &str = "s3cret";

/// A pool of `n` hosts with empty sysroots (nothing to boot: hosts are up, LINSTOR is not
/// what these tests look at) on a clock 1000 times real time, so migrations and reboots
/// take milliseconds.
struct Pool {
    _dir: tempfile::TempDir,
    roots: Vec<PathBuf>,
    xapi: Xapi,
}

fn pool_with(n: usize, scenario: &str) -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let resolved = Scenario::parse(scenario)
        .unwrap()
        .resolve(Some(n), Some(1000.0))
        .unwrap();
    let specs: Vec<HostSpec> = resolved
        .host_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let root = dir.path().join(name);
            std::fs::create_dir_all(&root).unwrap();
            HostSpec {
                name: name.clone(),
                root: root.clone(),
                config: root.join("etc/linstor-agent/agent.toml"),
                address: management_address(i).unwrap(),
                disk: None,
            }
        })
        .collect();
    let credentials = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let state = initial_state(&resolved, &specs, credentials).unwrap();
    let world = Arc::new(World::new(state, Clock::new(resolved.time_scale)));
    Pool {
        roots: specs.iter().map(|s| s.root.clone()).collect(),
        _dir: dir,
        xapi: Xapi::new(world),
    }
}

fn pool(n: usize) -> Pool {
    pool_with(n, "")
}

impl Pool {
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, Failure> {
        self.xapi.call(method, params)
    }

    fn login(&self) -> String {
        let session = self.call(
            "session.login_with_password",
            &[s(USER), s(PASSWORD), s("1.0"), s("test")],
        );
        session.unwrap().as_str().unwrap().to_string()
    }

    /// Calls a session method and expects success.
    fn ok(&self, session: &str, method: &str, params: &[Value]) -> Value {
        let mut all = vec![s(session)];
        all.extend_from_slice(params);
        self.call(method, &all)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Calls a session method and expects an XAPI error.
    fn fails(&self, session: &str, method: &str, params: &[Value]) -> Vec<String> {
        let mut all = vec![s(session)];
        all.extend_from_slice(params);
        match self.call(method, &all) {
            Ok(v) => panic!("{method} succeeded with {v:?}"),
            Err(e) => e.description(),
        }
    }

    fn host_refs(&self, session: &str) -> Vec<String> {
        self.ok(session, "host.get_all", &[]).as_strings().unwrap()
    }

    fn field(&self, session: &str, class: &str, reference: &str, field: &str) -> Value {
        self.ok(session, &format!("{class}.get_record"), &[s(reference)])
            .get(field)
            .unwrap()
            .clone()
    }

    /// Guest VMs (not control domains) resident on a host.
    fn guests_on(&self, session: &str, host: &str) -> Vec<String> {
        let records = self.ok(session, "VM.get_all_records", &[]);
        records
            .as_struct()
            .unwrap()
            .iter()
            .filter(|(_, r)| r.get("is_control_domain") == Some(&Value::Bool(false)))
            .filter(|(_, r)| r.get("resident_on").and_then(Value::as_str) == Some(host))
            .map(|(reference, _)| reference.clone())
            .collect()
    }
}

fn s(text: &str) -> Value {
    Value::str(text)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Codecs.

fn every_kind() -> Value {
    Value::Struct(vec![
        ("nil".into(), Value::Nil),
        ("yes".into(), Value::Bool(true)),
        ("no".into(), Value::Bool(false)),
        ("int".into(), Value::Int(-9_000_000_000)),
        ("i4".into(), Value::Int32(7)),
        ("double".into(), Value::Double(2.5)),
        ("text".into(), s("a <tag> & \"quotes\" 'é' \t\n")),
        ("empty".into(), s("")),
        ("when".into(), Value::DateTime("20240131T12:34:56Z".into())),
        (
            "list".into(),
            Value::Array(vec![s("a"), Value::Array(vec![]), Value::Struct(vec![])]),
        ),
    ])
}

#[test]
fn xmlrpc_call_round_trip() {
    let params = vec![s("OpaqueRef:x"), every_kind()];
    let xml = xmlrpc::write_call("host.call_plugin", &params);
    let call = xmlrpc::parse_call(&xml).unwrap();
    // A 64-bit int goes out as a bare string (XAPI's convention) and comes back as one.
    let mut expected = params.clone();
    if let Value::Struct(members) = &mut expected[1] {
        members[3].1 = s("-9000000000");
        members[4].1 = Value::Int(7);
    }
    assert_eq!(
        call,
        MethodCall {
            method: "host.call_plugin".into(),
            params: expected
        }
    );
}

#[test]
fn xmlrpc_response_written_as_xapi_writes_it() {
    let envelope = Value::Struct(vec![
        ("Status".into(), s("Success")),
        ("Value".into(), Value::Int(42)),
    ]);
    assert_eq!(
        xmlrpc::write_response(&envelope),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name>\
         <value>Success</value></member><member><name>Value</name><value>42</value></member></struct>\
         </value></param></params></methodResponse>"
    );
    let back = xmlrpc::parse_response(&xmlrpc::write_response(&every_kind())).unwrap();
    let MethodResponse::Params(values) = back else {
        panic!("not params")
    };
    assert_eq!(values[0].get("text"), every_kind().get("text"));
    assert_eq!(values[0].get("when"), every_kind().get("when"));
    assert_eq!(values[0].get("nil"), Some(&Value::Nil));
}

#[test]
fn xmlrpc_reads_what_python_writes() {
    // xmlrpc.client.dumps((...), methodname=...) with allow_none, as the XenAPI SDK sends it.
    let xml = "<?xml version='1.0'?>\n<methodCall>\n<methodName>event.from</methodName>\n<params>\n\
               <param>\n<value><string>OpaqueRef:s</string></value>\n</param>\n\
               <param>\n<value><array><data>\n<value><string>host</string></value>\n</data></array></value>\n</param>\n\
               <param>\n<value><string></string></value>\n</param>\n\
               <param>\n<value><double>30.0</double></value>\n</param>\n\
               <param>\n<value><nil/></value></param>\n\
               <param>\n<value><int>5</int></value></param>\n\
               <param>\n<value><boolean>1</boolean></value></param>\n\
               <param>\n<value>bare &amp; &#x41;</value></param>\n\
               <param>\n<value><struct>\n<member>\n<name>k</name>\n<value><string>v</string></value>\n</member>\n</struct></value></param>\n\
               </params>\n</methodCall>\n";
    let call = xmlrpc::parse_call(xml).unwrap();
    assert_eq!(call.method, "event.from");
    assert_eq!(
        call.params,
        vec![
            s("OpaqueRef:s"),
            Value::Array(vec![s("host")]),
            s(""),
            Value::Double(30.0),
            Value::Nil,
            Value::Int(5),
            Value::Bool(true),
            s("bare & A"),
            Value::Struct(vec![("k".into(), s("v"))]),
        ]
    );
}

#[test]
fn xmlrpc_rejects_malformed_documents() {
    for bad in [
        "",
        "not xml",
        "<methodCall><methodName>x</methodName></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><i4>z</i4></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><foo/></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><struct><member><value/></member></struct></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params>",
        "<methodResponse/>",
    ] {
        assert!(
            xmlrpc::parse_call(bad).is_err() || xmlrpc::parse_response(bad).is_err(),
            "{bad}"
        );
    }
    let fault = xmlrpc::write_fault(3, "boom");
    assert_eq!(
        xmlrpc::parse_response(&fault).unwrap(),
        MethodResponse::Fault {
            code: 3,
            string: "boom".into()
        }
    );
}

#[test]
fn json_round_trip_and_envelopes() {
    let value = every_kind();
    let back = jsonrpc::from_json(&jsonrpc::to_json(&value));
    // JSON has one number type for both int widths and one string type for datetimes.
    assert_eq!(back.get("i4"), Some(&Value::Int(7)));
    assert_eq!(back.get("when"), Some(&s("20240131T12:34:56Z")));
    assert_eq!(back.get("int"), value.get("int"));
    assert_eq!(back.get("list"), value.get("list"));

    let v2 = jsonrpc::parse_request(br#"{"jsonrpc":"2.0","method":"m","params":[1,"a"],"id":3}"#).unwrap();
    assert!(v2.v2);
    let err = Failure::new("SESSION_INVALID", ["OpaqueRef:x"]);
    let doc: serde_json::Value =
        serde_json::from_str(&jsonrpc::write_response(&v2, &Err(err.clone()))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"jsonrpc": "2.0", "error": {"code": 1, "message": "SESSION_INVALID", "data": ["OpaqueRef:x"]}, "id": 3})
    );
    let v1 = jsonrpc::parse_request(br#"{"method":"m","params":[],"id":"xyz"}"#).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&jsonrpc::write_response(&v1, &Err(err))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"result": null, "error": ["SESSION_INVALID", "OpaqueRef:x"], "id": "xyz"})
    );
    let doc: serde_json::Value = serde_json::from_str(&jsonrpc::write_response(&v1, &Ok(s("r")))).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"result": "r", "error": null, "id": "xyz"})
    );
    for bad in [
        &b"[]"[..],
        b"{\"method\":\"m\",\"id\":1}",
        b"{\"method\":\"m\",\"params\":[]}",
        b"{",
    ] {
        assert!(jsonrpc::parse_request(bad).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions and the generic error shapes.

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

// ---------------------------------------------------------------------------------------------
// Reads.

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

// ---------------------------------------------------------------------------------------------
// Host and VM operations (their semantics are the world's; this checks the face wires them).

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

// ---------------------------------------------------------------------------------------------
// host.call_plugin: a real plugin in the host's sysroot, written as XenAPIPlugin.dispatch
// would answer (python3's xmlrpc.client stands in for XenAPIPlugin).

const PLUGIN: &str = r#"#!/usr/bin/env python3
import json, os, sys, xmlrpc.client
params, method = xmlrpc.client.loads(sys.argv[1])
session, args = params
def answer(value):
    print(xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True))
if method == "exit":
    sys.stdout.write("partial")
    sys.stderr.write("boom")
    sys.exit(3)
elif method == "garbage":
    print("this is not XML")
elif method == "odd":
    answer(42)
elif method == "fault":
    print(xmlrpc.client.dumps(xmlrpc.client.Fault(12, "no such thing"), methodresponse=True))
elif method == "failure":
    answer({"Status": "Failure", "ErrorDescription": ["XENAPI_PLUGIN_FAILURE", method, "ValueError", "bad"]})
elif method == "kill":
    os.kill(os.getpid(), 9)
else:
    answer({"Status": "Success", "Value": json.dumps({
        "method": method, "session": session, "args": args,
        "root": os.environ.get("LINSTOR_AGENT_ROOT"), "cwd": os.getcwd(), "argc": len(sys.argv),
        "agent_bin": os.environ.get("LINSTOR_AGENT_BIN")})})
"#;

fn install_plugin(root: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("etc/xapi.d/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, PLUGIN).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn call_plugin_runs_the_hosts_plugin_as_xapi_does() {
    let p = pool(2);
    install_plugin(&p.roots[1], "linstor-agent");
    let session = p.login();
    let host = p.host_refs(&session)[1].clone();
    let args = Value::Struct(vec![("step".into(), s("network")), ("dry".into(), s("1"))]);
    let call = |function: &str| vec![s(&host), s("linstor-agent"), s(function), args.clone()];

    let out = p.ok(&session, "host.call_plugin", &call("provision"));
    let out: serde_json::Value = serde_json::from_str(out.as_str().unwrap()).unwrap();
    assert_eq!(out["method"], "provision");
    assert_eq!(out["session"], session.as_str());
    assert_eq!(out["args"], serde_json::json!({"step": "network", "dry": "1"}));
    assert_eq!(out["argc"], 2);
    // No agent binary known to this face: the plugin is not told one.
    assert_eq!(out["agent_bin"], serde_json::Value::Null);
    let root = p.roots[1].to_str().unwrap();
    assert_eq!(out["root"], root);
    assert_eq!(
        std::fs::canonicalize(out["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(root).unwrap()
    );

    assert_eq!(
        p.fails(&session, "host.call_plugin", &call("exit")),
        strings(&["XENAPI_PLUGIN_FAILURE", "non-zero exit", "partial", "boom"])
    );
    let garbage = p.fails(&session, "host.call_plugin", &call("garbage"));
    assert_eq!(
        garbage[..3],
        strings(&[
            "XENAPI_PLUGIN_FAILURE",
            "failed to parse plugin output",
            "this is not XML\n"
        ])
    );
    assert_eq!(
        p.fails(&session, "host.call_plugin", &call("odd"))[..2],
        strings(&["XENAPI_PLUGIN_FAILURE", "unexpected XMLRPC result"])
    );
    assert_eq!(
        p.fails(&session, "host.call_plugin", &call("fault")),
        strings(&["XENAPI_PLUGIN_FAILURE", "fault", "12", "no such thing"])
    );
    // A plugin's own Failure comes back as that error.
    assert_eq!(
        p.fails(&session, "host.call_plugin", &call("failure")),
        strings(&["XENAPI_PLUGIN_FAILURE", "failure", "ValueError", "bad"])
    );
    assert_eq!(
        p.fails(&session, "host.call_plugin", &call("kill"))[..2],
        strings(&["XENAPI_PLUGIN_FAILURE", "signal: SIGKILL"])
    );

    // Only files of that host's plugin directory, by their plain name.
    let other = p.host_refs(&session)[0].clone();
    for (on, name) in [
        (&other, "linstor-agent"),
        (&host, "../plugins/linstor-agent"),
        (&host, ".."),
        (&host, ""),
    ] {
        assert_eq!(
            p.fails(
                &session,
                "host.call_plugin",
                &[s(on), s(name), s("f"), Value::Struct(vec![])]
            ),
            strings(&["XENAPI_MISSING_PLUGIN", name])
        );
    }
    assert_eq!(
        p.fails(
            &session,
            "host.call_plugin",
            &[s(&host), s("linstor-agent"), s("f"), s("not a map")]
        ),
        strings(&["FIELD_TYPE_ERROR", "args"])
    );
}

#[test]
fn plugins_are_told_the_agent_binary() {
    let p = pool(2);
    let xapi =
        Xapi::new(p.xapi.world().clone()).with_agent_bin(Some(PathBuf::from("/opt/agent/linstor-agent")));
    install_plugin(&p.roots[0], "linstor-agent");
    let session = xapi
        .call("session.login_with_password", &[s(USER), s(PASSWORD)])
        .unwrap();
    let session = session.as_str().unwrap();
    let host = p.host_refs(&p.login())[0].clone();
    let out = xapi
        .call(
            "host.call_plugin",
            &[
                s(session),
                s(&host),
                s("linstor-agent"),
                s("plan"),
                Value::Struct(vec![]),
            ],
        )
        .unwrap();
    let out: serde_json::Value = serde_json::from_str(out.as_str().unwrap()).unwrap();
    assert_eq!(out["agent_bin"], "/opt/agent/linstor-agent");
}

/// service.py answers as XenAPIPlugin.dispatch prints xcpngutils' wrapped exceptions; it is
/// there on every live host without a file (built in), and the others' files still run.
#[test]
fn service_py_is_built_in_with_its_whitelist_and_errors() {
    // A reboot that outlasts the test (the clock runs 1000 times real time).
    let p = pool_with(3, "[durations]\nreboot_secs = 3600.0");
    let session = p.login();
    let hosts = p.host_refs(&session);
    let call = |host: &str, function: &str, args: Value| vec![s(host), s("service.py"), s(function), args];
    let service = |name: &str| Value::Struct(vec![("service".into(), s(name))]);

    assert_eq!(
        p.ok(
            &session,
            "host.call_plugin",
            &call(&hosts[1], "restart_service", service("linstor-satellite"))
        ),
        s("true")
    );
    for (args, message) in [
        (Value::Struct(vec![]), "Missing or empty argument `service`"),
        (service(""), "Missing or empty argument `service`"),
        (service("sshd"), "This service is not whitelisted"),
    ] {
        let error = p.fails(
            &session,
            "host.call_plugin",
            &call(&hosts[1], "stop_service", args),
        );
        assert_eq!(error[..3], strings(&["-1", message, ""]), "{error:?}");
        assert!(error[3].starts_with("Traceback"), "{error:?}");
    }
    assert_eq!(
        p.fails(
            &session,
            "host.call_plugin",
            &call(&hosts[1], "status_service", service("linstor-satellite"))
        ),
        strings(&["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "status_service"])
    );

    // A host that is away cannot run it.
    p.ok(&session, "host.disable", &[s(&hosts[2])]);
    p.ok(&session, "host.evacuate", &[s(&hosts[2])]);
    p.ok(&session, "host.reboot", &[s(&hosts[2])]);
    assert_eq!(
        p.fails(
            &session,
            "host.call_plugin",
            &call(&hosts[2], "restart_service", service("linstor-satellite"))
        ),
        strings(&["HOST_OFFLINE", &hosts[2]])
    );
}

// ---------------------------------------------------------------------------------------------
// Pool HA.

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

// ---------------------------------------------------------------------------------------------
// event.from.

fn event_from(p: &Pool, session: &str, classes: &[&str], token: &str, timeout: f64) -> Value {
    let classes = Value::Array(classes.iter().map(|c| s(c)).collect());
    p.ok(
        session,
        "event.from",
        &[classes, s(token), Value::Double(timeout)],
    )
}

#[test]
fn event_from_returns_on_a_change_and_on_timeout() {
    let p = Arc::new(pool(3));
    let session = p.login();
    let host = p.host_refs(&session)[2].clone();

    let first = event_from(&p, &session, &["host"], "", 0.0);
    let events = first.get("events").unwrap().as_array().unwrap();
    assert_eq!(events.len(), 3, "every host, as add events");
    assert!(
        events
            .iter()
            .all(|e| e.get("operation") == Some(&s("add")) && e.get("class") == Some(&s("host")))
    );
    assert!(matches!(
        first.get("valid_ref_counts").unwrap().get("host"),
        Some(Value::Int32(3))
    ));
    let token = first.get("token").unwrap().as_str().unwrap().to_string();

    let started = Instant::now();
    let idle = event_from(&p, &session, &["host"], &token, 0.3);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(idle.get("events"), Some(&Value::Array(vec![])));
    let token = idle.get("token").unwrap().as_str().unwrap().to_string();

    let changer = {
        let (p, session, host) = (Arc::clone(&p), session.clone(), host.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            p.ok(&session, "host.disable", &[s(&host)]);
        })
    };
    let started = Instant::now();
    let changed = event_from(&p, &session, &["host"], &token, 30.0);
    assert!(started.elapsed() < Duration::from_secs(10));
    changer.join().unwrap();
    let events = changed.get("events").unwrap().as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].get("operation"), Some(&s("mod")));
    assert_eq!(events[0].get("ref"), Some(&s(&host)));
    assert_eq!(
        events[0].get("snapshot").unwrap().get("enabled"),
        Some(&Value::Bool(false))
    );

    // Other classes' changes do not wake a host subscription; `*` sees everything.
    let token = changed.get("token").unwrap().as_str().unwrap().to_string();
    let network = p.field(
        &session,
        "PIF",
        &p.ok(&session, "PIF.get_all", &[]).as_strings().unwrap()[0],
        "network",
    );
    p.ok(&session, "network.set_MTU", &[network, Value::Int(9000)]);
    assert_eq!(
        event_from(&p, &session, &["host"], &token, 0.1).get("events"),
        Some(&Value::Array(vec![]))
    );
    let all = event_from(&p, &session, &["*"], &token, 0.1);
    let classes: Vec<&Value> = all
        .get("events")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("class"))
        .collect();
    assert!(
        classes.contains(&&s("network")) && classes.contains(&&s("pif")),
        "{classes:?}"
    );

    assert_eq!(
        p.fails(
            &session,
            "event.from",
            &[Value::Array(vec![]), s("garbage"), Value::Double(0.0)]
        ),
        strings(&["EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"])
    );
}

// ---------------------------------------------------------------------------------------------
// Over HTTP: the same dispatcher behind XML-RPC and JSON-RPC.

fn serve(p: &Pool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let world = Arc::clone(p.xapi.world());
    std::thread::spawn(move || testbed::xapi_face::serve(world, listener));
    url
}

fn post(url: &str, content_type: &str, body: String) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn xml_call(url: &str, method: &str, params: &[Value]) -> Value {
    let (status, body) = post(url, "text/xml", xmlrpc::write_call(method, params));
    assert_eq!(status, 200, "{body}");
    let MethodResponse::Params(values) = xmlrpc::parse_response(&body).unwrap() else {
        panic!("fault: {body}")
    };
    values.into_iter().next().unwrap()
}

fn json_call(url: &str, v2: bool, method: &str, params: &[Value]) -> serde_json::Value {
    let params: Vec<serde_json::Value> = params.iter().map(jsonrpc::to_json).collect();
    let mut request = serde_json::json!({"method": method, "params": params, "id": 7});
    if v2 {
        request["jsonrpc"] = "2.0".into();
    }
    let (status, body) = post(&format!("{url}/jsonrpc"), "application/json", request.to_string());
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn xmlrpc_and_jsonrpc_give_the_same_answers() {
    let p = pool(2);
    let url = serve(&p);
    let login = [s(USER), s(PASSWORD), s("1.0"), s("test")];

    let envelope = xml_call(&url, "session.login_with_password", &login);
    assert_eq!(envelope.get("Status"), Some(&s("Success")));
    let session = envelope.get("Value").unwrap().as_str().unwrap().to_string();
    let v2 = json_call(&url, true, "session.login_with_password", &login);
    assert_eq!(v2["jsonrpc"], "2.0");
    assert!(v2.get("error").is_none());
    let session2 = v2["result"].as_str().unwrap().to_string();

    let hosts = xml_call(&url, "host.get_all", &[s(&session)]);
    let hosts = hosts.get("Value").unwrap().clone();
    let host = hosts.as_strings().unwrap()[0].clone();
    assert_eq!(
        json_call(&url, true, "host.get_all", &[s(&session2)])["result"],
        jsonrpc::to_json(&hosts)
    );

    // The record: identical but for the wire's types (XML-RPC sends 64-bit ints as strings).
    let xml_record = xml_call(&url, "host.get_record", &[s(&session), s(&host)]);
    let json_record = json_call(&url, false, "host.get_record", &[s(&session2), s(&host)]);
    assert_eq!(json_record["error"], serde_json::Value::Null);
    let xml_record = xml_record.get("Value").unwrap();
    assert_eq!(xml_record.get("API_version_major"), Some(&s("2")));
    assert_eq!(json_record["result"]["API_version_major"], 2);
    for field in [
        "uuid",
        "name_label",
        "address",
        "enabled",
        "resident_VMs",
        "PIFs",
        "other_config",
    ] {
        assert_eq!(
            jsonrpc::to_json(xml_record.get(field).unwrap()),
            json_record["result"][field],
            "{field}"
        );
    }

    // The same failure in the three envelopes.
    let failure = xml_call(&url, "host.get_record", &[s(&session), s("OpaqueRef:bad")]);
    assert_eq!(failure.get("Status"), Some(&s("Failure")));
    assert_eq!(
        failure.get("ErrorDescription"),
        Some(&Value::strings(["HANDLE_INVALID", "host", "OpaqueRef:bad"]))
    );
    let v1 = json_call(
        &url,
        false,
        "host.get_record",
        &[s(&session2), s("OpaqueRef:bad")],
    );
    assert_eq!(
        v1["error"],
        serde_json::json!(["HANDLE_INVALID", "host", "OpaqueRef:bad"])
    );
    assert_eq!(v1["result"], serde_json::Value::Null);
    let v2 = json_call(&url, true, "host.get_record", &[s(&session2), s("OpaqueRef:bad")]);
    assert_eq!(
        v2["error"],
        serde_json::json!({"code": 1, "message": "HANDLE_INVALID", "data": ["host", "OpaqueRef:bad"]})
    );
    assert_eq!(v2["id"], 7);

    // /RPC2 is where Python's xmlrpc.client posts when the URL has no path.
    let at_rpc2 = post(
        &format!("{url}/RPC2"),
        "text/xml",
        xmlrpc::write_call("pool.get_all", &[s(&session)]),
    );
    assert_eq!(at_rpc2.0, 200);
    assert!(at_rpc2.1.contains("Success"));
}

#[test]
fn malformed_requests_get_http_500_like_xapi() {
    let p = pool(1);
    let url = serve(&p);
    let (status, body) = post(
        &url,
        "text/xml",
        "<methodCall><methodName>session.logout</methodName></methodCall>".into(),
    );
    assert_eq!(status, 500);
    assert!(body.contains("HTTP 500 internal server error"), "{body}");
    let (status, _) = post(
        &format!("{url}/jsonrpc"),
        "application/json",
        r#"{"jsonrpc":"2.0","method":"x","id":0}"#.into(),
    );
    assert_eq!(status, 500);
    let get = reqwest::blocking::get(format!("{url}/nowhere")).unwrap();
    assert_eq!(get.status().as_u16(), 404);
}

/// Sends one XML-RPC call over an open connection (keep-alive) and reads the answer; an error
/// when the connection is gone.
fn call_on(stream: &mut std::net::TcpStream, method: &str, params: &[Value]) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let body = xmlrpc::write_call(method, params);
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8(body).unwrap())
}

#[test]
fn xapi_goes_away_while_the_master_reboots() {
    let p = pool(2);
    let url = serve(&p);
    let addr = url.trim_start_matches("http://").to_string();
    let login = [s(USER), s(PASSWORD), s("1.0"), s("t")];
    let mut open = std::net::TcpStream::connect(&addr).unwrap();
    let answer = call_on(&mut open, "session.login_with_password", &login).unwrap();
    let MethodResponse::Params(v) = xmlrpc::parse_response(&answer).unwrap() else {
        panic!()
    };
    let session = v[0].get("Value").unwrap().as_str().unwrap().to_string();
    // The same connection serves the next call (keep-alive).
    assert!(
        call_on(&mut open, "host.get_all", &[s(&session)])
            .unwrap()
            .contains("Success")
    );

    let world = Arc::clone(p.xapi.world());
    let master = world.read(|st| st.pool.master.clone());
    world.host_disable(&master).unwrap();
    world.host_evacuate(&master).unwrap();
    world.host_reboot(&master).unwrap();

    // The port refuses connections, and the open connection is broken.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections while the master is down"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(call_on(&mut open, "host.get_all", &[s(&session)]).is_err());

    // Back up: the same URL answers again, and the old session is gone.
    world.skip(120.0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        match std::net::TcpStream::connect(&addr) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("XAPI did not come back: {e}"),
        }
    };
    let stale = call_on(&mut again, "host.get_all", &[s(&session)]).unwrap();
    assert!(stale.contains("SESSION_INVALID"), "{stale}");
    assert!(
        call_on(&mut again, "session.login_with_password", &login)
            .unwrap()
            .contains("Success")
    );
}

// ---------------------------------------------------------------------------------------------
// Async calls and tasks.

/// The fields of a task record, in the datamodel's order.
const TASK_FIELDS: [&str; 17] = [
    "uuid",
    "name_label",
    "name_description",
    "allowed_operations",
    "current_operations",
    "created",
    "finished",
    "status",
    "resident_on",
    "progress",
    "type",
    "result",
    "error_info",
    "other_config",
    "subtask_of",
    "subtasks",
    "backtrace",
];

fn token_of(batch: &Value) -> String {
    batch.get("token").unwrap().as_str().unwrap().to_string()
}

fn events_of(batch: &Value) -> Vec<Value> {
    batch.get("events").unwrap().as_array().unwrap().to_vec()
}

/// Waits on `event.from` for `task/<ref>` from `token` until the task is no longer pending;
/// returns the events seen on the way and the token after them.
fn wait_task(p: &Pool, session: &str, task: &str, mut token: String) -> (Vec<Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let batch = event_from(p, session, &[&format!("task/{task}")], &token, 5.0);
        token = token_of(&batch);
        seen.extend(events_of(&batch));
        let status = seen
            .last()
            .and_then(|e| e.get("snapshot"))
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str);
        if status.is_some_and(|st| st != "pending") {
            return (seen, token);
        }
        assert!(Instant::now() < deadline, "task still pending: {seen:?}");
    }
}

/// A plugin whose `wait` returns once the file `args["until"]` exists: a call that stays
/// pending for as long as a test wants.
const GATE_PLUGIN: &str = r#"#!/usr/bin/env python3
import os, sys, time, xmlrpc.client
params, method = xmlrpc.client.loads(sys.argv[1])
session, args = params
while not os.path.exists(args["until"]):
    time.sleep(0.02)
print(xmlrpc.client.dumps(({"Status": "Success", "Value": "<ok> & done"},), methodresponse=True))
"#;

fn install_gate_plugin(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("etc/xapi.d/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gate");
    std::fs::write(&path, GATE_PLUGIN).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn async_evacuate_is_a_task_that_event_from_sees_succeed() {
    let p = pool(3);
    let session = p.login();
    let host = p.host_refs(&session)[1].clone();
    let guests = p.guests_on(&session, &host);
    assert!(!guests.is_empty());
    p.ok(&session, "host.disable", &[s(&host)]);

    let first = event_from(&p, &session, &["task"], "", 0.0);
    assert_eq!(first.get("events"), Some(&Value::Array(vec![])));
    assert_eq!(
        first.get("valid_ref_counts").unwrap().get("task"),
        Some(&Value::Int32(0))
    );

    let task = p.ok(&session, "Async.host.evacuate", &[s(&host)]);
    let task = task.as_str().unwrap().to_string();
    assert!(task.starts_with("OpaqueRef:"), "{task}");
    let (seen, token) = wait_task(&p, &session, &task, token_of(&first));
    assert_eq!(seen[0].get("operation"), Some(&s("add")), "{seen:?}");
    assert_eq!(seen[0].get("class"), Some(&s("task")));
    assert_eq!(seen[0].get("ref"), Some(&s(&task)));
    assert!(seen[1..].iter().all(|e| e.get("operation") == Some(&s("mod"))));

    // The VMs have left the host, to the others.
    assert!(p.guests_on(&session, &host).is_empty());
    let hosts = p.host_refs(&session);
    for vm in &guests {
        let on = p.field(&session, "VM", vm, "resident_on");
        assert!(on != s(&host) && hosts.contains(&on.as_str().unwrap().to_string()));
    }

    let record = p.ok(&session, "task.get_record", &[s(&task)]);
    let fields: Vec<&str> = record
        .as_struct()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(fields, TASK_FIELDS);
    assert_eq!(seen.last().unwrap().get("snapshot"), Some(&record));
    let pool_ref = p.ok(&session, "pool.get_all", &[]).as_strings().unwrap()[0].clone();
    let master = p.ok(&session, "pool.get_master", &[s(&pool_ref)]);
    for (field, value) in [
        ("name_label", s("Async.host.evacuate")),
        ("name_description", s("")),
        ("status", s("success")),
        ("progress", Value::Double(1.0)),
        ("type", s("<none/>")),
        // void, as xapi's task table stores it: one XML-RPC value.
        ("result", s("<value></value>")),
        ("error_info", Value::Array(vec![])),
        ("allowed_operations", Value::Array(vec![])),
        ("current_operations", Value::Struct(vec![])),
        ("resident_on", master),
        ("subtask_of", s("OpaqueRef:NULL")),
        ("subtasks", Value::Array(vec![])),
        ("other_config", Value::Struct(vec![])),
        ("backtrace", s("()")),
    ] {
        assert_eq!(record.get(field), Some(&value), "{field}");
    }
    let (Some(Value::DateTime(created)), Some(Value::DateTime(finished))) =
        (record.get("created"), record.get("finished"))
    else {
        panic!("{record:?}")
    };
    assert!(created.as_str() <= finished.as_str() && created.as_str() > "2000");

    // Field getters and lookups, as for every class.
    assert_eq!(p.ok(&session, "task.get_status", &[s(&task)]), s("success"));
    assert_eq!(
        p.ok(&session, "task.get_result", &[s(&task)]),
        s("<value></value>")
    );
    assert_eq!(
        p.ok(&session, "task.get_error_info", &[s(&task)]),
        Value::Array(vec![])
    );
    assert_eq!(
        p.ok(&session, "task.get_progress", &[s(&task)]),
        Value::Double(1.0)
    );
    let uuid = record.get("uuid").unwrap().clone();
    assert_eq!(
        p.ok(&session, "task.get_by_uuid", std::slice::from_ref(&uuid)),
        s(&task)
    );
    assert_eq!(p.ok(&session, "task.get_all", &[]), Value::strings([&task]));
    assert_eq!(
        p.ok(&session, "task.get_all_records", &[]),
        Value::Struct(vec![(task.clone(), record.clone())])
    );
    assert_eq!(
        p.ok(&session, "task.get_by_name_label", &[s("Async.host.evacuate")]),
        Value::strings([&task])
    );

    // Destroyed: a del event, and the reference is no more.
    assert_eq!(p.ok(&session, "task.destroy", &[s(&task)]), s(""));
    let gone = event_from(&p, &session, &["task"], &token, 5.0);
    let events = events_of(&gone);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].get("operation"), Some(&s("del")));
    assert_eq!(events[0].get("ref"), Some(&s(&task)));
    assert_eq!(events[0].get("snapshot"), None);
    assert_eq!(
        p.fails(&session, "task.get_record", &[s(&task)]),
        strings(&["HANDLE_INVALID", "task", &task])
    );
    assert_eq!(
        p.fails(&session, "task.destroy", &[s(&task)]),
        strings(&["HANDLE_INVALID", "task", &task])
    );
    let uuid = uuid.as_str().unwrap();
    assert_eq!(
        p.fails(&session, "task.get_by_uuid", &[s(uuid)]),
        strings(&["UUID_INVALID", "task", uuid])
    );
}

#[test]
fn failing_async_calls_end_in_failure_with_error_info() {
    // 12 GiB hosts less 4 GiB for dom0: with the others disabled, no host takes the VMs.
    let p = pool_with(3, "host_memory_gib = 12.0");
    let session = p.login();
    let hosts = p.host_refs(&session);
    for other in &hosts[1..] {
        p.ok(&session, "host.disable", &[s(other)]);
    }
    let token = token_of(&event_from(&p, &session, &["task"], "", 0.0));
    let task = p.ok(&session, "Async.host.evacuate", &[s(&hosts[0])]);
    let task = task.as_str().unwrap();
    let (seen, token) = wait_task(&p, &session, task, token);
    let record = seen.last().unwrap().get("snapshot").unwrap().clone();
    assert_eq!(record.get("status"), Some(&s("failure")));
    let error_info = record.get("error_info").unwrap().as_strings().unwrap();
    assert_eq!(error_info[0], "NO_HOSTS_AVAILABLE");
    // The same error the blocking call raises.
    assert_eq!(p.fails(&session, "host.evacuate", &[s(&hosts[0])]), error_info);
    assert_eq!(record.get("result"), Some(&s("")));
    assert_eq!(record.get("progress"), Some(&Value::Double(1.0)));
    assert_eq!(
        p.ok(&session, "task.get_error_info", &[s(task)]),
        Value::strings(&error_info)
    );
    assert!(!p.guests_on(&session, &hosts[0]).is_empty());

    // A fault injected into host.evacuate fails the task, not the Async call.
    for other in &hosts[1..] {
        p.ok(&session, "host.enable", &[s(other)]);
    }
    p.xapi.world().change(|st| {
        st.faults.xapi_errors.push(XapiFault {
            method: "host.evacuate".into(),
            code: "HOST_IS_SLAVE".into(),
            params: vec!["10.0.0.11".into()],
            remaining: 1,
        })
    });
    let injected = p.ok(&session, "Async.host.evacuate", &[s(&hosts[2])]);
    let injected = injected.as_str().unwrap();
    let (seen, _) = wait_task(&p, &session, injected, token);
    let snapshot = seen.last().unwrap().get("snapshot").unwrap();
    assert_eq!(snapshot.get("status"), Some(&s("failure")));
    assert_eq!(
        snapshot.get("error_info"),
        Some(&Value::strings(["HOST_IS_SLAVE", "10.0.0.11"]))
    );
    assert!(!p.guests_on(&session, &hosts[2]).is_empty(), "nothing moved");

    // One injected into the Async call itself fails that call.
    p.xapi.world().change(|st| {
        st.faults.xapi_errors.push(XapiFault {
            method: "Async.host.evacuate".into(),
            code: "HOST_IS_SLAVE".into(),
            params: vec!["10.0.0.11".into()],
            remaining: 1,
        })
    });
    assert_eq!(
        p.fails(&session, "Async.host.evacuate", &[s(&hosts[2])]),
        strings(&["HOST_IS_SLAVE", "10.0.0.11"])
    );

    // xapi's checks before a task exists: they name the call without its prefix.
    assert_eq!(
        p.fails(&session, "Async.host.frobnicate", &[s(&hosts[0])]),
        strings(&["MESSAGE_METHOD_UNKNOWN", "host.frobnicate"])
    );
    assert_eq!(
        p.fails(&session, "Async.host.evacuate", &[]),
        strings(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.evacuate", "4", "1"])
    );
    assert_eq!(
        p.call("Async.host.evacuate", &[s("OpaqueRef:stale"), s(&hosts[0])])
            .unwrap_err()
            .description(),
        strings(&["SESSION_INVALID", "OpaqueRef:stale"])
    );
    // Messages without an asynchronous mode in the datamodel.
    for (method, params) in [
        ("host.get_record", vec![s(&hosts[0])]),
        ("host.get_servertime", vec![s(&hosts[0])]),
        (
            "event.from",
            vec![Value::Array(vec![]), s(""), Value::Double(0.0)],
        ),
        ("task.destroy", vec![s(task)]),
    ] {
        assert_eq!(
            p.fails(&session, &format!("Async.{method}"), &params),
            vec![
                "Fault".to_string(),
                format!("No async mode for this operation (rpc: {method})")
            ]
        );
    }
    assert_eq!(
        p.fails(&session, "task.cancel", &[s("OpaqueRef:nosuch")]),
        strings(&["HANDLE_INVALID", "task", "OpaqueRef:nosuch"])
    );
}

#[test]
fn async_results_and_pending_tasks_cancelled_or_destroyed() {
    let p = pool(2);
    install_gate_plugin(&p.roots[1]);
    let session = p.login();
    let host = p.host_refs(&session)[1].clone();
    let gate = p.roots[1].join("open");
    let args = Value::Struct(vec![("until".into(), s(gate.to_str().unwrap()))]);
    let call = [s(&host), s("gate"), s("wait"), args.clone()];
    let token = token_of(&event_from(&p, &session, &["task"], "", 0.0));

    // Pending while the plugin waits: progress 0, not finished.
    let task = p.ok(&session, "Async.host.call_plugin", &call);
    let task = task.as_str().unwrap().to_string();
    let added = event_from(&p, &session, &["task"], &token, 5.0);
    let events = events_of(&added);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].get("operation"), Some(&s("add")));
    let pending = events[0].get("snapshot").unwrap();
    assert_eq!(pending.get("status"), Some(&s("pending")));
    assert_eq!(pending.get("name_label"), Some(&s("Async.host.call_plugin")));
    assert_eq!(pending.get("progress"), Some(&Value::Double(0.0)));
    assert_eq!(pending.get("result"), Some(&s("")));
    assert_eq!(
        pending.get("finished"),
        Some(&Value::DateTime("19700101T00:00:00Z".into()))
    );
    assert_eq!(p.ok(&session, "task.get_status", &[s(&task)]), s("pending"));

    // Cancelling is recorded; nothing here polls for it, so the call still ends as it would.
    p.ok(&session, "task.cancel", &[s(&task)]);
    let operations = p.ok(&session, "task.get_current_operations", &[s(&task)]);
    assert_eq!(operations.as_struct().unwrap().len(), 1);
    assert_eq!(operations.as_struct().unwrap()[0].1, s("cancel"));

    std::fs::write(&gate, "").unwrap();
    let (_, token) = wait_task(&p, &session, &task, token_of(&added));
    assert_eq!(p.ok(&session, "task.get_status", &[s(&task)]), s("success"));
    // A string result, XML-RPC-encoded (escaped) in the task's result field.
    assert_eq!(
        p.ok(&session, "task.get_result", &[s(&task)]),
        s("<value>&lt;ok&gt; &amp; done</value>")
    );
    p.ok(&session, "task.destroy", &[s(&task)]);

    // Destroyed while pending: marked, and gone when it ends.
    std::fs::remove_file(&gate).unwrap();
    let task = p.ok(&session, "Async.host.call_plugin", &call);
    let task = task.as_str().unwrap().to_string();
    p.ok(&session, "task.destroy", &[s(&task)]);
    assert_eq!(
        p.ok(&session, "task.get_current_operations", &[s(&task)]),
        Value::Struct(vec![("task".into(), s("destroy"))])
    );
    std::fs::write(&gate, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut token = token;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e: &Value| e.get("operation") == Some(&s("del")) && e.get("ref") == Some(&s(&task)))
    {
        assert!(Instant::now() < deadline, "{seen:?}");
        let batch = event_from(&p, &session, &["task"], &token, 5.0);
        token = token_of(&batch);
        seen.extend(events_of(&batch));
    }
    assert_eq!(
        p.fails(&session, "task.get_status", &[s(&task)]),
        strings(&["HANDLE_INVALID", "task", &task])
    );
}

#[test]
fn async_calls_over_xmlrpc_and_jsonrpc() {
    let p = pool(3);
    let url = serve(&p);
    let login = [s(USER), s(PASSWORD), s("1.0"), s("test")];
    let session = xml_call(&url, "session.login_with_password", &login);
    let session = session.get("Value").unwrap().as_str().unwrap().to_string();
    let v2 = json_call(&url, true, "session.login_with_password", &login);
    let session2 = v2["result"].as_str().unwrap().to_string();
    let hosts = xml_call(&url, "host.get_all", &[s(&session)]);
    let hosts = hosts.get("Value").unwrap().as_strings().unwrap();
    for host in &hosts[1..] {
        xml_call(&url, "host.disable", &[s(&session), s(host)]);
    }

    // JSON-RPC: the task comes back as the result; event.from (over JSON too) sees it end.
    let started = json_call(&url, true, "Async.host.evacuate", &[s(&session2), s(&hosts[1])]);
    assert!(started.get("error").is_none(), "{started}");
    let task = started["result"].as_str().unwrap().to_string();
    assert!(task.starts_with("OpaqueRef:"));
    let mut token = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let snapshot = loop {
        let answer = json_call(
            &url,
            false,
            "event.from",
            &[
                s(&session2),
                Value::strings([format!("task/{task}")]),
                s(&token),
                Value::Double(5.0),
            ],
        );
        assert_eq!(answer["error"], serde_json::Value::Null, "{answer}");
        token = answer["result"]["token"].as_str().unwrap().to_string();
        let last = answer["result"]["events"].as_array().unwrap().last().cloned();
        if let Some(event) = last
            && event["snapshot"]["status"] != "pending"
        {
            break event["snapshot"].clone();
        }
        assert!(Instant::now() < deadline, "task still pending");
    };
    assert_eq!(snapshot["status"], "success");
    assert_eq!(snapshot["result"], "<value></value>");
    assert_eq!(snapshot["progress"], 1.0);
    assert_eq!(snapshot["error_info"], serde_json::json!([]));
    let guests = xml_call(&url, "VM.get_all_records", &[s(&session)]);
    let on_host = guests
        .get("Value")
        .unwrap()
        .as_struct()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("is_control_domain") == Some(&Value::Bool(false)))
        .filter(|(_, r)| r.get("resident_on") == Some(&s(&hosts[1])))
        .count();
    assert_eq!(on_host, 0, "the VMs have left the host");

    // XML-RPC: the same record, the progress a <double>.
    let record = xml_call(&url, "task.get_record", &[s(&session), s(&task)]);
    let record = record.get("Value").unwrap();
    assert_eq!(record.get("status"), Some(&s("success")));
    assert_eq!(record.get("progress"), Some(&Value::Double(1.0)));
    assert_eq!(record.get("name_label"), Some(&s("Async.host.evacuate")));
    assert_eq!(jsonrpc::to_json(record), snapshot);
    let destroyed = xml_call(&url, "task.destroy", &[s(&session), s(&task)]);
    assert_eq!(destroyed.get("Status"), Some(&s("Success")));

    // A failing one over XML-RPC (no enabled host left to take the VMs): error_info.
    xml_call(&url, "host.disable", &[s(&session), s(&hosts[0])]);
    let started = xml_call(&url, "Async.host.evacuate", &[s(&session), s(&hosts[2])]);
    assert_eq!(started.get("Status"), Some(&s("Success")));
    let task = started.get("Value").unwrap().as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = xml_call(&url, "task.get_status", &[s(&session), s(&task)]);
        if status.get("Value") != Some(&s("pending")) {
            assert_eq!(status.get("Value"), Some(&s("failure")));
            break;
        }
        assert!(Instant::now() < deadline, "task still pending");
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = xml_call(&url, "task.get_error_info", &[s(&session), s(&task)]);
    assert_eq!(
        info.get("Value").unwrap().as_strings().unwrap()[0],
        "NO_HOSTS_AVAILABLE"
    );
    let v1 = json_call(&url, false, "task.get_error_info", &[s(&session2), s(&task)]);
    assert_eq!(v1["result"], jsonrpc::to_json(info.get("Value").unwrap()));

    // Not every message has an asynchronous mode.
    let no_async = xml_call(&url, "Async.host.get_record", &[s(&session), s(&hosts[0])]);
    assert_eq!(
        no_async.get("ErrorDescription"),
        Some(&Value::strings([
            "Fault",
            "No async mode for this operation (rpc: host.get_record)"
        ]))
    );
}
