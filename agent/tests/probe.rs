//! The link probe between two network namespaces: the agent binary serves in one
//! and probes from the other, over a veth pair shaped with `tc … tbf` or left at full speed.

mod support;

use std::process::{Child, Stdio};
use support::Run;
use support::netns::{Netns, veth};

const PORT: u16 = 3380;

/// The probe server, killed if the test ends before it exits.
struct Server(Option<Child>);

impl Server {
    fn start(ns: &Netns, root: &std::path::Path, listen: &str) -> Server {
        let child = ns
            .command(env!("CARGO_BIN_EXE_linstor-agent"))
            .arg("--root")
            .arg(root)
            .args(["--output", "json", "probe", "serve", "--listen", listen])
            .args(["--max-clients", "1", "--max-seconds", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the probe server starts");
        ns.wait_listening(PORT);
        Server(Some(child))
    }

    fn finish(mut self) -> Run {
        let output = self.0.take().unwrap().wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn probe(ns: &Netns, root: &std::path::Path, args: &[&str]) -> Run {
    let output = ns
        .command(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(root)
        .arg("probe")
        .args(args)
        .output()
        .expect("the probe runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Probes b from a over a veth pair (the sending side shaped to `rate` if given), with disks
/// said to write 2 Gbit/s; returns the probe's JSON and the server's.
fn probe_between(rate: Option<&str>) -> (serde_json::Value, serde_json::Value, String) {
    let root = tempfile::tempdir().unwrap();
    let a = Netns::new("pa");
    let b = Netns::new("pb");
    let (dev_a, _) = veth(&a, &b, "10.79.0.1/24", "10.79.0.2/24", 1500);
    if let Some(rate) = rate {
        a.shape(&dev_a, rate);
    }
    let server = Server::start(&b, root.path(), &format!("10.79.0.2:{PORT}"));
    let run = probe(
        &a,
        root.path(),
        &[
            "--output",
            "json",
            "10.79.0.2",
            "--seconds",
            "1.5",
            "--disk-gbps",
            "2",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.message());
    let human = probe(&a, root.path(), &["10.79.0.2:1", "--seconds", "0.2"]);
    assert_eq!(human.code, 1, "a peer with no server fails: {}", human.message());
    assert!(
        human.stderr.contains("probe of 10.79.0.2:1 failed"),
        "{}",
        human.message()
    );
    let served = server.finish();
    assert_eq!(served.code, 0, "{}", served.message());
    (run.json(), served.json(), run.stdout)
}

#[test]
fn a_link_shaped_to_1_gbit_measures_about_1_gbit_and_warns() {
    let (json, served, text) = probe_between(Some("1gbit"));
    assert_eq!(json["changed"], false);
    let peer = &json["peers"][0];
    let gbps = peer["throughput_gbps"].as_f64().unwrap();
    assert!((0.75..=1.25).contains(&gbps), "{gbps} Gbit/s: {text}");
    assert!(peer["rtt_us"].as_f64().unwrap() > 0.0, "{text}");
    let warning = peer["warning"]
        .as_str()
        .unwrap_or_else(|| panic!("no warning: {text}"));
    assert!(warning.starts_with("link to 10.79.0.2 carries "), "{warning}");
    assert!(
        warning.ends_with(
            "less than the disks behind it can write (2.00 Gbit/s): replication will be network-bound"
        ),
        "{warning}"
    );
    assert_eq!(json["warnings"][0], warning);
    assert_eq!(served["stopped"], "max-clients");
    assert_eq!(served["bytes_received"], peer["bytes"]);
}

#[test]
fn an_unshaped_link_measures_more_and_does_not_warn() {
    let (json, _, text) = probe_between(None);
    let peer = &json["peers"][0];
    let gbps = peer["throughput_gbps"].as_f64().unwrap();
    assert!(gbps > 2.0, "{gbps} Gbit/s: {text}");
    assert!(peer.get("warning").is_none(), "{text}");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 0);
}
