//! Rollback and freeze (issue 14), through the agent binary: a host installed from a
//! repository, then served an older but genuinely signed snapshot of it, is refused (exit 3)
//! and nothing goes down; with the rollback memory deleted on purpose, the install still never
//! downgrades unless a pin asks for exactly the older version; `kernel-guard` refuses the old
//! snapshot too; and `[repo] max_metadata_age` refuses stale metadata.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};
use support::*;
use testbed::HostRoot;
use testbed::fixture::catalog::*;
use testbed::fixture::{FixtureRepo, Rebuild};

const DAY: u64 = 86_400;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Rebuilds `repo`'s signed metadata at `revision` (its `<timestamp>`s too).
fn rebuild_at(repo: &FixtureRepo, revision: u64) {
    repo.rebuild_metadata_with(&Rebuild {
        revision: Some(revision),
        ..Rebuild::default()
    })
    .unwrap();
}

/// Takes the packages `nevras` out of the repository and signs metadata at `revision`: the
/// repository as it was before they were published.
fn snapshot_without(repo: &FixtureRepo, nevras: &[&str], revision: u64) {
    for nevra in nevras {
        std::fs::remove_file(repo.package_path(nevra).unwrap()).unwrap();
    }
    rebuild_at(repo, revision);
}

fn state_file(host: &HostRoot) -> std::path::PathBuf {
    host.root.join("var/lib/linstor-agent/repo-state.json")
}

fn action<'a>(doc: &'a serde_json::Value, name: &str, to: &str) -> &'a serde_json::Value {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name && a["to"] == to)
        .unwrap_or_else(|| panic!("no action {name} -> {to} in {doc}"))
}

#[test]
fn an_older_signed_snapshot_is_refused_and_nothing_goes_down() {
    let dir = tempfile::tempdir().unwrap();
    let repo = private_repo(dir.path());
    let (new, old) = (now() - 3600, now() - 30 * DAY);
    rebuild_at(&repo, new);
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let before = installed_besides_kernels(&host);
    for nevra in [KMOD_XCPNG_9_2_12.nevra, LINSTOR_SATELLITE_1_29_2.nevra] {
        assert!(before.contains(&nevra.to_owned()), "{before:?}");
    }
    assert!(state_file(&host).is_file(), "the accepted revision is remembered");

    // The same URL now serves the repository as it was a month ago, signed by the same key.
    snapshot_without(
        &repo,
        &[
            KMOD_XCPNG_9_2_12.nevra,
            LINSTOR_SATELLITE_1_29_2.nevra,
            LINSTOR_COMMON_1_29_2.nevra,
        ],
        old,
    );
    for args in [&["install"][..], &["plan"], &["--output", "json", "install"]] {
        let run = agent(&host, args);
        let msg = run.message();
        assert_eq!(run.code, 3, "{args:?} must refuse the older metadata:\n{msg}");
        assert!(
            msg.contains(&format!("revision {old} (timestamp {old})")),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("revision {new} (timestamp {new})")),
            "{msg}"
        );
        assert!(msg.contains("rollback"), "{msg}");
        assert!(
            msg.contains(&state_file(&host).display().to_string()),
            "the way out names the file:\n{msg}"
        );
    }
    assert_eq!(installed_besides_kernels(&host), before, "nothing went down");

    // Forgetting the newest revision on purpose: the snapshot is accepted, but the install
    // still does not take anything back.
    std::fs::remove_file(state_file(&host)).unwrap();
    let run = agent(&host, &["install"]);
    let msg = run.message();
    assert_eq!(run.code, 3, "{msg}");
    assert!(msg.contains("refusing to downgrade"), "{msg}");
    assert!(
        msg.contains(&format!(
            "kmod-drbd for kernel 4.19.0+1: {} is installed, the newest the repository has for it is {}",
            KMOD_XCPNG_9_2_12.nevra, KMOD_XCPNG_9_2_11.nevra
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "linstor-satellite: {} is installed, the plan would install {}",
            LINSTOR_SATELLITE_1_29_2.nevra, LINSTOR_SATELLITE_1_29_0.nevra
        )),
        "{msg}"
    );
    assert!(
        msg.contains("\"linstor-satellite\" = \"1.29.0-1.xcpng8.3\""),
        "{msg}"
    );
    assert_eq!(installed_besides_kernels(&host), before, "nothing went down");

    // A pin on exactly the older versions is a downgrade asked for: done, and said so.
    let fragments = host.config.parent().unwrap().join("agent.d");
    std::fs::create_dir_all(&fragments).unwrap();
    std::fs::write(
        fragments.join("50-back.toml"),
        "[packages.pin]\n\"kmod-drbd\" = \"9.2.11\"\n\"linstor-satellite\" = \"1.29.0\"\n",
    )
    .unwrap();
    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    let kmod = action(&doc, "kmod-drbd", KMOD_XCPNG_9_2_11.nevra);
    assert_eq!(kmod["change"], "downgrade");
    assert!(
        kmod["reason"].as_str().unwrap().ends_with(&format!(
            "downgrade from {}: pinned to 9.2.11 by {}",
            KMOD_XCPNG_9_2_12.nevra,
            fragments.join("50-back.toml").display()
        )),
        "{kmod}"
    );
    let satellite = action(&doc, "linstor-satellite", LINSTOR_SATELLITE_1_29_0.nevra);
    assert!(
        satellite["reason"].as_str().unwrap().contains("pinned to 1.29.0"),
        "{satellite}"
    );
    let after = installed_besides_kernels(&host);
    for nevra in [KMOD_XCPNG_9_2_11.nevra, LINSTOR_SATELLITE_1_29_0.nevra] {
        assert!(after.contains(&nevra.to_owned()), "{after:?}");
    }
}

