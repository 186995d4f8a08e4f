//! Helpers shared by the integration tests: reading repodata, checking signatures with
//! keyrings that hold only the keys a test means to trust.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use testbed::FixtureRepo;
use testbed::cmd::Cmd;

/// The `href` of the repodata file of `kind` (`primary`, `filelists`, …) in repomd.xml.
pub fn repodata_href(repo: &FixtureRepo, kind: &str) -> Result<String> {
    let repomd = std::fs::read_to_string(repo.repomd_path())?;
    let start = repomd
        .find(&format!(r#"<data type="{kind}">"#))
        .with_context(|| format!("no {kind} in repomd.xml:\n{repomd}"))?;
    let block = &repomd[start..];
    let href_at = block.find(r#"href=""#).context("no href")? + 6;
    let len = block[href_at..].find('"').context("unterminated href")?;
    Ok(block[href_at..href_at + len].to_owned())
}

/// The decompressed primary.xml, whichever compression the repository uses.
pub fn primary_xml(repo: &FixtureRepo) -> Result<String> {
    let href = repodata_href(repo, "primary")?;
    let bytes = std::fs::read(repo.dir.join(&href))?;
    let mut xml = String::new();
    if href.ends_with(".gz") {
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut xml)?;
    } else if href.ends_with(".zst") {
        xml = String::from_utf8(zstd::decode_all(&bytes[..])?)?;
    } else {
        bail!("unexpected primary compression: {href}");
    }
    Ok(xml)
}

fn element<'a>(block: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = block.find(open)? + open.len();
    let len = block[start..].find(close)?;
    Some(&block[start..start + len])
}

fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(r#"{name}=""#);
    let start = element.find(&key)? + key.len();
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

/// `name-version-release.arch` of every package in primary.xml.
pub fn primary_nevras(xml: &str) -> Result<BTreeSet<String>> {
    let mut nevras = BTreeSet::new();
    for block in xml.split("<package type=\"rpm\">").skip(1) {
        let name = element(block, "<name>", "</name>").context("no <name>")?;
        let arch = element(block, "<arch>", "</arch>").context("no <arch>")?;
        let version = element(block, "<version ", "/>").context("no <version>")?;
        let ver = attr(version, "ver").context("no ver")?;
        let rel = attr(version, "rel").context("no rel")?;
        nevras.insert(format!("{name}-{ver}-{rel}.{arch}"));
    }
    Ok(nevras)
}

/// An empty rpmdb root with `keys` imported: `rpm --root` trusts exactly those keys.
pub fn keyed_rpm_root(dir: &Path, keys: &[&Path]) -> Result<PathBuf> {
    let root = dir.join("rpmroot");
    std::fs::create_dir_all(&root)?;
    for key in keys {
        Cmd::new("rpm")
            .arg("--root")
            .arg(&root)
            .arg("--import")
            .arg(key)
            .run()?;
    }
    Ok(root)
}

/// `rpm --root <root> -Kv <file>`: status and output.
pub fn rpm_check(root: &Path, file: &Path) -> Result<(bool, String)> {
    let out = Cmd::new("rpm")
        .arg("--root")
        .arg(root)
        .arg("-Kv")
        .arg(file)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// `gpg --verify` of repomd.xml.asc with a fresh keyring holding only `keys`; returns
/// whether it verified and gpg's status lines.
pub fn gpg_verify_repomd(dir: &Path, repo: &FixtureRepo, keys: &[&Path]) -> Result<(bool, String)> {
    let home = dir.join("verify-gnupg");
    std::fs::create_dir_all(&home)?;
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let gpg = || Cmd::new("gpg").arg("--homedir").arg(&home).arg("--batch");
    for key in keys {
        gpg().arg("--import").arg(key).run()?;
    }
    let out = gpg()
        .args(["--status-fd", "1", "--verify"])
        .arg(repo.repomd_signature_path())
        .arg(repo.repomd_path())
        .output()?;
    // Importing starts no agent, but be tidy in case a future gpg does.
    let _ = Cmd::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "all"])
        .output();
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The 8-hex-digit key id rpm prints, from a fingerprint.
pub fn short_key_id(fingerprint: &str) -> String {
    fingerprint[fingerprint.len() - 8..].to_ascii_lowercase()
}
