//! `Async.*` calls and their tasks in the simulated XAPI: task records, `event.from` on a
//! task, failures with error info, results, cancel and destroy, over XML-RPC and JSON-RPC.

mod xapi_support;

use std::time::{Duration, Instant};

use testbed::world::XapiFault;
use testbed::xapi_face::Value;
use testbed::xapi_face::jsonrpc;
use xapi_support::*;

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
    assert_succeeded_record(&p, &session, &record);

    assert_task_lookups(&p, &session, &task, &record);

    // Destroyed: a del event, and the reference is no more.
    assert_destroyed(&p, &session, &task, &token, &record);
}

/// A task that ended well, as `task.get_record` shows it.
fn assert_succeeded_record(p: &Pool, session: &str, record: &Value) {
    let pool_ref = p.ok(session, "pool.get_all", &[]).as_strings().unwrap()[0].clone();
    let master = p.ok(session, "pool.get_master", &[s(&pool_ref)]);
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
}

/// Field getters and lookups work for tasks as for every class.
fn assert_task_lookups(p: &Pool, session: &str, task: &str, record: &Value) {
    assert_eq!(p.ok(session, "task.get_status", &[s(task)]), s("success"));
    assert_eq!(p.ok(session, "task.get_result", &[s(task)]), s("<value></value>"));
    assert_eq!(
        p.ok(session, "task.get_error_info", &[s(task)]),
        Value::Array(vec![])
    );
    assert_eq!(p.ok(session, "task.get_progress", &[s(task)]), Value::Double(1.0));
    let uuid = record.get("uuid").unwrap().clone();
    assert_eq!(
        p.ok(session, "task.get_by_uuid", std::slice::from_ref(&uuid)),
        s(task)
    );
    assert_eq!(p.ok(session, "task.get_all", &[]), Value::strings([task]));
    assert_eq!(
        p.ok(session, "task.get_all_records", &[]),
        Value::Struct(vec![(task.to_string(), record.clone())])
    );
    assert_eq!(
        p.ok(session, "task.get_by_name_label", &[s("Async.host.evacuate")]),
        Value::strings([task])
    );
}

/// `task.destroy`: a del event after `token`, and the reference and UUID are no more.
fn assert_destroyed(p: &Pool, session: &str, task: &str, token: &str, record: &Value) {
    let uuid = record.get("uuid").unwrap().as_str().unwrap();
    assert_eq!(p.ok(session, "task.destroy", &[s(task)]), s(""));
    let gone = event_from(p, session, &["task"], token, 5.0);
    let events = events_of(&gone);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].get("operation"), Some(&s("del")));
    assert_eq!(events[0].get("ref"), Some(&s(task)));
    assert_eq!(events[0].get("snapshot"), None);
    assert_eq!(
        p.fails(session, "task.get_record", &[s(task)]),
        strings(&["HANDLE_INVALID", "task", task])
    );
    assert_eq!(
        p.fails(session, "task.destroy", &[s(task)]),
        strings(&["HANDLE_INVALID", "task", task])
    );
    assert_eq!(
        p.fails(session, "task.get_by_uuid", &[s(uuid)]),
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
    inject_host_is_slave(&p, "host.evacuate");
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
    inject_host_is_slave(&p, "Async.host.evacuate");
    assert_eq!(
        p.fails(&session, "Async.host.evacuate", &[s(&hosts[2])]),
        strings(&["HOST_IS_SLAVE", "10.0.0.11"])
    );

    assert_refused_before_a_task(&p, &session, &hosts[0], task);
}

/// The next `method` call fails with `HOST_IS_SLAVE 10.0.0.11`.
fn inject_host_is_slave(p: &Pool, method: &str) {
    p.xapi.world().change(|st| {
        st.faults.xapi_errors.push(XapiFault {
            method: method.into(),
            code: "HOST_IS_SLAVE".into(),
            params: vec!["10.0.0.11".into()],
            remaining: 1,
        })
    });
}

/// xapi's checks before a task exists name the call without its prefix; messages without an
/// asynchronous mode in the datamodel refuse `Async.`.
fn assert_refused_before_a_task(p: &Pool, session: &str, host: &str, task: &str) {
    assert_eq!(
        p.fails(session, "Async.host.frobnicate", &[s(host)]),
        strings(&["MESSAGE_METHOD_UNKNOWN", "host.frobnicate"])
    );
    assert_eq!(
        p.fails(session, "Async.host.evacuate", &[]),
        strings(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.evacuate", "4", "1"])
    );
    assert_eq!(
        p.call("Async.host.evacuate", &[s("OpaqueRef:stale"), s(host)])
            .unwrap_err()
            .description(),
        strings(&["SESSION_INVALID", "OpaqueRef:stale"])
    );
    // Messages without an asynchronous mode in the datamodel.
    for (method, params) in [
        ("host.get_record", vec![s(host)]),
        ("host.get_servertime", vec![s(host)]),
        (
            "event.from",
            vec![Value::Array(vec![]), s(""), Value::Double(0.0)],
        ),
        ("task.destroy", vec![s(task)]),
    ] {
        assert_eq!(
            p.fails(session, &format!("Async.{method}"), &params),
            vec![
                "Fault".to_string(),
                format!("No async mode for this operation (rpc: {method})")
            ]
        );
    }
    assert_eq!(
        p.fails(session, "task.cancel", &[s("OpaqueRef:nosuch")]),
        strings(&["HANDLE_INVALID", "task", "OpaqueRef:nosuch"])
    );
}

#[test]
fn async_results_and_pending_tasks_cancelled_or_destroyed() {
    let p = pool(2);
    install_plugin(&p.roots[1], "gate", GATE_PLUGIN);
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
    let login = login_params();
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
    let snapshot = wait_task_over_json(&url, &session2, &task);
    assert_eq!(snapshot["status"], "success");
    assert_eq!(snapshot["result"], "<value></value>");
    assert_eq!(snapshot["progress"], 1.0);
    assert_eq!(snapshot["error_info"], serde_json::json!([]));
    let on_host = guests_over_xml(&url, &session, &hosts[1]);
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
    assert_eq!(wait_status_over_xml(&url, &session, &task), "failure");
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

/// Waits over JSON-RPC `event.from` until the task is no longer pending; its last snapshot.
fn wait_task_over_json(url: &str, session: &str, task: &str) -> serde_json::Value {
    let mut token = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = json_call(
            url,
            false,
            "event.from",
            &[
                s(session),
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
    }
}

/// How many guest VMs are resident on `host`, over XML-RPC.
fn guests_over_xml(url: &str, session: &str, host: &str) -> usize {
    let guests = xml_call(url, "VM.get_all_records", &[s(session)]);
    guests
        .get("Value")
        .unwrap()
        .as_struct()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("is_control_domain") == Some(&Value::Bool(false)))
        .filter(|(_, r)| r.get("resident_on") == Some(&s(host)))
        .count()
}

/// Polls `task.get_status` over XML-RPC until the task is no longer pending; the status.
fn wait_status_over_xml(url: &str, session: &str, task: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = xml_call(url, "task.get_status", &[s(session), s(task)]);
        if status.get("Value") != Some(&s("pending")) {
            return status.get("Value").unwrap().as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "task still pending");
        std::thread::sleep(Duration::from_millis(20));
    }
}
