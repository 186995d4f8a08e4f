//! A `testbed up` pool for the rolling-upgrade tests, and the orchestrator run against it
//! (`linstor-agent pool …` with a config of its own, as on an operator's machine).

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Simulated seconds per real second: a 60 s reboot takes 0.1 s.
pub const TIME_SCALE: &str = "600";

/// `<target>/debug/testbed`, built by `cargo build --workspace --bins` (`make test` does it
/// first; `cargo test --workspace` builds it for the testbed's own tests).
pub fn testbed_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .map(|dir| dir.join("testbed"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no testbed binary above {}: run `cargo build --workspace --bins` first",
                exe.display()
            )
        })
}

pub fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testbed/scenarios")
        .join(name)
        .to_str()
        .expect("utf-8")
        .to_string()
}

pub struct Pool {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub info: Value,
    /// The orchestrator's own root (its journal lives under it) and config.
    pub orchestrator_root: PathBuf,
    pub orchestrator_config: PathBuf,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = Command::new(testbed_bin())
            .arg("down")
            .arg("--dir")
            .arg(&self.dir)
            .output();
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub killed: bool,
    pub doc: Value,
    pub text: String,
}

impl Pool {
    /// `testbed up --scenario <file> --time-scale 600`, plus `extra` arguments.
    pub fn up(scenario_file: &str, extra: &[&str]) -> Pool {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("pool");
        let scenario = scenario(scenario_file);
        let mut args = vec![
            "up",
            "--dir",
            dir.to_str().expect("utf-8"),
            "--scenario",
            &scenario,
            "--time-scale",
            TIME_SCALE,
        ];
        args.extend_from_slice(extra);
        let out = Command::new(testbed_bin())
            .args(&args)
            .output()
            .expect("testbed up runs");
        assert!(
            out.status.success(),
            "testbed {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("pool.json")).expect("pool.json"))
                .expect("pool.json is JSON");
        let orchestrator_root = tmp.path().join("operator");
        std::fs::create_dir_all(&orchestrator_root).expect("operator root");
        let orchestrator_config = tmp.path().join("operator.toml");
        let text = format!(
            "[xapi]\nurl = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n\n[controller]\nurls = [\"{}\"]\n",
            info["xapi_url"].as_str().expect("xapi_url"),
            info["username"].as_str().expect("username"),
            info["password_file"].as_str().expect("password_file"),
            info["linstor_url"].as_str().expect("linstor_url"),
        );
        std::fs::write(&orchestrator_config, text).expect("operator.toml");
        Pool {
            _tmp: tmp,
            dir,
            info,
            orchestrator_root,
            orchestrator_config,
        }
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("utf-8")
    }

    pub fn testbed(&self, args: &[&str]) -> Output {
        Command::new(testbed_bin())
            .args(args)
            .output()
            .expect("testbed runs")
    }

    pub fn fault(&self, args: &[&str]) {
        let mut all = vec!["fault", "--dir", self.dir_str()];
        all.extend_from_slice(args);
        let out = self.testbed(&all);
        assert!(
            out.status.success(),
            "testbed {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn status(&self) -> Value {
        let out = self.testbed(&["status", "--dir", self.dir_str()]);
        assert!(
            out.status.success(),
            "testbed status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// `linstor-agent --output json pool <args>`, with `env` added.
    pub fn pool(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_linstor-agent"));
        cmd.arg("--root")
            .arg(&self.orchestrator_root)
            .arg("--config")
            .arg(&self.orchestrator_config)
            .args(["--output", "json", "pool"])
            .args(args)
            .env_remove("LINSTOR_AGENT_ROOT")
            .env_remove(linstor_agent::pool::KILL_AT_ENV);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("linstor-agent runs");
        use std::os::unix::process::ExitStatusExt;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Run {
            code: out.status.code(),
            killed: out.status.signal() == Some(9),
            doc: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            text: format!(
                "{stdout}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.orchestrator_root
            .join("var/lib/linstor-agent/pool-upgrade.json")
    }

    pub fn host_names(&self) -> Vec<String> {
        self.info["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["name"].as_str().expect("name").to_string())
            .collect()
    }
}

/// Where each running VM is: name → host.
pub fn placement(status: &Value) -> Vec<(String, String)> {
    status["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                v["resident_on"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub fn host<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {status}"))
}

/// Whether the host's rpm database holds `package` at `version` (`VERSION-RELEASE` listed).
pub fn has_version(host: &Value, package: &str, version: &str) -> bool {
    host["packages"][package]
        .as_str()
        .is_some_and(|v| v.split(',').all(|one| one.starts_with(&format!("{version}-"))))
}

/// A resource with a diskful replica on `node`.
pub fn diskful_resource_on(status: &Value, node: &str) -> String {
    status["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| {
            r["replicas"]
                .as_array()
                .is_some_and(|reps| reps.iter().any(|p| p["node"] == node && p["kind"] == "Diskful"))
        })
        .and_then(|r| r["name"].as_str())
        .unwrap_or_else(|| panic!("no resource with a diskful replica on {node}: {status}"))
        .to_string()
}

pub fn violations(status: &Value) -> Vec<Value> {
    status["violations"].as_array().expect("violations").clone()
}

/// The pool is upgraded: every host on the new versions, rebooted exactly once, nodes
/// ONLINE, resources UpToDate, VMs where they were, and no violation ever recorded.
pub fn assert_upgraded(pool: &Pool, before: &[(String, String)], kmod: &str, linstor: &str) {
    let status = pool.status();
    assert_eq!(violations(&status), Vec::<Value>::new(), "violations: {status}");
    for name in pool.host_names() {
        let h = host(&status, &name);
        assert!(has_version(h, "kmod-drbd", kmod), "{name}: {h}");
        assert!(has_version(h, "linstor-satellite", linstor), "{name}: {h}");
        assert!(has_version(h, "linstor-controller", linstor), "{name}: {h}");
        assert_eq!(h["satellite_version"], linstor, "{name}: {h}");
        assert_eq!(h["reboots"], 1, "{name} rebooted once: {h}");
        assert_eq!(h["enabled"], true, "{name}: {h}");
    }
    assert_eq!(
        status["controller"]["version"], linstor,
        "{}",
        status["controller"]
    );
    for node in status["nodes"].as_array().expect("nodes") {
        assert_eq!(node["connection_status"], "ONLINE", "{node}");
    }
    for r in status["resources"].as_array().expect("resources") {
        for rep in r["replicas"].as_array().expect("replicas") {
            if rep["kind"] == "Diskful" {
                assert_eq!(rep["disk_state"], "UpToDate", "{r}");
            }
        }
    }
    assert_eq!(placement(&status), before, "VMs back on their hosts");
}
