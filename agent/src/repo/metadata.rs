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

use super::digest::HashingReader;
use super::{Dependency, Files, RepoPackage};
use anyhow::{Context, Result};
use rpmrepo_metadata::visitor::{
    FilelistsVisitor, PrimaryVisitor, RequirementData, parse_filelists, parse_primary,
};
use rpmrepo_metadata::{Checksum, FileType, RepomdRecord, RepomdXml};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::path::Path;

/// One metadata file as repomd.xml describes it.
#[derive(Debug, Clone)]
pub(crate) struct MetadataFile {
    /// "primary" or "filelists".
    pub kind: &'static str,
    /// `repodata/<…>-primary.xml.gz`, relative to the base URL.
    pub location: String,
    /// sha256 of the file as stored (compressed).
    pub sha256: String,
    pub size: Option<u64>,
    /// sha256 and size of the decompressed content, when repomd.xml states them.
    pub open_sha256: Option<String>,
    pub open_size: Option<u64>,
}

/// The parts of repomd.xml the agent needs.
#[derive(Debug, Clone)]
pub(crate) struct Repomd {
    pub primary: MetadataFile,
    pub filelists: MetadataFile,
}

/// Parses an already signature-checked repomd.xml (`url` names it in messages).
pub(crate) fn parse_repomd(bytes: &[u8], url: &str) -> Result<Repomd> {
    let data = RepomdXml::read_data(rpmrepo_metadata::utils::create_xml_reader(bytes)).map_err(|e| {
        anyhow::anyhow!(
            "cannot parse {url}: {e} — the repository metadata is malformed; ask the repository owner to \
             rerun createrepo_c"
        )
    })?;
    let file = |kind: &'static str| -> Result<MetadataFile> {
        let record = data.get_record(kind).ok_or_else(|| {
            anyhow::anyhow!(
                "{url} lists no {kind} metadata: the repository is incomplete; ask the repository owner to \
                 rerun createrepo_c"
            )
        })?;
        metadata_file(kind, record, url)
    };
    Ok(Repomd {
        primary: file("primary")?,
        filelists: file("filelists")?,
    })
}

fn metadata_file(kind: &'static str, record: &RepomdRecord, url: &str) -> Result<MetadataFile> {
    let location = record
        .location_href
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{url}: the {kind} location is not UTF-8"))?
        .to_string();
    let sha256 = |checksum: &Checksum, field: &str| -> Result<String> {
        match checksum {
            Checksum::Sha256(hex) => Ok(hex.to_ascii_lowercase()),
            other => {
                let kind_name = other.to_values().map(|(t, _)| t).unwrap_or("no");
                anyhow::bail!(
                    "{url} gives the {kind} {field} as {kind_name}, not sha256: the agent only trusts sha256; \
                     rebuild the repository with `createrepo_c --checksum sha256`"
                )
            }
        }
    };
    let open_sha256 = match &record.open_checksum {
        Some(checksum) => Some(sha256(checksum, "open-checksum")?),
        None => None,
    };
    Ok(MetadataFile {
        kind,
        location,
        sha256: sha256(&record.checksum, "checksum")?,
        size: record.size,
        open_sha256,
        open_size: record.open_size,
    })
}

