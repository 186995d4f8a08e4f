//! `linstor-agent register` through the binary, under `--root`, against the testbed's LINSTOR
//! face served in-process: creation, idempotence, the storage interface and PrefNic, the
//! controller down, a duplicate node at another address, and the ONLINE wait's timeout.

use linstor_agent::linstor::Client;
use linstor_agent::settings::ControllerSettings;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use testbed::linstor_face::test_world::{online_pool, spawn};
use testbed::world::World;
use testbed::world::faults::Fault;

struct Pool {
    world: Arc<World>,
    url: String,
    _roots: tempfile::TempDir,
}

/// Three healthy hosts; `unregistered` have their node removed from the controller (as
/// before their first `register`).
fn pool(unregistered: &[&str]) -> Pool {
    let (world, roots) = online_pool(3).expect("test world");
    world.change(|s| s.nodes.retain(|n| !unregistered.contains(&n.name.as_str())));
    let world = Arc::new(world);
    let url = spawn(world.clone()).expect("serve");
    Pool {
        world,
        url,
        _roots: roots,
    }
}

impl Pool {
    fn address(&self, host: &str) -> String {
        self.world.read(|s| {
            s.nodes
                .iter()
                .find(|n| n.name == host)
                .map(|n| n.net_interfaces[0].address.clone())
                .unwrap_or_else(|| {
                    let i = s.hosts.iter().position(|h| h.name == host).expect("host");
                    testbed::world::build::management_address(i).expect("address")
                })
        })
    }

    fn client(&self) -> Client {
        Client::new(&ControllerSettings::with_urls(vec![self.url.clone()])).expect("client")
    }
}

/// A host root with `/etc/hostname` and an agent.toml.
fn root(hostname: &str, config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc/linstor-agent")).expect("mkdir");
    std::fs::write(dir.path().join("etc/hostname"), format!("{hostname}\n")).expect("hostname");
    let config_path = dir.path().join("etc/linstor-agent/agent.toml");
    std::fs::write(&config_path, config).expect("config");
    (dir, config_path)
}

fn controller(url: &str, address: &str) -> String {
    format!("[controller]\nurls = [\"{url}\"]\naddress = \"{address}\"\n")
}

