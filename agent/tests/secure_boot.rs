//! Secure Boot (issue 14, point 10), through the binary: with Secure Boot on, a module package
//! installs only when every module in it is signed by a key the kernel trusts (db, MOK, the
//! kernel's built-in keys), `plan` reports each module's signer, and anything else is refused
//! (exit 3) with nothing installed. The modules are really signed (openssl, as sign-file) by the
//! testbed's Secure Boot fixture; the firmware's keys are efivars written under `--root`.

mod support;

use std::path::Path;
use support::*;
use testbed::fixture::catalog::*;
use testbed::fixture::secure_boot::*;
use testbed::sysroot::HostRoot;
use testbed::sysroot::firmware::{Firmware, write_kernel_keys};

const DRBD_KO: &str = "/lib/modules/4.19.0+1/extra/drbd/drbd.ko";
const TRANSPORT_KO: &str = "/lib/modules/4.19.0+1/extra/drbd/drbd_transport_tcp.ko";

fn fixture() -> SecureBootFixture {
    SecureBootFixture::shared().expect("the Secure Boot fixture builds")
}

/// An XCP-ng host (kernel only) on the Secure Boot repository.
fn sb_host(dir: &Path, fixture: &SecureBootFixture) -> HostRoot {
    host(dir, "sb1", &fixture.repo, &[KERNEL_XCPNG_38.nevra])
}

/// Secure Boot on, with these keys in db and the MOK list.
fn enforce(host: &HostRoot, fixture: &SecureBootFixture, db: &[KeyRole], mok: &[KeyRole]) {
    let certs = |roles: &[KeyRole]| roles.iter().map(|r| fixture.cert(*r).unwrap()).collect();
    Firmware {
        db: certs(db),
        mok: certs(mok),
        ..Firmware::default()
    }
    .write(&host.root)
    .unwrap();
}

fn rpm_q(host: &HostRoot, nevra: &str) -> bool {
    host.rpm().arg("-q").arg(nevra).output().unwrap().status.success()
}

fn modules(doc: &serde_json::Value) -> &Vec<serde_json::Value> {
    doc["secure_boot"]["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("no secure_boot.modules in {doc:#}"))
}

/// A refused install: exit 3, the message names every `needle`, nothing is installed.
fn assert_refused(host: &HostRoot, kmod: &SignedKmod, needles: &[&str]) {
    let run = agent(host, &["install", "--pin", &kmod.pin()]);
    assert_eq!(run.code, 3, "{}", run.message());
    let message = run.message();
    for needle in needles {
        assert!(
            message.contains(needle),
            "the refusal names {needle:?}:\n{message}"
        );
    }
    assert_eq!(
        installed_besides_kernels(host),
        Vec::<String>::new(),
        "nothing is installed"
    );
}

#[test]
fn a_module_signed_by_a_db_key_installs_and_plan_names_its_signer() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[]);

    let run = agent(&host, &["--output", "json", "plan", "--pin", &KMOD_SB_DB.pin()]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["secure_boot"]["enforced"], true, "{doc:#}");
    let files: Vec<&str> = modules(&doc)
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, [DRBD_KO, TRANSPORT_KO]);
    for m in modules(&doc) {
        assert_eq!(m["package"], KMOD_SB_DB.nevra);
        assert_eq!(m["kernel"], XCPNG_UNAME);
        assert_eq!(m["trusted"], true, "{m:#}");
        assert!(
            m["signer"].as_str().unwrap().contains(KeyRole::Db.name()),
            "{m:#}"
        );
        assert!(m["trusted_by"].as_str().unwrap().starts_with("db key"), "{m:#}");
    }
    let enrolled = doc["secure_boot"]["enrolled"].as_array().unwrap();
    assert_eq!(enrolled.len(), 1, "{doc:#}");
    assert_eq!(enrolled[0]["keyring"], "db");
    assert_eq!(enrolled[0]["subject"], KeyRole::Db.name());

    let human = agent(&host, &["plan", "--pin", &KMOD_SB_DB.pin()]);
    assert_eq!(human.code, 0, "{}", human.message());
    assert!(
        human.stdout.contains("Secure Boot: enabled (SecureBoot = 1)"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(&format!(
            "{DRBD_KO} [{XCPNG_UNAME}]: signed by \"{}\"",
            KeyRole::Db.name()
        )),
        "{}",
        human.stdout
    );

    let run = agent(&host, &["install", "--pin", &KMOD_SB_DB.pin()]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert!(rpm_q(&host, KMOD_SB_DB.nevra));
}

#[test]
fn a_module_signed_by_an_enrolled_machine_owner_key_installs() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[KeyRole::Mok]);

    // Signed with sha512 and named by subject key identifier (sign-file -k).
    let run = agent(
        &host,
        &["--output", "json", "install", "--pin", &KMOD_SB_MOK.pin()],
    );
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    for m in modules(&doc) {
        assert_eq!(m["trusted"], true, "{m:#}");
        assert!(m["trusted_by"].as_str().unwrap().starts_with("MOK key"), "{m:#}");
        assert!(m["signer"].as_str().unwrap().contains("key id"), "{m:#}");
    }
    assert!(rpm_q(&host, KMOD_SB_MOK.nevra));
}

