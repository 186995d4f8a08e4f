//! `provision` on the hosts of a `testbed up --disks` pool (the testbed binary, real LVM on its
//! loop devices, the management address found through the pool's XAPI): three nodes ONLINE,
//! COMBINED, named by their hostnames, each with its storage pool on its volume group;
//! `status` 0 on each; a second run changes nothing; the controller down during register.

mod pool_support;

use linstor_agent::linstor::Client;
use linstor_agent::settings::ControllerSettings;
use pool_support::testbed_bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testbed(args: &[&str]) -> Value {
    let out = Command::new(testbed_bin())
        .args(args)
        .output()
        .expect("testbed runs");
    assert!(
        out.status.success(),
        "testbed {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(testbed_bin())
            .arg("down")
            .arg("--dir")
            .arg(&self.0)
            .output();
    }
}

fn agent(host: &Value, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(host["root"].as_str().expect("root"))
        .arg("--config")
        .arg(host["config"].as_str().expect("config"))
        .args(["--output", "json"])
        .args(args)
        .env_remove("LINSTOR_AGENT_ROOT")
        .output()
        .expect("agent runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = serde_json::from_str(&text).unwrap_or(Value::Null);
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), doc, all)
}

#[test]
fn three_hosts_with_disks_provision_to_online_nodes_with_their_storage_pools() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pool");
    let dir_s = dir.to_str().expect("utf-8").to_string();
    let _down = Down(dir.clone());
    let info = testbed(&[
        "up",
        "--dir",
        &dir_s,
        "--hosts",
        "3",
        "--disks",
        "--time-scale",
        "1",
    ]);
    let info = if info.is_null() {
        serde_json::from_str(&std::fs::read_to_string(dir.join("pool.json")).expect("pool.json"))
            .expect("json")
    } else {
        info
    };
    let hosts = info["hosts"].as_array().expect("hosts").clone();
    assert_eq!(hosts.len(), 3);
    let linstor = Client::new(&ControllerSettings::with_urls(vec![
        info["linstor_url"].as_str().expect("url").to_string(),
    ]))
    .expect("client");

    for host in &hosts {
        let config = Path::new(host["config"].as_str().expect("config"));
        let disk = host["disk"].as_str().expect("--disks gives each host a disk");
        let mut text = std::fs::read_to_string(config).expect("agent.toml");
        text.push_str(&format!("\n[storage]\ndevices = [\"{disk}\"]\n"));
        std::fs::write(config, text).expect("agent.toml");
    }

    // The controller down when the first host registers: register waits and retries.
    testbed(&["fault", "--dir", &dir_s, "controller-down", "--seconds", "3"]);
    for host in &hosts {
        let (code, doc, all) = agent(host, &["provision", "--timeout", "60"]);
        assert_eq!(code, 0, "{all}");
        assert_eq!(doc["changed"], true, "{doc}");
    }

    for host in &hosts {
        let name = host["name"].as_str().expect("name");
        let hostname =
            std::fs::read_to_string(Path::new(host["root"].as_str().expect("root")).join("etc/hostname"))
                .expect("hostname");
        assert_eq!(hostname.trim(), name);
        let node = linstor
            .node(name)
            .expect("get")
            .expect("node named by the hostname");
        assert_eq!(node.connection_status, "ONLINE");
        assert_eq!(node.node_type, "COMBINED");
        assert_eq!(
            node.satellite_interface().map(|i| i.address.as_str()),
            host["address"].as_str(),
            "satellite on the management address"
        );
        let pools = linstor.storage_pools(name).expect("pools");
        let pool = pools
            .iter()
            .find(|p| p.storage_pool_name == "xcp-sr-linstor_group")
            .unwrap_or_else(|| panic!("{name}: {pools:?}"));
        assert_eq!(pool.provider_kind, "LVM");
        assert_eq!(
            pool.props.get("StorDriver/StorPoolName").map(String::as_str),
            Some("linstor_group")
        );

        let (code, doc, all) = agent(host, &["status"]);
        assert_eq!(code, 0, "{all}");
        assert_eq!(doc["converged"], true);

        let (code, doc, all) = agent(host, &["provision", "--timeout", "60"]);
        assert_eq!(code, 0, "{all}");
        assert_eq!(doc["changed"], false, "{doc}");
    }

    // The controller down for longer than the timeout: the step fails naming the URL; the next
    // run completes.
    testbed(&["fault", "--dir", &dir_s, "controller-down", "--seconds", "5"]);
    let (code, _, all) = agent(&hosts[0], &["register", "--timeout", "1"]);
    assert_eq!(code, 1, "{all}");
    assert!(all.contains(info["linstor_url"].as_str().expect("url")), "{all}");
    let (code, doc, all) = agent(&hosts[0], &["register", "--timeout", "60"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(doc["changed"], false, "{doc}");
}
