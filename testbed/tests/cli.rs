//! The `testbed` binary: `repo` and `host` print one JSON document each.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use testbed::fixture::catalog::{self, KERNEL_XCPNG_37};

fn run(args: &[&str]) -> Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_testbed")).args(args).output()?;
    ensure!(
        out.status.success(),
        "testbed {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("stdout is not JSON")
}

#[test]
fn repo_then_host() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let repo_dir = tmp.path().join("repo");
    let repo_dir_s = repo_dir.to_str().context("utf-8 path")?;
    let report = run(&["repo", "--dir", repo_dir_s, "--compress", "zstd"])?;
    assert_eq!(report["baseurl"], format!("file://{repo_dir_s}/"));
    assert_eq!(report["gpgkey"], format!("{repo_dir_s}/RPM-GPG-KEY-testbed"));
    assert_eq!(report["fingerprint"].as_str().map(str::len), Some(40));
    let packages = report["packages"].as_array().context("packages")?;
    assert_eq!(packages.len(), catalog::packages().len());

    let hosts = tmp.path().join("hosts");
    let hosts_s = hosts.to_str().context("utf-8 path")?;
    let host = run(&[
        "host",
        "--dir",
        hosts_s,
        "--repo",
        repo_dir_s,
        "--name",
        "xcp1",
        "--kernel",
        KERNEL_XCPNG_37.nevra,
    ])?;
    assert_eq!(host["name"], "xcp1");
    assert_eq!(host["root"], format!("{hosts_s}/xcp1/root"));
    assert_eq!(host["config"], format!("{hosts_s}/xcp1/agent.toml"));
    assert!(hosts.join("xcp1/root/boot/vmlinuz-4.19.0+1").is_file());
    Ok(())
}

#[test]
fn errors_go_to_stderr_with_status_1() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["host", "--dir"])
        .arg(tmp.path())
        .arg("--repo")
        .arg(tmp.path())
        .args(["--name", "h", "--kernel", "kernel"])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("testbed-fixture.json"), "{stderr}");
    Ok(())
}
