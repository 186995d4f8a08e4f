//! The metrics end to end (issue 15, point 4): `status --prometheus`, and the node_exporter
//! textfile written after each run with `[metrics] textfile_dir`, on testbed hosts built from
//! the signed fixture repository. Every exposition is checked with `promtool check metrics`
//! (Debian's `prometheus` package, which `make test` installs), which parses it and lints the
//! names against Prometheus' conventions.

mod pool_support;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;
use testbed::fixture::catalog::*;
use testbed::sysroot::HostRoot;

const TEXTFILE_DIR: &str = "/var/lib/node_exporter/textfile_collector";

/// Adds `[metrics] textfile_dir` to the host's config; returns where the textfile lands.
fn with_textfile(host: &HostRoot) -> PathBuf {
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&host.config)
        .unwrap();
    writeln!(config, "\n[metrics]\ntextfile_dir = \"{TEXTFILE_DIR}\"").unwrap();
    host.root.join(TEXTFILE_DIR.trim_start_matches('/'))
}

/// `promtool check metrics` on `text`: it must parse and lint clean. A missing promtool fails
/// the test: the check is the point.
fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!(
            "promtool cannot run ({e}): it comes with Debian's `prometheus` package, which `make test` \
             (scripts/install-deps.sh) installs"
        )
    });
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n--- exposition:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `name{labels}` (`labels` as written, `k="v",…`; empty: none).
fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn expect(text: &str, name: &str, labels: &str, want: f64) {
    assert_eq!(
        value(text, name, labels),
        Some(want),
        "{name}{{{labels}}} in\n{text}"
    );
}

/// `[epoch:]version-release` of a plan action's `to` NEVRA.
fn evr(name: &str, nevra: &str) -> String {
    let rest = nevra.strip_prefix(&format!("{name}-")).unwrap();
    rest.rsplit_once('.').unwrap().0.to_owned()
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn status_prometheus_on_a_fresh_host_shows_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);

    let run = agent(&host, &["status", "--prometheus"]);
    assert_eq!(
        run.code,
        1,
        "not converged: status's exit code\n{}",
        run.message()
    );
    let text = run.stdout;
    promtool_check(&text);
    expect(&text, "linstor_agent_step_converged", "step=\"install\"", 0.0);
    let module = format!(
        "kernel=\"{XCPNG_UNAME}\",package=\"kmod-drbd\",installed=\"\",newest=\"{}\"",
        evr("kmod-drbd", KMOD_XCPNG_9_2_12.nevra)
    );
    expect(&text, "linstor_agent_module_info", &module, 1.0);
    expect(
        &text,
        "linstor_agent_module_current",
        &format!("kernel=\"{XCPNG_UNAME}\""),
        0.0,
    );
    expect(
        &text,
        "linstor_agent_package_current",
        "package=\"drbd-utils\"",
        0.0,
    );
    expect(&text, "linstor_agent_last_run_success", "command=\"status\"", 0.0);
    expect(
        &text,
        "linstor_agent_last_run_exit_code",
        "command=\"status\"",
        1.0,
    );
    assert!(!text.contains("pool_upgrade"), "no journal here:\n{text}");
    // No textfile without [metrics].
    assert!(!host.root.join(TEXTFILE_DIR.trim_start_matches('/')).exists());

    let json = agent(&host, &["--output", "json", "status", "--prometheus"]);
    assert_eq!(json.code, 2, "{}", json.message());
    assert!(
        json.stdout.contains("does not go with --output json"),
        "{}",
        json.stdout
    );
}

#[test]
fn install_writes_the_textfile_with_the_plans_versions_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    let textfile_dir = with_textfile(&host);

    let plan = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    assert!(!textfile_dir.exists(), "plan is not recorded");

    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(
        listing(&textfile_dir),
        ["linstor_agent.prom"],
        "no temporary file left"
    );
    let text = std::fs::read_to_string(textfile_dir.join("linstor_agent.prom")).unwrap();
    promtool_check(&text);

    // Each kernel and package of the plan, now installed at the version the plan chose.
    for kernel in plan["kernels"].as_array().unwrap() {
        let version = evr("kmod-drbd", kernel["module"].as_str().unwrap());
        let labels = format!(
            "kernel=\"{}\",package=\"kmod-drbd\",installed=\"{version}\",newest=\"{version}\"",
            kernel["uname_r"].as_str().unwrap()
        );
        expect(&text, "linstor_agent_module_info", &labels, 1.0);
    }
    let userland: Vec<&serde_json::Value> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] != "kmod-drbd")
        .collect();
    assert!(userland.len() >= 4, "{plan}");
    for action in userland {
        let name = action["name"].as_str().unwrap();
        let version = evr(name, action["to"].as_str().unwrap());
        let labels = format!("package=\"{name}\",installed=\"{version}\",newest=\"{version}\"");
        expect(&text, "linstor_agent_package_info", &labels, 1.0);
        expect(
            &text,
            "linstor_agent_package_current",
            &format!("package=\"{name}\""),
            1.0,
        );
    }
    expect(&text, "linstor_agent_step_converged", "step=\"install\"", 1.0);
    expect(
        &text,
        "linstor_agent_last_run_success",
        "command=\"install\"",
        1.0,
    );
    expect(
        &text,
        "linstor_agent_last_run_exit_code",
        "command=\"install\"",
        0.0,
    );
    let finished = value(
        &text,
        "linstor_agent_last_run_timestamp_seconds",
        "command=\"install\"",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - finished).abs() < 600.0, "{finished} is now");

    // kernel-guard finds every kernel guarded and reads no repository: the versions stay.
    let guard = agent(&host, &["kernel-guard"]);
    assert_eq!(guard.code, 0, "{}", guard.message());
    let after = std::fs::read_to_string(textfile_dir.join("linstor_agent.prom")).unwrap();
    expect(
        &after,
        "linstor_agent_last_run_success",
        "command=\"kernel-guard\"",
        1.0,
    );
    let versions = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                l.starts_with("linstor_agent_module_info") || l.starts_with("linstor_agent_package_info")
            })
            .map(String::from)
            .collect()
    };
    assert_eq!(versions(&after), versions(&text));

    // status prints what it writes.
    let status = agent(&host, &["status", "--prometheus"]);
    promtool_check(&status.stdout);
    let written = std::fs::read_to_string(textfile_dir.join("linstor_agent.prom")).unwrap();
    assert_eq!(status.stdout, written);
    expect(
        &written,
        "linstor_agent_check_ok",
        &format!("step=\"install\",check=\"module {XCPNG_UNAME}\""),
        1.0,
    );
    expect(
        &written,
        "linstor_agent_check_ok",
        "step=\"install\",check=\"packages\"",
        1.0,
    );
    assert_eq!(listing(&textfile_dir), ["linstor_agent.prom"]);
}

