//! Progress on a terminal (issue 15): drawn on a terminal (a pseudo-terminal from util-linux's
//! `script`), and nowhere else: under pipes, with `--output json` and with `--quiet` the bytes
//! are those of a run without progress. And `pool status --watch` on journals written here.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use testbed::fixture::catalog::*;

const AGENT: &str = env!("CARGO_BIN_EXE_linstor-agent");

/// `args` run on a pseudo-terminal of 160 columns (stdout and stderr both on it): the exit
/// code, and everything the terminal received, its `\r\n` line ends made `\n`.
fn on_terminal(args: &[&str]) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(AGENT)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let line = format!("stty cols 160 rows 50; exec {}", quoted.join(" "));
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("LINSTOR_AGENT_ROOT")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (out.status.code().unwrap_or(-1), text)
}

/// `args` with stdout and stderr piped.
fn piped(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(AGENT)
        .args(args)
        .env_remove("LINSTOR_AGENT_ROOT")
        .env("TERM", "xterm")
        .output()
        .expect("the agent runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_plain(what: &str, text: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\r'),
        "{what} has terminal control bytes: {text:?}"
    );
}

fn root_args<'a>(host: &'a testbed::sysroot::HostRoot, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--root",
        host.root.to_str().expect("utf-8"),
        "--config",
        host.config.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(rest);
    args
}

