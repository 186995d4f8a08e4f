//! `linstor-agent kernel-guard` end to end: a kernel installed into a testbed host root with
//! dnf, without a module, gets the fitting module from the signed fixture repository; a kernel
//! nothing fits is refused (exit 3) with nothing installed. And the kernel install hooks of
//! `specs/files/hooks/`: their syntax and formats, and the postinst hook run against a host root
//! so that it really calls the agent.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;
use testbed::fixture::catalog::*;
use testbed::sysroot::HostRoot;
use testbed::sysroot::dnf::DnfConfig;

/// Installs `nevras` into the host's root with the dnf configuration it was built with, as an
/// operator's `yum install kernel` would (no module comes with it).
fn dnf_install(host: &HostRoot, nevras: &[&str]) {
    let dnf = host.host_dir().join("dnf");
    let config = DnfConfig {
        conf: dnf.join("dnf.conf"),
        reposdir: dnf.join("yum.repos.d"),
    };
    config
        .install(&host.root, nevras)
        .expect("dnf installs the kernel");
}

fn rpm_q(host: &HostRoot, nevra: &str) -> bool {
    Command::new("rpm")
        .arg("--root")
        .arg(&host.root)
        .args(["-q", nevra])
        .output()
        .expect("rpm runs")
        .status
        .success()
}

fn kernel<'a>(doc: &'a serde_json::Value, uname: &str) -> &'a serde_json::Value {
    doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["uname_r"] == uname)
        .unwrap_or_else(|| panic!("kernel {uname} not in {doc}"))
}

/// A host with el8-553 and its module, installed by the agent.
fn provisioned_el8(dir: &Path) -> HostRoot {
    let repo = shared_repo();
    let host = host(dir, "h1", &repo, &[KERNEL_EL8_553.nevra]);
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert!(rpm_q(&host, KMOD_KABI_A_9_2_12.nevra));
    host
}

#[test]
fn a_new_kernel_without_a_module_gets_the_fitting_one() {
    let dir = tempfile::tempdir().unwrap();
    let host = provisioned_el8(dir.path());

    let run = agent(&host, &["--output", "json", "kernel-guard"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["command"], "kernel-guard");
    let el8 = kernel(&doc, KERNEL_EL8_553.uname);
    assert_eq!(el8["status"], "ok");
    assert_eq!(el8["modules"][0], KMOD_KABI_A_9_2_12.nevra);
    assert_eq!(el8["evidence"], "kabi");
    assert_eq!(
        doc["repo"],
        serde_json::Value::Null,
        "no repository needed when all is well"
    );

    // `yum install kernel`: el9-427 arrives without a module.
    dnf_install(&host, &[KERNEL_EL9_427.nevra]);

    let dry = agent(&host, &["--output", "json", "kernel-guard", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.message());
    let doc = dry.json();
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["dry_run"], true);
    let el9 = kernel(&doc, KERNEL_EL9_427.uname);
    assert_eq!(el9["status"], "would-install");
    assert_eq!(el9["module"], KMOD_KABI_B_9_2_12.nevra);
    assert_eq!(el9["modules"], serde_json::json!([]));
    assert_eq!(doc["to_install"], serde_json::json!([KMOD_KABI_B_9_2_12.nevra]));
    assert_eq!(doc["installed"], serde_json::json!([]));
    assert!(
        !rpm_q(&host, KMOD_KABI_B_9_2_12.nevra),
        "--dry-run changes nothing"
    );

    // A pinned module version is honoured (--pin here; [packages] pin works the same way).
    let pinned = agent(
        &host,
        &[
            "--output",
            "json",
            "kernel-guard",
            "--dry-run",
            "--pin",
            "kmod-drbd=9.2.11",
        ],
    );
    assert_eq!(pinned.code, 0, "{}", pinned.message());
    assert_eq!(
        kernel(&pinned.json(), KERNEL_EL9_427.uname)["module"],
        KMOD_KABI_B_9_2_11.nevra
    );

    let human = agent(&host, &["kernel-guard", "--dry-run"]);
    assert!(human.stdout.contains("would install"), "{}", human.stdout);

    let run = agent(&host, &["--output", "json", "kernel-guard"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["installed"], serde_json::json!([KMOD_KABI_B_9_2_12.nevra]));
    assert_eq!(doc["package_manager"], "dnf");
    let el9 = kernel(&doc, KERNEL_EL9_427.uname);
    assert_eq!(el9["status"], "installed");
    assert_eq!(el9["modules"][0], KMOD_KABI_B_9_2_12.nevra);
    assert_eq!(kernel(&doc, KERNEL_EL8_553.uname)["status"], "ok");
    assert!(doc["skipped"].to_string().contains("depmod"), "{doc}");
    // rpm shows the new module, and the old kernel's module is still there.
    assert!(rpm_q(&host, KMOD_KABI_B_9_2_12.nevra));
    assert!(rpm_q(&host, KMOD_KABI_A_9_2_12.nevra));

    let again = agent(&host, &["--output", "json", "kernel-guard"]);
    assert_eq!(again.code, 0, "{}", again.message());
    assert_eq!(again.json()["changed"], false);
}

#[test]
fn a_module_with_a_lower_version_goes_in_beside_the_other_kernels() {
    // LINBIT's versions carry the kernel: el8's module (9.2.12_4.18.0_553) sorts below el9's
    // (9.2.12_5.14.0_427). To a package manager that sees one name, installing it would be a
    // downgrade of el9's module (dnf) or nothing at all (yum's install); it must go in beside.
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_EL9_427.nevra]);
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert!(rpm_q(&host, KMOD_KABI_B_9_2_12.nevra));

    dnf_install(&host, &[KERNEL_EL8_553.nevra]);
    let run = agent(&host, &["--output", "json", "kernel-guard"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["installed"], serde_json::json!([KMOD_KABI_A_9_2_12.nevra]));
    assert_eq!(kernel(&doc, KERNEL_EL8_553.uname)["status"], "installed");
    assert_eq!(kernel(&doc, KERNEL_EL9_427.uname)["status"], "ok");
    assert_eq!(
        kernel(&doc, KERNEL_EL9_427.uname)["modules"],
        serde_json::json!([KMOD_KABI_B_9_2_12.nevra])
    );
    assert!(rpm_q(&host, KMOD_KABI_A_9_2_12.nevra));
    assert!(rpm_q(&host, KMOD_KABI_B_9_2_12.nevra), "el9 kept its module");

    // The install step agrees: both kernels served, nothing to change.
    let plan = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.message());
    assert_eq!(plan.json()["pending"], false, "{}", plan.stdout);
}

