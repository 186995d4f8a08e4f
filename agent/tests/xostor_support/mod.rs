//! An XOSTOR pool for the tests: a `testbed up` pool of bare hosts (scenario files of the
//! `xostor-*` kind), each host's agent.toml as an operator writes it for XOSTOR (`[repo]`,
//! `[xapi]`, `[storage]` on the hosts with a disk, no `[controller]`, no userland: the XCP-ng
//! profile), the operator's config with `[xapi]` alone (the controller is found on the hosts).

#![allow(dead_code)]

#[path = "../pool_support/mod.rs"]
mod pool_support;

pub use pool_support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The release the hosts are provisioned at (the fixture's previous versions).
pub const RELEASE_PINS: &str = r#""kmod-drbd" = "9.2.11", "linstor-satellite" = "1.29.0", "linstor-controller" = "1.29.0", "drbd-reactor" = "1.4.0", "linstor-client" = "1.23.0""#;

pub struct Xostor {
    pub pool: Pool,
}

/// A host of the pool as pool.json lists it.
pub struct HostFile {
    pub name: String,
    pub root: PathBuf,
    pub config: PathBuf,
    pub disk: Option<String>,
}

impl Xostor {
    /// `testbed up --scenario <file> --disks`, the configs rewritten for XOSTOR.
    pub fn up(scenario_file: &str) -> Xostor {
        let pool = Pool::up(scenario_file, &["--disks"]);
        let xostor = Xostor { pool };
        for h in xostor.hosts() {
            xostor.write_config(&h);
        }
        let info = &xostor.pool.info;
        std::fs::write(
            &xostor.pool.orchestrator_config,
            format!(
                "[xapi]\nurl = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n",
                info["xapi_url"].as_str().expect("xapi_url"),
                info["username"].as_str().expect("username"),
                info["password_file"].as_str().expect("password_file"),
            ),
        )
        .expect("operator config");
        xostor
    }

    pub fn hosts(&self) -> Vec<HostFile> {
        self.pool.info["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| HostFile {
                name: h["name"].as_str().expect("name").to_string(),
                root: PathBuf::from(h["root"].as_str().expect("root")),
                config: PathBuf::from(h["config"].as_str().expect("config")),
                disk: h["disk"].as_str().map(str::to_string),
            })
            .collect()
    }

    pub fn host(&self, name: &str) -> HostFile {
        self.hosts()
            .into_iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    fn write_config(&self, h: &HostFile) {
        let text = std::fs::read_to_string(&h.config).expect("agent.toml");
        let repo_end = text[1..].find("\n[").map_or(text.len(), |i| i + 1);
        let info = &self.pool.info;
        let mut config = format!(
            "{}\n\n[xapi]\nurl = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n",
            text[..repo_end].trim(),
            info["xapi_url"].as_str().expect("xapi_url"),
            info["username"].as_str().expect("username"),
            info["password_file"].as_str().expect("password_file"),
        );
        if let Some(disk) = &h.disk {
            config.push_str(&format!("\n[storage]\ndevices = [\"{disk}\"]\n"));
        }
        std::fs::write(&h.config, config).expect("agent.toml");
        let fragments = h.config.with_file_name("agent.d");
        std::fs::create_dir_all(&fragments).expect("agent.d");
        std::fs::write(
            fragments.join("10-release.toml"),
            format!("[packages]\npin = {{ {RELEASE_PINS} }}\n"),
        )
        .expect("release pins");
    }

    /// `linstor-agent --root R --output json <args>` on a host.
    pub fn agent(&self, host: &str, args: &[&str]) -> Run {
        let h = self.host(host);
        let out = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
            .arg("--root")
            .arg(&h.root)
            .args(["--output", "json"])
            .args(args)
            .env_remove("LINSTOR_AGENT_ROOT")
            .output()
            .expect("linstor-agent runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Run {
            code: out.status.code(),
            killed: false,
            doc: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            text: format!(
                "{stdout}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// `provision` on each named host, which must succeed.
    pub fn provision(&self, hosts: &[&str]) {
        for host in hosts {
            let run = self.agent(host, &["provision", "--timeout", "60"]);
            assert_eq!(run.code, Some(0), "provision {host}: {}", run.text);
        }
    }

    /// The member hosts (not joining).
    pub fn members(&self) -> Vec<String> {
        self.pool.info["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .filter(|h| h["joining"] != true)
            .map(|h| h["name"].as_str().expect("name").to_string())
            .collect()
    }

    /// Members provisioned and the SR created.
    pub fn with_sr(scenario_file: &str) -> Xostor {
        let x = Xostor::up(scenario_file);
        let members = x.members();
        x.provision(&members.iter().map(String::as_str).collect::<Vec<_>>());
        let run = x.pool.pool(&["create-sr"], &[]);
        assert_eq!(run.code, Some(0), "{}", run.text);
        x
    }

    /// A session with the pool master's XAPI, as the operator has it.
    fn xapi(&self) -> linstor_agent::xapi::Client {
        let info = &self.pool.info;
        let settings = linstor_agent::xapi::Settings {
            url: info["xapi_url"].as_str().expect("url").to_string(),
            username: info["username"].as_str().expect("username").to_string(),
            password: linstor_agent::xapi::read_password_file(std::path::Path::new(
                info["password_file"].as_str().expect("password_file"),
            ))
            .expect("password"),
            ca_file: None,
            fingerprint: None,
        };
        linstor_agent::xapi::Client::new(settings).expect("xapi")
    }

    /// Live-migrates `vm` to `host` (XAPI `VM.pool_migrate`).
    pub fn migrate(&self, vm: &str, host: &str) {
        let mut xapi = self.xapi();
        let vm_ref = xapi
            .call("VM.get_by_name_label", vec![serde_json::json!(vm)])
            .expect("VM")[0]
            .clone();
        let host_ref = xapi
            .call("host.get_by_name_label", vec![serde_json::json!(host)])
            .expect("host")[0]
            .clone();
        xapi.vm_pool_migrate(
            vm_ref.as_str().expect("VM ref"),
            host_ref.as_str().expect("host ref"),
            std::time::Duration::from_secs(60),
        )
        .expect("VM.pool_migrate");
    }

    /// A VM disk on the SR, attached to `vm` (XAPI `VDI.create`, `VBD.create`).
    pub fn vm_disk(&self, vm: &str) -> String {
        let mut xapi = self.xapi();
        let sr = xapi
            .srs()
            .expect("srs")
            .into_iter()
            .find(|s| s.sr_type == "linstor")
            .expect("a linstor SR");
        let vdi = xapi
            .call(
                "VDI.create",
                vec![serde_json::json!({
                    "SR": sr.reference, "virtual_size": (32u64 << 20).to_string(), "type": "user",
                    "name_label": format!("{vm}-disk"), "name_description": "", "sharable": false,
                    "read_only": false, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []
                })],
            )
            .expect("VDI.create");
        let vm_ref = xapi
            .call("VM.get_by_name_label", vec![serde_json::json!(vm)])
            .expect("VM")[0]
            .clone();
        xapi.call(
            "VBD.create",
            vec![serde_json::json!({
                "VM": vm_ref, "VDI": vdi, "userdevice": "0", "bootable": true, "mode": "RW",
                "type": "Disk", "empty": false, "other_config": {}, "qos_algorithm_type": "",
                "qos_algorithm_params": {}
            })],
        )
        .expect("VBD.create");
        vdi.as_str().unwrap_or_default().to_string()
    }
}

/// Each PBD of the status: (host, plugged).
pub fn pbds(status: &Value) -> Vec<(String, bool)> {
    status["pbds"]
        .as_array()
        .expect("pbds")
        .iter()
        .map(|p| {
            (
                p["host"].as_str().unwrap_or_default().to_string(),
                p["currently_attached"] == true,
            )
        })
        .collect()
}
