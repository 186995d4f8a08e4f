//! The fixture repository: real RPMs, signed, with signed metadata, as the catalogue says.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use testbed::fixture::catalog::{
    self, KERNEL_EL8_553, KMOD_KABI_A_9_2_11, KMOD_XCPNG_9_2_11, XCP_NG_LINSTOR_1_2_3, XCP_NG_LINSTOR_1_2_4,
    XCP_NG_RELEASE_LINSTOR_1_4_2, XCP_NG_XAPI_PLUGINS_1_12_0, XCP_NG_XAPI_PLUGINS_1_13_0,
};
use testbed::sysroot::dnf::{self, DnfConfig};
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
        // xcp-ng-linstor's hold on LINSTOR, which an upgrade of it raises.
        r#"<rpm:entry name="linstor-satellite" flags="GE" epoch="0" ver="1.29.2"/>"#,
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

/// Only the ELRepo-style (uname) kmods provide `installonlypkg(kernel-module)`: LINBIT's and
/// Vates' do not, so the agent must make the module package install-only itself.
#[test]
fn only_uname_style_kmods_are_install_only() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    for kmod in catalog::KMODS {
        let provides = testbed::cmd::Cmd::new("rpm")
            .args(["-qp", "--provides"])
            .arg(repo.package_path(kmod.nevra)?)
            .stdout()?;
        let installonly = provides.contains("installonlypkg(kernel-module)");
        let uname_style = matches!(kmod.binding, catalog::KmodBinding::Uname(_));
        assert_eq!(installonly, uname_style, "{}: {provides}", kmod.nevra);
    }
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

/// `99-enable-sm-driver-linstor.conf` as Vates ships it (docs/xostor.md §7), written out here
/// rather than taken from the catalogue so that a typo there cannot pass.
const SM_LINSTOR_CONF: &str = "# DO NOT MODIFY: Add sm linstor plugin.
sm-plugins=ext nfs iscsi lvmoiscsi dummy file hba rawhba udev iso lvm lvmohba lvmofcoe shm smb cephfs glusterfs xfs zfs ext4 largeblock linstor
";
const SM_LINSTOR_CONF_PATH: &str = "/etc/xapi.conf.d/99-enable-sm-driver-linstor.conf";

/// One line of `rpm -qp --dump`: a file of a package as its header gives it.
#[derive(Debug, PartialEq, Eq)]
struct DumpedFile {
    path: String,
    size: u64,
    sha256: String,
    /// `st_mode`, in octal: `0100644` for a regular file.
    mode: String,
    config: bool,
}

/// `rpm -qp <query> <file>` with an empty root of its own (no rpmdb of this machine's).
fn rpm_qp(file: &Path, query: &[&str]) -> Result<String> {
    let tmp = tempfile::tempdir()?;
    dnf::rpm_in(tmp.path()).arg("-qp").args(query).arg(file).stdout()
}

/// The Requires of an RPM file, without rpm's own `rpmlib(…)` features.
fn rpm_requires(file: &Path) -> Result<Vec<String>> {
    Ok(rpm_qp(file, &["--requires"])?
        .lines()
        .filter(|l| !l.starts_with("rpmlib("))
        .map(str::to_owned)
        .collect())
}

/// The files of an RPM file (`rpm -qp --dump`).
fn rpm_files(file: &Path) -> Result<Vec<DumpedFile>> {
    rpm_qp(file, &["--dump"])?
        .lines()
        .map(|line| {
            // path size mtime digest mode owner group isconfig isdoc rdev symlink
            let f: Vec<&str> = line.split(' ').collect();
            let [path, size, _mtime, sha256, mode, _owner, _group, config, ..] = f[..] else {
                anyhow::bail!("unexpected --dump line {line:?}");
            };
            Ok(DumpedFile {
                path: path.to_owned(),
                size: size.parse().with_context(|| format!("size in {line:?}"))?,
                sha256: sha256.to_owned(),
                mode: mode.to_owned(),
                config: config == "1",
            })
        })
        .collect()
}

