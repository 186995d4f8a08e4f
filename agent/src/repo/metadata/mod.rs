//! Reading repodata with `rpmrepo_metadata`: repomd.xml (which files, their checksums), then
//! primary (packages, provides, requires) and filelists (every file of every package).
//!
//! We use the crate's streaming visitor parsers rather than its `Repository`/`PackageIterator`:
//! those open files by path relative to a repository directory (our cache is keyed differently),
//! build its full `Package` (summary, description, changelog-ready structures) only for us to
//! copy it into ours, and offer no way to hash the decompressed stream as it is parsed. The
//! visitors give borrowed `&str`s straight into our own types: one pass over each file, no
//! second copy of the repository in memory.
//!
//! Decompression is the crate's too (`utils::reader_from_file`, niffler underneath, by magic
//! bytes): gzip, zstd, xz, bzip2 and plain all work without a dependency of our own.
//!
//! With [`Files::Named`], filelists (by far the biggest file: ~60 MB of XML for 10,000
//! packages) is not XML-parsed whole: [`PackageFilter`] finds each `<package …>` start tag at
//! the byte level, reads its `name` attribute, and passes on only the blocks of the wanted
//! packages; the crate's parser sees a few kB.

mod bounded;
mod filelists;
pub mod from_bytes;
mod guard;
mod location;
mod package_filter;
mod primary;
mod repomd;

pub(crate) use location::escapes;
pub(crate) use repomd::{MetadataFile, parse_repomd};

use super::{Files, RepoPackage};
use anyhow::{Context, Result};
use bounded::{Bounded, MAX_TOKEN, Tally, Violation};
use filelists::FilesCollector;
use package_filter::PackageFilter;
use primary::PrimaryCollector;
use rpmrepo_metadata::MetadataError;
use rpmrepo_metadata::visitor::{parse_filelists, parse_primary};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// Reads the packages from a primary and (unless `files` is [`Files::Skip`]) a filelists file
/// whose stored checksums have already been checked.
///
/// The decompressed content is not hashed again for repomd's open-checksum: the stored
/// (compressed) file's sha256 was checked against the signed repomd.xml before it is opened
/// here (`cache::ensure_file`, on download and on every reuse), and the compressed bytes fix
/// the decompressed ones entirely, so a second hash over 60–80 MB of XML would prove nothing
/// more (librepo and dnf do not check it either). Its size is still compared with repomd's
/// open-size, which costs nothing.
///
/// The two files are independent until the end (filelists is keyed by pkgid), so they are
/// parsed on two threads: the load takes as long as the bigger file, not the sum of both.
pub(crate) fn read_packages(
    primary: &MetadataFile,
    primary_path: &Path,
    filelists: Option<(&MetadataFile, &Path)>,
    files: &Files,
) -> Result<Vec<RepoPackage>> {
    let (primary_result, files_result) = std::thread::scope(|scope| {
        let files_thread = filelists.map(|(file, path)| {
            let thread = scope.spawn(move || read_file_lists(file, path, files));
            (thread, file, path)
        });
        let primary_result = read_primary(primary, primary_path);
        let files_result = files_thread.map(|(thread, file, path)| {
            thread.join().unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the parser of {} metadata {} crashed: the file is malformed; ask the repository owner to \
                     rerun createrepo_c",
                    file.kind,
                    path.display()
                ))
            })
        });
        (primary_result, files_result)
    });
    let mut packages = primary_result?;
    if let Some(lists) = files_result {
        let mut lists = lists?;
        for pkg in &mut packages {
            // Moved, not copied: the lists are the bulk of the metadata.
            if let Some(files) = lists.remove(&pkg.sha256) {
                pkg.files = files;
            }
        }
    }
    Ok(packages)
}

/// The packages of a primary file, without their file lists.
fn read_primary(file: &MetadataFile, path: &Path) -> Result<Vec<RepoPackage>> {
    let mut collector = PrimaryCollector::default();
    parse_file(file, path, Parser::Primary(&mut collector))?;
    collector.into_packages().map_err(|problem| {
        anyhow::anyhow!(
            "{} metadata {}: {problem} — ask the repository owner to rebuild the repository with createrepo_c",
            file.kind,
            path.display()
        )
    })
}

