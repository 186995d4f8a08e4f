//! The LINSTOR REST client against the testbed's LINSTOR face served in-process: every call
//! the agent uses, URL fallback, and refusals shown as message, cause and correction.

use linstor_agent::linstor::{
    Client, LinstorError, NetInterface, NodeCreate, PropsModify, StoragePoolCreate,
};
use linstor_agent::settings::ControllerSettings;
use std::collections::BTreeMap;
use std::sync::Arc;
use testbed::linstor_face::test_world::{online_pool, spawn};
use testbed::world::World;
use testbed::world::faults::Fault;

struct Face {
    world: Arc<World>,
    url: String,
    _roots: tempfile::TempDir,
}

fn face() -> Face {
    let (world, roots) = online_pool(3).expect("test world");
    let world = Arc::new(world);
    let url = spawn(world.clone()).expect("serve");
    Face {
        world,
        url,
        _roots: roots,
    }
}

fn client(urls: Vec<String>) -> Client {
    Client::new(&ControllerSettings::with_urls(urls)).expect("client")
}

/// A URL nothing listens on (a port bound, then released).
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[test]
fn version_nodes_and_interfaces() {
    let f = face();
    let c = client(vec![f.url.clone()]);
    let v = c.version().expect("version");
    assert_eq!(v.rest_api_version, "1.28.0");
    assert_eq!(v.version, f.world.read(|s| s.controller.version.clone()));

    let nodes = c.nodes().expect("nodes");
    assert_eq!(nodes.len(), 3);
    let n1 = c.node("xcp-ng-1").expect("get").expect("exists");
    assert_eq!(n1.node_type, "COMBINED");
    assert_eq!(n1.connection_status, "ONLINE");
    let stlt = n1.satellite_interface().expect("satellite interface");
    assert_eq!(stlt.satellite_port, Some(3366));
    assert!(c.node("nope").expect("get").is_none(), "not found is None");

    let netifs = c.net_interfaces("xcp-ng-1").expect("netifs");
    assert_eq!(netifs.len(), n1.net_interfaces.len());

    // A storage interface, PrefNic on it, then its address changed.
    let storage = NetInterface {
        name: "storage".into(),
        address: "10.1.0.11".into(),
        ..Default::default()
    };
    c.create_net_interface("xcp-ng-1", &storage)
        .expect("create netif");
    c.modify_node(
        "xcp-ng-1",
        &PropsModify {
            override_props: BTreeMap::from([("PrefNic".into(), "storage".into())]),
            ..Default::default()
        },
    )
    .expect("PrefNic");
    c.modify_net_interface(
        "xcp-ng-1",
        &NetInterface {
            address: "10.1.0.21".into(),
            ..storage.clone()
        },
    )
    .expect("modify netif");
    let n1 = c.node("xcp-ng-1").expect("get").expect("exists");
    assert_eq!(n1.props.get("PrefNic").map(String::as_str), Some("storage"));
    assert_eq!(
        n1.interface("storage").map(|i| i.address.as_str()),
        Some("10.1.0.21")
    );

    // PrefNic on an interface that does not exist: the controller's message comes through.
    let err = c
        .modify_node(
            "xcp-ng-1",
            &PropsModify {
                override_props: BTreeMap::from([("PrefNic".into(), "nic9".into())]),
                ..Default::default()
            },
        )
        .expect_err("refused");
    assert!(err.to_string().contains("'nic9'"), "{err}");
}