fn dumped(path: &str, mode: &str, config: bool, contents: &str) -> DumpedFile {
    DumpedFile {
        path: path.to_owned(),
        size: contents.len() as u64,
        sha256: hex::encode(Sha256::digest(contents.as_bytes())),
        mode: mode.to_owned(),
        config,
    }
}

#[test]
fn xcp_ng_linstor_requires_linstor_and_ships_the_sm_conf() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    for (package, bound) in [(XCP_NG_LINSTOR_1_2_3, "1.29.0"), (XCP_NG_LINSTOR_1_2_4, "1.29.2")] {
        let file = repo.package_path(package.nevra)?;
        let nevra = rpm_qp(&file, &["--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}"])?;
        assert_eq!(nevra, package.nevra);
        assert_eq!(
            rpm_requires(&file)?,
            [
                "drbd".to_owned(),
                "drbd-reactor".to_owned(),
                "http-nbd-transfer".to_owned(),
                "kmod-drbd".to_owned(),
                "linstor-client".to_owned(),
                format!("linstor-controller >= {bound}"),
                format!("linstor-satellite >= {bound}"),
            ],
            "{}",
            package.nevra
        );
        assert_eq!(
            rpm_files(&file)?,
            [dumped(SM_LINSTOR_CONF_PATH, "0100644", false, SM_LINSTOR_CONF)],
            "{}",
            package.nevra
        );
    }
    Ok(())
}

#[test]
fn release_and_plugin_packages_ship_their_files() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let release = repo.package_path(XCP_NG_RELEASE_LINSTOR_1_4_2.nevra)?;
    assert_eq!(rpm_requires(&release)?, Vec::<String>::new());
    let files = rpm_files(&release)?;
    let modprobe = "options drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2\n";
    let [repo_file, modprobe_file] = &files[..] else {
        panic!("{files:?}");
    };
    assert_eq!(
        *modprobe_file,
        dumped("/usr/lib/modprobe.d/drbd.conf", "0100644", false, modprobe)
    );
    // The repository file is %config(noreplace), as Vates ships it; its content is checked
    // where dnf installs it (below).
    assert_eq!(
        (repo_file.path.as_str(), repo_file.mode.as_str(), repo_file.config),
        ("/etc/yum.repos.d/xcp-ng-linstor.repo", "0100644", true)
    );

    for plugins in [XCP_NG_XAPI_PLUGINS_1_12_0, XCP_NG_XAPI_PLUGINS_1_13_0] {
        let files = rpm_files(&repo.package_path(plugins.nevra)?)?;
        let listed: Vec<(&str, &str)> = files.iter().map(|f| (f.path.as_str(), f.mode.as_str())).collect();
        assert_eq!(
            listed,
            [
                ("/etc/xapi.d/plugins/lvm.py", "0100755"),
                ("/etc/xapi.d/plugins/updater.py", "0100755"),
            ],
            "{}",
            plugins.nevra
        );
    }
    Ok(())
}

/// NEVRAs of `names` installed in `root`, one per line, sorted.
fn installed_in(root: &Path, names: &[&str]) -> Result<Vec<String>> {
    let out = dnf::rpm_in(root)
        .args(["-q", "--qf", "%{NEVRA}\n"])
        .args(names)
        .stdout()?;
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    Ok(lines)
}

