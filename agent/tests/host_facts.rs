//! `host::facts` against real testbed sysroots: kernels installed by dnf from the signed
//! fixture repository, read back with the real `rpm --root`, and the boot configuration the
//! testbed writes as XCP-ng and EL hosts have it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use linstor_agent::host::facts::{Facts, gather};
use linstor_agent::host::targets::kernels_to_serve;
use linstor_agent::host::{Sysroot, rpmdb};
use testbed::fixture::catalog::{
    KABI_SET_A, KABI_SET_B, KABI_SET_C, KERNEL_EL8_553, KERNEL_EL8_553_5, KERNEL_EL9_427, KERNEL_EL9_503,
    KERNEL_EL10, KERNEL_XCPNG_37, KERNEL_XCPNG_38, KabiSet, XCPNG_UNAME,
};
use testbed::sysroot::{BootLoader, HostOptions, build_host};
use testbed::{FixtureRepo, HostRoot};

fn kabi(set: &KabiSet) -> BTreeMap<String, String> {
    set.symbols
        .iter()
        .map(|s| (s.name.to_owned(), s.crc.to_owned()))
        .collect()
}

fn facts_of(host: &HostRoot) -> Result<(Sysroot, Facts)> {
    let sysroot = Sysroot::new(&host.root);
    let facts = gather(&sysroot)?;
    Ok((sysroot, facts))
}

fn packages(facts: &Facts) -> Vec<&str> {
    facts.kernels.iter().map(|k| k.package.as_str()).collect()
}

#[test]
fn xcpng_host_with_two_kernel_releases() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let host = build_host(
        tmp.path(),
        "xcp-facts",
        &repo,
        &[KERNEL_XCPNG_37.nevra, KERNEL_XCPNG_38.nevra],
        &HostOptions::default(),
    )?;
    let (sysroot, facts) = facts_of(&host)?;

    assert_eq!(facts.os.id, "xenenterprise");
    assert_eq!(facts.os.name, "XCP-ng");
    assert_eq!(facts.xcpng_version.as_deref(), Some("8.3.0"));
    assert_eq!(facts.hostname.as_deref(), Some("xcp-facts"));
    assert_eq!(facts.running_kernel, None, "a root is not what runs");

    assert_eq!(packages(&facts), [KERNEL_XCPNG_38.nevra, KERNEL_XCPNG_37.nevra]);
    for kernel in &facts.kernels {
        assert_eq!(kernel.uname_r, XCPNG_UNAME);
        assert!(kernel.kabi.is_empty(), "XCP-ng kernels carry no kABI: {kernel:?}");
        assert_eq!(kernel.kabi_source, None);
    }
    // grub.cfg boots /boot/vmlinuz-4.19-xen, a symlink to vmlinuz-4.19.0+1.
    assert_eq!(facts.default_boot_kernel.as_deref(), Some(XCPNG_UNAME));
    assert_eq!(facts.default_boot_source, "/boot/grub/grub.cfg");

    let targets = kernels_to_serve(&facts, &sysroot)?;
    assert_eq!(targets.len(), 1, "one uname for both releases: {targets:?}");
    assert_eq!(targets[0].uname_r, XCPNG_UNAME);
    assert_eq!(targets[0].package.as_deref(), Some(KERNEL_XCPNG_38.nevra));
    assert_eq!(targets[0].reasons, ["default boot", "installed"]);
    assert_eq!(targets[0].module_dir, PathBuf::from("/lib/modules/4.19.0+1"));

    // The packages step asks the same database by name; "not installed" is an empty answer.
    let named = rpmdb::installed_named(&sysroot, &["kernel", "kmod-drbd"])?;
    let mut nevras: Vec<String> = named.iter().map(|p| p.nevra()).collect();
    nevras.sort();
    assert_eq!(nevras, [KERNEL_XCPNG_37.nevra, KERNEL_XCPNG_38.nevra]);

    // The whole thing is what `facts --output json` prints.
    let json = serde_json::to_value(&facts)?;
    assert_eq!(json["kernels"][0]["uname_r"], XCPNG_UNAME);
    assert!(json["running_kernel"].is_null());
    Ok(())
}