#[test]
fn downloads_show_bars_on_a_terminal_and_nothing_in_a_pipe() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let tty = host(dir.path(), "tty", &repo, &[KERNEL_XCPNG_38.nevra]);
    let (code, screen) = on_terminal(&root_args(&tty, &["install", "--download-only"]));
    assert_eq!(code, 0, "{screen}");
    // One line per file downloaded, and the total over the packages.
    assert!(screen.contains("downloaded kmod-drbd-"), "{screen}");
    assert!(screen.contains("packages ready ("), "{screen}");
    // Drawn bars: indicatif moves the cursor and clears lines.
    assert!(screen.contains("\x1b["), "{screen:?}");

    let dir = tempfile::tempdir().unwrap();
    let pipe = host(dir.path(), "pipe", &repo, &[KERNEL_XCPNG_38.nevra]);
    let (code, stdout, stderr) = piped(&root_args(&pipe, &["install", "--download-only"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_plain("stdout", &stdout);
    assert_plain("stderr", &stderr);
    assert!(!stderr.contains("downloaded kmod-drbd-"), "{stderr}");
}

#[test]
fn json_and_quiet_on_a_terminal_print_what_a_pipe_gets() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    // The packages cached first, so that every run below is the same run.
    let (code, _, stderr) = piped(&root_args(&host, &["install", "--download-only"]));
    assert_eq!(code, 0, "{stderr}");

    let json_args = root_args(&host, &["--output", "json", "install", "--download-only"]);
    let (code, reference, stderr) = piped(&json_args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let doc: Value = serde_json::from_str(&reference).expect("one JSON document");
    assert_eq!(doc["command"], "install", "{doc}");
    let (code, screen) = on_terminal(&json_args);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        screen, reference,
        "the terminal gets the document alone, byte for byte"
    );

    let quiet_args = root_args(&host, &["--quiet", "install", "--download-only"]);
    let (code, reference, stderr) = piped(&quiet_args);
    assert_eq!(code, 0, "{stderr}");
    assert_plain("stdout", &reference);
    let (code, screen) = on_terminal(&quiet_args);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(screen, reference, "--quiet: the report alone, byte for byte");
}

/// A journal of one host, `state`, with every step of the host done when `done`.
fn journal(state: &str, done: bool) -> Value {
    let step =
        |t: f64| json!({"state": if done { "done" } else { "pending" }, "started": t, "ended": t + 5.0});
    let steps: serde_json::Map<String, Value> = [
        "disable",
        "evacuate",
        "install",
        "reboot",
        "wait-online",
        "wait-synced",
        "wait-pbd",
        "enable",
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| (s.to_string(), step(1000.0 + 5.0 * i as f64)))
    .collect();
    let phase = json!({"state": "done", "started": 990.0, "ended": 1000.0});
    json!({
        "format": 1, "state": state, "started": 990.0,
        "xapi_url": "https://master", "pool_master": "xcp-ng-1",
        "targets": {"kmod-drbd": "9.2.12"},
        "linstor_from": "1.29.0", "linstor_to": "1.29.0", "linstor_change": false,
        "batch_mode": "1", "batches": [["xcp-ng-1"]],
        "phases": {"preflight": phase, "settings": phase, "prefetch": phase, "linstor": phase},
        "hosts": [{
            "name": "xcp-ng-1", "uuid": "u1", "reference": "OpaqueRef:1", "node": "xcp-ng-1",
            "batch": 1, "changes": [], "reboot": true, "vms": [], "steps": steps,
        }],
        "settings": {"auto_evict_allow": null, "auto_evict_saved": true, "ha_was_enabled": false, "ha_heartbeat_srs": []},
        "log": ["1000.000 batch 1/1: xcp-ng-1"],
    })
}

fn write_journal(root: &Path, doc: &Value) {
    let dir = root.join("var/lib/linstor-agent");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join("pool-upgrade.json.tmp");
    std::fs::write(&tmp, doc.to_string()).unwrap();
    // Replaced by a rename, as the upgrade does.
    std::fs::rename(&tmp, dir.join("pool-upgrade.json")).unwrap();
}

/// A config with only `[xapi]`, as on an operator's machine: `pool status` needs no more.
fn operator(dir: &Path) -> (String, String) {
    let root = dir.join("operator");
    std::fs::create_dir_all(&root).unwrap();
    let config = dir.join("operator.toml");
    let secret = dir.join("xapi.secret");
    std::fs::write(&secret, "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        &config,
        format!(
            "[xapi]\nurl = \"https://127.0.0.1:1\"\nusername = \"root\"\npassword_file = \"{}\"\n",
            secret.display()
        ),
    )
    .unwrap();
    (root.display().to_string(), config.display().to_string())
}

#[test]
fn watch_on_a_terminal_draws_the_view_of_a_finished_run_and_ends_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (root, config) = operator(dir.path());
    write_journal(Path::new(&root), &journal("done", true));
    let args = [
        "--root",
        &root,
        "--config",
        &config,
        "pool",
        "status",
        "--watch",
        "--interval",
        "0.1",
    ];
    let started = Instant::now();
    let (code, screen) = on_terminal(&args);
    assert_eq!(code, 0, "{screen}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // The live view (its header and last event), then `pool status`'s report.
    assert!(screen.contains("Pool upgrade done · "), "{screen}");
    assert!(screen.contains("· hosts 1/1 done"), "{screen}");
    assert!(screen.contains("last: batch 1/1: xcp-ng-1"), "{screen}");
    assert!(screen.contains("hosts done\n"), "the status report: {screen}");

    let (code, stdout, stderr) = piped(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_plain("stdout", &stdout);
    assert_plain("stderr", &stderr);
    let (_, status, _) = piped(&["--root", &root, "--config", &config, "pool", "status"]);
    assert!(
        stdout.ends_with(&status),
        "the block, then the status report:\n{stdout}"
    );
    assert!(stdout.starts_with("Pool upgrade done · "), "{stdout}");
}

#[test]
fn watch_in_a_pipe_prints_a_block_per_change_and_json_only_the_final_document() {
    let dir = tempfile::tempdir().unwrap();
    let (root, config) = operator(dir.path());
    write_journal(Path::new(&root), &journal("running", false));
    let watch = |extra: &[&str]| {
        let mut cmd = Command::new(AGENT);
        cmd.args(["--root", &root, "--config", &config])
            .args(extra)
            .args(["pool", "status", "--watch", "--interval", "0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watch starts")
    };
    let human = watch(&[]);
    let json_watch = watch(&["--output", "json"]);
    // Several reads of the same journal: one block for them.
    std::thread::sleep(Duration::from_millis(600));
    let mut next = journal("running", false);
    next["hosts"][0]["steps"]["disable"]["state"] = json!("done");
    next["hosts"][0]["steps"]["evacuate"]["state"] = json!("started");
    next["log"] = json!(["1000.000 batch 1/1: xcp-ng-1", "1005.000 xcp-ng-1: evacuate …"]);
    write_journal(Path::new(&root), &next);
    std::thread::sleep(Duration::from_millis(600));
    write_journal(Path::new(&root), &journal("done", true));

    let ended = |child: std::process::Child| {
        let out = child.wait_with_output().expect("watch ends");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = ended(human);
    assert_eq!(code, Some(0), "{stderr}");
    assert_plain("stdout", &stdout);
    assert_plain("stderr", &stderr);
    assert_eq!(stdout.matches("Pool upgrade running · ").count(), 2, "{stdout}");
    assert!(
        stdout.contains("evacuate") && stdout.contains("last: xcp-ng-1: evacuate …"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("Pool upgrade done · ").count(), 1, "{stdout}");

    let (code, stdout, stderr) = ended(json_watch);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, status, _) = piped(&[
        "--root", &root, "--config", &config, "--output", "json", "pool", "status",
    ]);
    assert_eq!(stdout, status, "one document, `pool status`'s, byte for byte");
}