/// kernel-guard reads the repository only for a kernel without a module: then it refuses the
/// older snapshot as install does, and installs nothing.
#[test]
fn kernel_guard_refuses_an_older_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = private_repo(dir.path());
    let (new, old) = (now() - 3600, now() - 2 * DAY);
    rebuild_at(&repo, new);
    let host = host(dir.path(), "h1", &repo, &[KERNEL_EL8_553.nevra]);
    assert_eq!(agent(&host, &["install"]).code, 0);
    rebuild_at(&repo, old);
    // `yum install kernel` with its own repository configuration: el9-427, no module.
    dnf_install(&host, KERNEL_EL9_427.nevra);

    let run = agent(&host, &["--output", "json", "kernel-guard"]);
    assert_eq!(run.code, 3, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["error"]["exit_code"], 3);
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&format!("revision {old}")), "{msg}");
    assert!(msg.contains(&format!("revision {new}")), "{msg}");
    let installed = installed_besides_kernels(&host);
    assert!(
        !installed.iter().any(|p| p.contains("5.14.0_427")),
        "no module installed for el9: {installed:?}"
    );
}

fn dnf_install(host: &HostRoot, nevra: &str) {
    let dnf = host.host_dir().join("dnf");
    testbed::sysroot::dnf::DnfConfig {
        conf: dnf.join("dnf.conf"),
        reposdir: dnf.join("yum.repos.d"),
    }
    .install(&host.root, &[nevra])
    .expect("dnf installs the kernel");
}

/// `[repo]` of `host`'s config with `max_metadata_age` added.
fn config_with_age(host: &HostRoot, repo: &FixtureRepo, age: &str) -> std::path::PathBuf {
    config_with_repo(
        host,
        &format!(
            "baseurl = \"{}\"\ngpgkey = \"{}\"\nfingerprint = \"{}\"\nmax_metadata_age = {age}",
            repo.baseurl(),
            repo.key_path.display(),
            repo.fingerprint
        ),
        "",
    )
}

#[test]
fn metadata_older_than_max_metadata_age_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = private_repo(dir.path());
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    // Still served ten days after it was generated: a mirror that stopped syncing, or a freeze.
    rebuild_at(&repo, now() - 10 * DAY);

    let config = config_with_age(&host, &repo, "\"7d\"");
    let run = agent_with_config(&host, &config, &["install"]);
    let msg = run.message();
    assert_eq!(run.code, 3, "{msg}");
    assert!(msg.contains("was generated 10d 0h ago"), "{msg}");
    assert!(msg.contains("max_metadata_age = \"7d\""), "{msg}");
    assert!(msg.contains("repodata/repomd.xml"), "{msg}");
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
    assert!(!state_file(&host).exists(), "stale metadata is not remembered");

    // A bad value is a config error on its line, before anything is read.
    let bad = config_with_age(&host, &repo, "\"7 days\"");
    let run = agent_with_config(&host, &bad, &["plan"]);
    assert_eq!(run.code, 2, "{}", run.message());
    let line = format!("{}:5:", bad.display());
    assert!(run.message().contains(&line), "{}", run.message());
    assert!(run.message().contains("is not a duration"), "{}", run.message());

    // Within the allowed age, the same metadata installs.
    let config = config_with_age(&host, &repo, "\"2w\"");
    let run = agent_with_config(&host, &config, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert!(installed_besides_kernels(&host).contains(&KMOD_XCPNG_9_2_12.nevra.to_owned()));
}

/// A fresh root remembers nothing: the first metadata it sees is accepted and recorded.
#[test]
fn the_first_metadata_is_recorded_for_its_repository_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    assert_eq!(agent(&host, &["plan"]).code, 0);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state_file(&host)).unwrap()).unwrap();
    let key = format!("{} {}", repo.fingerprint, repo.baseurl());
    let entry = &state["repositories"][&key];
    assert_eq!(entry["revision"], repo.revision().unwrap(), "{state}");
    assert_eq!(entry["baseurl"], repo.baseurl());
    assert!(entry["timestamp"].as_i64().unwrap() > 0, "{state}");
}
