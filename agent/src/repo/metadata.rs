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

use super::{Dependency, Files, RepoPackage};
use anyhow::{Context, Result};
use rpmrepo_metadata::visitor::{
    FilelistsVisitor, PrimaryVisitor, RequirementData, parse_filelists, parse_primary,
};
use rpmrepo_metadata::{Checksum, FileType, MetadataError, RepomdRecord, RepomdXml};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read};
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
    /// Size of the decompressed content, when repomd.xml states it. (Its open-checksum is not
    /// kept: see [`read_packages`].)
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
    // Not needed (see `read_packages`), but a weak one still says the repository was built
    // with weak checksums.
    if let Some(checksum) = &record.open_checksum {
        sha256(checksum, "open-checksum")?;
    }
    Ok(MetadataFile {
        kind,
        location,
        sha256: sha256(&record.checksum, "checksum")?,
        size: record.size,
        open_size: record.open_size,
    })
}

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

/// One streaming pass: decompress, count the decompressed bytes, parse.
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
    let mut size = 0u64;
    {
        let counting = CountingReader {
            inner: decoded,
            count: &mut size,
        };
        let named = match &parser {
            Parser::Filelists(collector) => match collector.keep {
                Files::Named { names, .. } => Some(names.as_slice()),
                _ => None,
            },
            Parser::Primary(_) => None,
        };
        let parsed = match named {
            Some(names) => parse_xml(PackageFilter::new(counting, names), parser),
            None => parse_xml(counting, parser),
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
    Ok(())
}

fn parse_xml<R: Read>(input: R, parser: Parser<'_, '_>) -> Result<usize, MetadataError> {
    let mut xml = rpmrepo_metadata::utils::create_xml_reader(BufReader::with_capacity(256 * 1024, input));
    match parser {
        Parser::Primary(visitor) => parse_primary(&mut xml, visitor),
        Parser::Filelists(visitor) => parse_filelists(&mut xml, visitor),
    }
}

/// Counts the bytes read through it.
struct CountingReader<'a, R> {
    inner: R,
    count: &'a mut u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

/// Passes filelists.xml through with only the `<package>` blocks of the packages called one of
/// `names`: everything outside package blocks (the XML declaration, `<filelists>` and its end
/// tag) is kept, and so is every block it cannot be sure about (a `name` with an entity
/// reference, or none), for the visitor to decide on the real, unescaped name.
///
/// filelists.xml as createrepo_c (or createrepo, or any other generator) writes it has no
/// comments, CDATA sections or nested elements of the same name (`<`, `>` and `&` in paths
/// are entity references), so a block runs from a `<package` start tag to the next
/// `</package>`. A file that does not end outside a block is refused.
struct PackageFilter<'a, R> {
    inner: R,
    names: &'a [String],
    /// Decompressed input not yet passed on or dropped: `input[pos..]`.
    input: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Filtered output not yet read: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Inside a package block: whether it is kept.
    inside: Option<bool>,
    start: memchr::memmem::Finder<'static>,
    end: memchr::memmem::Finder<'static>,
}

const PACKAGE_START: &[u8] = b"<package";
const PACKAGE_END: &[u8] = b"</package>";

impl<'a, R: Read> PackageFilter<'a, R> {
    fn new(inner: R, names: &'a [String]) -> Self {
        PackageFilter {
            inner,
            names,
            input: Vec::with_capacity(512 * 1024),
            pos: 0,
            eof: false,
            out: Vec::new(),
            out_pos: 0,
            inside: None,
            start: memchr::memmem::Finder::new(PACKAGE_START),
            end: memchr::memmem::Finder::new(PACKAGE_END),
        }
    }

    /// Reads more input, dropping what has been consumed.
    fn refill(&mut self) -> io::Result<()> {
        self.input.drain(..self.pos);
        self.pos = 0;
        let had = self.input.len();
        self.input.resize(had + 256 * 1024, 0);
        let n = loop {
            match self.inner.read(&mut self.input[had..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.input.truncate(had);
                    return Err(e);
                }
            }
        };
        self.input.truncate(had + n);
        self.eof = n == 0;
        Ok(())
    }