#[test]
fn create_duplicate_is_shown_with_message_cause_and_correction() {
    let f = face();
    let c = client(vec![f.url.clone()]);
    let body = NodeCreate {
        name: "xcp-ng-1".into(),
        node_type: "Combined".into(),
        props: BTreeMap::new(),
        net_interfaces: vec![NetInterface {
            name: "default".into(),
            address: "10.0.0.99".into(),
            satellite_port: Some(3366),
            satellite_encryption_type: Some("Plain".into()),
            is_active: Some(true),
            uuid: None,
        }],
    };
    let err = c.create_node(&body).expect_err("duplicate");
    assert!(matches!(err, LinstorError::Api { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("Registration of node 'xcp-ng-1' failed."), "{text}");
    assert!(
        text.contains("cause: A node with the specified name 'xcp-ng-1' already exists."),
        "{text}"
    );
    assert!(text.contains("correction: - Specify another name"), "{text}");
    assert!(!text.contains("HTTP 500"), "{text}");
    assert_eq!(f.world.read(|s| s.nodes.len()), 3, "nothing added");

    // A new node (no host behind it: OFFLINE), then deleted.
    let new = NodeCreate {
        name: "xcp-ng-9".into(),
        ..body
    };
    let entries = c.create_node(&new).expect("create");
    assert!(
        entries.iter().any(|e| e.message.contains("registered")),
        "{entries:?}"
    );
    assert_eq!(
        c.node("xcp-ng-9")
            .expect("get")
            .expect("exists")
            .connection_status,
        "OFFLINE"
    );
    c.delete_node("xcp-ng-9").expect("delete");
    assert!(c.node("xcp-ng-9").expect("get").is_none());
}

#[test]
fn storage_pools_resources_sync_status_and_properties() {
    let f = face();
    let c = client(vec![f.url.clone()]);
    let pool = StoragePoolCreate {
        storage_pool_name: "xcp-sr-vg9".into(),
        provider_kind: "LVM".into(),
        props: BTreeMap::from([("StorDriver/StorPoolName".into(), "vg9".into())]),
    };
    c.create_storage_pool("xcp-ng-2", &pool).expect("create pool");
    let pools = c.storage_pools("xcp-ng-2").expect("pools");
    let found = pools
        .iter()
        .find(|p| p.storage_pool_name == "xcp-sr-vg9")
        .expect("listed");
    assert_eq!(found.provider_kind, "LVM");
    assert_eq!(
        found.props.get("StorDriver/StorPoolName").map(String::as_str),
        Some("vg9")
    );
    let err = c.create_storage_pool("xcp-ng-2", &pool).expect_err("exists");
    assert!(err.to_string().contains("already exists"), "{err}");

    let resources = c.resources(None).expect("resources");
    let on_node = c.resources(Some("xcp-ng-1")).expect("resources on node");
    assert!(on_node.iter().all(|r| r.node_name == "xcp-ng-1"));
    assert!(on_node.len() <= resources.len());
    if let Some(r) = resources.first() {
        c.sync_status(&r.name).expect("sync status");
    }
    let err = c.sync_status("no-such-resource").expect_err("missing");
    assert!(
        err.is_not_found() || matches!(err, LinstorError::Api { .. }),
        "{err}"
    );

    c.set_controller_properties(&PropsModify {
        override_props: BTreeMap::from([("DrbdOptions/AutoEvictAllowEviction".into(), "False".into())]),
        ..Default::default()
    })
    .expect("set property");
    let props = c.controller_properties().expect("properties");
    assert_eq!(
        props
            .get("DrbdOptions/AutoEvictAllowEviction")
            .map(String::as_str),
        Some("false")
    );
    let err = c
        .set_controller_properties(&PropsModify {
            override_props: BTreeMap::from([("Bogus".into(), "1".into())]),
            ..Default::default()
        })
        .expect_err("not whitelisted");
    assert!(err.to_string().contains("not whitelisted"), "{err}");
}

#[test]
fn urls_are_tried_in_order_and_unreachable_names_them() {
    let f = face();
    let dead = dead_url();
    let c = client(vec![dead.clone(), f.url.clone()]);
    c.version().expect("second URL answers");
    assert_eq!(c.current_url(), f.url);

    let (dead1, dead2) = (dead_url(), dead_url());
    let c = client(vec![dead1.clone(), dead2.clone()]);
    let err = c.nodes().expect_err("nobody answers");
    let text = err.to_string();
    assert!(matches!(err, LinstorError::Unreachable { .. }), "{err:?}");
    assert!(text.contains(&dead1) && text.contains(&dead2), "{text}");
}

#[test]
fn controller_down_fault_is_unreachable() {
    let f = face();
    let c = client(vec![f.url.clone()]);
    c.version().expect("up");
    f.world
        .inject(&Fault::ControllerDown { seconds: 600.0 })
        .expect("fault");
    let err = c.version().expect_err("down");
    assert!(err.to_string().contains(&f.url), "{err}");
}