#[test]
fn dnf_installs_xcp_ng_linstor_with_its_dependencies_and_upgrades_it() -> Result<()> {
    let repo = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root)?;
    let dnf = DnfConfig::write(&tmp.path().join("dnf"), &repo)?;

    // As XO installs XOSTOR (release package, then xcp-ng-linstor), on a host whose LINSTOR is
    // the old one. The XCP-ng kmod is named: alone, dnf would take the newest kmod-drbd of the
    // fixture, which belongs to another distribution's kernel.
    dnf.install(
        &root,
        &[
            XCP_NG_RELEASE_LINSTOR_1_4_2.nevra,
            XCP_NG_XAPI_PLUGINS_1_12_0.nevra,
            "xcp-ng-linstor-1.2-3.xcpng8.3",
            KMOD_XCPNG_9_2_11.nevra,
            "linstor-satellite-1.29.0",
            "linstor-controller-1.29.0",
        ],
    )?;
    let names = [
        "xcp-ng-linstor",
        "drbd",
        "drbd-reactor",
        "http-nbd-transfer",
        "kmod-drbd",
        "linstor-client",
        "linstor-common",
        "linstor-controller",
        "linstor-satellite",
    ];
    // dnf resolved the rest of xcp-ng-linstor's Requires from the fixture, newest first.
    assert_eq!(
        installed_in(&root, &names)?,
        [
            "drbd-9.29.0-1.xcpng8.3.noarch",
            "drbd-reactor-1.5.0-1.xcpng8.3.noarch",
            "http-nbd-transfer-1.5.0-1.xcpng8.3.noarch",
            KMOD_XCPNG_9_2_11.nevra,
            "linstor-client-1.24.0-1.xcpng8.3.noarch",
            "linstor-common-1.29.0-1.xcpng8.3.noarch",
            "linstor-controller-1.29.0-1.xcpng8.3.noarch",
            "linstor-satellite-1.29.0-1.xcpng8.3.noarch",
            XCP_NG_LINSTOR_1_2_3.nevra,
        ]
    );
    let conf = root.join(SM_LINSTOR_CONF_PATH.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(&conf)?, SM_LINSTOR_CONF);
    assert_eq!(std::fs::metadata(&conf)?.permissions().mode() & 0o7777, 0o644);
    let repo_file = std::fs::read_to_string(root.join("etc/yum.repos.d/xcp-ng-linstor.repo"))?;
    assert!(repo_file.contains("[xcp-ng-linstor]\n"), "{repo_file}");
    assert!(repo_file.contains("[xcp-ng-linstor-testing]\n"), "{repo_file}");
    assert_eq!(repo_file.matches("enabled=0\n").count(), 2, "{repo_file}");
    assert!(!repo_file.lines().any(|l| l == "enabled=1"), "{repo_file}");
    // Saying why, in the file.
    assert!(repo_file.starts_with("# linstor-agent testbed:"), "{repo_file}");
    assert_eq!(
        std::fs::read_to_string(root.join("usr/lib/modprobe.d/drbd.conf"))?,
        "options drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2\n"
    );
    let updater = root.join("etc/xapi.d/plugins/updater.py");
    assert_eq!(std::fs::metadata(&updater)?.permissions().mode() & 0o7777, 0o755);
    assert!(std::fs::read_to_string(&updater)?.contains("testbed simulates this plugin"));

    // xcp-ng-linstor 1.2-4 wants LINSTOR 1.29.2: dnf refuses it next to the old satellite...
    let out = dnf
        .command(&root)
        .args(["install", XCP_NG_LINSTOR_1_2_4.nevra, "linstor-satellite-1.29.0"])
        .output();
    dnf::stop_gpg_agents(&root);
    let out = out?;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("linstor-satellite >= 1.29.2"), "{text}");

    // ...and upgrading it, as XO's rolling pool update does, moves LINSTOR along.
    let upgrade = dnf
        .command(&root)
        .args(["upgrade", "xcp-ng-xapi-plugins", "xcp-ng-linstor"])
        .run();
    dnf::stop_gpg_agents(&root);
    upgrade?;
    assert_eq!(
        installed_in(
            &root,
            &[
                "xcp-ng-linstor",
                "xcp-ng-xapi-plugins",
                "linstor-controller",
                "linstor-satellite"
            ]
        )?,
        [
            "linstor-controller-1.29.2-1.xcpng8.3.noarch",
            "linstor-satellite-1.29.2-1.xcpng8.3.noarch",
            XCP_NG_LINSTOR_1_2_4.nevra,
            XCP_NG_XAPI_PLUGINS_1_13_0.nevra,
        ]
    );
    assert_eq!(std::fs::read_to_string(&conf)?, SM_LINSTOR_CONF);
    Ok(())
}
