//! The simulated LINSTOR controller over HTTP: every endpoint, with the status codes and
//! `ApiCallRc` bodies the real controller sends, and the node states that follow the world.

use serde_json::{Value, json};
use std::sync::Arc;
use testbed::linstor_face::test_world::{online_pool, spawn};
use testbed::world::{Power, World};

/// `FAIL_EXISTS_NODE | MASK_CRT | MASK_NODE` as a Java long.
const FAIL_EXISTS_NODE_CRT: i64 = -4611686018406678028;
const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
const MASK_WARN: u64 = 0x8000_0000_0000_0000;

struct Face {
    world: Arc<World>,
    url: String,
    http: reqwest::blocking::Client,
    _roots: tempfile::TempDir,
}

fn face() -> Face {
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
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    fn raw_post(&self, path: &str, body: &'static str) -> (u16, Value) {
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

fn code(entry: &Value) -> u64 {
    entry["ret_code"].as_i64().expect("ret_code") as u64
}

fn is_error(entry: &Value) -> bool {
    code(entry) & MASK_ERROR == MASK_ERROR
}

fn node<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .expect("list")
        .iter()
        .find(|n| n["name"] == name)
        .expect("node in list")
}

#[test]
fn controller_version_reports_the_worlds_linstor() {
    let f = face();
    let (status, v) = f.get("/v1/controller/version");
    assert_eq!(status, 200);
    assert_eq!(v["rest_api_version"], "1.28.0");
    let version = f.world.read(|s| s.controller.version.clone());
    assert_eq!(v["version"], version);
    assert_eq!(v["git_hash"].as_str().map(str::len), Some(40));
}

#[test]
fn nodes_list_get_and_not_found() {
    let f = face();
    let (status, list) = f.get("/v1/nodes");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    let n1 = node(&list, "xcp-ng-1");
    assert_eq!(n1["type"], "COMBINED");
    assert_eq!(n1["connection_status"], "ONLINE");
    assert_eq!(n1["net_interfaces"][0]["satellite_encryption_type"], "PLAIN");
    assert_eq!(n1["net_interfaces"][0]["is_active"], true);
    assert!(
        n1["storage_providers"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("LVM_THIN")))
    );
    assert!(
        n1["resource_layers"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("DRBD")))
    );
    assert!(
        n1.get("flags").is_none(),
        "empty lists are left out, as Jackson NON_EMPTY does"
    );

    let (status, filtered) = f.get("/v1/nodes?nodes=xcp-ng-2&nodes=XCP-NG-3");
    assert_eq!(status, 200);
    assert_eq!(filtered.as_array().map(Vec::len), Some(2));

    let (status, one) = f.get("/v1/nodes/xcp-ng-2");
    assert_eq!(status, 200);
    assert_eq!(one["name"], "xcp-ng-2");

    let (status, missing) = f.get("/v1/nodes/nope");
    assert_eq!(status, 404);
    assert_eq!(missing[0]["message"], "Node 'nope' not found.");
    assert_eq!(missing[0]["ret_code"], -4611686018427387604i64);
}