#[test]
fn a_kernel_nothing_fits_is_refused_and_nothing_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let host = provisioned_el8(dir.path());
    let before = installed_besides_kernels(&host);
    // el9-427 could be served, el9-503 cannot: the guard installs nothing at all.
    dnf_install(&host, &[KERNEL_EL9_427.nevra, KERNEL_EL9_503.nevra]);

    for args in [&["kernel-guard"][..], &["kernel-guard", "--dry-run"][..]] {
        let run = agent(&host, &[&["--output", "json"][..], args].concat());
        assert_eq!(run.code, 3, "{args:?}: {}", run.message());
        let doc = run.json();
        assert_eq!(doc["changed"], false);
        assert_eq!(doc["error"]["exit_code"], 3);
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains("kernel 5.14.0-503.el9.x86_64"), "{message}");
        for version in ["9.2.11_4.18.0_553-1", "9.2.12_5.14.0_427-1", "9.2.12-1.xcpng8.3"] {
            assert!(
                message.contains(version),
                "the repository's module versions are named: {message}"
            );
        }
        assert!(!message.contains("kernel 5.14.0-427.el9.x86_64:"), "{message}");
        let unfit = kernel(&doc, KERNEL_EL9_503.uname);
        assert_eq!(unfit["status"], "missing");
        assert_eq!(unfit["module"], serde_json::Value::Null);
        let fixable = kernel(&doc, KERNEL_EL9_427.uname);
        assert_eq!(fixable["status"], "missing");
        assert_eq!(fixable["module"], KMOD_KABI_B_9_2_12.nevra);
        assert_eq!(doc["installed"], serde_json::json!([]));
    }
    let human = agent(&host, &["kernel-guard"]);
    assert_eq!(human.code, 3);
    assert!(
        human.stdout.contains("refused: no kmod-drbd package fits"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("MISSING"), "{}", human.stdout);

    assert_eq!(installed_besides_kernels(&host), before, "nothing was installed");
    assert!(!rpm_q(&host, KMOD_KABI_B_9_2_12.nevra));
}

// ---------------------------------------------------------------------------------------------
// The hooks.

fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/files/hooks")
}

const HOOK: &str = "90-linstor-agent-kernel-guard";