#[test]
fn a_module_signed_by_an_unknown_key_is_refused_naming_signer_and_enrolled_keys() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[KeyRole::Mok]);

    // plan shows it and exits 3, with the refusal in its document.
    let run = agent(
        &host,
        &["--output", "json", "plan", "--pin", &KMOD_SB_UNTRUSTED.pin()],
    );
    assert_eq!(run.code, 3, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["error"]["exit_code"], 3, "{doc:#}");
    for m in modules(&doc) {
        assert_eq!(m["trusted"], false, "{m:#}");
        assert!(
            m["signer"].as_str().unwrap().contains(KeyRole::Untrusted.name()),
            "{m:#}"
        );
    }

    assert_refused(
        &host,
        &KMOD_SB_UNTRUSTED,
        &[
            KMOD_SB_UNTRUSTED.nevra,
            DRBD_KO,
            TRANSPORT_KO,
            KeyRole::Untrusted.name(),
            &format!("db: \"{}\"", KeyRole::Db.name()),
            &format!("MOK: \"{}\"", KeyRole::Mok.name()),
            "built-in keys of 4.19.0+1: none",
            "mokutil --import",
        ],
    );
}

#[test]
fn an_unsigned_module_is_refused() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[]);
    assert_refused(
        &host,
        &KMOD_SB_UNSIGNED,
        &[
            KMOD_SB_UNSIGNED.nevra,
            DRBD_KO,
            "signer unsigned",
            "carries no signature",
        ],
    );
}

#[test]
fn a_module_changed_after_signing_is_refused() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[]);
    // Signed by a trusted key, but its bytes no longer match the signature.
    assert_refused(
        &host,
        &KMOD_SB_TAMPERED,
        &[
            KMOD_SB_TAMPERED.nevra,
            KeyRole::Db.name(),
            "does not match the module's bytes",
        ],
    );
}

#[test]
fn without_secure_boot_nothing_is_checked_and_plan_says_why() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let host = sb_host(dir.path(), &fixture);
    let plan_state = |host: &HostRoot| {
        let run = agent(
            host,
            &["--output", "json", "plan", "--pin", &KMOD_SB_UNSIGNED.pin()],
        );
        assert_eq!(run.code, 0, "{}", run.message());
        let doc = run.json();
        assert_eq!(doc["secure_boot"]["enforced"], false, "{doc:#}");
        assert!(doc["secure_boot"].get("modules").is_none(), "{doc:#}");
        doc["secure_boot"]["state"].as_str().unwrap().to_owned()
    };

    assert!(plan_state(&host).contains("not an EFI boot"));
    // shim's validation turned off: Secure Boot is on, but nothing is enforced.
    Firmware {
        shim_validation_disabled: true,
        ..Firmware::default()
    }
    .write(&host.root)
    .unwrap();
    assert!(plan_state(&host).contains("disabled in shim"));
    Firmware {
        secure_boot: Some(false),
        ..Firmware::default()
    }
    .write(&host.root)
    .unwrap();
    let _ = std::fs::remove_file(
        host.root
            .join("sys/firmware/efi/efivars/MokSBStateRT-605dab50-e046-4300-abb6-3dd810dd8b23"),
    );
    assert!(plan_state(&host).contains("disabled (SecureBoot = 0)"));

    let run = agent(&host, &["install", "--pin", &KMOD_SB_UNSIGNED.pin()]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert!(rpm_q(&host, KMOD_SB_UNSIGNED.nevra));
}

#[test]
fn kernel_guard_checks_the_module_it_installs_for_a_kernel() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    // The kernel has no module yet (as after `yum install kernel`).
    let host = sb_host(dir.path(), &fixture);
    enforce(&host, &fixture, &[KeyRole::Db], &[]);

    let run = agent(
        &host,
        &[
            "--output",
            "json",
            "kernel-guard",
            "--pin",
            &KMOD_SB_UNTRUSTED.pin(),
        ],
    );
    assert_eq!(run.code, 3, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["error"]["exit_code"], 3, "{doc:#}");
    let message = doc["error"]["message"].as_str().unwrap();
    for needle in [
        KMOD_SB_UNTRUSTED.nevra,
        DRBD_KO,
        KeyRole::Untrusted.name(),
        KeyRole::Db.name(),
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert_eq!(doc["kernels"][0]["status"], "missing", "{doc:#}");
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());

    // The kernel's own built-in key signed this one: trusted for that kernel.
    write_kernel_keys(
        &host.root,
        XCPNG_UNAME,
        &[("kernel-signing-ca.cer", fixture.cert(KeyRole::Builtin).unwrap())],
    )
    .unwrap();
    let run = agent(
        &host,
        &[
            "--output",
            "json",
            "kernel-guard",
            "--pin",
            &KMOD_SB_BUILTIN.pin(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["kernels"][0]["status"], "installed", "{doc:#}");
    for m in modules(&doc) {
        assert!(
            m["trusted_by"].as_str().unwrap().starts_with("built-in key"),
            "{m:#}"
        );
    }
    assert!(rpm_q(&host, KMOD_SB_BUILTIN.nevra));
}