fn register(root: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(root)
        .args(["--output", "json", "register"])
        .args(args)
        .env_remove("LINSTOR_AGENT_ROOT")
        .output()
        .expect("run agent");
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "one JSON document ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn message(doc: &Value) -> String {
    doc["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_new_diskless_node_is_created_online_and_a_second_run_changes_nothing() {
    let p = pool(&["xcp-ng-3"]);
    let address = p.address("xcp-ng-3");
    let (dir, _) = root("xcp-ng-3", &controller(&p.url, &address));

    // --dry-run: the plan, and nothing on the controller.
    let (code, doc) = register(dir.path(), &["--dry-run", "--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["changed"], false);
    assert!(
        doc["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["what"] == "node")),
        "{doc}"
    );
    assert!(
        p.client().node("xcp-ng-3").expect("get").is_none(),
        "dry run created nothing"
    );
    assert!(!dir.path().join("etc/linstor/linstor_satellite.toml").exists());

    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["diskless"], true);
    assert_eq!(doc["connection_status"], "ONLINE");
    let node = p.client().node("xcp-ng-3").expect("get").expect("created");
    assert_eq!(node.node_type, "COMBINED");
    assert_eq!(node.connection_status, "ONLINE");
    let stlt = node.satellite_interface().expect("satellite interface");
    assert_eq!(stlt.address, address);
    assert_eq!(stlt.satellite_port, Some(3366));
    let pools = p.client().storage_pools("xcp-ng-3").expect("pools");
    assert!(
        pools.iter().all(|p| p.provider_kind == "DISKLESS"),
        "a diskless node has no storage pool of its own: {pools:?}"
    );
    let satellite =
        std::fs::read_to_string(dir.path().join("etc/linstor/linstor_satellite.toml")).expect("written");
    assert!(
        satellite.contains(&format!("bind_address = \"{address}\"")),
        "{satellite}"
    );
    assert!(satellite.contains("port = 3366"), "{satellite}");

    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["changed"], false, "{doc}");
    assert_eq!(doc["actions"], Value::Array(Vec::new()), "{doc}");
}

#[test]
fn storage_address_adds_the_storage_interface_and_prefnic() {
    let p = pool(&["xcp-ng-2"]);
    let address = p.address("xcp-ng-2");
    let config = format!(
        "{}[network]\nstorage_address = \"10.1.0.12/24\"\n",
        controller(&p.url, &address)
    );
    let (dir, config_path) = root("xcp-ng-2", &config);
    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    let node = p.client().node("xcp-ng-2").expect("get").expect("created");
    assert_eq!(
        node.interface("storage").map(|i| i.address.as_str()),
        Some("10.1.0.12")
    );
    assert_eq!(node.props.get("PrefNic").map(String::as_str), Some("storage"));

    // The storage address changes: the interface follows, nothing else.
    std::fs::write(&config_path, config.replace("10.1.0.12/24", "10.1.0.22/24")).expect("config");
    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["changed"], true);
    let node = p.client().node("xcp-ng-2").expect("get").expect("there");
    assert_eq!(
        node.interface("storage").map(|i| i.address.as_str()),
        Some("10.1.0.22")
    );
}

#[test]
fn an_existing_node_with_the_same_settings_is_left_alone() {
    let p = pool(&[]);
    let address = p.address("xcp-ng-1");
    let before = p.world.read(|s| s.nodes.clone());
    let (dir, _) = root("xcp-ng-1", &controller(&p.url, &address));
    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 0, "{doc}");
    let node_actions: Vec<&Value> = doc["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["what"] != "satellite config")
        .collect();
    assert!(node_actions.is_empty(), "{doc}");
    assert_eq!(p.world.read(|s| s.nodes.clone()).len(), before.len());
}

#[test]
fn a_duplicate_online_node_at_another_address_is_refused_and_nothing_deleted() {
    let p = pool(&[]);
    let before = p.address("xcp-ng-1");
    let uuid = p.world.read(|s| s.nodes[0].uuid.clone());
    let (dir, _) = root("xcp-ng-1", &controller(&p.url, "10.0.9.99"));
    let (code, doc) = register(dir.path(), &["--timeout", "10"]);
    assert_eq!(code, 3, "{doc}");
    let text = message(&doc);
    assert!(text.contains("already registered at"), "{text}");
    assert!(text.contains("never deletes"), "{text}");
    assert!(
        !dir.path().join("etc/linstor/linstor_satellite.toml").exists(),
        "refused before anything changed on the host"
    );
    let node = p.client().node("xcp-ng-1").expect("get").expect("still there");
    assert_eq!(
        node.satellite_interface().map(|i| i.address.clone()),
        Some(before)
    );
    assert_eq!(p.world.read(|s| s.nodes[0].uuid.clone()), uuid, "not recreated");
    assert_eq!(p.world.read(|s| s.nodes.len()), 3);
}

#[test]
fn an_offline_node_at_another_address_is_updated_then_the_wait_names_the_status() {
    let p = pool(&[]);
    p.world.change(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == "xcp-ng-2") {
            h.satellite_running = false;
        }
    });
    let (dir, _) = root("xcp-ng-2", &controller(&p.url, "10.0.9.12"));
    let (code, doc) = register(dir.path(), &["--timeout", "2"]);
    assert_eq!(code, 1, "{doc}");
    let text = message(&doc);
    assert!(text.contains("did not come ONLINE within 2s"), "{text}");
    assert!(text.contains("last status OFFLINE"), "{text}");
    assert!(text.contains("systemctl status linstor-satellite"), "{text}");
    let node = p.client().node("xcp-ng-2").expect("get").expect("still there");
    assert_eq!(
        node.satellite_interface().map(|i| i.address.as_str()),
        Some("10.0.9.12"),
        "net-interface modified, node kept"
    );
}

#[test]
fn version_mismatch_is_named_with_the_way_out() {
    let p = pool(&["xcp-ng-3"]);
    p.world.change(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == "xcp-ng-3") {
            h.satellite_version = Some("1.0.0".into());
        }
    });
    let address = p.address("xcp-ng-3");
    let (dir, _) = root("xcp-ng-3", &controller(&p.url, &address));
    let (code, doc) = register(dir.path(), &["--timeout", "2"]);
    assert_eq!(code, 1, "{doc}");
    let text = message(&doc);
    assert!(text.contains("last status VERSION_MISMATCH"), "{text}");
    assert!(text.contains("linstor-satellite"), "{text}");
}

#[test]
fn controller_down_is_retried_within_the_timeout_then_named() {
    let p = pool(&["xcp-ng-3"]);
    let address = p.address("xcp-ng-3");
    let (dir, _) = root("xcp-ng-3", &controller(&p.url, &address));

    // Down for longer than the timeout: fails, naming the URL tried.
    p.world
        .inject(&Fault::ControllerDown { seconds: 4.0 })
        .expect("fault");
    let (code, doc) = register(dir.path(), &["--timeout", "1"]);
    assert_eq!(code, 1, "{doc}");
    let text = message(&doc);
    assert!(text.contains("did not answer within 1s"), "{text}");
    assert!(text.contains(&p.url), "{text}");

    // Down for a while, within the timeout: waits, retries, completes.
    let (code, doc) = register(dir.path(), &["--timeout", "30"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["connection_status"], "ONLINE");
}

#[test]
fn missing_controller_section_or_address_is_a_usage_error() {
    let (dir, _) = root("xcp-ng-1", "");
    let (code, doc) = register(dir.path(), &[]);
    assert_eq!(code, 2, "{doc}");
    assert!(message(&doc).contains("[controller] is not set"), "{doc}");

    let (dir, _) = root("xcp-ng-1", "[controller]\nurls = [\"http://127.0.0.1:9\"]\n");
    let (code, doc) = register(dir.path(), &[]);
    assert_eq!(code, 2, "{doc}");
    assert!(message(&doc).contains("[controller] address"), "{doc}");
}
