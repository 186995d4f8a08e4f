//! Host sysroots: identity files, kernels installed by dnf from the signed fixture,
//! boot configuration, agent.toml.

mod common;

use std::fs;

use anyhow::Result;
use testbed::fixture::catalog::{
    KABI_SET_A, KERNEL_EL8_553, KERNEL_EL8_553_5, KERNEL_EL9_427, KERNEL_EL9_503, KERNEL_EL10,
    KERNEL_XCPNG_37, KERNEL_XCPNG_38, KMOD_EL10_9_2_12, KMOD_KABI_B_9_2_11, XCPNG_UNAME,
};
use testbed::sysroot::identity::{Identity, OS_RELEASE};
use testbed::sysroot::{BootLoader, HostOptions, build_host};
use testbed::{FixtureRepo, HostRoot};

fn installed(host: &HostRoot, name: &str) -> Result<Vec<String>> {
    let out = host.rpm().args(["-q", "--qf", "%{NEVRA}\n", name]).stdout()?;
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    Ok(lines)
}

/// A host named `name` under `dir` with `kernels` and the `extra` packages installed from the
/// shared fixture repository, its boot loader laid out by default.
fn host_with(dir: &std::path::Path, name: &str, kernels: &[&str], extra: &[&str]) -> Result<HostRoot> {
    let opts = HostOptions {
        extra_packages: extra.iter().map(|p| p.to_string()).collect(),
        ..HostOptions::default()
    };
    build_host(dir, name, &FixtureRepo::shared()?, kernels, &opts)
}

/// [`host_with`], checking that dnf installed exactly the kernels `want`.
fn host_with_kernels(
    dir: &std::path::Path,
    name: &str,
    kernels: &[&str],
    extra: &[&str],
    want: &[&str],
) -> Result<HostRoot> {
    let host = host_with(dir, name, kernels, extra)?;
    assert_eq!(installed(&host, "kernel")?, sorted(want.to_vec()));
    Ok(host)
}

/// What `build_host` says when it refuses to build `name` with `kernels` (it must refuse).
fn refusal(dir: &std::path::Path, name: &str, repo: &FixtureRepo, kernels: &[&str]) -> String {
    let err = build_host(dir, name, repo, kernels, &HostOptions::default()).expect_err("refused");
    format!("{err:#}")
}

/// `nevras`, sorted, as [`installed`] lists them.
fn sorted(mut nevras: Vec<&str>) -> Vec<&str> {
    nevras.sort();
    nevras
}

