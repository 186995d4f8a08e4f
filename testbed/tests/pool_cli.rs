//! `testbed up` / `status` / `fault` / `down` through the binary: a 16-host pool starts, both
//! APIs answer (the controller on its host's own address only), status reports it, down stops
//! it (twice is fine).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use testbed::simpool::client;

fn testbed(args: &[&str]) -> Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_testbed")).args(args).output()?;
    if !out.status.success() {
        bail!(
            "testbed {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("testbed {args:?} printed no JSON"))
}

/// `up` provisions hosts with the agent found beside the testbed binary; when only this
/// package was built, there is none, and dnf installs the packages instead.
fn provision() -> &'static str {
    let beside: PathBuf = Path::new(env!("CARGO_BIN_EXE_testbed")).with_file_name("linstor-agent");
    if beside.is_file() || std::env::var_os("LINSTOR_AGENT_BIN").is_some() {
        "agent"
    } else {
        eprintln!("no linstor-agent beside the testbed binary: provisioning with dnf");
        "packages"
    }
}

/// A pool directory under a temporary directory; `testbed down` runs on it when it is
/// dropped, so a failing test leaves no servers behind.
struct PoolDir {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    dir_s: String,
}

impl PoolDir {
    fn new() -> Result<PoolDir> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("pool");
        let dir_s = dir.to_str().context("utf-8 path")?.to_owned();
        Ok(PoolDir {
            _tmp: tmp,
            dir,
            dir_s,
        })
    }
}

impl Drop for PoolDir {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_testbed"))
            .args(["down", "--dir", &self.dir_s])
            .output();
    }
}

#[test]
fn a_sixteen_host_pool_starts_answers_and_stops() -> Result<()> {
    let pool = PoolDir::new()?;
    let (dir, dir_s) = (&pool.dir, pool.dir_s.as_str());

    let started = Instant::now();
    let info = testbed(&["up", "--dir", dir_s, "--hosts", "16", "--provision", provision()])?;
    eprintln!("testbed up --hosts 16: {:?}", started.elapsed());
    assert_eq!(info["hosts"].as_array().map(Vec::len), Some(16));
    assert_eq!(
        info,
        serde_json::from_str::<Value>(&std::fs::read_to_string(dir.join("pool.json"))?)?
    );
    let host0 = &info["hosts"][0];
    assert!(
        Path::new(host0["root"].as_str().context("root")?)
            .join("etc/xensource-inventory")
            .is_file()
    );
    let config = std::fs::read_to_string(host0["config"].as_str().context("config")?)?;
    assert!(
        config.contains(info["linstor_url"].as_str().context("url")?),
        "{config}"
    );

    // Both APIs answer.
    let linstor = info["linstor_url"].as_str().context("linstor_url")?;
    let version = client::get(
        &format!("{linstor}/v1/controller/version"),
        Duration::from_secs(10),
    )?;
    assert_eq!(version.status, 200, "{}", version.body);
    let xapi = info["xapi_url"].as_str().context("xapi_url")?;
    let login = format!(
        "<?xml version='1.0'?><methodCall><methodName>session.login_with_password</methodName><params>\
         <param><value><string>{}</string></value></param><param><value><string>{}</string></value></param>\
         </params></methodCall>",
        info["username"].as_str().context("username")?,
        info["password"].as_str().context("password")?
    );
    let reply = client::request("POST", xapi, "text/xml", &login, Duration::from_secs(10))?;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Success"), "{}", reply.body);

    // Hosts on loopback addresses of their own; the controller answers on its host's only.
    let first = info["hosts"][0]["address"].as_str().context("address")?;
    assert!(first.starts_with("127.") && first.ends_with(".11"), "{first}");
    for (i, host) in info["hosts"].as_array().context("hosts")?.iter().enumerate() {
        let url = host["controller_url"].as_str().context("controller_url")?;
        let answer = client::get(&format!("{url}/v1/controller/version"), Duration::from_secs(5));
        let answered = answer.is_ok_and(|r| r.status == 200);
        assert_eq!(answered, i == 0, "{url}");
    }

    let status = testbed(&["status", "--dir", dir_s])?;
    let nodes = status["nodes"].as_array().context("nodes")?;
    assert_eq!(nodes.len(), 16);
    assert!(
        nodes.iter().all(|n| n["connection_status"] == "ONLINE"),
        "{nodes:?}"
    );
    assert_eq!(
        status["hosts"][3]["packages"]["linstor-satellite"],
        "1.29.2-1.xcpng8.3"
    );
    assert_eq!(status["hosts"][3]["booted_kernel"], "4.19.0+1");
    assert_eq!(status["clock"]["time_scale"], 60.0);
    assert_eq!(status["violations"], serde_json::json!([]));
    let vm = &status["vms"][0];
    assert_eq!(
        (vm["power"].as_str(), vm["resident_on"].as_str()),
        (Some("Running"), Some("xcp-ng-1"))
    );

    // A fault through the CLI shows in the next status.
    testbed(&["fault", "--dir", dir_s, "crash", "--host", "xcp-ng-5"])?;
    let status = testbed(&["status", "--dir", dir_s])?;
    assert_eq!(status["hosts"][4]["live"], false);
    assert!(
        status["violations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["kind"] == "vm_down"))
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["fault", "--dir", dir_s, "crash", "--host", "nope"])
        .output()?;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no host \"nope\""));

    let pid = info["pid"].as_u64().context("pid")?;
    let down = testbed(&["down", "--dir", dir_s])?;
    assert_eq!(down["stopped"].as_u64(), Some(pid));
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || !is_running(pid));
    let again = testbed(&["down", "--dir", dir_s])?;
    assert_eq!(again["stopped"], Value::Null);
    Ok(())
}

