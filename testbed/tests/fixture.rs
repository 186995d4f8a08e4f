//! The fixture repository: real RPMs, signed, with signed metadata, as the catalogue says.

mod common;

use std::collections::BTreeSet;

use anyhow::Result;
use sha2::{Digest, Sha256};
use testbed::fixture::catalog::{self, KERNEL_EL8_553, KMOD_KABI_A_9_2_11};
use testbed::sysroot::dnf::DnfConfig;
use testbed::{BuildOptions, FixtureRepo, MetadataCompression};

use common::*;

#[test]
fn shared_fixture_holds_the_whole_catalogue() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let expected: Vec<String> = catalog::packages().iter().map(|p| p.filename()).collect();
    assert_eq!(repo.packages(), expected.as_slice());
    for file in &expected {
        assert!(repo.packages_dir().join(file).is_file(), "{file} missing");
    }
    assert_eq!(repo.fingerprint.len(), 40);
    assert!(
        repo.fingerprint
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    assert_ne!(repo.fingerprint, repo.other_fingerprint());
    let key = std::fs::read_to_string(&repo.key_path)?;
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(repo.other_key_path().is_file());
    assert_eq!(repo.baseurl(), format!("file://{}/", repo.dir.display()));
    assert_eq!(repo.compression, MetadataCompression::Gz);
    // Re-opening gives the same repository, and the cache hands out the same one.
    assert_eq!(FixtureRepo::open(&repo.dir)?, repo);
    assert_eq!(FixtureRepo::shared()?, repo);
    Ok(())
}

#[test]
fn every_rpm_is_signed_by_the_testbed_key() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let root = keyed_rpm_root(tmp.path(), &[&repo.key_path])?;
    let key_id = short_key_id(&repo.fingerprint);
    for file in repo.packages() {
        let (ok, text) = rpm_check(&root, &repo.packages_dir().join(file))?;
        assert!(ok, "{file}: {text}");
        assert!(
            text.contains(&format!("Signature, key ID {key_id}: OK")),
            "{file}: {text}"
        );
        assert!(text.contains("Payload SHA256 digest: OK"), "{file}: {text}");
    }

    // Without the key imported into its rpmdb, rpm cannot vouch for them: `rpm -K` says NOKEY.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty)?;
    let (ok, text) = rpm_check(&empty, &repo.package_path(KERNEL_EL8_553.nevra)?)?;
    assert!(!ok && text.contains("NOKEY"), "{text}");
    Ok(())
}

#[test]
fn repomd_signature_verifies_with_the_testbed_key_only() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let (ok, status) = gpg_verify_repomd(&tmp.path().join("a"), &repo, &[&repo.key_path])?;
    assert!(ok, "{status}");
    assert!(
        status.contains(&format!("VALIDSIG {}", repo.fingerprint)),
        "{status}"
    );

    let (ok, status) = gpg_verify_repomd(&tmp.path().join("b"), &repo, &[repo.other_key_path()])?;
    assert!(!ok, "verified with the wrong key: {status}");
    Ok(())
}

#[test]
fn primary_metadata_lists_every_nevra_and_dependency() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let xml = primary_xml(&repo)?;
    let expected: BTreeSet<String> = catalog::packages().iter().map(|p| p.nevra().to_owned()).collect();
    assert_eq!(primary_nevras(&xml)?, expected);
    // The fit between kernels and kmods is in the metadata, where the agent reads it.
    for entry in [
        r#"<rpm:entry name="kernel(drbd_kabi_alloc)" flags="EQ" epoch="0" ver="0x1a2b3c4d"/>"#,
        // createrepo_c splits an uname at its '-' like any EVR: the agent must rejoin it.
        r#"<rpm:entry name="kernel-uname-r" flags="EQ" epoch="0" ver="6.6.0" rel="1.el10.x86_64"/>"#,
        r#"<rpm:entry name="kernel-uname-r" flags="EQ" epoch="0" ver="4.19.0+1"/>"#,
        r#"<rpm:entry name="installonlypkg(kernel-module)"/>"#,
        r#"<rpm:entry name="linstor-common" flags="EQ" epoch="0" ver="1.29.2"/>"#,
    ] {
        assert!(xml.contains(entry), "primary.xml lacks {entry}");
    }
    Ok(())
}