#[test]
fn a_textfile_that_cannot_be_written_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    let textfile_dir = with_textfile(&host);
    // A file where the directory should be.
    std::fs::create_dir_all(textfile_dir.parent().unwrap()).unwrap();
    std::fs::write(&textfile_dir, "not a directory").unwrap();

    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(run.json()["changed"], true);
    assert!(
        run.stderr.contains("cannot write the metrics textfile"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_relative_textfile_dir_is_a_config_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    let text = std::fs::read_to_string(&host.config).unwrap();
    let line = text.lines().count() + 3;
    std::fs::write(
        &host.config,
        format!("{text}\n[metrics]\ntextfile_dir = \"textfile_collector\"\n"),
    )
    .unwrap();
    let run = agent(&host, &["status"]);
    assert_eq!(run.code, 2, "{}", run.message());
    let at = format!("{}:{line}: [metrics] textfile_dir", host.config.display());
    assert!(run.stderr.contains(&at), "{at} in {}", run.stderr);
}

/// The textfile as a pool upgrade runs: written at each journal write (hosts done, the phase
/// it is in), then at the end with the run recorded.
#[test]
fn a_pool_upgrade_keeps_the_textfile_up_to_date() {
    let pool = pool_support::Pool::up("upgrade-3.toml", &[]);
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&pool.orchestrator_config)
        .unwrap();
    writeln!(config, "\n[metrics]\ntextfile_dir = \"{TEXTFILE_DIR}\"").unwrap();
    let textfile = pool
        .orchestrator_root
        .join(TEXTFILE_DIR.trim_start_matches('/'))
        .join("linstor_agent.prom");
    let names = pool.host_names();

    // Killed once the second host's first step is journaled: what the textfile says then.
    let point = format!("host:{}:disable:started", names[1]);
    let killed = pool.pool(&["upgrade"], &[(linstor_agent::pool::KILL_AT_ENV, &point)]);
    assert!(killed.killed, "{}", killed.text);
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_check(&text);
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pool.journal_path()).unwrap()).unwrap();
    let done: Vec<&str> = journal["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["steps"].as_object().is_some_and(|s| {
                s.len() == 8
                    && s.values()
                        .all(|v| v["state"] == "done" || v["state"] == "skipped")
            })
        })
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(!done.is_empty(), "the first host is done: {journal}");
    expect(&text, "linstor_agent_pool_upgrade_running", "", 1.0);
    expect(&text, "linstor_agent_pool_upgrade_hosts", "", 3.0);
    expect(
        &text,
        "linstor_agent_pool_upgrade_hosts_done",
        "",
        done.len() as f64,
    );
    expect(&text, "linstor_agent_pool_upgrade_phase", "phase=\"hosts\"", 1.0);
    expect(
        &text,
        "linstor_agent_pool_upgrade_phase",
        "phase=\"linstor\"",
        0.0,
    );
    expect(
        &text,
        "linstor_agent_pool_upgrade_host_done",
        &format!("host=\"{}\"", done[0]),
        1.0,
    );
    expect(
        &text,
        "linstor_agent_pool_upgrade_host_done",
        &format!("host=\"{}\"", names[1]),
        0.0,
    );

    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_check(&text);
    expect(&text, "linstor_agent_pool_upgrade_running", "", 0.0);
    expect(&text, "linstor_agent_pool_upgrade_state", "state=\"done\"", 1.0);
    expect(&text, "linstor_agent_pool_upgrade_hosts_done", "", 3.0);
    expect(&text, "linstor_agent_pool_upgrade_phase", "phase=\"finish\"", 1.0);
    expect(
        &text,
        "linstor_agent_last_run_success",
        "command=\"pool upgrade\"",
        1.0,
    );
}