#[test]
fn node_create_duplicate_and_bad_bodies() {
    let f = face();
    let body = json!({
        "name": "xcp-ng-9", "type": "Satellite",
        "net_interfaces": [{"name": "default", "address": "10.0.0.99", "satellite_port": 3366,
                            "satellite_encryption_type": "Plain", "is_active": true}]
    });
    let (status, rc) = f.call("POST", "/v1/nodes", Some(body.clone()));
    assert_eq!(status, 201, "{rc}");
    assert_eq!(rc[0]["message"], "New node 'xcp-ng-9' registered.");
    assert_eq!(rc[0]["obj_refs"]["Node"], "xcp-ng-9");
    // No host answers at that address: the controller warns it cannot connect.
    assert_eq!(rc[1]["message"], "No active connection to satellite 'xcp-ng-9'");
    assert_eq!(code(&rc[1]) & MASK_WARN, MASK_WARN);

    let (_, created) = f.get("/v1/nodes/xcp-ng-9");
    assert_eq!(created["type"], "SATELLITE");
    assert_eq!(created["connection_status"], "OFFLINE");
    assert_eq!(created["net_interfaces"][0]["satellite_encryption_type"], "PLAIN");
    assert!(created.get("storage_providers").is_none());

    let (status, dup) = f.call("POST", "/v1/nodes", Some(body));
    assert_eq!(status, 500);
    assert_eq!(dup[0]["ret_code"], FAIL_EXISTS_NODE_CRT);
    assert_eq!(
        dup[0]["cause"],
        "A node with the specified name 'xcp-ng-9' already exists."
    );

    // The controller's node handler asks for 400 on a parse error, but its error entry makes
    // it 500 (`ApiCallRcRestUtils.toResponse`); the net-interface handler answers a plain 400.
    let (status, bad) = f.raw_post("/v1/nodes", "{not json");
    assert_eq!(status, 500);
    assert_eq!(bad[0]["message"], "Unable to parse input json.");
    assert_eq!(bad[0]["ret_code"], -3458764513820540931i64);
    let (status, _) = f.raw_post("/v1/nodes", r#"{"name": "x1", "colour": "red"}"#);
    assert_eq!(status, 500, "unknown fields are refused like Jackson does");
    let (status, _) = f.raw_post("/v1/nodes/xcp-ng-1/net-interfaces", "[]");
    assert_eq!(status, 400);

    let (status, no_if) = f.call(
        "POST",
        "/v1/nodes",
        Some(json!({"name": "xcp-ng-8", "type": "Combined"})),
    );
    assert_eq!(status, 500);
    assert_eq!(no_if[0]["cause"], "No network interfaces were given.");

    let bad_type = json!({"name": "xcp-ng-8", "type": "Banana",
                          "net_interfaces": [{"name": "default", "address": "10.0.0.98"}]});
    let (status, t) = f.call("POST", "/v1/nodes", Some(bad_type));
    assert_eq!(status, 500);
    assert_eq!(t[0]["message"], "The specified node type 'Banana' is invalid.");
}

#[test]
fn an_online_node_create_reports_what_its_satellite_supports() {
    let f = face();
    // Delete a node without replicas first: make one by removing xcp-ng-3's replicas.
    f.world.change(|s| {
        s.resources.retain(|r| r.node != "xcp-ng-3");
        s.nodes.retain(|n| n.name != "xcp-ng-3");
    });
    let body = json!({"name": "xcp-ng-3", "type": "Combined",
        "net_interfaces": [{"name": "default", "address": "10.0.0.13", "satellite_port": 3366,
                            "satellite_encryption_type": "Plain"}]});
    let (status, rc) = f.call("POST", "/v1/nodes", Some(body));
    assert_eq!(status, 201, "{rc}");
    assert_eq!(rc[1]["message"], "Node 'xcp-ng-3' authenticated");
    let details = rc[1]["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("Supported storage providers: [diskless, lvm, lvm_thin"),
        "{details}"
    );
    let (_, pools) = f.get("/v1/nodes/xcp-ng-3/storage-pools");
    assert_eq!(pools[0]["storage_pool_name"], "DfltDisklessStorPool");
}

#[test]
fn node_modify_delete_restore_evacuate() {
    let f = face();
    let (status, rc) = f.call(
        "PUT",
        "/v1/nodes/xcp-ng-2",
        Some(json!({"override_props": {"Aux/site": "rack1"}})),
    );
    assert_eq!(status, 200, "{rc}");
    assert_eq!(rc[0]["message"], "Node 'xcp-ng-2' modified.");
    let (_, n) = f.get("/v1/nodes/xcp-ng-2");
    assert_eq!(n["props"]["Aux/site"], "rack1");

    let (status, rc) = f.call(
        "PUT",
        "/v1/nodes/xcp-ng-2",
        Some(json!({"override_props": {"PrefNic": "eth9"}})),
    );
    assert_eq!(status, 500);
    assert_eq!(
        rc[0]["message"],
        "The network interface 'eth9' of node 'xcp-ng-2' does not exist!"
    );

    let (status, rc) = f.call("PUT", "/v1/nodes/nope", Some(json!({})));
    assert_eq!(status, 404, "{rc}");

    // xcp-ng-1 holds the only diskful replica of nothing, but VMs use its resources.
    let (status, rc) = f.call("DELETE", "/v1/nodes/xcp-ng-1", None);
    assert_eq!(status, 500, "{rc}");
    let last = rc.as_array().and_then(|l| l.last()).expect("entries");
    assert_eq!(
        last["message"],
        "Cannot delete node, because it has in use or last diskful resources."
    );

    let (status, rc) = f.call("DELETE", "/v1/nodes/nope", None);
    assert_eq!(status, 200);
    assert_eq!(rc[0]["message"], "Deletion of node 'nope' had no effect.");

    let (status, rc) = f.call("PUT", "/v1/nodes/xcp-ng-2/restore", None);
    assert_eq!(status, 500);
    assert_eq!(rc[0]["ret_code"], MASK_ERROR as i64);

    let (status, _) = f.call("PUT", "/v1/nodes/xcp-ng-2/evacuate", None);
    assert_eq!(status, 200);
    let (_, n) = f.get("/v1/nodes/xcp-ng-2");
    assert_eq!(n["flags"], json!(["EVACUATE"]));
    let (status, rc) = f.call("PUT", "/v1/nodes/xcp-ng-2/restore", Some(json!({})));
    assert_eq!(status, 200);
    assert_eq!(rc[0]["message"], "Successfully restored node xcp-ng-2");
    let (_, n) = f.get("/v1/nodes/xcp-ng-2");
    assert!(n.get("flags").is_none());

    // A node without replicas goes at once.
    f.world.change(|s| s.resources.retain(|r| r.node != "xcp-ng-3"));
    f.world.change(|s| s.vms.clear());
    let (status, rc) = f.call("DELETE", "/v1/nodes/xcp-ng-3", None);
    assert_eq!(status, 200, "{rc}");
    assert_eq!(rc[0]["message"], "Node 'xcp-ng-3' deleted.");
    assert_eq!(f.get("/v1/nodes/xcp-ng-3").0, 404);
}

#[test]
fn net_interfaces_crud() {
    let f = face();
    let (status, rc) = f.call(
        "POST",
        "/v1/nodes/xcp-ng-1/net-interfaces",
        Some(json!({"name": "storage", "address": "10.1.0.11", "is_active": false})),
    );
    assert_eq!(status, 201, "{rc}");
    assert_eq!(
        rc[0]["message"],
        "New netInterface 'storage' on node 'xcp-ng-1' registered."
    );
    let (status, list) = f.get("/v1/nodes/xcp-ng-1/net-interfaces");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let (status, one) = f.get("/v1/nodes/xcp-ng-1/net-interfaces/storage");
    assert_eq!(status, 200);
    assert_eq!(one["address"], "10.1.0.11");
    assert_eq!(one["is_active"], false);

    let (status, _) = f.call(
        "PUT",
        "/v1/nodes/xcp-ng-1/net-interfaces/storage",
        Some(json!({"name": "storage", "address": "10.1.0.21"})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        f.get("/v1/nodes/xcp-ng-1/net-interfaces/storage").1["address"],
        "10.1.0.21"
    );

    // PrefNic may now name it.
    let (status, _) = f.call(
        "PUT",
        "/v1/nodes/xcp-ng-1",
        Some(json!({"override_props": {"PrefNic": "storage"}})),
    );
    assert_eq!(status, 200);

    let (status, dup) = f.call(
        "POST",
        "/v1/nodes/xcp-ng-1/net-interfaces",
        Some(json!({"name": "storage", "address": "10.1.0.9"})),
    );
    assert_eq!(status, 500);
    assert!(is_error(&dup[0]));
    let (status, bad) = f.call(
        "POST",
        "/v1/nodes/xcp-ng-1/net-interfaces",
        Some(json!({"name": "eth2", "address": "10.1.0"})),
    );
    assert_eq!(status, 500);
    assert_eq!(bad[0]["message"], "Failed to parse IP address");

    let (status, rc) = f.call("DELETE", "/v1/nodes/xcp-ng-1/net-interfaces/storage", None);
    assert_eq!(status, 200);
    assert_eq!(
        rc[0]["message"],
        "NetInterface 'storage' on node 'xcp-ng-1' deleted."
    );
    let (status, rc) = f.call("DELETE", "/v1/nodes/xcp-ng-1/net-interfaces/storage", None);
    assert_eq!(status, 200);
    assert_eq!(code(&rc[0]) & MASK_WARN, MASK_WARN);
    assert_eq!(f.get("/v1/nodes/xcp-ng-1/net-interfaces/storage").0, 404);
    assert_eq!(f.get("/v1/nodes/nope/net-interfaces").0, 404);
}

#[test]
fn storage_pools_per_node_and_view() {
    let f = face();
    let (status, pools) = f.get("/v1/nodes/xcp-ng-1/storage-pools");
    assert_eq!(status, 200);
    let names: Vec<&str> = pools
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["storage_pool_name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["DfltDisklessStorPool", "xcp-sr-linstor_group_thin_device"]
    );
    assert_eq!(pools[0]["free_capacity"], i64::MAX);
    assert_eq!(
        pools[1]["props"]["StorDriver/StorPoolName"],
        "linstor_group/thin_device"
    );
    assert_eq!(pools[1]["static_traits"]["Provisioning"], "Thin");

    let create = json!({"storage_pool_name": "thick", "provider_kind": "LVM",
                        "props": {"StorDriver/StorPoolName": "linstor_group"}});
    let (status, rc) = f.call("POST", "/v1/nodes/xcp-ng-2/storage-pools", Some(create.clone()));
    assert_eq!(status, 201, "{rc}");
    assert_eq!(
        rc[0]["message"],
        "New storage pool 'thick' on node 'xcp-ng-2' registered."
    );
    assert_eq!(rc[0]["obj_refs"]["StorPoolDfn"], "thick");
    let (status, dup) = f.call("POST", "/v1/nodes/xcp-ng-2/storage-pools", Some(create.clone()));
    assert_eq!(status, 500);
    assert_eq!(
        dup[0]["message"],
        "Node: xcp-ng-2, Storage pool name: thick already exists."
    );

    // An offline satellite supports nothing: the create fails as on the real controller.
    f.world.change(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == "xcp-ng-3") {
            h.satellite_running = false;
        }
    });
    let (status, rc) = f.call("POST", "/v1/nodes/xcp-ng-3/storage-pools", Some(create));
    assert_eq!(status, 500);
    assert_eq!(
        rc[0]["message"],
        "The satellite does not support the device provider LVM"
    );
    let (status, offline) = f.get("/v1/nodes/xcp-ng-3/storage-pools/xcp-sr-linstor_group_thin_device");
    assert_eq!(status, 200);
    assert!(offline.get("free_capacity").is_none());
    assert_eq!(
        offline["reports"][0]["message"],
        "No active connection to satellite 'xcp-ng-3'"
    );

    let (status, view) = f.get("/v1/view/storage-pools?storage_pools=thick");
    assert_eq!(status, 200);
    assert_eq!(view.as_array().map(Vec::len), Some(1));
    let (_, view) = f.get("/v1/view/storage-pools?nodes=xcp-ng-1&nodes=xcp-ng-2");
    assert_eq!(view.as_array().map(Vec::len), Some(5));

    let (status, missing) = f.get("/v1/nodes/xcp-ng-1/storage-pools/thick");
    assert_eq!(status, 404);
    assert_eq!(
        missing[0]["message"],
        "Storage pool 'thick' on node 'xcp-ng-1' not found."
    );
    assert_eq!(f.get("/v1/nodes/nope/storage-pools").0, 404);

    let (status, rc) = f.call("DELETE", "/v1/nodes/xcp-ng-2/storage-pools/thick", None);
    assert_eq!(status, 200);
    assert_eq!(
        rc[0]["message"],
        "Storage pool 'thick' on node 'xcp-ng-2' deleted."
    );
    let (status, rc) = f.call(
        "DELETE",
        "/v1/nodes/xcp-ng-1/storage-pools/xcp-sr-linstor_group_thin_device",
        None,
    );
    assert_eq!(status, 500, "a pool with volumes stays: {rc}");
}

#[test]
fn resources_view_follows_the_world() {
    let f = face();
    let (status, list) = f.get("/v1/view/resources?resources=xcp-persistent-database");
    assert_eq!(status, 200);
    let replicas = list.as_array().expect("list");
    assert!(!replicas.is_empty());
    for r in replicas {
        let volume = &r["volumes"][0];
        if r["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("DISKLESS")))
        {
            assert_eq!(volume["state"]["disk_state"], "Diskless");
            continue;
        }
        assert_eq!(volume["state"]["disk_state"], "UpToDate", "{r}");
        assert_eq!(volume["layer_data_list"][0]["type"], "DRBD");
        assert_eq!(volume["layer_data_list"][1]["type"], "STORAGE");
        let peers = volume["state"]["replication_states"]
            .as_object()
            .expect("replication_states");
        assert!(
            peers.values().all(|p| p["replication_state"] == "Established"),
            "{peers:?}"
        );
    }

    // A host goes down: its replicas lose their state, peers see replication Off.
    f.world.change(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == "xcp-ng-3") {
            h.power = Power::Down;
        }
    });
    let (_, list) = f.get("/v1/view/resources?nodes=xcp-ng-3");
    for r in list.as_array().expect("list") {
        assert!(r["volumes"][0].get("state").is_none(), "{r}");
        assert!(r.get("state").is_none());
    }
    let (_, list) = f.get("/v1/view/resources?nodes=xcp-ng-1&resources=xcp-persistent-database");
    let states = &list[0]["volumes"][0]["state"]["replication_states"];
    assert_eq!(states["xcp-ng-3"]["replication_state"], "Off", "{states}");
    assert_eq!(f.get("/v1/nodes/xcp-ng-3").1["connection_status"], "OFFLINE");

    let (_, by_pool) = f.get("/v1/view/resources?storage_pools=DfltDisklessStorPool");
    assert!(
        by_pool
            .as_array()
            .expect("list")
            .iter()
            .all(|r| r["props"]["StorPoolName"] == "DfltDisklessStorPool")
    );
}

