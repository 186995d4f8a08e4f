//! The install step end to end: real signed repository, real dnf --installroot, real rpm
//! database, the agent binary as an operator runs it.

mod support;

use support::*;
use testbed::fixture::catalog::*;

/// What a fresh host of each kernel style gets: the newest fitting module and the newest
/// userland (with linstor-common pulled in by dnf as linstor-satellite's dependency).
fn expected_with(kmods: &[&str]) -> Vec<String> {
    let mut all: Vec<&str> = kmods.to_vec();
    all.extend([
        DRBD_UTILS_9_29_0.nevra,
        DRBD_REACTOR_1_5_0.nevra,
        LINSTOR_SATELLITE_1_29_2.nevra,
        LINSTOR_COMMON_1_29_2.nevra,
        LINSTOR_CLIENT_1_24_0.nevra,
    ]);
    sorted(&all)
}

fn planned_nevras(doc: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["to"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

fn assert_installs(kernels: &[&str], kmods: &[&str], evidence: &str) {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, kernels);

    let plan = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    assert_eq!(plan["changed"], false);
    assert_eq!(plan["pending"], true);
    for kernel in plan["kernels"].as_array().unwrap() {
        assert_eq!(kernel["evidence"], evidence, "{kernel}");
    }

    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    assert_eq!(
        planned_nevras(&doc),
        planned_nevras(&plan),
        "install did what plan showed"
    );

    // rpm shows exactly the planned packages, plus the dependency dnf resolved.
    let mut planned = planned_nevras(&doc);
    planned.push(LINSTOR_COMMON_1_29_2.nevra.to_owned());
    planned.sort();
    assert_eq!(installed_besides_kernels(&host), planned);
    assert_eq!(installed_besides_kernels(&host), expected_with(kmods));

    // Root mode skips, and says it skips, the live-only steps.
    let skipped = doc["skipped"].to_string();
    assert!(skipped.contains("modprobe drbd"), "{skipped}");

    // A second run on the converged host changes nothing and says so.
    let again = agent(&host, &["--output", "json", "install"]);
    assert_eq!(again.code, 0, "{}", again.message());
    assert_eq!(again.json()["changed"], false);
    assert!(
        again.json()["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["change"] == "keep")
    );
    let human = agent(&host, &["install"]);
    assert!(human.stdout.contains("Nothing to do"), "{}", human.stdout);
}

#[test]
fn xcpng_kernel_gets_the_vates_style_module_by_path() {
    assert_installs(
        &[KERNEL_XCPNG_38.nevra],
        &[KMOD_XCPNG_9_2_12.nevra],
        "module-path",
    );
}

#[test]
fn el_kernel_gets_the_linbit_module_by_kabi() {
    assert_installs(&[KERNEL_EL8_553_5.nevra], &[KMOD_KABI_A_9_2_12.nevra], "kabi");
}

#[test]
fn uname_style_kernel_gets_the_module_that_requires_its_uname() {
    assert_installs(&[KERNEL_EL10.nevra], &[KMOD_EL10_9_2_12.nevra], "uname-requires");
}

#[test]
fn two_kernels_get_a_module_each() {
    assert_installs(
        &[KERNEL_EL8_553.nevra, KERNEL_EL9_427.nevra],
        &[KMOD_KABI_A_9_2_12.nevra, KMOD_KABI_B_9_2_12.nevra],
        "kabi",
    );
}

#[test]
fn two_kernel_releases_with_one_kabi_share_one_module() {
    assert_installs(
        &[KERNEL_EL8_553.nevra, KERNEL_EL8_553_5.nevra],
        &[KMOD_KABI_A_9_2_12.nevra],
        "kabi",
    );
}

#[test]
fn a_kernel_nothing_fits_is_refused_and_nothing_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(
        dir.path(),
        "h1",
        &repo,
        &[KERNEL_EL8_553.nevra, KERNEL_EL9_503.nevra],
    );
    for args in [
        &["plan"][..],
        &["install"][..],
        &["install", "--download-only"][..],
    ] {
        let run = agent(&host, args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.message());
        let msg = run.message();
        assert!(msg.contains("kernel 5.14.0-503.el9.x86_64"), "{msg}");
        assert!(
            msg.contains(
                KMOD_KABI_A_9_2_12
                    .nevra
                    .trim_end_matches(".x86_64")
                    .trim_start_matches("kmod-drbd-")
            )
        );
        assert!(
            !msg.contains("kernel 4.18.0-553.el8_10.x86_64:"),
            "the served kernel is not blamed: {msg}"
        );
    }
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
    assert!(
        !host.root.join("var/cache/linstor-agent/packages").exists(),
        "nothing was downloaded"
    );

    let json = agent(&host, &["--output", "json", "install"]);
    assert_eq!(json.code, 3);
    assert_eq!(json.json()["error"]["exit_code"], 3);
    assert_eq!(json.json()["changed"], false);
}

#[test]
fn pins_choose_older_versions_and_a_later_pin_moves_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let fragment_dir = host.config.parent().unwrap().join("agent.d");
    std::fs::create_dir_all(&fragment_dir).unwrap();
    std::fs::write(
        fragment_dir.join("50-pins.toml"),
        "[packages.pin]\n\"kmod-drbd\" = \"9.2.11\"\n\"linstor-satellite\" = \"1.29.0\"\n",
    )
    .unwrap();
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let installed = installed_besides_kernels(&host);
    assert!(
        installed.contains(&KMOD_XCPNG_9_2_11.nevra.to_owned()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&LINSTOR_SATELLITE_1_29_0.nevra.to_owned()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&LINSTOR_COMMON_1_29_0.nevra.to_owned()),
        "{installed:?}"
    );

    // Lifting the satellite pin upgrades it (and dnf brings its dependency along).
    std::fs::write(
        fragment_dir.join("50-pins.toml"),
        "[packages.pin]\n\"kmod-drbd\" = \"9.2.11\"\n",
    )
    .unwrap();
    let plan = agent(&host, &["--output", "json", "plan"]).json();
    let satellite = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "linstor-satellite")
        .unwrap();
    assert_eq!(satellite["change"], "upgrade");
    assert_eq!(satellite["from"][0], LINSTOR_SATELLITE_1_29_0.nevra);
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let installed = installed_besides_kernels(&host);
    assert!(
        installed.contains(&LINSTOR_SATELLITE_1_29_2.nevra.to_owned()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&LINSTOR_COMMON_1_29_2.nevra.to_owned()),
        "{installed:?}"
    );

    // Pinning back down is a downgrade, and dnf takes the dependency down with it.
    std::fs::write(
        fragment_dir.join("50-pins.toml"),
        "[packages.pin]\n\"linstor-satellite\" = \"1.29.0\"\n",
    )
    .unwrap();
    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    let satellite = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "linstor-satellite")
        .unwrap();
    assert_eq!(satellite["change"], "downgrade");
    let installed = installed_besides_kernels(&host);
    assert!(
        installed.contains(&LINSTOR_SATELLITE_1_29_0.nevra.to_owned()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&LINSTOR_COMMON_1_29_0.nevra.to_owned()),
        "{installed:?}"
    );
    // The unpinned module moved up to the newest that fits, replacing the old one in the same
    // transaction (both own the same module files).
    assert!(
        installed.contains(&KMOD_XCPNG_9_2_12.nevra.to_owned()),
        "{installed:?}"
    );
    assert!(
        !installed.contains(&KMOD_XCPNG_9_2_11.nevra.to_owned()),
        "{installed:?}"
    );
    let removal = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["change"] == "remove")
        .unwrap();
    assert_eq!(removal["from"][0], KMOD_XCPNG_9_2_11.nevra);
}

