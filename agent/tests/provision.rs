//! `linstor-agent provision` end to end on testbed host roots (real signed repository, real
//! dnf --installroot) against the testbed's LINSTOR face served in-process: a diskless host
//! provisioned to an ONLINE node, a second run that changes nothing, a failing network step
//! that leaves install applied and register untouched, and the run lock.

mod support;

use linstor_agent::host::Sysroot;
use linstor_agent::linstor::Client;
use linstor_agent::settings::ControllerSettings;
use std::sync::Arc;
use support::*;
use testbed::fixture::catalog::*;
use testbed::linstor_face::test_world::{online_pool, spawn};
use testbed::sysroot::HostRoot;
use testbed::world::World;

struct Pool {
    world: Arc<World>,
    url: String,
    _roots: tempfile::TempDir,
}

/// Three healthy hosts; `name`'s node is not registered yet.
fn pool_without(name: &str) -> Pool {
    let (world, roots) = online_pool(3).expect("test world");
    world.change(|s| s.nodes.retain(|n| n.name != name));
    let world = Arc::new(world);
    let url = spawn(world.clone()).expect("serve");
    Pool {
        world,
        url,
        _roots: roots,
    }
}

impl Pool {
    fn client(&self) -> Client {
        Client::new(&ControllerSettings::with_urls(vec![self.url.clone()])).expect("client")
    }
}

/// A host root named `name` whose config also has `[controller]` (and `extra`).
fn host_for(dir: &std::path::Path, name: &str, p: &Pool, extra: &str) -> HostRoot {
    let repo = shared_repo();
    let host = host(dir, name, &repo, &[KERNEL_XCPNG_38.nevra]);
    let index: usize = name.trim_start_matches("xcp-ng-").parse().expect("index");
    let address = testbed::world::build::management_address(index - 1).expect("address");
    let mut config = std::fs::read_to_string(&host.config).expect("config");
    config.push_str(&format!(
        "\n[controller]\nurls = [\"{}\"]\naddress = \"{address}\"\n{extra}",
        p.url
    ));
    std::fs::write(&host.config, config).expect("config written");
    host
}

fn state(host: &HostRoot) -> serde_json::Value {
    let text =
        std::fs::read_to_string(host.root.join("var/lib/linstor-agent/state.json")).expect("state.json");
    serde_json::from_str(&text).expect("state is JSON")
}