#[test]
fn node_states_follow_the_hosts_sysroot() {
    let f = face();
    f.world.change(|s| {
        for h in &mut s.hosts {
            match h.name.as_str() {
                "xcp-ng-2" => h.drbd_loaded = false,
                "xcp-ng-3" => h.satellite_version = Some("1.28.0".into()),
                _ => {}
            }
        }
    });
    let (_, list) = f.get("/v1/nodes");
    let n2 = node(&list, "xcp-ng-2");
    assert_eq!(n2["connection_status"], "ONLINE");
    assert!(n2["unsupported_layers"]["DRBD"].is_array(), "{n2}");
    assert!(
        !n2["resource_layers"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("DRBD")))
    );
    assert_eq!(node(&list, "xcp-ng-3")["connection_status"], "VERSION_MISMATCH");
}

#[test]
fn resource_definitions_and_sync_status() {
    let f = face();
    let (status, list) = f.get("/v1/resource-definitions?with_volume_definitions=true");
    assert_eq!(status, 200);
    let db = list
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["name"] == "xcp-persistent-database")
        .expect("db");
    assert_eq!(db["layer_data"][0]["type"], "DRBD");
    assert_eq!(db["volume_definitions"][0]["size_kib"], 1024 * 1024);

    let (status, one) = f.get("/v1/resource-definitions/xcp-persistent-database");
    assert_eq!(status, 200);
    assert!(one.get("volume_definitions").is_none());
    assert_eq!(f.get("/v1/resource-definitions/nope").0, 404);

    let (status, sync) = f.get("/v1/resource-definitions/xcp-persistent-database/sync-status");
    assert_eq!(status, 200);
    assert_eq!(sync, json!({"synced_on_all": true}));
    // A host holding a diskful replica goes away: not synced on all any more.
    let holder = f.world.read(|s| {
        s.resources
            .iter()
            .find(|r| {
                r.name == "xcp-persistent-database"
                    && r.node != s.controller.host
                    && r.disk_state == "UpToDate"
            })
            .map(|r| r.node.clone())
    });
    let holder = holder.expect("a diskful replica away from the controller's host");
    f.world.change(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == holder) {
            h.power = Power::Down;
        }
    });
    let (_, sync) = f.get("/v1/resource-definitions/xcp-persistent-database/sync-status");
    assert_eq!(sync, json!({"synced_on_all": false}));
    let (status, rc) = f.get("/v1/resource-definitions/nope/sync-status");
    assert_eq!(status, 404);
    assert_eq!(rc[0]["message"], "Resource definition 'nope' not found.");

    let body = json!({"resource_definition": {"name": "scratch"}});
    let (status, rc) = f.call("POST", "/v1/resource-definitions", Some(body.clone()));
    assert_eq!(status, 201, "{rc}");
    assert_eq!(rc[0]["message"], "New resource definition 'scratch' created.");
    let (status, rc) = f.call("POST", "/v1/resource-definitions", Some(body));
    assert_eq!(status, 500);
    assert_eq!(
        rc[0]["message"],
        "A resource definition with the name 'scratch' already exists"
    );
    let (status, rc) = f.call("DELETE", "/v1/resource-definitions/scratch", None);
    assert_eq!(status, 200);
    assert_eq!(rc[0]["message"], "Resource definition 'scratch' deleted.");
}