    /// Moves as much of the pending input as can be decided on to `out` (or drops it).
    fn filter(&mut self) -> io::Result<()> {
        loop {
            let pending = &self.input[self.pos..];
            match self.inside {
                None => {
                    let Some(at) = self.start.find(pending) else {
                        // Keep a tail that could be the start of a `<package` cut in two.
                        let safe = if self.eof {
                            pending.len()
                        } else {
                            pending.len().saturating_sub(PACKAGE_START.len())
                        };
                        self.out.extend_from_slice(&pending[..safe]);
                        self.pos += safe;
                        return Ok(());
                    };
                    let Some(tag_len) = start_tag_len(&pending[at..]) else {
                        if self.eof {
                            return Err(truncated());
                        }
                        // The tag goes on in the next input.
                        self.out.extend_from_slice(&pending[..at]);
                        self.pos += at;
                        return Ok(());
                    };
                    let tag = &pending[at..at + tag_len];
                    self.out.extend_from_slice(&pending[..at]);
                    match tag[PACKAGE_START.len()] {
                        // `<packages…` or the like: not a package element, passed on.
                        c if !(c.is_ascii_whitespace() || c == b'>' || c == b'/') => {
                            self.out.extend_from_slice(tag);
                        }
                        _ => {
                            let keep = self.keeps(tag);
                            if keep {
                                self.out.extend_from_slice(tag);
                            }
                            if !tag.ends_with(b"/>") {
                                self.inside = Some(keep);
                            }
                        }
                    }
                    self.pos += at + tag_len;
                }
                Some(keep) => {
                    let (len, closed) = match self.end.find(pending) {
                        Some(at) => (at + PACKAGE_END.len(), true),
                        None if self.eof => return Err(truncated()),
                        // Keep a tail that could be the start of a `</package>` cut in two.
                        None => (pending.len().saturating_sub(PACKAGE_END.len()), false),
                    };
                    if keep {
                        self.out.extend_from_slice(&pending[..len]);
                    }
                    self.pos += len;
                    if !closed {
                        return Ok(());
                    }
                    self.inside = None;
                }
            }
        }
    }

    /// Whether the block that starts with `tag` is passed on.
    fn keeps(&self, tag: &[u8]) -> bool {
        match attribute(&tag[PACKAGE_START.len()..], b"name") {
            // An entity reference: only the parser can tell the real name.
            Some(name) if !name.contains(&b'&') => self.names.iter().any(|n| n.as_bytes() == name),
            _ => true,
        }
    }
}

impl<R: Read> Read for PackageFilter<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.eof && self.pos == self.input.len() {
                return Ok(0);
            }
            self.refill()?;
            self.filter()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ends inside a <package> element",
    )
}

/// The length of the start tag at the beginning of `bytes`, up to and including its `>`
/// (which may appear inside quoted attribute values); `None` if `bytes` ends first.
fn start_tag_len(bytes: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None => {}
        }
    }
    None
}