#[test]
fn hook_is_valid_sh_and_action_files_have_the_plugins_formats() {
    let hook = hooks_dir().join(HOOK);
    for shell in ["sh", "dash", "bash"] {
        if Command::new(shell).arg("-c").arg("true").output().is_err() {
            continue;
        }
        let out = Command::new(shell).arg("-n").arg(&hook).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&hook).unwrap().permissions());
    assert_eq!(mode & 0o111, 0o111, "the hook is executable");
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"));

    // yum-plugin-post-transaction-actions splits each line at every ':' into exactly three
    // fields (key, install|update|remove|any, command); dnf's splits at the first two
    // (filter, in|out|any, command). Comments and blank lines are skipped.
    let actions = |path: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(hooks_dir().join(path))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split(':').map(String::from).collect())
            .collect()
    };
    let command = format!("/etc/kernel/postinst.d/{HOOK} $ver-$rel");
    let yum = actions("yum/linstor-agent.action");
    assert_eq!(
        yum,
        [vec!["kernel".to_owned(), "install".to_owned(), command.clone()]]
    );
    let dnf = actions("dnf/linstor-agent.action");
    assert_eq!(dnf, [vec!["kernel".to_owned(), "in".to_owned(), command]]);

    // The README names every install path.
    let readme = std::fs::read_to_string(hooks_dir().join("README.md")).unwrap();
    for path in [
        "/etc/kernel/postinst.d/90-linstor-agent-kernel-guard",
        "/etc/yum/post-actions/linstor-agent.action",
        "/etc/dnf/plugins/post-transaction-actions.d/linstor-agent.action",
    ] {
        assert!(readme.contains(path), "{path}");
    }
}

/// A directory with `linstor-agent` (the built binary) for PATH, and the host's config where
/// the agent looks without --config: `<root>/etc/linstor-agent/agent.toml`.
fn hook_env(host: &HostRoot, dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linstor-agent"), bin.join("linstor-agent")).unwrap();
    let etc = host.root.join("etc/linstor-agent");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::copy(&host.config, etc.join("agent.toml")).unwrap();
    bin
}

fn run_hook(host: &HostRoot, bin: &Path, foreground: bool) -> std::process::Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new(hooks_dir().join(HOOK));
    cmd.arg(KERNEL_EL9_427.uname)
        .arg(format!("/boot/vmlinuz-{}", KERNEL_EL9_427.uname))
        .env("PATH", path)
        .env("LINSTOR_AGENT_ROOT", &host.root)
        .env("LINSTOR_AGENT_GUARD_WAIT", "60")
        .env("LINSTOR_AGENT_GUARD_TIMEOUT", "300");
    if foreground {
        cmd.env("LINSTOR_AGENT_GUARD_FOREGROUND", "1");
    } else {
        cmd.env_remove("LINSTOR_AGENT_GUARD_FOREGROUND");
    }
    cmd.output().expect("the hook runs")
}

#[test]
fn postinst_hook_runs_the_agent_on_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let host = provisioned_el8(dir.path());
    let bin = hook_env(&host, dir.path());
    dnf_install(&host, &[KERNEL_EL9_427.nevra]);

    let out = run_hook(&host, &bin, true);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("linstor-agent-kernel-guard: "), "{said}");
    assert!(
        said.contains(KMOD_KABI_B_9_2_12.nevra),
        "the agent's report is logged: {said}"
    );
    assert!(said.contains("every kernel has a DRBD module"), "{said}");
    assert!(
        rpm_q(&host, KMOD_KABI_B_9_2_12.nevra),
        "the hook installed the module"
    );
    assert!(
        host.root.join("var/lib/linstor-agent/kernel-guard.lock").exists(),
        "one guard at a time, per host root"
    );

    // A kernel nothing fits: the hook reports the refusal and the agent's exit code 3.
    dnf_install(&host, &[KERNEL_EL9_503.nevra]);
    let out = run_hook(&host, &bin, true);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("REFUSED"), "{said}");
    assert!(said.contains("5.14.0-503.el9.x86_64"), "{said}");
}

#[test]
fn detached_hook_returns_at_once_and_the_guard_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = provisioned_el8(dir.path());
    let bin = hook_env(&host, dir.path());
    dnf_install(&host, &[KERNEL_EL9_427.nevra]);

    let started = Instant::now();
    let out = run_hook(&host, &bin, false);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the hook does not wait for the guard: {:?}",
        started.elapsed()
    );
    assert!(out.stdout.is_empty(), "nothing on the package manager's stdout");

    let deadline = Instant::now() + Duration::from_secs(180);
    while !rpm_q(&host, KMOD_KABI_B_9_2_12.nevra) {
        assert!(
            Instant::now() < deadline,
            "the detached guard did not install the module"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let the guard finish (it holds the lock until the agent exits) before the root goes.
    let lock = std::fs::File::open(host.root.join("var/lib/linstor-agent/kernel-guard.lock")).unwrap();
    let _held =
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).expect("the guard finishes");
}