fn is_running(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn up_refuses_a_used_directory_and_a_bad_scenario() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("something"), "")?;
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["up", "--dir"])
        .arg(tmp.path())
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    let scenario = tmp.path().join("s.toml");
    std::fs::write(&scenario, "hosts = 3\nreboot_secs = 5\n")?;
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["up", "--dir"])
        .arg(tmp.path().join("p"))
        .arg("--scenario")
        .arg(&scenario)
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("s.toml") && stderr.contains("reboot_secs"),
        "{stderr}"
    );
    Ok(())
}

/// `up --join 1 --disks` from the upgrade-3 scenario: each host's config in its root with
/// `[xapi]` and `[controller]` (and no pins: the scenario leaves them out), the project's
/// plugin installed, the joining host without node or disk; status shows configs, reboots,
/// joining and HA.
#[test]
fn a_pool_with_a_joining_host_its_configs_and_plugins_in_the_roots() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let pool = PoolDir::new()?;
    let (dir, dir_s) = (&pool.dir, pool.dir_s.as_str());
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/upgrade-3.toml");
    let info = testbed(&[
        "up",
        "--dir",
        dir_s,
        "--hosts",
        "4",
        "--join",
        "1",
        "--disks",
        "--scenario",
        scenario.to_str().context("utf-8 path")?,
        "--provision",
        provision(),
    ])?;
    let hosts = info["hosts"].as_array().context("hosts")?;
    assert_eq!(hosts.len(), 4);
    if provision() == "agent" {
        assert!(
            Path::new(info["agent_bin"].as_str().context("agent_bin")?).is_file(),
            "{info}"
        );
    }
    let plugin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/files/xapi-plugin/linstor-agent"),
    )?;
    for (i, host) in hosts.iter().enumerate() {
        let name = host["name"].as_str().context("name")?;
        let root = Path::new(host["root"].as_str().context("root")?);
        assert_eq!(host["joining"], i == 3, "{name}");
        assert_eq!(host["disk"].is_null(), i == 3, "{name}: only members get a disk");
        assert_eq!(
            Path::new(host["config"].as_str().context("config")?),
            root.join("etc/linstor-agent/agent.toml")
        );
        assert!(!dir.join("hosts").join(name).join("agent.toml").exists());
        let config: toml::Table =
            std::fs::read_to_string(root.join("etc/linstor-agent/agent.toml"))?.parse()?;
        assert_eq!(
            config["xapi"]["url"].as_str(),
            info["xapi_url"].as_str(),
            "{name}"
        );
        assert_eq!(config["xapi"]["username"].as_str(), Some("root"));
        let secret = Path::new(
            config["xapi"]["password_file"]
                .as_str()
                .context("password_file")?,
        );
        assert_eq!(std::fs::metadata(secret)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            config["controller"]["urls"][0].as_str(),
            info["linstor_url"].as_str()
        );
        assert!(config["packages"].get("pin").is_none(), "{config}");
        let installed = root.join("etc/xapi.d/plugins/linstor-agent");
        assert_eq!(std::fs::read_to_string(&installed)?, plugin);
        assert_eq!(std::fs::metadata(&installed)?.permissions().mode() & 0o777, 0o755);
    }

    let status = testbed(&["status", "--dir", dir_s])?;
    let nodes: Vec<&str> = status["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(nodes, ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"]);
    assert_eq!(status["pool"]["ha_enabled"], false);
    assert_eq!(status["pool"]["master"], "xcp-ng-1");
    for (i, host) in status["hosts"].as_array().context("hosts")?.iter().enumerate() {
        assert_eq!(host["reboots"], 0);
        assert_eq!(host["joining"], i == 3);
        assert_eq!(host["live"], true);
        assert_eq!(host["config"], info["hosts"][i]["config"]);
        assert_eq!(host["packages"]["kmod-drbd"], "9.2.11-1.xcpng8.3");
    }
    assert_eq!(status["controller"]["version"], "1.29.0");
    Ok(())
}