/// Reads the packages from a primary and (unless `files` is [`Files::Skip`]) a filelists file
/// whose stored checksums have already been checked; the decompressed content is hashed while
/// it is parsed and compared with repomd's open-checksum before anything is returned.
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
        let files_thread = filelists.map(|(filelists, filelists_path)| {
            let thread = scope.spawn(move || -> Result<HashMap<String, Vec<String>>> {
                let mut collector = FilesCollector {
                    keep: files,
                    lists: HashMap::new(),
                    current: None,
                };
                parse_file(filelists, filelists_path, Parser::Filelists(&mut collector))?;
                Ok(collector.lists)
            });
            (thread, filelists, filelists_path)
        });
        let mut collector = PrimaryCollector::default();
        let primary_result =
            parse_file(primary, primary_path, Parser::Primary(&mut collector)).map(|()| collector);
        let files_result = files_thread.map(|(thread, filelists, filelists_path)| {
            thread.join().unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the parser of {} metadata {} crashed: the file is malformed; ask the repository owner to \
                     rerun createrepo_c",
                    filelists.kind,
                    filelists_path.display()
                ))
            })
        });
        (primary_result, files_result)
    });
    let collector = primary_result?;
    if let Some(problem) = collector.problem {
        anyhow::bail!(
            "{} metadata {}: {problem} — ask the repository owner to rebuild the repository with createrepo_c",
            primary.kind,
            primary_path.display()
        );
    }
    let mut packages = collector.packages;
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

enum Parser<'a, 'b> {
    Primary(&'a mut PrimaryCollector),
    Filelists(&'a mut FilesCollector<'b>),
}

/// One streaming pass: decompress, hash the decompressed bytes, parse.
fn parse_file(file: &MetadataFile, path: &Path, parser: Parser<'_, '_>) -> Result<()> {
    let what = || {
        format!(
            "{} metadata {} (from {})",
            file.kind,
            path.display(),
            file.location
        )
    };
    let decoded =
        rpmrepo_metadata::utils::reader_from_file(path).with_context(|| format!("cannot open {}", what()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    {
        let hashing = HashingReader::new(decoded, &mut hasher, &mut size);
        let mut xml =
            rpmrepo_metadata::utils::create_xml_reader(BufReader::with_capacity(256 * 1024, hashing));
        let parsed = match parser {
            Parser::Primary(visitor) => parse_primary(&mut xml, visitor),
            Parser::Filelists(visitor) => parse_filelists(&mut xml, visitor),
        };
        parsed.map_err(|e| {
            anyhow::anyhow!(
                "cannot parse {}: {e} — the repository metadata is malformed; ask the repository owner to rerun \
                 createrepo_c",
                what()
            )
        })?;
    }
    if let Some(expected) = file.open_size
        && expected != size
    {
        anyhow::bail!(
            "checksum mismatch for {}: it decompresses to {size} bytes, but repomd.xml says {expected} — the \
             repository metadata is inconsistent; ask the repository owner to rerun createrepo_c",
            what()
        );
    }
    if let Some(expected) = &file.open_sha256 {
        let actual = hex::encode(hasher.finalize());
        if &actual != expected {
            anyhow::bail!(
                "checksum mismatch for {}: its content has sha256 {actual}, but repomd.xml says open-checksum \
                 {expected} — the repository metadata is inconsistent; ask the repository owner to rerun \
                 createrepo_c",
                what()
            );
        }
    }
    Ok(())
}

/// Builds [`RepoPackage`]s from primary.xml callbacks.
#[derive(Default)]
struct PrimaryCollector {
    packages: Vec<RepoPackage>,
    /// The pkgids (sha256) seen, so a file listed twice is one package.
    seen: HashSet<String>,
    current: Option<RepoPackage>,
    /// The first problem seen; visitors cannot return errors.
    problem: Option<String>,
}

impl PrimaryCollector {
    fn problem(&mut self, text: String) {
        self.problem.get_or_insert(text);
    }
}

fn dependency(data: RequirementData<'_>) -> Dependency {
    Dependency {
        name: data.name.to_owned(),
        flags: data.flags.map(|f| f.as_str().to_owned()),
        epoch: data.epoch.map(str::to_owned),
        version: data.version.map(str::to_owned),
        release: data.release.map(str::to_owned),
    }
}

impl PrimaryVisitor for PrimaryCollector {
    fn begin_package(&mut self, name: &str, arch: &str, checksum_type: &str, pkgid: &str) {
        if checksum_type != "sha256" {
            self.problem(format!(
                "package {name}.{arch} has a {checksum_type} checksum, not sha256 (the agent only trusts sha256)"
            ));
        }
        self.current = Some(RepoPackage {
            name: name.to_owned(),
            epoch: 0,
            version: String::new(),
            release: String::new(),
            arch: arch.to_owned(),
            location: String::new(),
            sha256: pkgid.to_ascii_lowercase(),
            size: 0,
            provides: Vec::new(),
            requires: Vec::new(),
            files: Vec::new(),
        });
    }

    fn set_evr(&mut self, epoch: &str, version: &str, release: &str) {
        let Some(pkg) = self.current.as_mut() else { return };
        pkg.version = version.to_owned();
        pkg.release = release.to_owned();
        pkg.epoch = match epoch {
            "" => 0,
            text => match text.parse() {
                Ok(epoch) => epoch,
                Err(_) => {
                    let name = pkg.name.clone();
                    self.problem(format!(
                        "package {name} has the epoch {text:?}, which is not a number"
                    ));
                    return;
                }
            },
        };
    }

    fn set_size(&mut self, package: u64, _installed: u64, _archive: u64) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.size = package;
        }
    }

    fn set_location(&mut self, href: &str, base: Option<&str>) {
        let Some(pkg) = self.current.as_mut() else { return };
        pkg.location = match base {
            None => href.to_owned(),
            // xml:base puts the package on another server (a mirror layout); like dnf, take it as
            // a directory. The fetcher still only follows http(s)/file URLs, and the sha256 from
            // this signed metadata still decides whether the file is accepted.
            Some(base) => {
                let dir = if base.ends_with('/') {
                    base.to_owned()
                } else {
                    format!("{base}/")
                };
                match url::Url::parse(&dir).and_then(|u| u.join(href)) {
                    Ok(url) => url.to_string(),
                    Err(e) => {
                        let name = pkg.name.clone();
                        self.problem(format!("package {name} has an invalid xml:base {base:?} ({e})"));
                        return;
                    }
                }
            }
        };
    }

    fn add_provide(&mut self, req: RequirementData<'_>) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.provides.push(dependency(req));
        }
    }

