//! `plan`/`install` options against a real signed repository and real dnf --installroot:
//! a relative `--root`, `--pin` over the config, `--only`, and `install --save-pins` writing
//! the `agent.d/90-pool-upgrade.toml` fragment that later runs keep.

mod support;

use std::process::Command;
use support::*;
use testbed::fixture::catalog::*;

/// The agent run from `cwd` with exactly these arguments (no --root/--config added).
fn agent_in(cwd: &std::path::Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .current_dir(cwd)
        .env_remove("LINSTOR_AGENT_ROOT")
        .args(args)
        .output()
        .expect("the agent runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn action<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no action for {name}: {doc}"))
}

#[test]
fn relative_root_pins_save_pins_and_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let cwd = host.host_dir().to_path_buf();
    // `root` and `agent.toml` relative to the host directory: rpm and dnf refuse a relative
    // --root/--installroot, so the agent must make it absolute.
    let base = ["--root", "root", "--config", "agent.toml", "--output", "json"];
    fn with<'a>(base: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(args).copied().collect()
    }

    let facts = agent_in(&cwd, &with(&base, &["facts"]));
    assert_eq!(facts.code, 0, "{}", facts.message());
    assert_eq!(facts.json()["kernels"][0]["package"], KERNEL_XCPNG_38.nevra);

    // --pin chooses older versions this run; the plan says which pins it used.
    let pins = ["--pin", "kmod-drbd=9.2.11", "--pin", "linstor-satellite=1.29.0"];
    let plan = agent_in(&cwd, &with(&base, &[&["plan"][..], &pins].concat()));
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    assert_eq!(plan["pins"]["kmod-drbd"], "9.2.11");
    assert_eq!(action(&plan, "kmod-drbd")["to"], KMOD_XCPNG_9_2_11.nevra);
    assert_eq!(
        action(&plan, "linstor-satellite")["to"],
        LINSTOR_SATELLITE_1_29_0.nevra
    );

    // install --save-pins: installs them, then writes the fragment beside agent.toml.
    let run = agent_in(
        &cwd,
        &with(&base, &[&["install"][..], &pins, &["--save-pins"]].concat()),
    );
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    let fragment = cwd.join("agent.d/90-pool-upgrade.toml");
    assert_eq!(doc["saved_pins"]["path"], fragment.display().to_string());
    assert_eq!(doc["saved_pins"]["changed"], true);
    let installed = installed_besides_kernels(&host);
    for nevra in [
        KMOD_XCPNG_9_2_11.nevra,
        LINSTOR_SATELLITE_1_29_0.nevra,
        LINSTOR_COMMON_1_29_0.nevra,
        DRBD_UTILS_9_29_0.nevra,
    ] {
        assert!(installed.contains(&nevra.to_owned()), "{nevra}: {installed:?}");
    }
    let text = std::fs::read_to_string(&fragment).unwrap();
    assert!(
        text.starts_with("# Written by `linstor-agent install --save-pins` (after `install --pin kmod-drbd=9.2.11 --pin linstor-satellite=1.29.0`)"),
        "{text}"
    );
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["packages"]["pin"]["kmod-drbd"].as_str(), Some("9.2.11"));
    assert_eq!(
        parsed["packages"]["pin"]["linstor-satellite"].as_str(),
        Some("1.29.0")
    );

    // A later plan without --pin keeps those versions: nothing to do.
    let plan = agent_in(&cwd, &with(&base, &["plan"]));
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    assert_eq!(plan["pending"], false, "{plan}");
    assert_eq!(plan["pins"]["linstor-satellite"], "1.29.0");

    // --only: the LINSTOR packages move to 1.29.2 (linstor-common is not in [packages]
    // userland, but installed, so it moves too); the module and the rest stay as installed.
    let only = with(
        &base,
        &[
            "install",
            "--pin",
            "linstor-satellite=1.29.2",
            "--pin",
            "linstor-common=1.29.2",
            "--only",
            "linstor-satellite",
            "--only",
            "linstor-common",
            "--only",
            "linstor-controller",
        ],
    );
    let run = agent_in(&cwd, &only);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    assert_eq!(
        doc["only"],
        serde_json::json!(["linstor-satellite", "linstor-common", "linstor-controller"])
    );
    assert_eq!(action(&doc, "linstor-satellite")["change"], "upgrade");
    assert_eq!(action(&doc, "linstor-common")["change"], "upgrade");
    assert_eq!(action(&doc, "linstor-common")["to"], LINSTOR_COMMON_1_29_2.nevra);
    let controller = action(&doc, "linstor-controller");
    assert_eq!(controller["change"], "untouched", "not installed: never added");
    assert_eq!(controller["from"], serde_json::json!([]));
    for name in ["kmod-drbd", "drbd-utils", "drbd-reactor", "linstor-client"] {
        assert_eq!(action(&doc, name)["change"], "untouched", "{name}");
    }
    assert_eq!(action(&doc, "kmod-drbd")["from"][0], KMOD_XCPNG_9_2_11.nevra);
    assert_eq!(
        doc["kernels"],
        serde_json::json!([]),
        "the module is not in scope"
    );
    let installed = installed_besides_kernels(&host);
    for nevra in [
        KMOD_XCPNG_9_2_11.nevra,
        LINSTOR_SATELLITE_1_29_2.nevra,
        LINSTOR_COMMON_1_29_2.nevra,
    ] {
        assert!(installed.contains(&nevra.to_owned()), "{nevra}: {installed:?}");
    }
    assert!(
        !installed.iter().any(|p| p.starts_with("linstor-controller")),
        "{installed:?}"
    );
    // Without --save-pins the fragment is as it was.
    assert_eq!(std::fs::read_to_string(&fragment).unwrap(), text);

    // Human output says what --only left alone.
    let human = agent_in(
        &cwd,
        &[
            "--root",
            "root",
            "--config",
            "agent.toml",
            "plan",
            "--only",
            "drbd-utils",
        ],
    );
    assert_eq!(human.code, 0, "{}", human.message());
    assert!(human.stdout.contains("Only: drbd-utils"), "{}", human.stdout);
    assert!(human.stdout.contains("untouched"), "{}", human.stdout);
}