#[test]
fn xcpng_host_has_its_identity_kernel_boot_config_and_agent_toml() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let opts = HostOptions {
        extra_packages: vec!["linstor-satellite-1.29.2".into()],
        ..HostOptions::default()
    };
    let host = build_host(tmp.path(), "xcp-host1", &repo, &[KERNEL_XCPNG_38.nevra], &opts)?;
    assert_eq!(host.root, tmp.path().join("xcp-host1/root"));
    assert_eq!(host.config, tmp.path().join("xcp-host1/agent.toml"));

    // Exactly the requested kernel, and dnf resolved the satellite's dependency.
    assert_eq!(installed(&host, "kernel")?, [KERNEL_XCPNG_38.nevra]);
    assert_eq!(
        installed(&host, "linstor-common")?,
        ["linstor-common-1.29.2-1.xcpng8.3.noarch"]
    );
    assert!(
        host.root
            .join("usr/lib/systemd/system/linstor-satellite.service")
            .is_file()
    );
    // dnf imported the repository key into the host's rpmdb (gpgcheck=1 with -y).
    let pubkeys = installed(&host, "gpg-pubkey")?;
    assert_eq!(pubkeys.len(), 1, "{pubkeys:?}");
    assert!(
        pubkeys[0].contains(&common::short_key_id(&repo.fingerprint)),
        "{pubkeys:?}"
    );

    // Identity.
    let etc = host.root.join("etc");
    assert_eq!(fs::read_to_string(etc.join("os-release"))?, OS_RELEASE);
    assert!(OS_RELEASE.contains("ID=\"xenenterprise\"\n"));
    assert!(OS_RELEASE.contains("VERSION_ID=\"8.3.0\"\n"));
    assert_eq!(fs::read_to_string(etc.join("hostname"))?, "xcp-host1\n");
    let id = Identity::for_host("xcp-host1");
    assert_eq!(host.identity, id);
    let inventory = fs::read_to_string(etc.join("xensource-inventory"))?;
    assert!(inventory.contains(&format!("INSTALLATION_UUID='{}'", id.installation_uuid)));
    assert!(inventory.contains("MANAGEMENT_INTERFACE='xenbr0'"));
    assert_eq!(
        fs::read_link(etc.join("redhat-release"))?.to_str(),
        Some("centos-release")
    );

    // XCP-ng boot layout: grub.cfg boots /boot/vmlinuz-4.19-xen → the installed kernel.
    assert_eq!(host.boot_loader, BootLoader::XcpNg);
    assert_eq!(host.default_kernel, XCPNG_UNAME);
    let boot = host.root.join("boot");
    let grub = fs::read_to_string(boot.join("grub/grub.cfg"))?;
    assert!(grub.contains("set default=0\n"), "{grub}");
    assert!(
        grub.contains("\tmodule2 /boot/vmlinuz-4.19-xen root=LABEL="),
        "{grub}"
    );
    assert_eq!(
        fs::read_link(boot.join("vmlinuz-4.19-xen"))?.to_str(),
        Some("vmlinuz-4.19.0+1")
    );
    assert!(boot.join("vmlinuz-4.19-xen").is_file(), "symlink must resolve");
    assert!(boot.join("xen.gz").is_file());
    assert!(host.root.join("lib/modules/4.19.0+1/modules.builtin").is_file());
    assert!(!host.root.join("lib/modules/4.19.0+1/symvers.gz").exists());

    // agent.toml: only keys the agent's config knows, pointing at the fixture.
    let config: toml::Table = fs::read_to_string(&host.config)?.parse()?;
    let keys: Vec<&String> = config.keys().collect();
    assert_eq!(keys, ["packages", "repo"]);
    let repo_section = config["repo"].as_table().expect("[repo]");
    assert_eq!(repo_section["baseurl"].as_str(), Some(repo.baseurl().as_str()));
    assert_eq!(repo_section["gpgkey"].as_str(), repo.key_path.to_str());
    assert_eq!(
        repo_section["fingerprint"].as_str(),
        Some(repo.fingerprint.as_str())
    );
    assert_eq!(repo_section.len(), 3);
    let packages = config["packages"].as_table().expect("[packages]");
    assert_eq!(packages["kmod"].as_str(), Some("kmod-drbd"));
    let userland: Vec<&str> = packages["userland"]
        .as_array()
        .expect("userland")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        userland,
        [
            "drbd-utils",
            "drbd-reactor",
            "linstor-satellite",
            "linstor-client"
        ]
    );
    assert_eq!(packages.len(), 2);
    Ok(())
}

#[test]
fn el_host_shows_kabi_provides_and_boots_the_chosen_default() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let opts = HostOptions {
        // The older of the two: a default that is not the newest.
        default_kernel: Some(KERNEL_EL8_553.uname.to_owned()),
        ..HostOptions::default()
    };
    let host = build_host(
        tmp.path(),
        "el1",
        &repo,
        &[KERNEL_EL8_553.nevra, KERNEL_EL8_553_5.nevra],
        &opts,
    )?;
    let want = sorted(vec![KERNEL_EL8_553.nevra, KERNEL_EL8_553_5.nevra]);
    assert_eq!(installed(&host, "kernel")?, want);
    assert_eq!(host.kernels.len(), 2);

    let provides = host.rpm().args(["-q", "--provides", "kernel"]).stdout()?;
    for sym in KABI_SET_A.symbols {
        let line = format!("kernel({}) = {}", sym.name, sym.crc);
        // Once per kernel: both el8 kernels export set A.
        assert_eq!(provides.lines().filter(|l| *l == line).count(), 2, "{provides}");
    }
    assert!(
        provides.contains("kernel-uname-r = 4.18.0-553.el8_10.x86_64"),
        "{provides}"
    );
    assert!(provides.contains("installonlypkg(kernel)"), "{provides}");

    let symvers = host.root.join("lib/modules/4.18.0-553.el8_10.x86_64/symvers.gz");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(&symvers)?),
        &mut text,
    )?;
    assert_eq!(
        text,
        "0x1a2b3c4d\tdrbd_kabi_alloc\tvmlinux\tEXPORT_SYMBOL\n\
         0x5e6f7a8b\tdrbd_kabi_bio\tvmlinux\tEXPORT_SYMBOL\n\
         0x9c0d1e2f\tdrbd_kabi_sock\tvmlinux\tEXPORT_SYMBOL\n"
    );

    // BLS: an entry per kernel, grubenv's saved_entry names the chosen default.
    assert_eq!(host.boot_loader, BootLoader::Bls);
    assert_eq!(host.default_kernel, KERNEL_EL8_553.uname);
    let mid = &host.identity.machine_id;
    let entries = host.root.join("boot/loader/entries");
    for k in [KERNEL_EL8_553, KERNEL_EL8_553_5] {
        let entry = fs::read_to_string(entries.join(format!("{mid}-{}.conf", k.uname)))?;
        assert!(entry.contains(&format!("\nversion {}\n", k.uname)), "{entry}");
        assert!(
            entry.contains(&format!("\nlinux /vmlinuz-{}\n", k.uname)),
            "{entry}"
        );
    }
    let grubenv = fs::read_to_string(host.root.join("boot/grub2/grubenv"))?;
    assert_eq!(grubenv.len(), 1024);
    assert!(
        grubenv.contains(&format!("\nsaved_entry={mid}-{}\n", KERNEL_EL8_553.uname)),
        "{grubenv}"
    );
    Ok(())
}

