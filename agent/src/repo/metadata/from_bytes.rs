//! The metadata parsers on bytes in memory, for the fuzz targets (`fuzz/`, `docs/fuzzing.md`).
//!
//! Thin wrappers over the functions the repository client uses, so that a fuzz target drives
//! the same code: [`super::parse_repomd`]; the XML passes of [`super::parse_file`] without the
//! file (plain XML, the filelists filter in front when [`Files::Named`]); and the whole path of
//! a stored file (decompression by magic bytes, then the parse) through a temporary file,
//! because that path opens files by name.

use super::{MetadataFile, PackageFilter, Parser, parse_xml};
use crate::repo::{Files, RepoPackage};
use anyhow::Result;
use std::collections::HashMap;
use std::io::Write;

/// repomd.xml as the client reads it once its signature is checked: the primary and
/// filelists records, as (location, sha256) pairs.
pub fn repomd(bytes: &[u8]) -> Result<[(String, String); 2]> {
    let repomd = super::parse_repomd(bytes, "repomd.xml")?;
    Ok([repomd.primary, repomd.filelists].map(|file| (file.location, file.sha256)))
}

/// primary.xml (plain, not compressed) into packages, as [`super::read_packages`] reads it.
pub fn primary(xml: &[u8]) -> Result<Vec<RepoPackage>> {
    let mut collector = super::PrimaryCollector::default();
    parse_xml(xml, Parser::Primary(&mut collector))?;
    collector.into_packages().map_err(anyhow::Error::msg)
}

/// filelists.xml (plain) into pkgid → files, keeping what `files` keeps, as
/// [`super::read_packages`] reads it (through the byte-level filter for [`Files::Named`]).
pub fn filelists(xml: &[u8], files: &Files) -> Result<HashMap<String, Vec<String>>> {
    let mut collector = super::FilesCollector::new(files);
    match collector.named() {
        Some(names) => parse_xml(PackageFilter::new(xml, names), Parser::Filelists(&mut collector))?,
        None => parse_xml(xml, Parser::Filelists(&mut collector))?,
    };
    Ok(collector.into_lists())
}

/// A stored metadata file (gzip, zstd, xz, bzip2 or plain, told by its magic bytes) read the
/// way the client reads a cached one: primary, then filelists unless `files` is
/// [`Files::Skip`] (the same bytes as both: the parsers see the same content either way).
pub fn stored(bytes: &[u8], files: &Files) -> Result<Vec<RepoPackage>> {
    let mut tmp = tempfile::NamedTempFile::new()?;
    tmp.write_all(bytes)?;
    tmp.flush()?;
    let file = |kind| MetadataFile {
        kind,
        location: format!("repodata/{kind}.xml"),
        sha256: String::new(),
        size: Some(bytes.len() as u64),
        // Unknown, as in a repomd.xml that leaves it out: nothing to compare the size with.
        open_size: None,
    };
    let (primary, filelists) = (file("primary"), file("filelists"));
    let lists = (*files != Files::Skip).then_some((&filelists, tmp.path()));
    super::read_packages(&primary, tmp.path(), lists, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>kmod-drbd</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="9.2.11" rel="1"/>
  <checksum type="sha256" pkgid="YES">aaaa000000000000000000000000000000000000000000000000000000000001</checksum>
  <size package="1234" installed="5000" archive="5100"/>
  <location href="Packages/kmod-drbd-9.2.11-1.x86_64.rpm"/>
  <format/>
</package>
</metadata>
"#;

    const FILELISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="aaaa000000000000000000000000000000000000000000000000000000000001" name="kmod-drbd" arch="x86_64">
  <file>/lib/modules/4.19.0+1/extra/drbd.ko</file>
</package>
</filelists>
"#;

    /// The wrappers give what the client's own path gives.
    #[test]
    fn plain_and_stored_metadata_read_alike() {
        let packages = primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(packages[0].nevra(), "kmod-drbd-9.2.11-1.x86_64");
        let named = Files::Named {
            names: vec!["kmod-drbd".into()],
            under: vec![],
        };
        let lists = filelists(FILELISTS.as_bytes(), &named).unwrap();
        assert_eq!(
            lists[&packages[0].sha256],
            ["/lib/modules/4.19.0+1/extra/drbd.ko"]
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PRIMARY.as_bytes()).unwrap();
        let stored = stored(&gz.finish().unwrap(), &Files::Skip).unwrap();
        assert_eq!(stored[0].nevra(), packages[0].nevra());
    }
}
