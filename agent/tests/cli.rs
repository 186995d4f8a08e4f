//! The command-line contract: config errors are exit 2 naming file:line and key,
//! `--output json` is always one JSON document with `changed`, usage errors are exit 2.

mod support;

use std::process::Command;
use support::*;
use testbed::fixture::catalog::*;

fn agent_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(dir)
        .args(args)
        .output()
        .expect("the agent runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn malformed_config_is_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/linstor-agent");
    std::fs::create_dir_all(etc.join("agent.d")).unwrap();
    let main = etc.join("agent.toml");
    let cases = [
        (
            "bad TOML",
            "[repo]\nbaseurl = \"file:///r/\"\ngpgkey = [unclosed\n",
            "agent.toml:3:",
            "",
        ),
        (
            "unknown key",
            "[repo]\nbaseurl = \"file:///r/\"\n\n[packages]\nkmodd = \"kmod-drbd\"\n",
            "agent.toml:5:",
            "kmodd",
        ),
        (
            "wrong type",
            "[packages]\nuserland = \"drbd-utils\"\n",
            "agent.toml:2:",
            "sequence",
        ),
        (
            "unknown section",
            "[repository]\nbaseurl = \"x\"\n",
            "agent.toml:1:",
            "repository",
        ),
    ];
    for (what, text, location, key) in cases {
        std::fs::write(&main, text).unwrap();
        for command in ["plan", "install", "facts"] {
            let run = agent_in(dir.path(), &[command]);
            assert_eq!(run.code, 2, "{what} ({command}): {}", run.message());
            assert!(run.stderr.contains(location), "{what}: {}", run.stderr);
            assert!(run.stderr.contains(key), "{what}: {}", run.stderr);
            assert!(run.stdout.is_empty(), "{what}: human errors go to stderr");
        }
        let json = agent_in(dir.path(), &["--output", "json", "plan"]);
        assert_eq!(json.code, 2);
        assert_eq!(json.json()["error"]["exit_code"], 2, "{what}");
        assert_eq!(json.json()["changed"], false);
        assert!(
            json.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(location)
        );
    }

    // A fragment is named as itself.
    std::fs::write(&main, "[repo]\nbaseurl = \"file:///r/\"\n").unwrap();
    std::fs::write(
        etc.join("agent.d/10-pins.toml"),
        "[packages.pin]\nkmod-drbd = 9\n",
    )
    .unwrap();
    let run = agent_in(dir.path(), &["plan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("10-pins.toml:2:"), "{}", run.stderr);
}

#[test]
fn missing_named_config_and_bad_usage_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = agent_in(dir.path(), &["--config", "/nonexistent/agent.toml", "plan"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(run.stderr.contains("/nonexistent/agent.toml"), "{}", run.stderr);

    let run = agent_in(dir.path(), &["install", "--no-such-flag"]);
    assert_eq!(run.code, 2, "{}", run.message());
}

#[test]
fn missing_repo_key_is_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let config = config_with_repo(&host, &format!("baseurl = \"{}\"", repo.baseurl()), "");
    let run = agent_with_config(&host, &config, &["plan"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(run.stderr.contains("[repo] gpgkey"), "{}", run.stderr);
    assert!(run.stderr.contains("custom.toml"), "{}", run.stderr);
}

#[test]
fn facts_under_a_root_list_its_kernels_and_no_running_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(
        dir.path(),
        "h1",
        &repo,
        &[KERNEL_XCPNG_37.nevra, KERNEL_XCPNG_38.nevra],
    );
    let run = agent(&host, &["--output", "json", "facts"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["running_kernel"], serde_json::Value::Null);
    assert_eq!(doc["xcpng_version"], "8.3.0");
    let kernels: Vec<&str> = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["package"].as_str().unwrap())
        .collect();
    assert_eq!(
        kernels,
        [KERNEL_XCPNG_38.nevra, KERNEL_XCPNG_37.nevra],
        "newest first"
    );
    assert_eq!(doc["default_boot_kernel"], XCPNG_UNAME);
    assert_eq!(
        doc["serve"].as_array().unwrap().len(),
        1,
        "one uname serves both releases"
    );

    let human = agent(&host, &["facts"]);
    assert!(human.stdout.contains("XCP-ng 8.3.0"), "{}", human.stdout);
}

#[test]
fn a_reader_that_goes_away_early_is_not_a_panic() {
    // `linstor-agent --output json facts | head -1`: stdout closed before the agent writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .args(["--output", "json", "facts"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("agent starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("agent ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