#[test]
fn download_only_fetches_and_verifies_but_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let run = agent(&host, &["--output", "json", "install", "--download-only"]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], false, "the host itself did not change");
    assert_eq!(doc["downloaded"].as_array().unwrap().len(), 5);
    for file in doc["downloaded"].as_array().unwrap() {
        assert!(std::path::Path::new(file.as_str().unwrap()).is_file());
    }
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Two kernels, one module package name (issue 14, point 9): LINBIT's kmod-drbd carries the
// kernel in its version and no install-only provide, so to dnf every kernel's module is a
// version of the same package.

/// The module packages installed, sorted.
fn modules(host: &testbed::sysroot::HostRoot) -> Vec<String> {
    installed_besides_kernels(host)
        .into_iter()
        .filter(|p| p.starts_with("kmod-drbd-"))
        .collect()
}

/// `change` of the action whose `to` (or, for a removal, `from`) is `nevra`.
fn change_of(doc: &serde_json::Value, nevra: &str) -> String {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["to"] == nevra || (a["to"].is_null() && a["from"][0] == nevra))
        .unwrap_or_else(|| panic!("no action for {nevra}: {doc}"))["change"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// kernel-guard agrees that every installed kernel has a module, and installs nothing.
fn assert_guarded(host: &testbed::sysroot::HostRoot, unames: &[&str]) {
    let guard = agent(host, &["--output", "json", "kernel-guard", "--dry-run"]);
    assert_eq!(guard.code, 0, "{}", guard.message());
    let doc = guard.json();
    let kernels: Vec<(&str, &str)> = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["uname_r"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    let mut want: Vec<(&str, &str)> = unames.iter().map(|u| (*u, "ok")).collect();
    want.sort();
    let mut got = kernels.clone();
    got.sort();
    assert_eq!(got, want, "{doc}");
}

/// A host with el8-553 (kABI set A) and el9-427 (set B), el9 the default boot kernel.
fn two_kernel_host(dir: &std::path::Path) -> testbed::sysroot::HostRoot {
    host(
        dir,
        "h1",
        &shared_repo(),
        &[KERNEL_EL8_553.nevra, KERNEL_EL9_427.nevra],
    )
}

#[test]
fn linbit_modules_move_up_on_both_kernels_and_the_old_ones_go() {
    let dir = tempfile::tempdir().unwrap();
    let host = two_kernel_host(dir.path());
    // dnf/yum's own downloads get the agent's low-speed limit through the .repo file.
    let fragments = host.config.parent().unwrap().join("agent.d");
    std::fs::create_dir_all(&fragments).unwrap();
    std::fs::write(
        fragments.join("50-slow-link.toml"),
        "[repo]\nminrate = 500\ntimeout = 45\n",
    )
    .unwrap();

    let run = agent(&host, &["install", "--pin", "kmod-drbd=9.2.11"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(
        modules(&host),
        sorted(&[KMOD_KABI_A_9_2_11.nevra, KMOD_KABI_B_9_2_11.nevra])
    );
    let repo_file = host
        .root
        .join("var/cache/linstor-agent/yum.repos.d/linstor-agent.repo");
    let text = std::fs::read_to_string(&repo_file).unwrap();
    assert!(text.contains("\nminrate=500\ntimeout=45\n"), "{text}");

    // Without the pin: each kernel's module moves up, each old one goes, in one transaction.
    let plan = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    assert_eq!(change_of(&plan, KMOD_KABI_A_9_2_12.nevra), "upgrade");
    assert_eq!(change_of(&plan, KMOD_KABI_B_9_2_12.nevra), "upgrade");
    assert_eq!(change_of(&plan, KMOD_KABI_A_9_2_11.nevra), "remove");
    assert_eq!(change_of(&plan, KMOD_KABI_B_9_2_11.nevra), "remove");

    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(run.json()["changed"], true);
    assert_eq!(
        modules(&host),
        sorted(&[KMOD_KABI_A_9_2_12.nevra, KMOD_KABI_B_9_2_12.nevra])
    );
    assert_guarded(&host, &[KERNEL_EL8_553.uname, KERNEL_EL9_427.uname]);

    let again = agent(&host, &["--output", "json", "install"]);
    assert_eq!(again.code, 0, "{}", again.message());
    assert_eq!(again.json()["changed"], false);
}

#[test]
fn the_module_of_a_kernel_that_is_gone_is_removed_and_the_other_stays() {
    let dir = tempfile::tempdir().unwrap();
    let host = two_kernel_host(dir.path());
    let run = agent(&host, &["install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(
        modules(&host),
        sorted(&[KMOD_KABI_A_9_2_12.nevra, KMOD_KABI_B_9_2_12.nevra])
    );

    // The el8 kernel goes, its module stays behind (rpm -e --nodeps, as a kmod without kernel
    // requires would be left by any removal).
    testbed::sysroot::rpm_in(&host.root)
        .args(["-e", "--nodeps", KERNEL_EL8_553.nevra])
        .run()
        .expect("rpm erases the kernel");

    let plan = agent(&host, &["--output", "json", "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.message());
    let plan = plan.json();
    let served: Vec<&str> = plan["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["uname_r"].as_str().unwrap())
        .collect();
    assert_eq!(served, [KERNEL_EL9_427.uname]);
    assert_eq!(change_of(&plan, KMOD_KABI_A_9_2_12.nevra), "remove");
    assert_eq!(change_of(&plan, KMOD_KABI_B_9_2_12.nevra), "keep");

    // A transaction that only removes.
    let run = agent(&host, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(run.json()["changed"], true);
    assert_eq!(modules(&host), [KMOD_KABI_B_9_2_12.nevra]);
    assert_guarded(&host, &[KERNEL_EL9_427.uname]);

    let again = agent(&host, &["--output", "json", "install"]);
    assert_eq!(again.code, 0, "{}", again.message());
    assert_eq!(again.json()["changed"], false);
}
