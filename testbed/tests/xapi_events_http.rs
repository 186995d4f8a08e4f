//! `event.from` waking on a change or timing out, and the simulated XAPI over HTTP: the same
//! dispatcher behind XML-RPC and JSON-RPC, XAPI's answers to malformed requests, and XAPI
//! going away while the master reboots.

mod xapi_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use testbed::xapi_face::Value;
use testbed::xapi_face::jsonrpc;
use testbed::xapi_face::xmlrpc::{self, MethodResponse};
use xapi_support::*;

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

#[test]
fn xmlrpc_and_jsonrpc_give_the_same_answers() {
    let p = pool(2);
    let url = serve(&p);
    let login = login_params();

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
