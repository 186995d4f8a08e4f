//! `host.call_plugin` through the simulated XAPI: a real plugin in the host's sysroot, written
//! as XenAPIPlugin.dispatch would answer (python3's xmlrpc.client stands in for XenAPIPlugin),
//! with the agent binary in its environment; and the built-in `service.py`.

mod xapi_support;

use std::path::PathBuf;

use testbed::xapi_face::{Value, Xapi};
use xapi_support::*;

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

#[test]
fn call_plugin_runs_the_hosts_plugin_as_xapi_does() {
    let p = pool(2);
    install_plugin(&p.roots[1], "linstor-agent", PLUGIN);
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
    install_plugin(&p.roots[0], "linstor-agent", PLUGIN);
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
