//! Issue 14: symbolic links under `--root` must not lead the agent's writes out of the root.
//! Each case plants links in a testbed host root that point at a directory beside it (standing
//! for the machine the agent runs on), runs the agent binary, and checks that nothing outside
//! the root changed and that the files went where the booted host would find them.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use support::*;
use testbed::fixture::catalog::*;
use testbed::sysroot::HostRoot;

/// Every file under `dir` with its content, sorted: what "unchanged" is compared on.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                let content = std::fs::read(&path).unwrap_or_default();
                out.push((path, content));
            }
        }
    }
    out.sort();
    out
}

/// A host and, beside its root, an "outside" directory with a file that must survive.
fn host_and_outside(dir: &Path) -> (HostRoot, PathBuf) {
    let host = host(dir, "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    let outside = dir.join("outside");
    std::fs::create_dir_all(outside.join("keep")).unwrap();
    std::fs::write(outside.join("keep/precious"), "precious").unwrap();
    std::fs::write(outside.join("victim.repo"), "precious").unwrap();
    (host, outside)
}

/// `host_path` inside the root, parents created: where to plant a link.
fn in_root(host: &HostRoot, host_path: &str) -> PathBuf {
    let path = host.root.join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    path
}

#[test]
fn a_repo_file_linked_out_of_the_root_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (host, outside) = host_and_outside(dir.path());
    let before = snapshot(&outside);
    let repo_file = in_root(&host, "/var/cache/linstor-agent/yum.repos.d/linstor-agent.repo");
    symlink(outside.join("victim.repo"), &repo_file).unwrap();

    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(snapshot(&outside), before, "nothing outside the root changed");
    let meta = std::fs::symlink_metadata(&repo_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link became the agent's .repo file"
    );
    let text = std::fs::read_to_string(&repo_file).unwrap();
    assert!(
        text.contains("gpgcheck=1") && text.contains("repo_gpgcheck=1"),
        "{text}"
    );
    // dnf's own downloads from it get the agent's low-speed limit (the defaults here).
    assert!(text.contains("\nminrate=1000\ntimeout=30\n"), "{text}");
    assert!(
        installed_besides_kernels(&host)
            .iter()
            .any(|p| p.starts_with("kmod-drbd-")),
        "the install used the file it wrote"
    );
}

#[test]
fn a_cache_directory_linked_out_of_the_root_resolves_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (host, outside) = host_and_outside(dir.path());
    let before = snapshot(&outside);
    // An absolute link: on the booted host, the cache is <outside>/keep; under --root that
    // is the same path inside the root.
    symlink(outside.join("keep"), in_root(&host, "/var/cache/linstor-agent")).unwrap();

    let run = agent(&host, &["--output", "json", "install", "--download-only"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(snapshot(&outside), before, "nothing written outside the root");
    let inside = host.root.join(outside.join("keep").strip_prefix("/").unwrap());
    assert!(
        inside.join("metadata").is_dir(),
        "metadata cached inside the root"
    );
    let downloaded = run.json()["downloaded"].as_array().unwrap().clone();
    assert!(!downloaded.is_empty());
    for file in downloaded {
        let file = PathBuf::from(file.as_str().unwrap());
        assert!(file.starts_with(&inside), "{} is inside the root", file.display());
        assert!(file.is_file());
    }
}

#[test]
fn a_metadata_directory_linked_out_of_the_root_is_neither_written_nor_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (host, outside) = host_and_outside(dir.path());
    let before = snapshot(&outside);
    // A relative link that climbs past the root: `..` stops at the root.
    let climb = format!("../../../../../../../../../..{}", outside.display());
    symlink(&climb, in_root(&host, "/var/cache/linstor-agent/metadata")).unwrap();

    let run = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(
        snapshot(&outside),
        before,
        "old revisions are pruned inside the root only; nothing is written outside"
    );
    let inside = host.root.join(outside.strip_prefix("/").unwrap());
    let revision = run.json()["revision"].as_str().unwrap_or_default().to_string();
    let revisions: Vec<_> = std::fs::read_dir(&inside).unwrap().collect();
    assert_eq!(revisions.len(), 1, "one revision cached (revision {revision})");
}

#[test]
fn provision_with_its_state_and_config_directories_linked_out_of_the_root_writes_only_inside() {
    let dir = tempfile::tempdir().unwrap();
    let (host, outside) = host_and_outside(dir.path());
    std::fs::create_dir_all(outside.join("state")).unwrap();
    std::fs::create_dir_all(outside.join("sysctl.d")).unwrap();
    let before = snapshot(&outside);
    symlink(outside.join("state"), in_root(&host, "/var/lib/linstor-agent")).unwrap();
    symlink(
        format!("../../../../../../../..{}", outside.join("sysctl.d").display()),
        in_root(&host, "/etc/sysctl.d"),
    )
    .unwrap();
    let run = agent(&host, &["--output", "json", "provision"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(snapshot(&outside), before, "nothing written outside the root");
    let state = host
        .root
        .join(outside.join("state/state.json").strip_prefix("/").unwrap());
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(state["last_run"]["result"], "ok", "{state}");
    let sysctl = host.root.join(
        outside
            .join("sysctl.d/90-linstor-agent.conf")
            .strip_prefix("/")
            .unwrap(),
    );
    assert!(sysctl.is_file(), "the sysctl profile went inside the root");

    // A lock file that is a link is refused (exit 3), naming it, and nothing is done.
    let lock = host
        .root
        .join(outside.join("state/lock").strip_prefix("/").unwrap());
    std::fs::remove_file(&lock).unwrap();
    symlink(outside.join("keep/precious"), &lock).unwrap();
    let run = agent(&host, &["provision"]);
    assert_eq!(run.code, 3, "{}", run.message());
    assert!(
        run.stderr.contains("var/lib/linstor-agent/lock") && run.stderr.contains("symbolic link"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&outside), before);
}