#[test]
fn el_host_with_an_older_default_kernel() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let host = build_host(
        tmp.path(),
        "el-facts",
        &repo,
        &[KERNEL_EL8_553.nevra, KERNEL_EL8_553_5.nevra],
        &HostOptions {
            default_kernel: Some(KERNEL_EL8_553.uname.to_owned()),
            ..HostOptions::default()
        },
    )?;
    assert_eq!(host.boot_loader, BootLoader::Bls);
    let (sysroot, facts) = facts_of(&host)?;

    assert_eq!(packages(&facts), [KERNEL_EL8_553_5.nevra, KERNEL_EL8_553.nevra]);
    assert_eq!(facts.kernels[0].uname_r, KERNEL_EL8_553_5.uname);
    assert_eq!(facts.kernels[1].uname_r, KERNEL_EL8_553.uname);
    for kernel in &facts.kernels {
        assert_eq!(kernel.kabi, kabi(&KABI_SET_A), "{kernel:?}");
        assert_eq!(kernel.kabi_source.as_deref(), Some("provides"));
    }
    assert_eq!(facts.running_kernel, None);

    // grubenv's saved_entry picks the older kernel, not the newest.
    assert_eq!(facts.default_boot_kernel.as_deref(), Some(KERNEL_EL8_553.uname));
    assert_eq!(
        facts.default_boot_source,
        format!(
            "/boot/loader/entries/{}-{}.conf",
            host.identity.machine_id, KERNEL_EL8_553.uname
        )
    );

    let targets = kernels_to_serve(&facts, &sysroot)?;
    let summary: Vec<(&str, &[&str])> = targets
        .iter()
        .map(|t| (t.uname_r.as_str(), t.reasons.as_slice()))
        .collect();
    assert_eq!(
        summary,
        [
            (KERNEL_EL8_553.uname, &["default boot", "installed"][..]),
            (KERNEL_EL8_553_5.uname, &["installed"][..]),
        ]
    );
    assert_eq!(targets[0].package.as_deref(), Some(KERNEL_EL8_553.nevra));
    assert_eq!(targets[0].kabi, kabi(&KABI_SET_A));
    Ok(())
}

#[test]
fn el_host_without_a_boot_loader_boots_the_newest() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let host = build_host(
        tmp.path(),
        "el-noboot",
        &repo,
        &[KERNEL_EL9_427.nevra, KERNEL_EL9_503.nevra, KERNEL_EL10.nevra],
        &HostOptions {
            boot_loader: BootLoader::None,
            ..HostOptions::default()
        },
    )?;
    let (_, facts) = facts_of(&host)?;

    assert_eq!(
        packages(&facts),
        [KERNEL_EL10.nevra, KERNEL_EL9_503.nevra, KERNEL_EL9_427.nevra]
    );
    assert!(facts.kernels[0].kabi.is_empty() && facts.kernels[0].kabi_source.is_none());
    assert_eq!(facts.kernels[1].kabi, kabi(&KABI_SET_C));
    assert_eq!(facts.kernels[2].kabi, kabi(&KABI_SET_B));
    assert_eq!(facts.default_boot_kernel.as_deref(), Some(KERNEL_EL10.uname));
    assert_eq!(facts.default_boot_source, "newest installed kernel");
    Ok(())
}

#[test]
fn a_root_that_is_not_a_host_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = gather(&Sysroot::new(tmp.path())).expect_err("an empty directory is no host");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("os-release") && msg.contains("check --root"),
        "{msg}"
    );

    // os-release alone is not enough either: without an rpm database there are no kernels to
    // speak of, and saying "none" would hide a wrong --root.
    std::fs::create_dir_all(tmp.path().join("etc")).expect("mkdir");
    std::fs::write(tmp.path().join("etc/os-release"), "ID=almalinux\n").expect("write");
    let msg = format!("{:#}", gather(&Sysroot::new(tmp.path())).expect_err("no rpmdb"));
    assert!(msg.contains("no rpm database"), "{msg}");
}
