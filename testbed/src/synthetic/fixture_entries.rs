//! The fixture repository's own metadata entries, read out of its repodata/ to be copied
//! verbatim into the synthetic repository's, and the small XML helpers that find them.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::fsutil;

/// One package of the fixture repository, as its three metadata files give it.
#[derive(Debug, Clone)]
pub(super) struct RealEntry {
    pub(super) name: String,
    pub(super) location: String,
    pub(super) primary: String,
    pub(super) filelists: String,
    pub(super) other: String,
    pub(super) files: u64,
}
/// Reads every package entry of the fixture's primary, filelists and other, matched by pkgid.
pub(super) fn read_fixture_entries(fixture_dir: &Path) -> Result<Vec<RealEntry>> {
    let repomd_path = fixture_dir.join("repodata/repomd.xml");
    let repomd = fsutil::read_to_string(&repomd_path)?;
    let read = |kind: &str| -> Result<String> {
        let href = data_href(&repomd, kind)
            .with_context(|| format!("{} lists no {kind} metadata", repomd_path.display()))?;
        read_metadata(&fixture_dir.join(href))
    };
    let (primary, filelists, other) = (read("primary")?, read("filelists")?, read("other")?);
    let by_pkgid = |text: &str| -> Result<Vec<(String, String)>> {
        blocks(text, "<package ", "</package>")
            .map(|b| {
                let pkgid = attr(b, "<package ", "pkgid").context("a <package> without pkgid")?;
                Ok((pkgid.to_owned(), b.to_owned()))
            })
            .collect()
    };
    let filelists = by_pkgid(&filelists)?;
    let other = by_pkgid(&other)?;
    let find = |list: &[(String, String)], pkgid: &str, kind: &str| -> Result<String> {
        list.iter()
            .find(|(id, _)| id == pkgid)
            .map(|(_, b)| b.clone())
            .with_context(|| format!("the fixture's {kind} has no package {pkgid}"))
    };
    let mut entries = Vec::new();
    for block in blocks(&primary, "<package ", "</package>") {
        let pkgid = element_text(block, "checksum").context("a primary <package> without <checksum>")?;
        let name = element_text(block, "name").context("a primary <package> without <name>")?;
        let location = attr(block, "<location ", "href").context("a primary <package> without <location>")?;
        let filelists = find(&filelists, pkgid, "filelists")?;
        let files = filelists.matches("<file").count() as u64;
        entries.push(RealEntry {
            name: name.to_owned(),
            location: location.to_owned(),
            primary: block.to_owned(),
            other: find(&other, pkgid, "other")?,
            filelists,
            files,
        });
    }
    if entries.is_empty() {
        bail!("the fixture {} has no packages", fixture_dir.display());
    }
    Ok(entries)
}
/// The location href of the `<data type="kind">` entry of repomd.xml.
pub(super) fn data_href<'a>(repomd: &'a str, kind: &str) -> Option<&'a str> {
    let start = repomd.find(&format!("<data type=\"{kind}\">"))?;
    let end = start + repomd[start..].find("</data>")?;
    attr(&repomd[start..end], "<location ", "href")
}
pub(super) fn read_metadata(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.to_string_lossy();
    let plain = if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .with_context(|| format!("cannot gunzip {}", path.display()))?;
        out
    } else if name.ends_with(".zst") {
        zstd::decode_all(&bytes[..]).with_context(|| format!("cannot unzstd {}", path.display()))?
    } else {
        bytes
    };
    String::from_utf8(plain).with_context(|| format!("{} is not UTF-8", path.display()))
}
/// Every `open … close` block of `text` (close included).
pub(super) fn blocks<'a>(text: &'a str, open: &'a str, close: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + text.get(from..)?.find(open)?;
        let end = start + text[start..].find(close)? + close.len();
        from = end;
        Some(&text[start..end])
    })
}
/// The value of `name` in the first element starting with `open`.
pub(super) fn attr<'a>(block: &'a str, open: &str, name: &str) -> Option<&'a str> {
    let start = block.find(open)?;
    let element = &block[start..start + block[start..].find('>')?];
    let key = format!(" {name}=\"");
    let value = element.find(&key)? + key.len();
    Some(&element[value..value + element[value..].find('"')?])
}
/// The text of the first `<name …>text</name>`.
pub(super) fn element_text<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let mut from = 0;
    let start = loop {
        let i = from + block[from..].find(&open)?;
        match block[i + open.len()..].chars().next() {
            Some('>' | ' ') => break i,
            _ => from = i + open.len(),
        }
    };
    let text = start + block[start..].find('>')? + 1;
    Some(&block[text..text + block[text..].find(&format!("</{name}>"))?])
}
