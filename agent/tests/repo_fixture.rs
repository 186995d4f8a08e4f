//! The repository client against the real signed fixture repository (file:// base URLs):
//! what loads, and every way a damaged repository or package is caught and named.

mod support;

use linstor_agent::error::{ExitCode, exit_code_for};
use linstor_agent::host::Sysroot;
use linstor_agent::repo::{Files, RepoPackage, Repository};
use std::path::Path;
use support::{cache_files, config, open, private_copy, repodata_file, shared_repo};
use testbed::{BuildOptions, FixtureRepo, MetadataCompression};

fn find<'a>(packages: &'a [RepoPackage], nevra: &str) -> &'a RepoPackage {
    packages
        .iter()
        .find(|p| p.nevra() == nevra)
        .unwrap_or_else(|| panic!("{nevra} not in the metadata"))
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn message(err: anyhow::Error) -> String {
    format!("{err:#}")
}

#[test]
fn good_repository_loads_every_package_with_provides_requires_and_files() {
    let fixture = shared_repo();
    let (root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata().unwrap();
    assert_eq!(metadata.packages.len(), fixture.packages().len());
    for file in fixture.packages() {
        let pkg = find(&metadata.packages, file.strip_suffix(".rpm").unwrap());
        assert_eq!(pkg.sha256.len(), 64);
        assert!(pkg.size > 0);
        assert!(pkg.location.ends_with(file.as_str()), "{}", pkg.location);
    }

    // XCP-ng style module: no kernel requires, files under the fixed uname.
    let xcpng = find(&metadata.packages, "kmod-drbd-9.2.11-1.xcpng8.3.x86_64");
    assert!(
        xcpng
            .files
            .iter()
            .any(|f| f == "/lib/modules/4.19.0+1/extra/drbd/drbd.ko"),
        "{:?}",
        xcpng.files
    );
    assert!(
        xcpng
            .provides
            .iter()
            .any(|d| d.name == "kmod-drbd" && d.flags.as_deref() == Some("EQ"))
    );
    // LINBIT style: kABI requires with their CRCs.
    let kabi = find(&metadata.packages, "kmod-drbd-9.2.11_4.18.0_553-1.x86_64");
    let bio = kabi
        .requires
        .iter()
        .find(|d| d.name == "kernel(drbd_kabi_bio)")
        .expect("kABI require");
    assert_eq!(
        (bio.flags.as_deref(), bio.version.as_deref()),
        (Some("EQ"), Some("0x5e6f7a8b"))
    );
    // Kernels provide their uname.
    let kernel = find(&metadata.packages, "kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64");
    assert!(
        kernel
            .provides
            .iter()
            .any(|d| d.name == "kernel-uname-r" && d.version.as_deref() == Some("4.19.0+1"))
    );

    // A second call re-reads only repomd.xml(.asc) and reuses the verified files.
    let cached = cache_files(root.path(), &format!("metadata/{}", metadata.revision));
    assert_eq!(cached.len(), 4, "{cached:?}");
    let again = repo.metadata().unwrap();
    assert_eq!(again.revision, metadata.revision);
    assert_eq!(again.packages.len(), metadata.packages.len());
    assert_eq!(
        cache_files(root.path(), "metadata"),
        std::slice::from_ref(&metadata.revision)
    );

    // Packages download into the cache and verify.
    let path = repo.fetch_package(xcpng).unwrap();
    assert_eq!(
        path,
        root.path()
            .join("var/cache/linstor-agent/packages/kmod-drbd-9.2.11-1.xcpng8.3.x86_64.rpm")
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(fixture.package_path(&xcpng.nevra()).unwrap()).unwrap()
    );
    assert_eq!(repo.fetch_package(xcpng).unwrap(), path);
}

#[test]
fn file_lists_can_be_narrowed_or_skipped() {
    let fixture = shared_repo();
    let (root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata_with(&Files::Skip).unwrap();
    assert_eq!(metadata.packages.len(), fixture.packages().len());
    assert!(metadata.packages.iter().all(|p| p.files.is_empty()));
    let cached = cache_files(root.path(), &format!("metadata/{}", metadata.revision));
    assert!(
        !cached.iter().any(|f| f.contains("filelists")),
        "filelists not downloaded: {cached:?}"
    );

    let metadata = repo
        .metadata_with(&Files::Under(vec!["/lib/modules/".into()]))
        .unwrap();
    let kmod = find(&metadata.packages, "kmod-drbd-9.2.11-1.xcpng8.3.x86_64");
    assert!(!kmod.files.is_empty());
    assert!(kmod.files.iter().all(|f| f.starts_with("/lib/modules/")));
    let utils = find(&metadata.packages, "drbd-utils-9.28.0-1.xcpng8.3.noarch");
    assert!(utils.files.is_empty());
}

#[test]
fn every_fixture_package_verifies() {
    let fixture = shared_repo();
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    for pkg in &repo.metadata().unwrap().packages {
        repo.fetch_package(pkg)
            .unwrap_or_else(|e| panic!("{}: {e:#}", pkg.nevra()));
    }
}

#[test]
fn zstd_metadata_loads() {
    let fixture = FixtureRepo::shared_with(&BuildOptions {
        compression: MetadataCompression::Zstd,
    })
    .unwrap();
    assert!(repodata_file(&fixture, "primary.xml.zst").is_file());
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata().unwrap();
    assert_eq!(metadata.packages.len(), fixture.packages().len());
    let kmod = find(&metadata.packages, "kmod-drbd-9.2.12-1.xcpng8.3.x86_64");
    assert!(!kmod.files.is_empty());
    repo.fetch_package(kmod).unwrap();
}

#[test]
fn repomd_changed_after_signing_is_refused() {
    let (_dir, fixture) = private_copy();
    let repomd = fixture.repomd_path();
    let text = std::fs::read_to_string(&repomd).unwrap();
    let start = text.find("<revision>").unwrap() + "<revision>".len();
    let mut changed = text.clone();
    changed.replace_range(
        start..start + 1,
        if &text[start..start + 1] == "9" { "8" } else { "9" },
    );
    std::fs::write(&repomd, changed).unwrap();

    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let msg = message(repo.metadata().unwrap_err());
    assert!(
        msg.contains("repomd.xml signature does not verify against key"),
        "{msg}"
    );
    assert!(msg.contains(&fixture.key_path.display().to_string()), "{msg}");
    assert!(msg.contains(&fixture.fingerprint), "{msg}");
}

#[test]
fn repomd_signed_by_another_key_is_refused() {
    let (_dir, fixture) = private_copy();
    fixture.sign_repomd_with_other_key().unwrap();
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let msg = message(repo.metadata().unwrap_err());
    assert!(
        msg.contains(&format!("signed by key {}", fixture.other_fingerprint())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("not by the configured key {}", fixture.fingerprint)),
        "{msg}"
    );
    assert!(msg.contains("repodata/repomd.xml"), "{msg}");
}

#[test]
fn unsigned_repomd_is_refused() {
    let (_dir, fixture) = private_copy();
    std::fs::remove_file(fixture.repomd_signature_path()).unwrap();
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let msg = message(repo.metadata().unwrap_err());
    assert!(msg.contains("repomd.xml.asc does not exist"), "{msg}");
    assert!(msg.contains("not signed"), "{msg}");
}

#[test]
fn primary_that_differs_from_repomd_is_refused() {
    // Swap the file, leave the signed repomd.xml alone: one byte changed (same size) ...
    let (_dir, fixture) = private_copy();
    let primary = repodata_file(&fixture, "primary.xml.gz");
    let len = std::fs::metadata(&primary).unwrap().len() as usize;
    flip_byte(&primary, len / 2);
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let msg = message(repo.metadata().unwrap_err());
    assert!(msg.contains("checksum mismatch for primary metadata"), "{msg}");
    assert!(
        msg.contains(primary.file_name().unwrap().to_str().unwrap()),
        "{msg}"
    );

    // ... or another valid gzip'ed XML file in its place (a different size).
    let (_dir, fixture) = private_copy();
    let primary = repodata_file(&fixture, "primary.xml.gz");
    std::fs::copy(repodata_file(&fixture, "other.xml.gz"), &primary).unwrap();
    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let msg = message(repo.metadata().unwrap_err());
    assert!(msg.contains("primary metadata"), "{msg}");
    assert!(
        msg.contains(primary.file_name().unwrap().to_str().unwrap()),
        "{msg}"
    );
    assert!(msg.contains("differs from the metadata"), "{msg}");
}

#[test]
fn corrupted_cache_is_fetched_again_not_trusted() {
    let fixture = shared_repo();
    let (root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata().unwrap();
    let dir = root
        .path()
        .join("var/cache/linstor-agent/metadata")
        .join(&metadata.revision);
    let cached_primary = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with("primary.xml.gz"))
        .unwrap();
    std::fs::write(&cached_primary, b"garbage").unwrap();
    assert_eq!(repo.metadata().unwrap().packages.len(), metadata.packages.len());
    assert_ne!(std::fs::read(&cached_primary).unwrap(), b"garbage");

    let pkg = find(&metadata.packages, "drbd-utils-9.28.0-1.xcpng8.3.noarch");
    let path = repo.fetch_package(pkg).unwrap();
    flip_byte(&path, 200);
    assert_eq!(repo.fetch_package(pkg).unwrap(), path);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(fixture.package_path(&pkg.nevra()).unwrap()).unwrap()
    );
}

#[test]
fn wrong_fingerprint_pin_is_refused() {
    let fixture = shared_repo();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(&fixture, &fixture.baseurl());
    cfg.fingerprint = Some(fixture.other_fingerprint().to_string());
    let err = Repository::open(&cfg, &Sysroot::new(root.path())).unwrap_err();
    assert_eq!(exit_code_for(&err), ExitCode::Failed);
    let msg = message(err);
    assert!(msg.contains(&fixture.fingerprint), "{msg}");
    assert!(msg.contains(fixture.other_fingerprint()), "{msg}");
    assert!(msg.contains(&fixture.key_path.display().to_string()), "{msg}");

    // Without a pin the key is used as is; a missing key file is a config error.
    cfg.fingerprint = None;
    Repository::open(&cfg, &Sysroot::new(root.path())).unwrap();
    cfg.gpgkey = root.path().join("no-such-key");
    let err = Repository::open(&cfg, &Sysroot::new(root.path())).unwrap_err();
    assert_eq!(exit_code_for(&err), ExitCode::Usage);
    assert!(message(err).contains("no-such-key"));
}

/// Damages one package of a private copy, re-runs createrepo (so the metadata sha256 matches
/// the damaged file and only the RPM-level check can catch it), and returns the error.
fn fetch_damaged(nevra: &str, damage: impl FnOnce(&FixtureRepo, &Path)) -> (String, tempfile::TempDir) {
    let (dir, fixture) = private_copy();
    let path = fixture.package_path(nevra).unwrap();
    damage(&fixture, &path);
    fixture.rebuild_metadata().unwrap();
    let (root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata().unwrap();
    let pkg = find(&metadata.packages, nevra);
    let msg = message(repo.fetch_package(pkg).unwrap_err());
    assert!(msg.contains(nevra), "{msg}");
    assert!(
        msg.contains(&format!("{}Packages/{nevra}.rpm", fixture.baseurl())),
        "the URL: {msg}"
    );
    assert!(
        cache_files(root.path(), "packages").is_empty(),
        "the bad file is deleted"
    );
    drop(dir);
    (msg, root)
}

#[test]
fn payload_byte_flipped_is_a_digest_mismatch() {
    let (msg, _) = fetch_damaged("kmod-drbd-9.2.11-1.xcpng8.3.x86_64", |_, path| {
        let len = std::fs::metadata(path).unwrap().len() as usize;
        flip_byte(path, len - 40);
    });
    assert!(
        msg.contains("payload digest mismatch: the file is corrupt or tampered with"),
        "{msg}"
    );
}

#[test]
fn header_byte_flipped_is_caught() {
    let (msg, _) = fetch_damaged("drbd-utils-9.28.0-1.xcpng8.3.noarch", |_, path| {
        let bytes = std::fs::read(path).unwrap();
        let needle = b"A stand-in for drbd-utils";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("description in the header");
        flip_byte(path, at);
    });
    assert!(
        msg.contains("header digest mismatch: the file is corrupt or tampered with"),
        "{msg}"
    );
}

#[test]
fn unsigned_package_is_refused() {
    let (msg, _) = fetch_damaged("linstor-satellite-1.29.2-1.xcpng8.3.noarch", |fixture, path| {
        fixture.strip_signature(path).unwrap();
    });
    assert!(
        msg.contains("linstor-satellite-1.29.2-1.xcpng8.3.noarch ("),
        "{msg}"
    );
    assert!(msg.contains(") is not signed"), "{msg}");
}

#[test]
fn package_signed_by_another_key_is_refused() {
    let other = shared_repo().other_fingerprint().to_string();
    let (msg, _) = fetch_damaged("kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64", |fixture, path| {
        fixture.resign_package_with_other_key(path).unwrap();
    });
    assert!(msg.contains(&format!("is signed by key {other}")), "{msg}");
    assert!(
        msg.contains(&format!(
            "not by the configured key {}",
            shared_repo().fingerprint
        )),
        "{msg}"
    );
}

/// rpm < 4.14 wrote no payload digest: such a package is accepted on its header signature
/// (the payload is covered by the metadata sha256), and a damaged payload is still caught.
#[test]
fn package_without_payload_digest_passes_on_header_signature_and_sha256() {
    use rpm::{Header, HeaderEntry, IndexTag};
    let (_dir, fixture) = private_copy();
    let nevra = "linstor-client-1.24.0-1.xcpng8.3.noarch";
    let path = fixture.package_path(nevra).unwrap();

    // Rebuild the header without the payload digest tags, then sign it again with the key.
    let mut package = rpm::Package::open(&path).unwrap();
    let payload_digests = [5092u32, 5093, 5097, 5121, 5122, 5123, 5124];
    let entries: Vec<HeaderEntry> = package
        .metadata
        .header
        .get_all_entries()
        .unwrap()
        .into_iter()
        .filter(|(tag, _)| *tag != IndexTag::RPMTAG_HEADERIMMUTABLE as u32 && !payload_digests.contains(tag))
        .map(|(tag, data)| HeaderEntry::new(tag, data))
        .collect();
    package.metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
    package.clear_signatures().unwrap();
    let secret = std::process::Command::new("gpg")
        .arg("--homedir")
        .arg(&fixture.gnupghome)
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--armor",
            "--export-secret-keys",
        ])
        .arg(&fixture.fingerprint)
        .output()
        .unwrap();
    testbed::fixture::gpg::Keyring::open(&fixture.gnupghome)
        .unwrap()
        .kill_agent();
    assert!(
        secret.status.success(),
        "{}",
        String::from_utf8_lossy(&secret.stderr)
    );
    package
        .sign(rpm::signature::pgp::Signer::from_asc_bytes(&secret.stdout).unwrap())
        .unwrap();
    package.write_file(&path).unwrap();
    assert!(
        !rpm::Package::open(&path)
            .unwrap()
            .check_digests()
            .unwrap()
            .has_payload_digest()
    );
    fixture.rebuild_metadata().unwrap();

    let (_root, repo) = open(&fixture, &fixture.baseurl());
    let metadata = repo.metadata().unwrap();
    let pkg = find(&metadata.packages, nevra);
    let cached = repo.fetch_package(pkg).unwrap();
    std::fs::remove_file(cached).unwrap();

    // A flipped payload byte: no digest in the RPM to catch it, the metadata sha256 does.
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    flip_byte(&path, len - 40);
    let msg = message(repo.fetch_package(pkg).unwrap_err());
    assert!(msg.contains(&format!("checksum mismatch for {nevra}")), "{msg}");
}