/// The raw (still escaped) value of attribute `key` in `attributes` (what follows the element
/// name in a start tag); `None` when it is not there or the tag cannot be read.
fn attribute<'t>(mut attributes: &'t [u8], key: &[u8]) -> Option<&'t [u8]> {
    loop {
        attributes = attributes.trim_ascii_start();
        let eq = attributes.iter().position(|&b| b == b'=')?;
        let name = attributes[..eq].trim_ascii_end();
        attributes = attributes[eq + 1..].trim_ascii_start();
        let quote = *attributes.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = attributes[1..].iter().position(|&b| b == quote)?;
        if name == key {
            return Some(&attributes[1..1 + len]);
        }
        attributes = &attributes[len + 2..];
    }
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
    fn begin_package(&mut self, pkgid: &str, name: &str, _arch: &str) {
        self.current = self
            .keep
            .keeps_package(name)
            .then(|| (pkgid.to_ascii_lowercase(), Vec::new()));
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
        // ... or only some packages' (the others' blocks are not even parsed).
        let packages = read(&named(&["kmod-drbd"], &["/lib/modules/"]));
        assert_eq!(packages[0].files, kmod.files[1..]);
        assert!(packages[1].files.is_empty());
        assert_eq!(packages[0].requires, kmod.requires);
        let packages = read(&named(&["drbd-utils", "absent"], &[]));
        assert!(packages[0].files.is_empty());
        assert_eq!(packages[1].files, ["/usr/sbin/drbdadm"]);
        let packages = read(&Files::Skip);
        assert!(packages.iter().all(|p| p.files.is_empty()));
        assert_eq!(packages.len(), 2);
    }

    fn named(names: &[&str], under: &[&str]) -> Files {
        Files::Named {
            names: names.iter().map(|n| n.to_string()).collect(),
            under: under.iter().map(|u| u.to_string()).collect(),
        }
    }

    /// Hands out at most `step` bytes per read, to cut tags and blocks everywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn filtered(xml: &str, names: &[&str], step: usize) -> io::Result<String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut out = String::new();
        PackageFilter::new(
            Trickle {
                data: xml.as_bytes(),
                step,
            },
            &names,
        )
        .read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn the_filter_passes_on_only_the_wanted_package_blocks() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="6">
<package pkgid="01" name="kmod-drbd" arch="x86_64">
  <file>/lib/modules/a/drbd.ko</file>
</package>
<package pkgid="02" name="kmod-drbd-extra" arch="x86_64"><file>/x</file></package>
<package arch='noarch' name='kmod-drbd' pkgid='03'><file>/lib/modules/b/drbd.ko</file></package>
<package pkgid="04" arch="x86_64" name="a&amp;b"><file>/y</file></package>
<package pkgid="05" name="odd>name" arch="x86_64"><file>/z</file></package>
<package pkgid="06" name="empty" arch="x86_64"/>
<packages-note/>
</filelists>
"#;
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="6">
<package pkgid="01" name="kmod-drbd" arch="x86_64">
  <file>/lib/modules/a/drbd.ko</file>
</package>

<package arch='noarch' name='kmod-drbd' pkgid='03'><file>/lib/modules/b/drbd.ko</file></package>
<package pkgid="04" arch="x86_64" name="a&amp;b"><file>/y</file></package>


<packages-note/>
</filelists>
"#;
        for step in [1, 2, 3, 7, 8, 9, 10, 11, 64, 1 << 20] {
            assert_eq!(
                filtered(xml, &["kmod-drbd"], step).unwrap(),
                expected,
                "step {step}"
            );
        }
        // A name with a `>` in it is read whole, and matched.
        let odd = filtered(xml, &["odd>name"], 5).unwrap();
        assert!(
            odd.contains(r#"<package pkgid="05" name="odd>name" arch="x86_64"><file>/z</file></package>"#)
        );
        assert!(!odd.contains("pkgid=\"01\""));

        // A file that ends inside a block, or inside a start tag, is refused.
        for cut in [
            xml.find("<file>/x").unwrap(),
            xml.find("name=\"kmod-drbd-extra").unwrap(),
        ] {
            let err = filtered(&xml[..cut], &["kmod-drbd"], 64).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
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
        let lists = |files: &Files| {
            let mut collector = FilesCollector {
                keep: files,
                lists: HashMap::new(),
                current: None,
            };
            parse_file(&meta, &path, Parser::Filelists(&mut collector)).unwrap();
            collector.lists
        };
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
        assert_eq!(parsed.filelists.location, "repodata/3333-filelists.xml.zst");
        assert_eq!(parsed.filelists.open_size, None);

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