#[test]
fn bad_pin_and_only_arguments_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    for (args, named) in [
        (&["plan", "--pin", "kmod-drbd"][..], "--pin \"kmod-drbd\""),
        (&["install", "--pin", "kmod-drbd=9.2.12;reboot"][..], "--pin"),
        (&["plan", "--pin", "a=1", "--pin", "a=2"][..], "two versions"),
        (&["plan", "--only", "linstor-*"][..], "--only \"linstor-*\""),
        (
            &["plan", "--only", "no-such-package"][..],
            "--only no-such-package",
        ),
        (&["kernel-guard", "--pin", "=1"][..], "--pin"),
    ] {
        let run = agent(&host, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.message());
        assert!(run.message().contains(named), "{args:?}: {}", run.message());
        let json = agent(&host, &[&["--output", "json"][..], args].concat());
        assert_eq!(json.code, 2);
        assert_eq!(json.json()["error"]["exit_code"], 2, "{args:?}");
    }
    // --save-pins goes with an install, not with a download.
    let run = agent(&host, &["install", "--download-only", "--save-pins"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(run.message().contains("--save-pins"), "{}", run.message());
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
}

#[test]
fn only_leaves_a_kernel_without_module_to_kernel_guard() {
    // Nothing fits el9-503: a whole plan is refused, a plan of userland only is not.
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_EL9_503.nevra]);
    let whole = agent(&host, &["plan"]);
    assert_eq!(whole.code, 3, "{}", whole.message());
    let run = agent(&host, &["--output", "json", "plan", "--only", "drbd-utils"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(action(&doc, "drbd-utils")["change"], "install");
    assert_eq!(action(&doc, "kmod-drbd")["change"], "untouched");
    assert_eq!(doc["pending"], true);
}

/// Issue 14: a pin the repository cannot satisfy is a config error (exit 2, as README "Exit
/// codes" says), naming the file the pin is in, the package and the versions there are; a pin
/// on a package the plan does not manage is an error naming it and the managed packages.
/// Either way nothing is installed.
#[test]
fn pins_the_plan_cannot_use_exit_2_naming_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let fragment = host.host_dir().join("agent.d/10-pins.toml");
    std::fs::create_dir_all(fragment.parent().unwrap()).unwrap();

    std::fs::write(&fragment, "[packages.pin]\n\"kmod-drbd\" = \"9.2.99\"\n").unwrap();
    for command in ["plan", "install"] {
        let run = agent(&host, &[command]);
        assert_eq!(run.code, 2, "{command}: {}", run.message());
        let msg = run.message();
        assert!(
            msg.contains(&format!(
                "kmod-drbd is pinned to 9.2.99 in {}",
                fragment.display()
            )),
            "{command}: {msg}"
        );
        assert!(msg.contains("9.2.12-1.xcpng8.3"), "the versions there are: {msg}");
    }
    std::fs::write(&fragment, "").unwrap();
    let userland = agent(&host, &["plan", "--pin", "drbd-utils=0.1"]);
    assert_eq!(userland.code, 2, "{}", userland.message());
    assert!(
        userland
            .message()
            .contains("drbd-utils is pinned to 0.1 in --pin on the command line"),
        "{}",
        userland.message()
    );

    std::fs::write(&fragment, "[packages.pin]\n\"kmod-drdb\" = \"9.2.12\"\n").unwrap();
    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 2, "{}", run.message());
    let msg = run.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains(&format!("the pin on kmod-drdb (in {})", fragment.display())),
        "{msg}"
    );
    assert!(
        msg.contains("kmod-drbd, drbd-utils"),
        "the managed packages: {msg}"
    );
    // A package the host has (linstor-common, which linstor-satellite requires) may be pinned.
    std::fs::write(&fragment, "[packages.pin]\n\"linstor-common\" = \"1.29.2\"\n").unwrap();
    let run = agent(&host, &["plan"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
}