#[test]
fn zstd_metadata_is_read_by_dnf() -> Result<()> {
    let repo = FixtureRepo::shared_with(&BuildOptions {
        compression: MetadataCompression::Zstd,
    })?;
    assert_eq!(repo.compression, MetadataCompression::Zstd);
    for kind in ["primary", "filelists", "other"] {
        let href = repodata_href(&repo, kind)?;
        assert!(href.ends_with(&format!("-{kind}.xml.zst")), "{href}");
    }
    let expected: BTreeSet<String> = catalog::packages().iter().map(|p| p.nevra().to_owned()).collect();
    assert_eq!(primary_nevras(&primary_xml(&repo)?)?, expected);

    // The real consumer: dnf, with repo_gpgcheck on, lists the same packages.
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root)?;
    let dnf = DnfConfig::write(&tmp.path().join("dnf"), &repo)?;
    let listing = dnf
        .command(&root)
        .args([
            "repoquery",
            "--quiet",
            "--queryformat",
            "%{name}-%{version}-%{release}.%{arch}",
        ])
        .stdout();
    testbed::sysroot::dnf::stop_gpg_agents(&root);
    let listed: BTreeSet<String> = listing?.lines().map(str::to_owned).collect();
    assert_eq!(listed, expected);
    Ok(())
}

#[test]
fn package_path_takes_nevra_nevr_or_file_name() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let want = repo
        .packages_dir()
        .join("kmod-drbd-9.2.11_4.18.0_553-1.x86_64.rpm");
    assert_eq!(repo.package_path(KMOD_KABI_A_9_2_11.nevra)?, want);
    assert_eq!(repo.package_path("kmod-drbd-9.2.11_4.18.0_553-1")?, want);
    assert_eq!(
        repo.package_path("kmod-drbd-9.2.11_4.18.0_553-1.x86_64.rpm")?,
        want
    );
    let err = repo.package_path("kernel-9.9.9-1").unwrap_err();
    assert!(format!("{err:#}").contains("no package"), "{err:#}");
    Ok(())
}

#[test]
fn open_refuses_a_directory_that_is_not_a_fixture() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let err = FixtureRepo::open(tmp.path()).unwrap_err();
    assert!(format!("{err:#}").contains("testbed-fixture.json"), "{err:#}");
    Ok(())
}

#[test]
fn a_private_copy_can_be_damaged_without_touching_the_shared_one() -> Result<()> {
    let shared = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let repo = shared.copy_to(&tmp.path().join("repo"))?;
    assert_eq!(repo.fingerprint, shared.fingerprint);
    assert_ne!(repo.dir, shared.dir);
    let keyed = keyed_rpm_root(tmp.path(), &[&repo.key_path])?;

    // Unsigned: digests still fine, but no signature at all.
    let unsigned = repo.package_path(KERNEL_EL8_553.nevra)?;
    repo.strip_signature(&unsigned)?;
    let (_, text) = rpm_check(&keyed, &unsigned)?;
    assert!(!text.contains("Signature"), "{text}");
    assert!(text.contains("Payload SHA256 digest: OK"), "{text}");

    // Signed by the other key: rpm with only the testbed key says NOKEY.
    let foreign = repo.package_path(KMOD_KABI_A_9_2_11.nevra)?;
    repo.resign_package_with_other_key(&foreign)?;
    let (ok, text) = rpm_check(&keyed, &foreign)?;
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "key ID {}: NOKEY",
            short_key_id(repo.other_fingerprint())
        )),
        "{text}"
    );

    // The metadata still has the old checksum until it is rebuilt and re-signed.
    let checksum = hex::encode(Sha256::digest(std::fs::read(&foreign)?));
    assert!(!primary_xml(&repo)?.contains(&checksum));
    repo.rebuild_metadata()?;
    assert!(primary_xml(&repo)?.contains(&checksum));
    let (ok, status) = gpg_verify_repomd(&tmp.path().join("v1"), &repo, &[&repo.key_path])?;
    assert!(ok, "{status}");

    // repomd.xml signed by the other key no longer verifies with the testbed key.
    repo.sign_repomd_with_other_key()?;
    let (ok, _) = gpg_verify_repomd(&tmp.path().join("v2"), &repo, &[&repo.key_path])?;
    assert!(!ok);
    repo.sign_repomd()?;
    let (ok, status) = gpg_verify_repomd(&tmp.path().join("v3"), &repo, &[&repo.key_path])?;
    assert!(ok, "{status}");

    // The shared fixture is untouched.
    for nevra in [KERNEL_EL8_553.nevra, KMOD_KABI_A_9_2_11.nevra] {
        let (ok, text) = rpm_check(&keyed, &shared.package_path(nevra)?)?;
        assert!(ok, "{text}");
    }
    let (ok, status) = gpg_verify_repomd(&tmp.path().join("v4"), &shared, &[&shared.key_path])?;
    assert!(ok, "{status}");
    Ok(())
}

#[test]
fn build_refuses_a_non_empty_directory() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("precious"), "data")?;
    let err = FixtureRepo::build(tmp.path(), &BuildOptions::default()).unwrap_err();
    assert!(format!("{err:#}").contains("not empty"), "{err:#}");
    assert!(tmp.path().join("precious").is_file());
    Ok(())
}
