//! The simulated LINSTOR controller served over HTTP on a healthy three-host world, and
//! helpers to call it and read its `ApiCallRc` answers, for the linstor_* tests.

#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;
use std::sync::Arc;
use testbed::linstor_face::test_world::{online_pool, spawn};
use testbed::world::World;

/// `FAIL_EXISTS_NODE | MASK_CRT | MASK_NODE` as a Java long.
pub const FAIL_EXISTS_NODE_CRT: i64 = -4611686018406678028;

pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;

pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;

pub struct Face {
    pub world: Arc<World>,
    pub url: String,
    pub http: reqwest::blocking::Client,
    _roots: tempfile::TempDir,
}

pub fn face() -> Face {
    let (world, roots) = online_pool(3).expect("test world");
    let world = Arc::new(world);
    let url = spawn(world.clone()).expect("serve");
    Face {
        world,
        url,
        http: reqwest::blocking::Client::new(),
        _roots: roots,
    }
}

impl Face {
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rq = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let resp = rq.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        (status, value)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    pub fn raw_post(&self, path: &str, body: &'static str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().expect("json"))
    }
}

pub fn code(entry: &Value) -> u64 {
    entry["ret_code"].as_i64().expect("ret_code") as u64
}

pub fn is_error(entry: &Value) -> bool {
    code(entry) & MASK_ERROR == MASK_ERROR
}

pub fn node<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .expect("list")
        .iter()
        .find(|n| n["name"] == name)
        .expect("node in list")
}
