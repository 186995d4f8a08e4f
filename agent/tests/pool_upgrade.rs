//! `linstor-agent pool upgrade` against testbed pools provisioned at the old fixture versions
//! (kmod-drbd 9.2.11, LINSTOR 1.29.0): the upgrade to the new ones (9.2.12, 1.29.2), with the
//! world checking quorum, VMs and hosts down at every simulated instant.

mod pool_support;

use pool_support::*;
use serde_json::Value;

const OLD_KMOD: &str = "9.2.11";
const NEW_KMOD: &str = "9.2.12";
const OLD_LINSTOR: &str = "1.29.0";
const NEW_LINSTOR: &str = "1.29.2";

#[test]
fn a_three_host_pool_upgrades_one_host_at_a_time_and_a_second_run_has_nothing_to_do() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = placement(&pool.status());

    let run = pool.pool(&["upgrade"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["changed"], true, "{}", run.text);
    assert_eq!(run.doc["state"], "done", "{}", run.text);
    assert_eq!(
        run.doc["batches"].as_array().map(Vec::len),
        Some(3),
        "{}",
        run.doc["batches"]
    );
    assert_eq!(run.doc["phases"]["linstor"]["state"], "done", "{}", run.text);
    // The master goes first.
    let master = pool.status()["pool"]["master"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        run.doc["hosts"][0]["name"],
        master.as_str(),
        "{}",
        run.doc["hosts"]
    );
    assert_eq!(
        run.doc["batches"][0][0],
        master.as_str(),
        "{}",
        run.doc["batches"]
    );
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);

    // The pins are kept for a later provision on each host.
    for h in pool.info["hosts"].as_array().expect("hosts") {
        let config = std::path::Path::new(h["config"].as_str().expect("config"));
        let fragment = config.with_file_name("agent.d").join("90-pool-upgrade.toml");
        let text =
            std::fs::read_to_string(&fragment).unwrap_or_else(|e| panic!("{}: {e}", fragment.display()));
        assert!(text.contains(NEW_KMOD) && text.contains(NEW_LINSTOR), "{text}");
    }
    // Auto-eviction is back as it was (unset) after the run.
    let props: Value = reqwest_get(&format!(
        "{}/v1/controller/properties",
        pool.info["linstor_url"].as_str().unwrap_or_default()
    ));
    assert!(
        props.get("DrbdOptions/AutoEvictAllowEviction").is_none(),
        "{props}"
    );

    let again = pool.pool(&["upgrade"], &[]);
    assert_eq!(again.code, Some(0), "{}", again.text);
    assert_eq!(again.doc["changed"], false, "{}", again.text);
    let status = pool.status();
    for name in pool.host_names() {
        assert_eq!(
            host(&status, &name)["reboots"],
            1,
            "nothing rebooted the second time"
        );
    }

    let shown = pool.pool(&["status"], &[]);
    assert_eq!(shown.code, Some(0), "{}", shown.text);
    assert_eq!(shown.doc["state"], "done", "{}", shown.text);
}