#[test]
fn default_kernel_is_the_newest_when_not_given() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let host = host_with(tmp.path(), "el2", &[KERNEL_EL9_427.nevra, KERNEL_EL10.nevra], &[])?;
    assert_eq!(host.default_kernel, KERNEL_EL10.uname);
    Ok(())
}

#[test]
fn dnf_resolves_kmod_requires_against_kernels() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // The uname-style kmod installs next to its kernel.
    let host = host_with(
        tmp.path(),
        "el10",
        &[KERNEL_EL10.nevra],
        &[KMOD_EL10_9_2_12.nevra],
    )?;
    assert_eq!(installed(&host, "kmod-drbd")?, [KMOD_EL10_9_2_12.nevra]);
    let ko = host
        .root
        .join("lib/modules/6.6.0-1.el10.x86_64/extra/drbd/drbd.ko");
    assert!(fs::read_to_string(ko)?.contains("version: 9.2.12\n"));

    // A kABI-B kmod on a host whose kernel has set C: dnf pulls in the set-B kernel.
    let kernels = [KERNEL_EL9_503.nevra];
    let want = [KERNEL_EL9_427.nevra, KERNEL_EL9_503.nevra];
    host_with_kernels(tmp.path(), "el9", &kernels, &[KMOD_KABI_B_9_2_11.nevra], &want)?;
    Ok(())
}

#[test]
fn two_xcpng_kernels_share_one_uname() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let kernels = [KERNEL_XCPNG_37.nevra, KERNEL_XCPNG_38.nevra];
    let host = host_with_kernels(tmp.path(), "xcp2", &kernels, &[], &kernels)?;
    assert!(host.kernels.iter().all(|k| k.uname == XCPNG_UNAME));
    Ok(())
}

#[test]
fn build_host_refuses_bad_requests() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;

    let err = build_host(
        tmp.path(),
        "h1",
        &repo,
        &[KERNEL_EL10.nevra],
        &HostOptions {
            default_kernel: Some(KERNEL_EL8_553.uname.to_owned()),
            ..HostOptions::default()
        },
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("is not installed"), "{err:#}");

    // The same name again: refused, the first root is left alone.
    let err = refusal(tmp.path(), "h1", &repo, &[KERNEL_EL10.nevra]);
    assert!(err.contains("already exists"), "{err}");

    let err = refusal(tmp.path(), "h2", &repo, &["kernel-9.9.9-1.el9"]);
    assert!(err.contains("kernel-9.9.9-1.el9"), "{err}");

    refusal(tmp.path(), "bad name", &repo, &[KERNEL_EL10.nevra]);
    refusal(tmp.path(), "h3", &repo, &[]);
    Ok(())
}

#[test]
fn dnf_refuses_a_repository_signed_by_another_key() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let repo = FixtureRepo::shared()?.copy_to(&tmp.path().join("repo"))?;
    repo.sign_repomd_with_other_key()?;
    let err = refusal(tmp.path(), "h1", &repo, &[KERNEL_EL10.nevra]);
    assert!(err.contains("GPG signature"), "{err}");
    Ok(())
}
