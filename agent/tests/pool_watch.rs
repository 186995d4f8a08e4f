//! `pool status --watch` beside a running `pool upgrade` of a testbed pool (issue 15): a second
//! process that only reads the journal, follows the run to its end, and changes nothing in it.

mod pool_support;

use pool_support::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[test]
fn watch_follows_a_running_upgrade_to_its_end() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    // Started first: it waits for the journal the upgrade is about to write.
    let watch = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(&pool.orchestrator_root)
        .arg("--config")
        .arg(&pool.orchestrator_config)
        .args(["pool", "status", "--watch", "--interval", "0.2"])
        .env_remove("LINSTOR_AGENT_ROOT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts");

    let run = pool.pool(&["upgrade"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["state"], "done", "{}", run.text);

    let out = watch.wait_with_output().expect("watch ends by itself");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("No pool upgrade journaled at "), "{stdout}");
    // It saw the run while it ran, host by host, and its end.
    assert!(stdout.contains("Pool upgrade running · "), "{stdout}");
    assert!(stdout.contains("batch 1/3: "), "{stdout}");
    assert!(
        [
            "evacuate",
            "install",
            "reboot",
            "wait ONLINE",
            "resync",
            "PBD",
            "enable"
        ]
        .iter()
        .any(|step| stdout.contains(step)),
        "a host step seen: {stdout}"
    );
    assert!(stdout.contains("Pool upgrade done · "), "{stdout}");
    assert!(
        !stdout.contains('\x1b'),
        "no terminal codes in a pipe: {stdout:?}"
    );
    // Then `pool status`'s report, of the journal the upgrade wrote last.
    let journal: Value =
        serde_json::from_str(&std::fs::read_to_string(pool.journal_path()).expect("journal"))
            .expect("journal JSON");
    assert_eq!(journal["state"], "done");
    let status = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(&pool.orchestrator_root)
        .args(["pool", "status"])
        .env_remove("LINSTOR_AGENT_ROOT")
        .output()
        .expect("pool status runs");
    assert!(
        stdout.ends_with(&*String::from_utf8_lossy(&status.stdout)),
        "{stdout}"
    );
    assert_eq!(pool.status()["violations"], Value::Array(vec![]));
}
