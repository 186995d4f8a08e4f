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

/// `agent_in` with one more environment variable.
fn agent_env(dir: &std::path::Path, var: (&str, &str), args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(dir)
        .env(var.0, var.1)
        .args(args)
        .output()
        .expect("the agent runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Issue 14: a package manager override that is neither yum nor dnf was ignored (dnf was
/// used); it is a usage error naming the allowed values, before any command runs.
#[test]
fn an_unknown_package_manager_is_exit_2_naming_the_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let var = ("LINSTOR_AGENT_PACKAGE_MANAGER", "rm");
    for command in ["facts", "install"] {
        let run = agent_env(dir.path(), var, &[command]);
        assert_eq!(run.code, 2, "{command}: {}", run.message());
        assert!(
            run.stderr
                .contains("LINSTOR_AGENT_PACKAGE_MANAGER=\"rm\": use yum or dnf"),
            "{command}: {}",
            run.stderr
        );
    }
    let json = agent_env(dir.path(), var, &["--output", "json", "facts"]);
    assert_eq!(json.json()["error"]["exit_code"], 2);
    // yum, dnf, or empty (detect) pass: what `facts` then says of the empty root is its own.
    for good in ["yum", "dnf", ""] {
        let run = agent_env(dir.path(), ("LINSTOR_AGENT_PACKAGE_MANAGER", good), &["facts"]);
        assert!(
            !run.stderr.contains("LINSTOR_AGENT_PACKAGE_MANAGER"),
            "{good:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was written in the root"
    );
}

/// Issue 14: under `--output json`, a command line clap refuses is the same JSON error document
/// as every other failure, on stdout; help and version are still text, exit 0.
#[test]
fn usage_errors_under_output_json_are_a_json_document() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--output", "json", "plan", "--no-such-flag"][..],
        &["--output=json", "no-such-command"][..],
        &["install", "--output", "json", "--pin"][..],
        &["--output", "json"][..],
    ] {
        let run = agent_in(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.message());
        let doc = run.json();
        assert_eq!(doc["changed"], false, "{args:?}");
        assert_eq!(doc["error"]["exit_code"], 2, "{args:?}");
        assert!(!doc["error"]["message"].as_str().unwrap().is_empty(), "{args:?}");
    }
    let run = agent_in(dir.path(), &["--output", "json", "plan", "--no-such-flag"]);
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
    let run = agent_in(dir.path(), &["plan", "--no-such-flag"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.is_empty() && run.stderr.contains("--no-such-flag"),
        "{}",
        run.message()
    );
    let help = agent_in(dir.path(), &["--output", "json", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage"), "{}", help.stdout);
}

/// Issue 14: a NUL character or a 5 MB value in a config string is a usage error at its file
/// and line, with the value shortened, not a misleading message much later.
#[test]
fn a_nul_or_a_huge_config_value_is_named_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/linstor-agent");
    std::fs::create_dir_all(&etc).unwrap();
    let main = etc.join("agent.toml");
    let huge = "x".repeat(5 * 1024 * 1024);
    let cases = [
        (
            "[repo]\nbaseurl = \"file:///r/\"\ngpgkey = \"/etc/pki/key\\u0000.asc\"\n".to_string(),
            "agent.toml:3: [repo] gpgkey",
            "NUL",
        ),
        (
            format!("[repo]\nbaseurl = \"file:///r/\"\n\n[xapi]\nusername = \"{huge}\"\n"),
            "agent.toml:5: [xapi] username is 5242880 bytes long",
            "at most 4096",
        ),
        (
            format!("[packages]\nuserland = \"{huge}\"\n"),
            "agent.toml:2: [packages] userland is 5242880 bytes long",
            "at most 4096",
        ),
        (
            "[packages]\nkmod = \"kmod drbd\"\n".to_string(),
            "agent.toml:2: [packages] kmod = \"kmod drbd\" is not a package name",
            "letters, digits",
        ),
    ];
    for (text, location, why) in cases {
        std::fs::write(&main, text).unwrap();
        let run = agent_in(dir.path(), &["plan"]);
        assert_eq!(
            run.code,
            2,
            "{location}: {}",
            &run.message()[..run.message().len().min(300)]
        );
        assert!(
            run.stderr.contains(location),
            "{}",
            &run.stderr[..run.stderr.len().min(300)]
        );
        assert!(
            run.stderr.contains(why),
            "{}",
            &run.stderr[..run.stderr.len().min(300)]
        );
        assert!(
            run.stderr.len() < 1000,
            "the value is not dumped: {} bytes",
            run.stderr.len()
        );
        let json = agent_in(dir.path(), &["--output", "json", "plan"]);
        assert_eq!(json.json()["error"]["exit_code"], 2);
    }
}
