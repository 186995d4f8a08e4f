//! A simulated XAPI over a pool of hosts with empty sysroots, driven through its dispatcher
//! or over HTTP, for the xapi_* tests: sessions, typed calls, `event.from`, plugins.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testbed::world::build::{empty_hosts, initial_state};
use testbed::world::{Clock, Credentials, Scenario, World};
use testbed::xapi_face::jsonrpc;
use testbed::xapi_face::xmlrpc::{self, MethodResponse};
use testbed::xapi_face::{Failure, Value, Xapi};

pub const USER: &str = "root";

pub const PASSWORD: &str = "s3cret";

/// A pool of `n` hosts with empty sysroots (nothing to boot: hosts are up, LINSTOR is not
/// what these tests look at) on a clock 1000 times real time, so migrations and reboots
/// take milliseconds.
pub struct Pool {
    _dir: tempfile::TempDir,
    pub roots: Vec<PathBuf>,
    pub xapi: Xapi,
}

/// The parameters of `session.login_with_password` as the tests' clients send them.
pub fn login_params() -> [Value; 4] {
    [s(USER), s(PASSWORD), s("1.0"), s("test")]
}

pub fn pool_with(n: usize, scenario: &str) -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let resolved = Scenario::parse(scenario)
        .unwrap()
        .resolve(Some(n), Some(1000.0))
        .unwrap();
    let specs = empty_hosts(&resolved, dir.path()).unwrap();
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

pub fn pool(n: usize) -> Pool {
    pool_with(n, "")
}

impl Pool {
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, Failure> {
        self.xapi.call(method, params)
    }

    pub fn login(&self) -> String {
        let session = self.call("session.login_with_password", &login_params());
        session.unwrap().as_str().unwrap().to_string()
    }

    /// Calls a session method and expects success.
    pub fn ok(&self, session: &str, method: &str, params: &[Value]) -> Value {
        let mut all = vec![s(session)];
        all.extend_from_slice(params);
        self.call(method, &all)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Calls a session method and expects an XAPI error.
    pub fn fails(&self, session: &str, method: &str, params: &[Value]) -> Vec<String> {
        let mut all = vec![s(session)];
        all.extend_from_slice(params);
        match self.call(method, &all) {
            Ok(v) => panic!("{method} succeeded with {v:?}"),
            Err(e) => e.description(),
        }
    }

    pub fn host_refs(&self, session: &str) -> Vec<String> {
        self.ok(session, "host.get_all", &[]).as_strings().unwrap()
    }

    pub fn field(&self, session: &str, class: &str, reference: &str, field: &str) -> Value {
        self.ok(session, &format!("{class}.get_record"), &[s(reference)])
            .get(field)
            .unwrap()
            .clone()
    }

    /// Guest VMs (not control domains) resident on a host.
    pub fn guests_on(&self, session: &str, host: &str) -> Vec<String> {
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

pub fn s(text: &str) -> Value {
    Value::str(text)
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

/// Installs `script` as the executable plugin `name` in a host's sysroot.
pub fn install_plugin(root: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("etc/xapi.d/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn event_from(p: &Pool, session: &str, classes: &[&str], token: &str, timeout: f64) -> Value {
    let classes = Value::Array(classes.iter().map(|c| s(c)).collect());
    p.ok(
        session,
        "event.from",
        &[classes, s(token), Value::Double(timeout)],
    )
}

pub fn serve(p: &Pool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let world = Arc::clone(p.xapi.world());
    std::thread::spawn(move || testbed::xapi_face::serve(world, listener));
    url
}

pub fn post(url: &str, content_type: &str, body: String) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

pub fn xml_call(url: &str, method: &str, params: &[Value]) -> Value {
    let (status, body) = post(url, "text/xml", xmlrpc::write_call(method, params));
    assert_eq!(status, 200, "{body}");
    let MethodResponse::Params(values) = xmlrpc::parse_response(&body).unwrap() else {
        panic!("fault: {body}")
    };
    values.into_iter().next().unwrap()
}

pub fn json_call(url: &str, v2: bool, method: &str, params: &[Value]) -> serde_json::Value {
    let params: Vec<serde_json::Value> = params.iter().map(jsonrpc::to_json).collect();
    let mut request = serde_json::json!({"method": method, "params": params, "id": 7});
    if v2 {
        request["jsonrpc"] = "2.0".into();
    }
    let (status, body) = post(&format!("{url}/jsonrpc"), "application/json", request.to_string());
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub fn token_of(batch: &Value) -> String {
    batch.get("token").unwrap().as_str().unwrap().to_string()
}

pub fn events_of(batch: &Value) -> Vec<Value> {
    batch.get("events").unwrap().as_array().unwrap().to_vec()
}

/// Waits on `event.from` for `task/<ref>` from `token` until the task is no longer pending;
/// returns the events seen on the way and the token after them.
pub fn wait_task(p: &Pool, session: &str, task: &str, mut token: String) -> (Vec<Value>, String) {
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
