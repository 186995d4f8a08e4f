//! The synthetic repository against a fixture-shaped repodata/: consistent metadata with the
//! fixture's entries spread in, the helpers that read them, and the signature.

use std::collections::HashSet;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::fixture_entries::{attr, blocks, data_href, element_text, read_metadata};
use super::package::escape;
use super::words::bump;
use super::*;

const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>kmod-drbd</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
  <checksum type="sha256" pkgid="YES">4c651274a1d141cb1da1e9d7f3e57df9d5276456a30e9878e93b148fc3c3eb0a</checksum>
  <location href="Packages/kmod-drbd-9.2.11-1.xcpng8.3.x86_64.rpm"/>
  <format>
<rpm:provides>
  <rpm:entry name="kmod-drbd" flags="EQ" epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
</rpm:provides>
  </format>
</package>
</metadata>
"#;
const FILELISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="4c651274a1d141cb1da1e9d7f3e57df9d5276456a30e9878e93b148fc3c3eb0a" name="kmod-drbd" arch="x86_64">
  <version epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
  <file type="dir">/lib/modules/4.19.0+1/extra/drbd</file>
  <file>/lib/modules/4.19.0+1/extra/drbd/drbd.ko</file>
</package>
</filelists>
"#;
const OTHER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="1">
<package pkgid="4c651274a1d141cb1da1e9d7f3e57df9d5276456a30e9878e93b148fc3c3eb0a" name="kmod-drbd" arch="x86_64">
  <version epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
</package>
</otherdata>
"#;

fn gz(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A fixture-shaped repodata/ with one package, no RPMs and no key.
fn mini_fixture(dir: &Path) {
    let repodata = dir.join("repodata");
    fs::create_dir_all(&repodata).expect("mkdir");
    let mut repomd = String::from("<repomd>\n");
    for (kind, text) in [("primary", PRIMARY), ("filelists", FILELISTS), ("other", OTHER)] {
        fs::write(repodata.join(format!("x-{kind}.xml.gz")), gz(text)).expect("write");
        repomd.push_str(&format!(
            "<data type=\"{kind}\">\n<location href=\"repodata/x-{kind}.xml.gz\"/>\n</data>\n"
        ));
    }
    repomd.push_str("</repomd>\n");
    fs::write(repodata.join("repomd.xml"), repomd).expect("write");
}

fn pkgids(text: &str, open: &str) -> Vec<String> {
    blocks(text, open, "</package>")
        .map(|b| {
            attr(b, "<package ", "pkgid")
                .or_else(|| element_text(b, "checksum"))
                .expect("pkgid")
                .to_owned()
        })
        .collect()
}

#[test]
fn generates_consistent_metadata_with_the_fixture_entries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixture = tmp.path().join("fixture");
    mini_fixture(&fixture);
    let real = read_fixture_entries(&fixture).expect("fixture entries");
    assert_eq!(real.len(), 1);
    assert_eq!(real[0].name, "kmod-drbd");
    assert_eq!(real[0].files, 2);

    let out = tmp.path().join("synthetic");
    let opts = SyntheticOptions {
        packages: 300,
        seed: 7,
    };
    let repo = generate(&out, &real, &opts).expect("generate");
    assert_eq!((repo.packages, repo.generated), (300, 299));
    assert!(repo.files > 300 * 5, "{} files", repo.files);

    let repomd = fs::read_to_string(repo.repomd_path()).expect("repomd");
    let mut texts = Vec::new();
    for record in &repo.metadata {
        assert_eq!(data_href(&repomd, &record.kind), Some(record.href.as_str()));
        let stored = fs::read(out.join(&record.href)).expect("metadata file");
        assert_eq!(hex::encode(Sha256::digest(&stored)), record.sha256);
        assert_eq!(stored.len() as u64, record.size);
        let text = read_metadata(&out.join(&record.href)).expect("gunzip");
        assert_eq!(hex::encode(Sha256::digest(text.as_bytes())), record.open_sha256);
        assert_eq!(text.len() as u64, record.open_size);
        assert!(record.href.starts_with(&format!("repodata/{}-", record.sha256)));
        texts.push(text);
    }
    let primary = pkgids(&texts[0], "<package type");
    assert_eq!(primary.len(), 300);
    assert_eq!(
        primary,
        pkgids(&texts[1], "<package pkgid"),
        "filelists in primary's order"
    );
    assert_eq!(
        primary,
        pkgids(&texts[2], "<package pkgid"),
        "other in primary's order"
    );
    assert_eq!(
        primary.iter().collect::<HashSet<_>>().len(),
        300,
        "pkgids are unique"
    );
    assert_eq!(texts[0].matches("<name>kmod-drbd</name>").count(), 1);
    assert!(texts[0].contains(r#"packages="300""#));

    // Same seed, same packages.
    let again = generate(&tmp.path().join("again"), &real, &opts).expect("generate");
    assert_eq!(again.metadata[1].open_sha256, repo.metadata[1].open_sha256);
}

#[test]
fn a_repository_of_only_the_fixture_entries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixture_dir = tmp.path().join("fixture");
    mini_fixture(&fixture_dir);
    let real = read_fixture_entries(&fixture_dir).expect("entries");
    assert_eq!(real.len(), 1);
    // build() refuses fewer packages than the fixture has; exactly as many is fine.
    let repo = generate(
        &tmp.path().join("s"),
        &real,
        &SyntheticOptions { packages: 1, seed: 1 },
    );
    assert_eq!(repo.expect("only the fixture's").generated, 0);
}

#[test]
fn helpers_read_attributes_and_text() {
    let block = r#"<package pkgid="abc" name="n"><checksum type="sha256" pkgid="YES">ff</checksum>"#;
    assert_eq!(attr(block, "<package ", "pkgid"), Some("abc"));
    assert_eq!(attr(block, "<package ", "name"), Some("n"));
    assert_eq!(element_text(block, "checksum"), Some("ff"));
    assert_eq!(bump("1.2.3"), "1.2.4");
    assert_eq!(bump("1.2~rc1"), "1.2~rc1.1");
    assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

/// The real fixture: the synthetic repository's signature verifies with the fixture key.
#[test]
fn signs_with_the_fixture_key() -> Result<()> {
    let fixture = FixtureRepo::shared()?;
    let tmp = tempfile::tempdir()?;
    let repo = build(
        &tmp.path().join("s"),
        &fixture,
        &SyntheticOptions {
            packages: 200,
            seed: 3,
        },
    )?;
    assert_eq!(repo.from_fixture.len(), fixture.packages().len());
    for href in &repo.from_fixture {
        assert!(repo.dir.join(href).is_file(), "{href} links to the fixture's RPM");
    }
    let home = tmp.path().join("gnupg");
    let keyring = Keyring::create(&home)?;
    let _agent = crate::fixture::gpg::AgentSession(&keyring);
    crate::cmd::Cmd::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--import"])
        .arg(&repo.gpgkey)
        .run()?;
    crate::cmd::Cmd::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--verify"])
        .arg(repo.dir.join("repodata/repomd.xml.asc"))
        .arg(repo.repomd_path())
        .run()?;
    Ok(())
}