/// pkgid → the files of that package that `files` keeps.
fn read_file_lists(file: &MetadataFile, path: &Path, files: &Files) -> Result<HashMap<String, Vec<String>>> {
    let mut collector = FilesCollector::new(files);
    parse_file(file, path, Parser::Filelists(&mut collector))?;
    Ok(collector.into_lists())
}

enum Parser<'a, 'b> {
    Primary(&'a mut PrimaryCollector),
    Filelists(&'a mut FilesCollector<'b>),
}

/// One streaming pass: decompress, count and bound the decompressed bytes (`bounded`), parse.
fn parse_file(file: &MetadataFile, path: &Path, parser: Parser<'_, '_>) -> Result<()> {
    let what = || {
        format!(
            "{} metadata {} (from {})",
            file.kind,
            path.display(),
            file.location
        )
    };
    let limit = total_limit(file, &what)?;
    let decoded =
        rpmrepo_metadata::utils::reader_from_file(path).with_context(|| format!("cannot open {}", what()))?;
    let mut tally = Tally::default();
    // Counted before the filter: what is skipped counts too.
    let bounded = Bounded::new(decoded, Some(limit), MAX_TOKEN, &mut tally);
    let named = match &parser {
        Parser::Filelists(collector) => collector.named(),
        Parser::Primary(_) => None,
    };
    // What the filter drops can join the text around it: what it passes on is measured again.
    let mut filtered = Tally::default();
    let parsed = match named {
        Some(names) => parse_xml(
            Bounded::new(PackageFilter::new(bounded, names), None, MAX_TOKEN, &mut filtered),
            parser,
        ),
        None => parse_xml(bounded, parser),
    };
    if let Some(violation) = tally.violation.or(filtered.violation) {
        return Err(refusal(file, violation, &what()));
    }
    parsed.map_err(|e| {
        anyhow::anyhow!(
            "cannot parse {}: {e} — the repository metadata is malformed; ask the repository owner to rerun \
             createrepo_c",
            what()
        )
    })?;
    if let Some(expected) = file.open_size
        && expected != tally.bytes
    {
        anyhow::bail!(
            "checksum mismatch for {}: it decompresses to {} bytes, but repomd.xml says {expected} — the \
             repository metadata is inconsistent; ask the repository owner to rerun createrepo_c",
            what(),
            tally.bytes
        );
    }
    Ok(())
}

/// The most `file` may decompress to: what repomd.xml says (no more), within the limit of its
/// kind. A stated size past that limit is refused before anything is decompressed.
fn total_limit(file: &MetadataFile, what: &dyn Fn() -> String) -> Result<u64> {
    let max = max_size(file.kind);
    match file.open_size {
        Some(stated) if stated > max => anyhow::bail!(
            "{}: repomd.xml says it decompresses to {stated} bytes, more than the {max} bytes the agent reads \
             from {} metadata (real repositories stay far below) — refusing it: the metadata is hostile or \
             broken; tell the repository owner",
            what(),
            file.kind
        ),
        Some(stated) => Ok(stated),
        None => Ok(max),
    }
}

fn max_size(kind: &str) -> u64 {
    if kind == "filelists" {
        bounded::MAX_FILELISTS
    } else {
        bounded::MAX_PRIMARY
    }
}

/// The error for a file the bounded reader stopped.
fn refusal(file: &MetadataFile, violation: Violation, what: &str) -> anyhow::Error {
    let hint = "the metadata is hostile or broken (its signature only says who published it); tell the \
                repository owner";
    match violation {
        Violation::Total { limit } if Some(limit) == file.open_size => anyhow::anyhow!(
            "checksum mismatch for {what}: it decompresses to more than the {limit} bytes repomd.xml says — the \
             repository metadata is inconsistent; ask the repository owner to rerun createrepo_c"
        ),
        Violation::Total { limit } => anyhow::anyhow!(
            "{what} decompresses to more than {limit} bytes, the most the agent reads from {} metadata — \
             refusing it: {hint}",
            file.kind
        ),
        Violation::Token { limit, offset } => anyhow::anyhow!(
            "{what} holds an XML text or tag longer than {limit} bytes (at byte {offset} of its decompressed \
             content), far longer than any real repository's — refusing it: {hint}"
        ),
        Violation::Doctype { offset } => anyhow::anyhow!(
            "{what} has a document type declaration (<!DOCTYPE, at byte {offset}), which no yum metadata \
             has — refusing it: {hint}"
        ),
    }
}

fn parse_xml<R: Read>(input: R, parser: Parser<'_, '_>) -> Result<usize, MetadataError> {
    // The crate spins on some files cut short and panics on some malformed ones: both become
    // errors (guard.rs).
    let root = match parser {
        Parser::Primary(_) => "metadata",
        Parser::Filelists(_) => "filelists",
    };
    let input = guard::AtEnd::root(input, root);
    let mut xml = rpmrepo_metadata::utils::create_xml_reader(BufReader::with_capacity(256 * 1024, input));
    let parsed = guard::no_panic(|| match parser {
        Parser::Primary(visitor) => parse_primary(&mut xml, visitor),
        Parser::Filelists(visitor) => parse_filelists(&mut xml, visitor),
    });
    xml.get_ref().get_ref().outcome(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::Dependency;
    use crate::repo::digest::sha256_hex;
    use std::io::Write;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>kmod-drbd</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
  <checksum type="sha256" pkgid="YES">AAAA000000000000000000000000000000000000000000000000000000000001</checksum>
  <summary>DRBD</summary>
  <description>DRBD module</description>
  <packager></packager>
  <url></url>
  <time file="1" build="2"/>
  <size package="1234" installed="5000" archive="5100"/>
  <location href="Packages/kmod-drbd-9.2.11-1.xcpng8.3.x86_64.rpm"/>
  <format>
    <rpm:license>GPL</rpm:license>
    <rpm:vendor/>
    <rpm:group>System</rpm:group>
    <rpm:buildhost>b</rpm:buildhost>
    <rpm:sourcerpm>kmod-drbd.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="9000"/>
    <rpm:provides>
      <rpm:entry name="kmod-drbd" flags="EQ" epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
      <rpm:entry name="drbd-kmod"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="kernel(drbd_kabi_bio)" flags="EQ" ver="0x5e6f7a8b"/>
      <rpm:entry name="/bin/sh" pre="1"/>
    </rpm:requires>
    <file>/etc/drbd.conf</file>
  </format>
</package>
<package type="rpm">
  <name>drbd-utils</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="9.28.0" rel="1"/>
  <checksum type="sha256" pkgid="YES">aaaa000000000000000000000000000000000000000000000000000000000002</checksum>
  <summary>s</summary>
  <description>d</description>
  <packager></packager>
  <url></url>
  <time file="1" build="2"/>
  <size package="99" installed="5000" archive="5100"/>
  <location xml:base="https://mirror.example/el8" href="Packages/drbd-utils-9.28.0-1.x86_64.rpm"/>
  <format>
    <rpm:license>GPL</rpm:license>
    <rpm:vendor/>
    <rpm:group>System</rpm:group>
    <rpm:buildhost>b</rpm:buildhost>
    <rpm:sourcerpm>drbd-utils.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="9000"/>
  </format>
</package>
</metadata>
"#;

    const FILELISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="aaaa000000000000000000000000000000000000000000000000000000000001" name="kmod-drbd" arch="x86_64">
  <version epoch="0" ver="9.2.11" rel="1.xcpng8.3"/>
  <file>/etc/drbd.conf</file>
  <file type="dir">/lib/modules/4.19.0+1/extra/drbd</file>
  <file>/lib/modules/4.19.0+1/extra/drbd/drbd.ko</file>
</package>
<package pkgid="aaaa000000000000000000000000000000000000000000000000000000000002" name="drbd-utils" arch="x86_64">
  <version epoch="2" ver="9.28.0" rel="1"/>
  <file>/usr/sbin/drbdadm</file>
</package>
</filelists>
"#;

    fn gz(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    fn file(kind: &'static str, stored: &[u8], open: &str) -> MetadataFile {
        MetadataFile {
            kind,
            location: format!("repodata/{kind}.xml.gz"),
            sha256: sha256_hex(stored),
            size: Some(stored.len() as u64),
            open_size: Some(open.len() as u64),
        }
    }

    /// The packages of the PRIMARY and FILELISTS fixtures, with the files `files` keeps.
    fn read_fixture(files: &Files) -> Vec<RepoPackage> {
        let dir = tempfile::tempdir().unwrap();
        let (p, f) = (gz(PRIMARY), FILELISTS.as_bytes().to_vec());
        std::fs::write(dir.path().join("p.gz"), &p).unwrap();
        std::fs::write(dir.path().join("f.xml"), &f).unwrap();
        let (primary, filelists) = (file("primary", &p, PRIMARY), file("filelists", &f, FILELISTS));
        let (primary_path, filelists_path) = (dir.path().join("p.gz"), dir.path().join("f.xml"));
        let filelists = (*files != Files::Skip).then_some((&filelists, filelists_path.as_path()));
        read_packages(&primary, &primary_path, filelists, files).unwrap()
    }

    #[test]
    fn reads_packages_dependencies_and_files() {
        let packages = read_fixture(&Files::All);
        assert_eq!(packages.len(), 2);
        let kmod = &packages[0];
        assert_eq!(kmod.nevra(), "kmod-drbd-9.2.11-1.xcpng8.3.x86_64");
        assert_eq!(
            kmod.sha256,
            "aaaa000000000000000000000000000000000000000000000000000000000001"
        );
        assert_eq!(kmod.size, 1234);
        assert_eq!(kmod.location, "Packages/kmod-drbd-9.2.11-1.xcpng8.3.x86_64.rpm");
        assert_eq!(kmod.provides.len(), 2);
        assert_eq!(kmod.provides[0].flags.as_deref(), Some("EQ"));
        assert_eq!(
            kmod.provides[1],
            Dependency {
                name: "drbd-kmod".into(),
                flags: None,
                epoch: None,
                version: None,
                release: None
            }
        );
        assert_eq!(kmod.requires[0].name, "kernel(drbd_kabi_bio)");
        assert_eq!(kmod.requires[0].version.as_deref(), Some("0x5e6f7a8b"));
        // The full list from filelists (not primary's /etc subset), directories included.
        assert_eq!(
            kmod.files,
            [
                "/etc/drbd.conf",
                "/lib/modules/4.19.0+1/extra/drbd",
                "/lib/modules/4.19.0+1/extra/drbd/drbd.ko"
            ]
        );
        let utils = &packages[1];
        assert_eq!(utils.epoch, 2);
        assert_eq!(utils.evr(), "2:9.28.0-1");
        assert_eq!(
            utils.location,
            "https://mirror.example/el8/Packages/drbd-utils-9.28.0-1.x86_64.rpm"
        );
        assert_eq!(utils.files, ["/usr/sbin/drbdadm"]);
    }

    #[test]
    fn callers_keep_only_the_files_they_ask_for() {
        let all = read_fixture(&Files::All);
        let (kmod, utils) = (&all[0], &all[1]);
        // Only some paths, or none.
        let packages = read_fixture(&Files::Under(vec!["/lib/modules/".into()]));
        assert_eq!(packages[0].files.len(), 2);
        assert!(packages[1].files.is_empty());
        assert_eq!(packages[0].requires, kmod.requires);
        // ... or only some packages' (the others' blocks are not even parsed).
        let packages = read_fixture(&named(&["kmod-drbd"], &["/lib/modules/"]));
        assert_eq!(packages[0].files, kmod.files[1..]);
        assert!(packages[1].files.is_empty());
        assert_eq!(packages[0].requires, kmod.requires);
        let packages = read_fixture(&named(&["drbd-utils", "absent"], &[]));
        assert!(packages[0].files.is_empty());
        assert_eq!(packages[1].files, utils.files);
        let packages = read_fixture(&Files::Skip);
        assert!(packages.iter().all(|p| p.files.is_empty()));
        assert_eq!(packages.len(), 2);
    }

    fn named(names: &[&str], under: &[&str]) -> Files {
        Files::Named {
            names: names.iter().map(|n| n.to_string()).collect(),
            under: under.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn named_files_are_those_a_full_parse_gives() {
        // Many packages of assorted sizes, some of them wanted, through the whole read path.
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"300\">\n",
        );
        for i in 0..300 {
            let name = if i % 37 == 0 {
                "kmod-drbd".to_string()
            } else {
                format!("pkg{i}")
            };
            xml.push_str(&format!(
                "<package pkgid=\"{i:064x}\" name=\"{name}\" arch=\"x86_64\">\n  <version epoch=\"0\" ver=\"1\" rel=\"1\"/>\n"
            ));
            for f in 0..(i * 7 % 50) {
                xml.push_str(&format!("  <file>/lib/modules/{i}/f{f}.ko</file>\n  <file type=\"dir\">/usr/share/{i}/d{f}</file>\n"));
            }
            xml.push_str("</package>\n");
        }
        xml.push_str("</filelists>\n");
        let dir = tempfile::tempdir().unwrap();
        let stored = gz(&xml);
        let path = dir.path().join("f.xml.gz");
        std::fs::write(&path, &stored).unwrap();
        let meta = file("filelists", &stored, &xml);
        let lists = |files: &Files| read_file_lists(&meta, &path, files).unwrap();
        let all = lists(&Files::Under(vec!["/lib/modules/".into()]));
        let named = lists(&named(&["kmod-drbd"], &["/lib/modules/"]));
        assert_eq!(named.len(), 9);
        for (i, (pkgid, files)) in all.iter().enumerate() {
            let wanted = u64::from_str_radix(pkgid, 16).unwrap() % 37 == 0;
            match named.get(pkgid) {
                Some(kept) => {
                    assert!(wanted, "{pkgid}");
                    assert_eq!(kept, files, "{i}");
                }
                None => assert!(!wanted, "{pkgid}"),
            }
        }
        assert!(named.values().map(Vec::len).sum::<usize>() > 100);
    }

    /// (The content itself is fixed by the stored file's sha256, checked before parsing.)
    #[test]
    fn content_that_differs_from_open_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = gz(PRIMARY);
        std::fs::write(dir.path().join("p.gz"), &p).unwrap();
        std::fs::write(dir.path().join("f.xml"), FILELISTS).unwrap();
        let filelists_path = dir.path().join("f.xml");
        for files in [Files::All, named(&["drbd-utils"], &[])] {
            let mut primary = file("primary", &p, PRIMARY);
            let mut filelists = file("filelists", FILELISTS.as_bytes(), FILELISTS);
            primary.open_size = Some(PRIMARY.len() as u64 + 1);
            let err = read_packages(
                &primary,
                &dir.path().join("p.gz"),
                Some((&filelists, filelists_path.as_path())),
                &files,
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("checksum mismatch for primary metadata"), "{msg}");
            assert!(msg.contains("repomd.xml says"), "{msg}");

            // Counted before the filter: what is skipped counts too.
            primary.open_size = Some(PRIMARY.len() as u64);
            filelists.open_size = Some(FILELISTS.len() as u64 - 1);
            let err = read_packages(
                &primary,
                &dir.path().join("p.gz"),
                Some((&filelists, filelists_path.as_path())),
                &files,
            )
            .unwrap_err();
            assert!(
                err.to_string()
                    .contains("checksum mismatch for filelists metadata"),
                "{err}"
            );
        }
    }

    /// Sizes no real repository has are refused, naming the file: a stated open-size before
    /// decompressing anything, a text node as it is read.
    #[test]
    fn hostile_sizes_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.gz");
        let read = |text: &str, open_size: Option<u64>| {
            let stored = gz(text);
            std::fs::write(&path, &stored).unwrap();
            let mut primary = file("primary", &stored, text);
            primary.open_size = open_size;
            read_packages(&primary, &path, None, &Files::Skip)
                .unwrap_err()
                .to_string()
        };
        let msg = read(PRIMARY, Some(bounded::MAX_PRIMARY + 1));
        assert!(
            msg.contains("repomd.xml says it decompresses to 1073741825 bytes"),
            "{msg}"
        );
        assert!(msg.contains("p.gz (from repodata/primary.xml.gz)"), "{msg}");

        let long = "A".repeat(MAX_TOKEN as usize + 1);
        let bomb = PRIMARY.replace("DRBD module", &long);
        for open_size in [Some(bomb.len() as u64), None] {
            let msg = read(&bomb, open_size);
            assert!(
                msg.contains("holds an XML text or tag longer than 8388608 bytes"),
                "{msg}"
            );
            assert!(msg.contains("primary metadata"), "{msg}");
        }
    }
}