#[test]
fn controller_properties() {
    let f = face();
    let body = json!({"override_props": {"DrbdOptions/AutoEvictAllowEviction": "False"}});
    let (status, rc) = f.call("POST", "/v1/controller/properties", Some(body));
    assert_eq!(status, 201, "{rc}");
    assert_eq!(
        rc[0]["message"],
        "Successfully set property 'DrbdOptions/AutoEvictAllowEviction' to value 'false'"
    );
    let (status, props) = f.get("/v1/controller/properties");
    assert_eq!(status, 200);
    assert_eq!(props["DrbdOptions/AutoEvictAllowEviction"], "false");

    let (status, rc) = f.call(
        "POST",
        "/v1/controller/properties",
        Some(json!({"override_props": {"Nope": "1"}})),
    );
    assert_eq!(status, 500);
    assert_eq!(rc[0]["message"], "The key 'Nope' is not whitelisted");
    let bad = json!({"override_props": {"DrbdOptions/AutoEvictAllowEviction": "maybe"}});
    assert_eq!(f.call("POST", "/v1/controller/properties", Some(bad)).0, 500);
    let (status, _) = f.call(
        "POST",
        "/v1/controller/properties",
        Some(json!({"delete_props": ["DrbdOptions/AutoEvictAllowEviction"]})),
    );
    assert_eq!(status, 201);
    assert!(
        f.get("/v1/controller/properties")
            .1
            .get("DrbdOptions/AutoEvictAllowEviction")
            .is_none()
    );
}

#[test]
fn unknown_routes_and_methods() {
    let f = face();
    assert_eq!(f.get("/v1/nope").0, 404);
    assert_eq!(f.call("DELETE", "/v1/controller/version", None).0, 405);
}

#[test]
fn a_refusing_controller_drops_connections() {
    let f = face();
    // A kept-alive connection, as python-linstor holds one.
    assert_eq!(f.get("/v1/controller/version").0, 200);
    f.world
        .change(|s| s.controller.refuse_until = Some(s.now + 3600.0));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let err = f.http.get(format!("{}/v1/nodes", f.url)).send();
    assert!(err.is_err(), "the kept-alive connection is cut");
    let fresh = reqwest::blocking::Client::new()
        .get(format!("{}/v1/nodes", f.url))
        .send();
    assert!(fresh.is_err(), "new connections are closed");

    f.world.change(|s| s.controller.refuse_until = None);
    let back = reqwest::blocking::Client::new()
        .get(format!("{}/v1/nodes", f.url))
        .send()
        .expect("back");
    assert_eq!(back.status().as_u16(), 200);
}
