//! `pool upgrade` and LINSTOR's versions: the LINSTOR step decides from the packages installed
//! on every host as well as the running controller (issue 17), preflight refuses what the upgrade
//! cannot align, and a node that will not come ONLINE pauses the run with the journal intact
//! until the operator fixes it and resumes.

mod pool_support;

use pool_support::*;
use serde_json::Value;

const NEW_KMOD: &str = "9.2.12";
const OLD_LINSTOR: &str = "1.29.0";
const NEW_LINSTOR: &str = "1.29.2";

/// When the journal recorded `phase` as ended, and the first host step started.
fn phase_end_and_first_host_step(doc: &Value, phase: &str) -> (f64, f64) {
    let ended = doc["phases"][phase]["ended"].as_f64().unwrap_or(f64::MAX);
    let first = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .flat_map(|h| h["steps"].as_object().into_iter().flat_map(|s| s.values()))
        .filter_map(|s| s["started"].as_f64())
        .fold(f64::MAX, f64::min);
    (ended, first)
}

#[test]
fn packages_left_behind_the_running_controller_are_upgraded_in_the_linstor_step_first() {
    // Services at 1.29.2, every host's packages at 1.29.0: the running controller alone says
    // "nothing to do for LINSTOR", the installed packages say otherwise.
    let pool = Pool::up("controller-behind.toml", &[]);
    let start = pool.status();
    for node in start["nodes"].as_array().expect("nodes") {
        assert_eq!(node["connection_status"], "ONLINE", "{node}");
    }
    for name in pool.host_names() {
        assert!(has_version(
            host(&start, &name),
            "linstor-controller",
            OLD_LINSTOR
        ));
    }
    let before = placement(&start);

    let plan = pool.pool(&["upgrade", "--dry-run"], &[]);
    assert_eq!(plan.code, Some(0), "{}", plan.text);
    assert_eq!(plan.doc["linstor_change"], true, "{}", plan.text);
    assert_eq!(plan.doc["linstor_from"], NEW_LINSTOR, "{}", plan.text);
    assert_eq!(plan.doc["linstor_to"], NEW_LINSTOR, "{}", plan.text);
    assert_eq!(
        plan.doc["linstor_packages"],
        serde_json::json!(["linstor-satellite", "linstor-controller"]),
        "{}",
        plan.text
    );
    for name in pool.host_names() {
        assert_eq!(
            plan.doc["linstor_installed"][&name]["linstor-controller"]["version"], OLD_LINSTOR,
            "{}",
            plan.text
        );
    }

    let run = pool.pool(&["upgrade", "--stuck-after", "5"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["phases"]["linstor"]["state"], "done", "{}", run.text);
    let (linstor_done, first_host_step) = phase_end_and_first_host_step(&run.doc, "linstor");
    assert!(
        linstor_done <= first_host_step,
        "every host had the new controller package before any host was taken down: {}",
        run.text
    );
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}

#[test]
fn running_and_installed_versions_the_upgrade_cannot_align_are_refused() {
    // The controller runs 1.29.2; a pin back to 1.29.0 would take LINSTOR backwards.
    let pool = Pool::up("controller-behind.toml", &[]);
    let run = pool.pool(&["upgrade", "--pin", "linstor-satellite=1.29.0"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text
            .contains("the LINSTOR controller runs 1.29.2, newer than the target 1.29.0"),
        "{}",
        run.text
    );
    assert!(run.text.contains("nothing was changed"), "{}", run.text);
    assert!(!pool.journal_path().exists(), "no journal");

    // One host has a newer controller package than the pool's target.
    let pool = Pool::up("upgrade-3.toml", &[]);
    let victim = pool.host_names()[1].clone();
    let root = pool.info["hosts"][1]["root"].as_str().expect("root").to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .args(["--root", &root, "--output", "json", "install"])
        .args([
            "--only",
            "linstor-controller",
            "--pin",
            "linstor-controller=1.29.2",
        ])
        .env_remove("LINSTOR_AGENT_ROOT")
        .output()
        .expect("install runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let before = pool.status();
    let run = pool.pool(&["upgrade", "--pin", "linstor-satellite=1.29.0"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains(&format!(
            "host {victim} has linstor-controller 1.29.2 installed, newer than the target 1.29.0"
        )),
        "{}",
        run.text
    );
    assert!(!pool.journal_path().exists(), "no journal");
    let after = pool.status();
    for name in pool.host_names() {
        assert_eq!(host(&after, &name)["reboots"], 0, "{name}");
        assert_eq!(host(&after, &name)["packages"], host(&before, &name)["packages"]);
    }
}

/// The journal after a run that paused: state, the stall, and the step it waits in.
fn assert_paused_on(pool: &Pool, run: &pool_support::Run, host_name: Option<&str>, step: &str) {
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains("VERSION_MISMATCH")
            && run.text.contains("stuck since")
            && run.text.contains("UTC")
            && run.text.contains("pool upgrade --resume")
            && run.text.contains("systemctl restart linstor-satellite"),
        "the message says what, since when and what to do: {}",
        run.text
    );
    let shown = pool.pool(&["status"], &[]);
    assert_eq!(shown.doc["state"], "paused", "{}", shown.text);
    assert_eq!(shown.doc["stall"]["reason"], "stuck", "{}", shown.text);
    assert_eq!(shown.doc["stall"]["step"], step, "{}", shown.text);
    if let Some(h) = host_name {
        assert_eq!(shown.doc["stall"]["host"], h, "{}", shown.text);
        let entry = shown.doc["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|e| e["name"] == h)
            .expect("host in the journal");
        assert_eq!(entry["steps"][step]["state"], "started", "{entry}");
    }
    // The pool is left as it was when the wait began: nobody else taken down.
    assert_eq!(violations(&pool.status()), Vec::<Value>::new());
}

#[test]
fn a_satellite_that_refuses_the_controller_pauses_the_run_and_resume_finishes_it() {
    // LINSTOR stays (pinned at the version the pool runs): only the module changes, so the
    // fault bites when the victim's satellite starts after its reboot, in wait-online.
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = placement(&pool.status());
    let master = pool.status()["pool"]["master"]
        .as_str()
        .expect("master")
        .to_string();
    let victim = pool
        .host_names()
        .into_iter()
        .find(|n| *n != master)
        .expect("a host that is not the master");
    pool.fault(&["satellite-refuses", "--host", &victim]);
    let pins = [
        "--pin",
        "linstor-satellite=1.29.0",
        "--pin",
        "linstor-controller=1.29.0",
        "--pin",
        "linstor-client=1.23.0",
    ];
    let mut args = vec!["upgrade", "--stuck-after", "2"];
    args.extend_from_slice(&pins);
    let run = pool.pool(&args, &[]);
    assert_paused_on(&pool, &run, Some(&victim), "wait-online");
    assert!(
        run.text.contains(&format!("node {victim} is VERSION_MISMATCH")),
        "{}",
        run.text
    );
    let status = pool.status();
    let touched: Vec<String> = pool
        .host_names()
        .into_iter()
        .filter(|n| host(&status, n)["reboots"] == 1)
        .collect();
    assert_eq!(
        touched.len(),
        2,
        "the master and the victim, no third host: {status}"
    );

    // Resuming while it still refuses pauses again; once fixed, resume finishes the pool.
    let again = pool.pool(&["upgrade", "--resume", "--stuck-after", "2"], &[]);
    assert_eq!(again.code, Some(3), "{}", again.text);
    pool.fault(&["satellite-accepts", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["state"], "done", "{}", run.text);
    assert_upgraded(&pool, &before, NEW_KMOD, OLD_LINSTOR);

    // In the LINSTOR step: the satellite restarted at the new version refuses the controller.
    let pool = Pool::up("upgrade-3.toml", &[]);
    let before = placement(&pool.status());
    let victim = pool.host_names()[2].clone();
    pool.fault(&["satellite-refuses", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--stuck-after", "2"], &[]);
    assert_paused_on(&pool, &run, None, "phase linstor");
    let shown = pool.pool(&["status"], &[]);
    assert_eq!(
        shown.doc["phases"]["linstor"]["state"], "started",
        "{}",
        shown.text
    );
    let status = pool.status();
    for name in pool.host_names() {
        assert_eq!(host(&status, &name)["reboots"], 0, "no host taken down: {status}");
    }
    pool.fault(&["satellite-accepts", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_upgraded(&pool, &before, NEW_KMOD, NEW_LINSTOR);
}