    fn add_require(&mut self, req: RequirementData<'_>) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.requires.push(dependency(req));
        }
    }

    fn end_package(&mut self) {
        let Some(mut pkg) = self.current.take() else {
            return;
        };
        pkg.provides.shrink_to_fit();
        pkg.requires.shrink_to_fit();
        if pkg.location.is_empty() {
            self.problem(format!("package {} has no location", pkg.nevra()));
            return;
        }
        // The same file listed twice (same sha256) is one package.
        if self.seen.insert(pkg.sha256.clone()) {
            self.packages.push(pkg);
        }
    }
}

/// Collects filelists.xml: pkgid → the files and directories of that package `keep` selects.
struct FilesCollector<'a> {
    keep: &'a Files,
    lists: HashMap<String, Vec<String>>,
    current: Option<(String, Vec<String>)>,
}

impl FilelistsVisitor for FilesCollector<'_> {
    fn begin_package(&mut self, pkgid: &str, _name: &str, _arch: &str) {
        self.current = Some((pkgid.to_ascii_lowercase(), Vec::new()));
    }

    fn add_file(&mut self, _filetype: FileType, path: &str) {
        if let Some((_, files)) = self.current.as_mut()
            && self.keep.keeps(path)
        {
            files.push(path.to_owned());
        }
    }

    fn end_package(&mut self) {
        if let Some((pkgid, mut files)) = self.current.take() {
            // Growth leaves up to half the vector unused; 10,000 of them add up.
            files.shrink_to_fit();
            // A package listed twice keeps its last list, not both concatenated.
            self.lists.insert(pkgid, files);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            open_sha256: Some(sha256_hex(open.as_bytes())),
            open_size: Some(open.len() as u64),
        }
    }

    #[test]
    fn reads_packages_dependencies_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let (p, f) = (gz(PRIMARY), FILELISTS.as_bytes().to_vec());
        std::fs::write(dir.path().join("p.gz"), &p).unwrap();
        std::fs::write(dir.path().join("f.xml"), &f).unwrap();
        let (primary, filelists) = (file("primary", &p, PRIMARY), file("filelists", &f, FILELISTS));
        let (primary_path, filelists_path) = (dir.path().join("p.gz"), dir.path().join("f.xml"));
        let read = |files: &Files| {
            let filelists = (*files != Files::Skip).then_some((&filelists, filelists_path.as_path()));
            read_packages(&primary, &primary_path, filelists, files).unwrap()
        };
        let packages = read(&Files::All);
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

        // Callers that only need some paths keep only those, or none.
        let packages = read(&Files::Under(vec!["/lib/modules/".into()]));
        assert_eq!(packages[0].files.len(), 2);
        assert!(packages[1].files.is_empty());
        assert_eq!(packages[0].requires, kmod.requires);
        let packages = read(&Files::Skip);
        assert!(packages.iter().all(|p| p.files.is_empty()));
        assert_eq!(packages.len(), 2);
    }

    #[test]
    fn content_that_differs_from_open_checksum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = gz(PRIMARY);
        std::fs::write(dir.path().join("p.gz"), &p).unwrap();
        std::fs::write(dir.path().join("f.xml"), FILELISTS).unwrap();
        let mut primary = file("primary", &p, PRIMARY);
        primary.open_sha256 = Some(sha256_hex(b"something else"));
        let filelists = file("filelists", FILELISTS.as_bytes(), FILELISTS);
        let filelists_path = dir.path().join("f.xml");
        let err = read_packages(
            &primary,
            &dir.path().join("p.gz"),
            Some((&filelists, filelists_path.as_path())),
            &Files::All,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("checksum mismatch for primary metadata"), "{msg}");
        assert!(msg.contains("open-checksum"), "{msg}");
    }

    #[test]
    fn repomd_records_are_read_and_weak_checksums_refused() {
        let repomd = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">1111111111111111111111111111111111111111111111111111111111111111</checksum>
    <open-checksum type="sha256">2222222222222222222222222222222222222222222222222222222222222222</open-checksum>
    <location href="repodata/1111-primary.xml.gz"/>
    <timestamp>1700000000</timestamp>
    <size>100</size>
    <open-size>1000</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha256">3333333333333333333333333333333333333333333333333333333333333333</checksum>
    <location href="repodata/3333-filelists.xml.zst"/>
    <timestamp>1700000000</timestamp>
    <size>200</size>
  </data>
</repomd>
"#;
        let parsed = parse_repomd(repomd.as_bytes(), "file:///r/repodata/repomd.xml").unwrap();
        assert_eq!(parsed.primary.location, "repodata/1111-primary.xml.gz");
        assert_eq!(parsed.primary.size, Some(100));
        assert_eq!(parsed.primary.open_size, Some(1000));
        assert!(parsed.primary.open_sha256.as_deref().unwrap().starts_with("2222"));
        assert_eq!(parsed.filelists.location, "repodata/3333-filelists.xml.zst");
        assert_eq!(parsed.filelists.open_sha256, None);

        let sha1 = repomd.replace(
            r#"<checksum type="sha256">3333333333333333333333333333333333333333333333333333333333333333"#,
            r#"<checksum type="sha1">3333333333333333333333333333333333333333"#,
        );
        let err = parse_repomd(sha1.as_bytes(), "file:///r/repodata/repomd.xml").unwrap_err();
        assert!(
            err.to_string().contains("filelists checksum as sha1, not sha256"),
            "{err}"
        );

        let no_filelists = &repomd[..repomd.find(r#"<data type="filelists">"#).unwrap()];
        let err = parse_repomd(format!("{no_filelists}</repomd>").as_bytes(), "R").unwrap_err();
        assert!(err.to_string().contains("lists no filelists metadata"), "{err}");
    }
}
