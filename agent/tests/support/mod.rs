//! Shared by the agent's end-to-end tests: testbed hosts built from the signed fixture
//! repository, the agent binary run against them, and what their rpm databases hold.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod hostile;
pub mod http;
pub mod netns;
pub mod tls;

use linstor_agent::host::Sysroot;
use linstor_agent::repo::Repository;
use linstor_agent::settings::RepoSettings;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testbed::fixture::FixtureRepo;
use testbed::sysroot::{HostOptions, HostRoot, build_host};

/// The signed fixture repository, built once per machine and shared read-only.
pub fn shared_repo() -> FixtureRepo {
    FixtureRepo::shared().expect("the fixture repository builds")
}

/// A private, writable copy of the fixture repository (for tests that corrupt it).
pub fn private_repo(dir: &Path) -> FixtureRepo {
    shared_repo()
        .copy_to(&dir.join("repo"))
        .expect("the fixture repository copies")
}

/// A private copy to damage, in its own temporary directory (kept alive by the guard).
pub fn private_copy() -> (tempfile::TempDir, FixtureRepo) {
    let dir = tempfile::tempdir().unwrap();
    let repo = private_repo(dir.path());
    (dir, repo)
}

pub fn config(fixture: &FixtureRepo, baseurl: &str) -> RepoSettings {
    RepoSettings::new(
        baseurl.to_string(),
        fixture.key_path.clone(),
        Some(fixture.fingerprint.clone()),
    )
}

/// A repository over `baseurl` with the fixture's key, caching into a fresh sysroot.
pub fn open(fixture: &FixtureRepo, baseurl: &str) -> (tempfile::TempDir, Repository) {
    let root = tempfile::tempdir().unwrap();
    let repo = Repository::open(&config(fixture, baseurl), &Sysroot::new(root.path())).unwrap();
    (root, repo)
}

/// The file in `repodata/` whose name ends with `suffix` (e.g. "primary.xml.gz").
pub fn repodata_file(fixture: &FixtureRepo, suffix: &str) -> PathBuf {
    let dir = fixture.dir.join("repodata");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

pub fn cache_files(root: &Path, sub: &str) -> Vec<String> {
    let dir = root.join("var/cache/linstor-agent").join(sub);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A host root with `kernels` installed, whose `agent.toml` points at `repo`.
pub fn host(dir: &Path, name: &str, repo: &FixtureRepo, kernels: &[&str]) -> HostRoot {
    build_host(&dir.join("hosts"), name, repo, kernels, &HostOptions::default()).expect("the host builds")
}

/// The agent's result: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Whatever the agent said about its failure (stderr in human mode).
    pub fn message(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `linstor-agent --root <root> --config <config> ARGS`.
pub fn agent(host: &HostRoot, args: &[&str]) -> Run {
    agent_with_config(host, &host.config, args)
}

pub fn agent_with_config(host: &HostRoot, config: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linstor-agent"));
    cmd.arg("--root")
        .arg(&host.root)
        .arg("--config")
        .arg(config)
        .args(args);
    finish(cmd.output().expect("the agent runs"))
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every installed package but kernels and imported keys, as sorted NEVRAs.
pub fn installed_besides_kernels(host: &HostRoot) -> Vec<String> {
    let output = Command::new("rpm")
        .arg("--root")
        .arg(&host.root)
        .args(["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"])
        .output()
        .expect("rpm runs");
    let mut list: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with("kernel-") && !l.starts_with("gpg-pubkey-"))
        .map(String::from)
        .collect();
    list.sort();
    list
}

/// Writes a config for `host` whose `[repo]` is replaced by the given lines.
pub fn config_with_repo(host: &HostRoot, repo_lines: &str, extra: &str) -> PathBuf {
    let path = host.host_dir().join("custom.toml");
    std::fs::write(&path, format!("[repo]\n{repo_lines}\n{extra}")).expect("config written");
    path
}

pub fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