#[test]
fn a_diskless_host_provisions_to_an_online_node_and_a_second_run_changes_nothing() {
    let p = pool_without("xcp-ng-3");
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), "xcp-ng-3", &p, "");

    let status = agent(&host, &["--output", "json", "status"]);
    assert_eq!(status.code, 1, "not converged yet: {}", status.message());
    let status = status.json();
    assert_eq!(status["converged"], false);
    assert!(
        status["checks"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["check"] == "node xcp-ng-3" && c["ok"] == false)),
        "{status}"
    );

    let dry = agent(
        &host,
        &["--output", "json", "provision", "--dry-run", "--timeout", "10"],
    );
    assert_eq!(dry.code, 0, "{}", dry.message());
    let dry = dry.json();
    assert_eq!(dry["changed"], false);
    let steps: Vec<&str> = dry["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(steps, ["install", "storage", "network", "register", "xostor"]);
    assert_eq!(dry["plan"][0]["pending"], true);
    assert!(
        p.client().node("xcp-ng-3").expect("get").is_none(),
        "dry run registers nothing"
    );

    let run = agent(&host, &["--output", "json", "provision", "--timeout", "20"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["steps"][0]["step"], "install");
    assert_eq!(doc["steps"][0]["changed"], true);
    assert!(
        doc["steps"][1]["skipped"].is_string(),
        "diskless: no storage step: {doc}"
    );
    assert_eq!(doc["steps"][3]["report"]["diskless"], true);
    let node = p.client().node("xcp-ng-3").expect("get").expect("registered");
    assert_eq!(node.connection_status, "ONLINE");
    assert_eq!(node.node_type, "COMBINED");
    let pools = p.client().storage_pools("xcp-ng-3").expect("pools");
    assert!(pools.iter().all(|p| p.provider_kind == "DISKLESS"), "{pools:?}");
    let st = state(&host);
    for step in ["install", "network", "register"] {
        assert!(st["steps"][step]["applied_at"].is_string(), "{st}");
    }
    assert_eq!(st["last_run"]["result"], "ok");

    let status = agent(&host, &["--output", "json", "status"]);
    assert_eq!(status.code, 0, "converged: {}", status.message());
    let status = status.json();
    assert_eq!(status["converged"], true, "{status}");
    let names: Vec<&str> = status["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["check"].as_str().unwrap_or_default())
        .collect();
    for expected in [
        "packages",
        "volume group",
        "network",
        "node xcp-ng-3",
        "storage pool",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("module ")), "{names:?}");
    let human = agent(&host, &["status"]);
    assert_eq!(human.code, 0, "{}", human.message());
    assert!(
        human.stdout.contains("ok   node xcp-ng-3: COMBINED ONLINE"),
        "{}",
        human.stdout
    );

    let again = agent(&host, &["--output", "json", "provision", "--timeout", "20"]);
    assert_eq!(again.code, 0, "{}", again.message());
    let again = again.json();
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(p.world.read(|s| s.nodes.len()), 3);
}

#[test]
fn a_failing_network_step_leaves_install_applied_and_register_untouched() {
    let p = pool_without("xcp-ng-2");
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(
        dir.path(),
        "xcp-ng-2",
        &p,
        "[network]\nstorage_address = \"not-an-address\"\n",
    );
    // A bad setting is refused when the settings are read, before any step runs.
    let run = agent(&host, &["--output", "json", "provision", "--timeout", "20"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(
        run.message().contains("[network] storage_address"),
        "{}",
        run.message()
    );
    assert!(installed_besides_kernels(&host).is_empty(), "nothing installed");

    // A network step that fails while it runs: its sysctl file cannot be read.
    let config = std::fs::read_to_string(&host.config)
        .expect("config")
        .replace("not-an-address", "10.1.0.12/24");
    std::fs::write(&host.config, config).expect("config");
    let sysctl = host.root.join("etc/sysctl.d/90-linstor-agent.conf");
    std::fs::create_dir_all(&sysctl).expect("a directory where the file goes");
    let run = agent(&host, &["--output", "json", "provision", "--timeout", "20"]);
    assert_ne!(run.code, 0, "{}", run.message());
    let message = run.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("stopped at the network step"), "{message}");
    assert!(message.contains("install"), "{message}");
    let st = state(&host);
    assert!(st["steps"]["install"]["applied_at"].is_string(), "{st}");
    assert!(st["steps"].get("register").is_none(), "{st}");
    assert_eq!(st["last_run"]["failed_step"], "network");
    assert!(
        p.client().node("xcp-ng-2").expect("get").is_none(),
        "register untouched"
    );
    assert!(
        !installed_besides_kernels(&host).is_empty(),
        "the install step stays applied"
    );

    // Fixed: the next run picks up from there (install has nothing left to do).
    std::fs::remove_dir(&sysctl).expect("fixed");
    let run = agent(&host, &["--output", "json", "provision", "--timeout", "20"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["steps"][0]["changed"], false, "install already done");
    let node = p.client().node("xcp-ng-2").expect("get").expect("registered");
    assert_eq!(node.props.get("PrefNic").map(String::as_str), Some("storage"));
    assert_eq!(state(&host)["last_run"]["result"], "ok");
}

#[test]
fn a_second_run_while_one_holds_the_lock_says_already_running() {
    let p = pool_without("xcp-ng-1");
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), "xcp-ng-1", &p, "");
    let held = linstor_agent::provision::lock(&Sysroot::new(&host.root)).expect("lock");
    let run = agent(&host, &["--output", "json", "provision", "--timeout", "5"]);
    assert_eq!(run.code, 1, "{}", run.message());
    let message = run.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&format!("already running (pid {}", std::process::id())),
        "{message}"
    );
    assert!(installed_besides_kernels(&host).is_empty(), "nothing done");
    drop(held);

    // Two started together: one provisions, the other says it is already running (or, if
    // the first had finished, finds nothing to do).
    let a = std::thread::scope(|s| {
        let first = s.spawn(|| agent(&host, &["--output", "json", "provision", "--timeout", "20"]));
        let second = s.spawn(|| agent(&host, &["--output", "json", "provision", "--timeout", "20"]));
        [first.join().expect("first"), second.join().expect("second")]
    });
    let ok = a.iter().filter(|r| r.code == 0).count();
    assert!(ok >= 1, "{} / {}", a[0].message(), a[1].message());
    for r in a.iter().filter(|r| r.code != 0) {
        assert!(r.message().contains("already running"), "{}", r.message());
    }
    assert!(p.client().node("xcp-ng-1").expect("get").is_some());
}