fn reqwest_get(url: &str) -> Value {
    let out = std::process::Command::new("curl")
        .args(["-sf", url])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn a_five_host_pool_upgrades_with_zero_violations() {
    let pool = Pool::up("upgrade-5.toml", &[]);
    // The site pins the release it runs: the upgrade's targets are still the newest, and
    // the fragment it writes (later in name order) is what a provision keeps afterwards.
    for h in pool.info["hosts"].as_array().expect("hosts") {
        let config = std::path::Path::new(h["config"].as_str().expect("config"));
        let dir = config.with_file_name("agent.d");
        std::fs::create_dir_all(&dir).expect("agent.d");
        std::fs::write(
            dir.join("10-release.toml"),
            format!(
                "[packages]\npin = {{ \"kmod-drbd\" = \"{OLD_KMOD}\", \"linstor-satellite\" = \"{OLD_LINSTOR}\" }}\n"
            ),
        )
        .expect("release pins");
    }
    let before = placement(&pool.status());
    let run = pool.pool(&["upgrade", "--batch", "1"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
    for h in pool.info["hosts"].as_array().expect("hosts") {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
            .arg("--root")
            .arg(h["root"].as_str().expect("root"))
            .args(["--output", "json", "plan"])
            .env_remove("LINSTOR_AGENT_ROOT")
            .output()
            .expect("plan runs");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(
            doc["pending"], false,
            "a later provision keeps the upgrade: {doc}"
        );
    }
}

#[test]
fn dry_run_prints_the_plan_per_host_and_changes_nothing() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = pool.status();
    let run = pool.pool(&["upgrade", "--dry-run"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["changed"], false);
    assert_eq!(run.doc["dry_run"], true);
    assert_eq!(run.doc["linstor_change"], true, "{}", run.text);
    let hosts = run.doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3);
    for h in hosts {
        assert_eq!(h["reboot"], true, "{h}");
        assert!(h["batch"].as_u64().is_some_and(|b| b >= 1), "{h}");
        let kmod = h["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .find(|c| c["name"] == "kmod-drbd")
            .unwrap_or_else(|| panic!("kmod-drbd in {h}"));
        assert!(
            kmod["from"][0].as_str().is_some_and(|f| f.contains(OLD_KMOD)),
            "{kmod}"
        );
        assert!(
            kmod["to"].as_str().is_some_and(|t| t.contains(NEW_KMOD)),
            "{kmod}"
        );
    }
    // The human form shows from → to, reboot and the batch.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_linstor-agent"));
    let out = cmd
        .arg("--root")
        .arg(&pool.orchestrator_root)
        .arg("--config")
        .arg(&pool.orchestrator_config)
        .args(["pool", "upgrade", "--dry-run"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("kmod-drbd {OLD_KMOD} → {NEW_KMOD}")),
        "{text}"
    );
    assert!(text.contains("reboot") && text.contains("batch"), "{text}");

    // --hosts limits the upgrade to the hosts named; an unknown name is a usage error.
    let one = pool.pool(&["upgrade", "--dry-run", "--hosts", "xcp-ng-2"], &[]);
    assert_eq!(one.code, Some(0), "{}", one.text);
    assert_eq!(one.doc["hosts"].as_array().map(Vec::len), Some(1), "{}", one.text);
    assert_eq!(one.doc["hosts"][0]["name"], "xcp-ng-2");
    let unknown = pool.pool(&["upgrade", "--dry-run", "--hosts", "xcp-ng-9"], &[]);
    assert_eq!(unknown.code, Some(2), "{}", unknown.text);
    assert!(
        unknown.text.contains("xcp-ng-9") && unknown.text.contains("xcp-ng-1"),
        "{}",
        unknown.text
    );

    let after = pool.status();
    assert!(!pool.journal_path().exists(), "no journal written");
    for name in pool.host_names() {
        assert_eq!(host(&after, &name)["reboots"], 0);
        assert!(has_version(host(&after, &name), "kmod-drbd", OLD_KMOD));
        assert_eq!(host(&after, &name)["enabled"], true);
    }
    assert_eq!(after["controller"]["version"], before["controller"]["version"]);
}

#[test]
fn killed_at_every_phase_boundary_and_mid_step_the_run_resumes_without_skipping_or_repeating() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = placement(&pool.status());
    let names = pool.host_names();
    let (h1, h2, h3) = (&names[0], &names[1], &names[2]);
    // Each run is killed at the next point; the last resume completes.
    let points = [
        "phase:preflight:done".to_string(),
        "phase:settings:done".to_string(),
        "phase:prefetch:done".to_string(),
        "phase:linstor:started".to_string(),
        "phase:linstor:done".to_string(),
        format!("host:{h1}:evacuate:started"),
        format!("host:{h1}:reboot:asked"),
        format!("host:{h1}:wait-synced:started"),
        format!("host:{h2}:install:done"),
        format!("host:{h2}:reboot:started"),
        format!("host:{h3}:enable:started"),
        "phase:hosts:done".to_string(),
        "phase:finish:started".to_string(),
    ];
    let mut first = true;
    for point in &points {
        let args: &[&str] = if first {
            &["upgrade"]
        } else {
            &["upgrade", "--resume"]
        };
        first = false;
        let run = pool.pool(args, &[(linstor_agent::pool::KILL_AT_ENV, point)]);
        assert!(run.killed, "killed at {point}: {}", run.text);
        let status = pool.pool(&["status"], &[]);
        assert_eq!(status.code, Some(0), "{}", status.text);
        assert_eq!(
            status.doc["state"], "running",
            "after the kill at {point}: {}",
            status.text
        );
        // A new run without --resume is refused while the journal is open.
        let fresh = pool.pool(&["upgrade"], &[]);
        assert_eq!(fresh.code, Some(2), "{}", fresh.text);
        assert!(fresh.text.contains("--resume"), "{}", fresh.text);
    }
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["state"], "done", "{}", run.text);
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}

#[test]
fn a_host_that_does_not_come_back_stops_the_run_and_resume_finishes_after_the_fault_clears() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = placement(&pool.status());
    let names = pool.host_names();
    let master = pool.status()["pool"]["master"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The second host upgraded (the first after the master) does not come back.
    let victim = names
        .iter()
        .find(|n| **n != master)
        .expect("a host that is not the master")
        .clone();
    pool.fault(&["no-return", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--host-timeout", "5"], &[]);
    // The deadline passed: the run pauses (exit 3) with its journal, saying what it waited for.
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains(&victim) && run.text.contains("did not come back"),
        "{}",
        run.text
    );
    assert!(run.text.contains("not reached within"), "{}", run.text);
    let shown = pool.pool(&["status"], &[]);
    assert_eq!(shown.doc["state"], "paused", "{}", shown.text);
    assert_eq!(shown.doc["stall"]["reason"], "deadline", "{}", shown.text);
    let status = pool.status();
    let untouched: Vec<&String> = names
        .iter()
        .filter(|n| host(&status, n)["reboots"] == 0 && **n != victim)
        .collect();
    assert_eq!(untouched.len(), 1, "exactly one host not touched yet: {status}");
    assert!(has_version(host(&status, untouched[0]), "kmod-drbd", OLD_KMOD));
    assert_eq!(host(&status, untouched[0])["enabled"], true);

    pool.fault(&["power-on", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}

#[test]
fn a_stalled_resync_stops_the_run_before_the_next_host_goes_down() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let status = pool.status();
    // A resource with a diskful replica on the host upgraded first (the master).
    let master = status["pool"]["master"].as_str().expect("master").to_string();
    let resource = diskful_resource_on(&status, &master);
    pool.fault(&["stall-resync", "--resource", &resource, "--node", &master]);
    let run = pool.pool(&["upgrade", "--resync-timeout", "3"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains(&resource) && run.text.contains("resync"),
        "{}",
        run.text
    );
    let after = pool.status();
    for name in pool.host_names().iter().filter(|n| **n != master) {
        assert_eq!(host(&after, name)["reboots"], 0, "{name} not taken down: {after}");
    }
    assert_eq!(host(&after, &master)["enabled"], false, "left disabled");
    assert_eq!(violations(&after), Vec::<Value>::new());
}

fn refused_and_untouched(pool: &Pool, expect: &str) {
    let run = pool.pool(&["upgrade"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(run.text.contains(expect), "expected {expect:?} in {}", run.text);
    assert!(run.text.contains("nothing was changed"), "{}", run.text);
    assert!(!pool.journal_path().exists(), "no journal");
    let status = pool.status();
    for name in pool.host_names() {
        assert!(has_version(host(&status, &name), "kmod-drbd", OLD_KMOD), "{name}");
    }
}

#[test]
fn a_degraded_pool_is_refused_in_preflight() {
    // A node OFFLINE: its satellite does not start after a crash.
    let pool = Pool::up("upgrade-3.toml", &[]);
    let victim = pool.host_names()[2].clone();
    pool.fault(&["no-satellite", "--host", &victim]);
    pool.fault(&["crash", "--host", &victim]);
    pool.fault(&["power-on", "--host", &victim]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    refused_and_untouched(&pool, &format!("node {victim} is OFFLINE"));

    // A resource not UpToDate: a host back from a crash whose resync is stalled.
    let pool = Pool::up("upgrade-3.toml", &[]);
    let victim = pool.host_names()[1].clone();
    let resource = diskful_resource_on(&pool.status(), &victim);
    pool.fault(&["stall-resync", "--resource", &resource, "--node", &victim]);
    pool.fault(&["crash", "--host", &victim]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    pool.fault(&["power-on", "--host", &victim]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    refused_and_untouched(&pool, &format!("resource {resource} on {victim}"));

    // A node EVICTED: offline longer than auto-eviction allows (60 simulated minutes).
    let pool = Pool::up("upgrade-3.toml", &[]);
    let victim = pool.host_names()[2].clone();
    pool.fault(&["crash", "--host", &victim]);
    std::thread::sleep(std::time::Duration::from_secs(7));
    pool.fault(&["power-on", "--host", &victim]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    refused_and_untouched(&pool, &format!("node {victim} is EVICTED"));
}

#[test]
fn batch_auto_takes_safe_pairs_down_together_and_refuses_pairs_that_share_a_resource() {
    let pool = Pool::up("batch-6.toml", &[]);
    let before = placement(&pool.status());
    let run = pool.pool(&["upgrade", "--batch", "auto"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let rounds = run.doc["batches"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        (1..6).contains(&rounds),
        "fewer rounds than hosts: {}",
        run.doc["batches"]
    );
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);

    let pool = Pool::up("no-batch-4.toml", &[]);
    let run = pool.pool(&["upgrade", "--batch", "auto", "--dry-run"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(
        run.doc["batches"].as_array().map(Vec::len),
        Some(4),
        "{}",
        run.doc["batches"]
    );
}

#[test]
fn ha_is_disabled_for_the_run_and_enabled_again_after_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = tmp.path().join("ha.toml");
    let base = std::fs::read_to_string(pool_support::scenario("upgrade-3.toml")).expect("scenario");
    std::fs::write(&scenario, format!("ha_enabled = true\n{base}")).expect("write");
    let pool = Pool::up(scenario.to_str().expect("utf-8"), &[]);
    assert_eq!(pool.status()["pool"]["ha_enabled"], true);
    let before = placement(&pool.status());
    let run = pool.pool(&["upgrade"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["settings"]["ha_was_enabled"], true, "{}", run.text);
    assert!(run.text.contains("HA disabled for the run"), "{}", run.text);
    assert_eq!(pool.status()["pool"]["ha_enabled"], true, "HA restored");
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}

/// Issue 14: the settings the run turns off are copied beside the journal when first saved, so
/// the damaged-journal message (which advises moving the journal away) prints them and how to
/// put them back; with the journal repaired the run resumes, restores them and drops the copy.
#[test]
fn a_damaged_journal_prints_the_settings_saved_beside_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = tmp.path().join("ha.toml");
    let base = std::fs::read_to_string(pool_support::scenario("upgrade-3.toml")).expect("scenario");
    std::fs::write(&scenario, format!("ha_enabled = true\n{base}")).expect("write");
    let pool = Pool::up(scenario.to_str().expect("utf-8"), &[]);
    let before = placement(&pool.status());
    let run = pool.pool(
        &["upgrade"],
        &[(linstor_agent::pool::KILL_AT_ENV, "phase:settings:done")],
    );
    assert!(run.killed, "{}", run.text);
    let journal = pool.journal_path();
    let copy = journal.with_extension("settings.json");
    assert!(copy.is_file(), "the settings are copied when saved");
    let intact = std::fs::read(&journal).expect("journal");
    std::fs::write(&journal, "{\"format\": 1, damaged").expect("damage");
    for args in [&["status"][..], &["upgrade", "--resume"][..]] {
        let run = pool.pool(args, &[]);
        assert_ne!(run.code, Some(0), "{args:?}: {}", run.text);
        let message = run.doc["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("move it away"), "{args:?}: {message}");
        assert!(message.contains(&format!("Keep {}", copy.display())), "{message}");
        assert!(
            message.contains("DrbdOptions/AutoEvictAllowEviction was unset"),
            "{message}"
        );
        assert!(message.contains("XAPI HA was enabled"), "{message}");
    }
    std::fs::write(&journal, intact).expect("journal repaired");
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert!(!copy.exists(), "the copy goes once the settings are restored");
    assert_eq!(pool.status()["pool"]["ha_enabled"], true, "HA restored");
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}

#[test]
fn pause_stops_between_batches_and_abort_closes_the_journal() {
    let pool = Pool::up("upgrade-5.toml", &[]);
    let journal = pool.journal_path();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(&pool.orchestrator_root)
        .arg("--config")
        .arg(&pool.orchestrator_config)
        .args(["--output", "json", "pool", "upgrade"])
        .env_remove("LINSTOR_AGENT_ROOT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("upgrade starts");
    // Once the run has a journal it holds the lock: ask it to pause.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let paused = pool.pool(&["pause"], &[]);
        if paused.code == Some(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pause never accepted: {}",
            paused.text
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("upgrade ends");
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(doc["state"], "paused", "{doc}");
    assert!(journal.exists());
    let status = pool.status();
    let upgraded = pool
        .host_names()
        .iter()
        .filter(|n| host(&status, n)["reboots"] == 1)
        .count();
    assert!(upgraded < 5, "paused before the last batch: {upgraded} upgraded");
    for name in pool.host_names() {
        assert_eq!(
            host(&status, &name)["enabled"],
            true,
            "between batches every host is enabled"
        );
    }
    // Nothing is running: pause is refused; abort closes the journal and restores settings.
    let again = pool.pool(&["pause"], &[]);
    assert_eq!(again.code, Some(2), "{}", again.text);
    let aborted = pool.pool(&["abort"], &[]);
    assert_eq!(aborted.code, Some(0), "{}", aborted.text);
    let shown = pool.pool(&["status"], &[]);
    assert_eq!(shown.doc["state"], "aborted", "{}", shown.text);
    let url = pool.info["linstor_url"].as_str().unwrap_or_default().to_string();
    let props = reqwest_get(&format!("{url}/v1/controller/properties"));
    assert!(
        props.get("DrbdOptions/AutoEvictAllowEviction").is_none(),
        "{props}"
    );
    // A new run starts from scratch and finishes the pool.
    let run = pool.pool(&["upgrade"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(pool.status()["violations"], Value::Array(vec![]));
}
