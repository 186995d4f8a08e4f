//! The simulated LINSTOR controller over HTTP: its version, nodes (list, get, create, modify,
//! delete, restore, evacuate) and net-interfaces, with the status codes and `ApiCallRc`
//! bodies the real controller sends, and the node states that follow the hosts.

mod linstor_support;

use linstor_support::*;
use serde_json::json;

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
