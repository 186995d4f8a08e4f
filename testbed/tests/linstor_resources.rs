//! The simulated LINSTOR controller over HTTP: storage pools, resources and resource
//! definitions that follow the world, controller properties, unknown routes and methods, and
//! a controller that refuses connections.

mod linstor_support;

use linstor_support::*;
use serde_json::json;
use testbed::world::Power;

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
