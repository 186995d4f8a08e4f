//! A synthetic yum repository of many packages, for benchmarks (`bench/run.sh`).
//!
//! Building 10,000 real RPMs would take an hour, and neither `linstor-agent plan` nor
//! `dnf --assumeno install` opens a package: they read `repodata/`. So [`build`] writes the
//! metadata directly, shaped like a real EL repository's:
//!
//! - `primary.xml.gz`: name, EVR, arch, checksum, summary, description, sizes, location, and
//!   several provides and requires per package (sonames, `name(x86-64)`, `pkgconfig(…)`,
//!   `python3dist(…)`, `perl(…)`, versioned dependencies between the generated packages);
//!   the `/etc`, `*bin/` files that createrepo_c puts in primary too;
//! - `filelists.xml.gz`: every file and directory, from a handful (a `perl-` module) to
//!   thousands (icon themes, big data packages): about 90 per package on average, median 40;
//! - `other.xml.gz`: a few changelog entries per package;
//! - `repomd.xml` with the sha256, open-checksum, sizes and timestamps createrepo_c writes, and
//!   `repomd.xml.asc`, a detached armored signature by the fixture's key.
//!
//! The fixture repository's own entries (kernels, `kmod-drbd`, the LINSTOR/DRBD userland) are
//! copied verbatim into the same metadata, spread among the generated ones, and their `.rpm`
//! files are symlinked at the same `Packages/…` locations, so that the agent's `plan` and
//! `dnf install --assumeno kmod-drbd` resolve on a host root built from the fixture. The
//! generated packages' locations name files that do not exist: nothing here downloads them.
//!
//! Everything is deterministic for a given seed and package count (apart from timestamps).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fixture::FixtureRepo;
use crate::fixture::gpg::Keyring;
use crate::fsutil;

/// The public key's file name in the synthetic repository (a copy of the fixture's).
pub const KEY_FILE: &str = "RPM-GPG-KEY-testbed";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticOptions {
    /// Packages in the repository, the fixture's own entries included.
    pub packages: usize,
    /// Seed of the generator: the same seed and count give the same packages.
    pub seed: u64,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        SyntheticOptions {
            packages: 10_000,
            seed: 1,
        }
    }
}

/// A built synthetic repository (what `testbed synthetic-repo` prints).
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticRepo {
    /// The repository directory (absolute).
    pub dir: PathBuf,
    /// `file:///…/` with a trailing slash.
    pub baseurl: String,
    /// The armored public key that signed `repomd.xml` (copied from the fixture).
    pub gpgkey: PathBuf,
    pub fingerprint: String,
    /// Packages in the metadata, generated and copied.
    pub packages: usize,
    pub generated: usize,
    /// Location hrefs of the fixture's packages copied in (their `.rpm` files exist).
    pub from_fixture: Vec<String>,
    /// Files and directories in filelists, all packages.
    pub files: u64,
    pub provides: u64,
    pub requires: u64,
    pub metadata: Vec<MetadataRecord>,
    pub elapsed_ms: u64,
}

/// One `<data>` entry of repomd.xml.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MetadataRecord {
    pub kind: String,
    pub href: String,
    pub sha256: String,
    pub size: u64,
    pub open_sha256: String,
    pub open_size: u64,
}

impl SyntheticRepo {
    pub fn repomd_path(&self) -> PathBuf {
        self.dir.join("repodata/repomd.xml")
    }
}

/// Builds a synthetic repository of `opts.packages` packages into `dir` (absent or empty),
/// with the entries of `fixture` among them, signed with the fixture's key.
pub fn build(dir: &Path, fixture: &FixtureRepo, opts: &SyntheticOptions) -> Result<SyntheticRepo> {
    let started = Instant::now();
    let dir = fsutil::absolute(dir)?;
    fsutil::ensure_empty(&dir, "a synthetic repository is built into a new or empty directory")?;
    let real = read_fixture_entries(&fixture.dir)?;
    if opts.packages < real.len() {
        bail!(
            "--packages {} is fewer than the {} packages of the fixture {}, which are always included",
            opts.packages,
            real.len(),
            fixture.dir.display()
        );
    }
    let mut repo = generate(&dir, &real, opts)?;

    for entry in &real {
        let target = fixture.dir.join(&entry.location);
        let link = dir.join(&entry.location);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("cannot link {} to {}", link.display(), target.display()))?;
    }
    let key = dir.join(KEY_FILE);
    fs::copy(&fixture.key_path, &key)
        .with_context(|| format!("cannot copy {} to {}", fixture.key_path.display(), key.display()))?;
    Keyring::open(&fixture.gnupghome)?.detach_sign(
        &fixture.fingerprint,
        &repo.repomd_path(),
        &dir.join("repodata/repomd.xml.asc"),
    )?;

    repo.gpgkey = key;
    repo.fingerprint = fixture.fingerprint.clone();
    repo.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        dir = %dir.display(),
        packages = repo.packages,
        files = repo.files,
        elapsed_ms = repo.elapsed_ms,
        "synthetic repository ready"
    );
    Ok(repo)
}

/// Writes `repodata/` (unsigned) for `opts.packages` packages, `real` among them.
fn generate(dir: &Path, real: &[RealEntry], opts: &SyntheticOptions) -> Result<SyntheticRepo> {
    let repodata = dir.join("repodata");
    fs::create_dir_all(&repodata).with_context(|| format!("cannot create {}", repodata.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1_700_000_000, |d| d.as_secs());
    let total = opts.packages;
    let generated = total - real.len();

    let mut primary = MetaWriter::create(&repodata, "primary")?;
    let mut filelists = MetaWriter::create(&repodata, "filelists")?;
    let mut other = MetaWriter::create(&repodata, "other")?;
    primary.write_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{total}\">\n"
    ))?;
    filelists.write_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" \
         packages=\"{total}\">\n"
    ))?;
    other.write_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" \
         packages=\"{total}\">\n"
    ))?;

    let mut generator = Generator::new(opts.seed, now, real.iter().map(|r| r.name.clone()));
    let mut stats = Stats::default();
    let mut written = 0usize;
    let mut next_real = 0usize;
    let mut group = Vec::new();
    let mut buf = Buffers::default();
    // The fixture's entries go at evenly spaced places among the generated ones.
    let real_slot = |j: usize| (j + 1) * generated / (real.len() + 1);
    while written < generated {
        group.clear();
        generator.source_group(&mut group);
        for pkg in group.drain(..) {
            if written == generated {
                break;
            }
            while next_real < real.len() && real_slot(next_real) <= written {
                write_real(&real[next_real], &mut primary, &mut filelists, &mut other)?;
                next_real += 1;
            }
            buf.clear();
            pkg.write_xml(&mut buf, &mut stats);
            primary.write_str(&buf.primary)?;
            filelists.write_str(&buf.filelists)?;
            other.write_str(&buf.other)?;
            written += 1;
        }
    }
    for entry in &real[next_real..] {
        write_real(entry, &mut primary, &mut filelists, &mut other)?;
    }
    primary.write_str("</metadata>\n")?;
    filelists.write_str("</filelists>\n")?;
    other.write_str("</otherdata>\n")?;

    let records = vec![
        primary.finish(&repodata)?,
        filelists.finish(&repodata)?,
        other.finish(&repodata)?,
    ];
    fsutil::write(&repodata.join("repomd.xml"), repomd_xml(&records, now))?;
    Ok(SyntheticRepo {
        dir: dir.to_owned(),
        baseurl: format!("file://{}/", dir.display()),
        gpgkey: PathBuf::new(),
        fingerprint: String::new(),
        packages: total,
        generated,
        from_fixture: real.iter().map(|r| r.location.clone()).collect(),
        files: stats.files + real.iter().map(|r| r.files).sum::<u64>(),
        provides: stats.provides,
        requires: stats.requires,
        metadata: records,
        elapsed_ms: 0,
    })
}

fn write_real(entry: &RealEntry, p: &mut MetaWriter, f: &mut MetaWriter, o: &mut MetaWriter) -> Result<()> {
    p.write_str(&entry.primary)?;
    p.write_str("\n")?;
    f.write_str(&entry.filelists)?;
    f.write_str("\n")?;
    o.write_str(&entry.other)?;
    o.write_str("\n")
}

fn repomd_xml(records: &[MetadataRecord], now: u64) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{now}</revision>\n"
    );
    for r in records {
        let _ = write!(
            xml,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum \
             type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{now}</timestamp>\n    \
             <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            r.kind, r.sha256, r.open_sha256, r.href, r.size, r.open_size
        );
    }
    xml.push_str("</repomd>\n");
    xml
}


// ---------------------------------------------------------------------------------------
// The fixture's entries

/// One package of the fixture repository, as its three metadata files give it.
#[derive(Debug, Clone)]
struct RealEntry {
    name: String,
    location: String,
    primary: String,
    filelists: String,
    other: String,
    files: u64,
}

/// Reads every package entry of the fixture's primary, filelists and other, matched by pkgid.
fn read_fixture_entries(fixture_dir: &Path) -> Result<Vec<RealEntry>> {
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
fn data_href<'a>(repomd: &'a str, kind: &str) -> Option<&'a str> {
    let start = repomd.find(&format!("<data type=\"{kind}\">"))?;
    let end = start + repomd[start..].find("</data>")?;
    attr(&repomd[start..end], "<location ", "href")
}

fn read_metadata(path: &Path) -> Result<String> {
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
fn blocks<'a>(text: &'a str, open: &'a str, close: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + text.get(from..)?.find(open)?;
        let end = start + text[start..].find(close)? + close.len();
        from = end;
        Some(&text[start..end])
    })
}

/// The value of `name` in the first element starting with `open`.
fn attr<'a>(block: &'a str, open: &str, name: &str) -> Option<&'a str> {
    let start = block.find(open)?;
    let element = &block[start..start + block[start..].find('>')?];
    let key = format!(" {name}=\"");
    let value = element.find(&key)? + key.len();
    Some(&element[value..value + element[value..].find('"')?])
}

/// The text of the first `<name …>text</name>`.
fn element_text<'a>(block: &'a str, name: &str) -> Option<&'a str> {
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

// ---------------------------------------------------------------------------------------
// Writing compressed metadata while hashing both sides

/// A writer that hashes and counts what passes through.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One `<kind>.xml.gz` being written: sha256 and size of the XML (open-checksum) and of the
/// gzip stream (checksum), then renamed to `<sha256>-<kind>.xml.gz` as createrepo_c names it.
struct MetaWriter {
    kind: &'static str,
    tmp: PathBuf,
    open: Sha256,
    open_size: u64,
    gz: GzEncoder<HashWriter<BufWriter<File>>>,
}

impl MetaWriter {
    fn create(repodata: &Path, kind: &'static str) -> Result<MetaWriter> {
        let tmp = repodata.join(format!(".{kind}.xml.gz.part"));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let inner = HashWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            size: 0,
        };
        Ok(MetaWriter {
            kind,
            tmp,
            open: Sha256::new(),
            open_size: 0,
            gz: GzEncoder::new(inner, Compression::default()),
        })
    }

    fn write_str(&mut self, text: &str) -> Result<()> {
        self.open.update(text.as_bytes());
        self.open_size += text.len() as u64;
        self.gz
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", self.tmp.display()))
    }

    fn finish(self, repodata: &Path) -> Result<MetadataRecord> {
        let tmp = self.tmp;
        let context = || format!("cannot write {}", tmp.display());
        let hashed = self.gz.finish().with_context(context)?;
        let file = hashed
            .inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(context)?;
        file.sync_all().with_context(context)?;
        let sha256 = hex::encode(hashed.hasher.finalize());
        let href = format!("repodata/{sha256}-{}.xml.gz", self.kind);
        let dest = repodata.join(format!("{sha256}-{}.xml.gz", self.kind));
        fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        Ok(MetadataRecord {
            kind: self.kind.to_owned(),
            href,
            sha256,
            size: hashed.size,
            open_sha256: hex::encode(self.open.finalize()),
            open_size: self.open_size,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Generating packages

/// SplitMix64: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const SYLLABLES: &[&str] = &[
    "ac", "al", "an", "ar", "as", "ba", "bel", "bi", "bo", "ca", "cor", "cu", "da", "del", "di", "do", "ex",
    "fa", "fer", "fi", "fo", "ga", "gen", "gi", "ha", "he", "hu", "in", "is", "jo", "ka", "ki", "la", "le",
    "lin", "lo", "lu", "ma", "me", "mi", "mon", "mu", "na", "ne", "ni", "no", "or", "pa", "pe", "pi", "po",
    "qua", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so", "ta", "te", "ti", "tor", "tu", "ul", "un",
    "va", "ve", "vi", "vo", "wa", "xa", "xi", "ya", "za", "ze", "zo",
];

const LANGS: &[&str] = &[
    "af", "ar", "as", "ast", "be", "bg", "bn", "bn_IN", "br", "bs", "ca", "cs", "cy", "da", "de", "el",
    "en_GB", "eo", "es", "et", "eu", "fa", "fi", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "ia", "id",
    "is", "it", "ja", "ka", "kk", "km", "kn", "ko", "lt", "lv", "mk", "ml", "mr", "ms", "nb", "nl", "nn",
    "or", "pa", "pl", "pt", "pt_BR", "ro", "ru", "si", "sk", "sl", "sq", "sr", "sr@latin", "sv", "ta", "te",
    "th", "tr", "uk", "vi", "zh_CN", "zh_HK", "zh_TW",
];

const PHRASES: &[&str] = &[
    "library for parsing and writing structured data",
    "command line tools for managing system resources",
    "bindings for a widely used C library",
    "utilities to inspect and convert file formats",
    "daemon that monitors services and reports their state",
    "development files for building against the library",
    "documentation in HTML and manual pages",
    "plugins that extend the application with extra formats",
    "fonts and font configuration",
    "graphical front end for common administration tasks",
];

const SENTENCES: &[&str] = &[
    "It is used by many other packages in the distribution.",
    "The package contains the shared libraries and the command line tools.",
    "This build is configured for the enterprise distribution and follows its packaging guidelines.",
    "Install this package if you need to build software that uses it.",
    "Upstream releases are tested against the supported architectures before they are shipped.",
    "Configuration files are read from the system configuration directory.",
    "The documentation describes every option and gives examples of common use.",
    "It replaces an older implementation and keeps compatibility with its file formats.",
];

/// What kind of upstream a source package is: decides names, subpackages, files, deps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Tool,
    Library,
    Python,
    Perl,
    Golang,
    Rust,
    Texlive,
    IconTheme,
}

/// A dependency entry (provides or requires).
#[derive(Debug, Clone)]
struct Dep {
    name: String,
    /// (flags, epoch, ver, rel)
    version: Option<(&'static str, u32, String, Option<String>)>,
    pre: bool,
}

impl Dep {
    fn plain(name: impl Into<String>) -> Dep {
        Dep {
            name: name.into(),
            version: None,
            pre: false,
        }
    }

    fn pre(name: impl Into<String>) -> Dep {
        Dep {
            pre: true,
            ..Dep::plain(name)
        }
    }

    fn versioned(
        name: impl Into<String>,
        flags: &'static str,
        epoch: u32,
        ver: &str,
        rel: Option<&str>,
    ) -> Dep {
        Dep {
            name: name.into(),
            version: Some((flags, epoch, ver.to_owned(), rel.map(str::to_owned))),
            pre: false,
        }
    }
}

/// One generated binary package.
#[derive(Debug, Clone)]
struct Pkg {
    name: String,
    arch: &'static str,
    epoch: u32,
    ver: String,
    rel: String,
    source: String,
    summary: String,
    description: String,
    url: String,
    license: &'static str,
    build_time: u64,
    file_time: u64,
    provides: Vec<Dep>,
    requires: Vec<Dep>,
    /// (path, is a directory)
    files: Vec<(String, bool)>,
    changelog: Vec<(String, u64, String)>,
}

#[derive(Default)]
struct Buffers {
    primary: String,
    filelists: String,
    other: String,
}

impl Buffers {
    fn clear(&mut self) {
        self.primary.clear();
        self.filelists.clear();
        self.other.clear();
    }
}

#[derive(Default)]
struct Stats {
    files: u64,
    provides: u64,
    requires: u64,
}

impl Pkg {
    fn nevra_id(&self) -> String {
        let hash = Sha256::digest(format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.ver, self.rel, self.arch
        ));
        hex::encode(hash)
    }

    fn write_xml(&self, out: &mut Buffers, stats: &mut Stats) {
        let pkgid = self.nevra_id();
        let (name, arch, epoch, ver, rel) = (&self.name, self.arch, self.epoch, &self.ver, &self.rel);
        let installed: u64 = 4096 + self.files.len() as u64 * 9137;
        let package_size = installed / 3 + 2048;
        let header_end =
            4504 + 120 * (self.provides.len() + self.requires.len()) as u64 + 48 * self.files.len() as u64;
        let first = name.chars().next().unwrap_or('x').to_ascii_lowercase();
        let p = &mut out.primary;
        let _ = write!(
            p,
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  <version epoch=\"{epoch}\" \
             ver=\"{ver}\" rel=\"{rel}\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\n  \
             <summary>{}</summary>\n  <description>{}</description>\n  <packager>Synthetic Build System \
             &lt;build@example.invalid&gt;</packager>\n  <url>{}</url>\n  <time file=\"{}\" build=\"{}\"/>\n  \
             <size package=\"{package_size}\" installed=\"{installed}\" archive=\"{}\"/>\n  <location \
             href=\"Packages/{first}/{name}-{ver}-{rel}.{arch}.rpm\"/>\n  <format>\n    \
             <rpm:license>{}</rpm:license>\n    <rpm:vendor>Synthetic</rpm:vendor>\n    \
             <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>builder-{}.example.invalid</rpm:buildhost>\n    \
             <rpm:sourcerpm>{}-{ver}-{rel}.src.rpm</rpm:sourcerpm>\n    <rpm:header-range start=\"4504\" \
             end=\"{header_end}\"/>\n",
            escape(&self.summary),
            escape(&self.description),
            escape(&self.url),
            self.file_time,
            self.build_time,
            installed + 512 + 110 * self.files.len() as u64,
            self.license,
            self.build_time % 17,
            self.source,
        );
        write_deps(p, "provides", &self.provides);
        write_deps(p, "requires", &self.requires);
        for (path, dir) in &self.files {
            if path.starts_with("/etc/") || path.contains("bin/") {
                let kind = if *dir { " type=\"dir\"" } else { "" };
                let _ = writeln!(p, "    <file{kind}>{}</file>", escape(path));
            }
        }
        p.push_str("  </format>\n</package>\n");

        let f = &mut out.filelists;
        let _ = write!(
            f,
            "<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">\n  <version epoch=\"{epoch}\" ver=\"{ver}\" \
             rel=\"{rel}\"/>\n"
        );
        for (path, dir) in &self.files {
            let kind = if *dir { " type=\"dir\"" } else { "" };
            let _ = writeln!(f, "  <file{kind}>{}</file>", escape(path));
        }
        f.push_str("</package>\n");

        let o = &mut out.other;
        let _ = write!(
            o,
            "<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">\n  <version epoch=\"{epoch}\" ver=\"{ver}\" \
             rel=\"{rel}\"/>\n"
        );
        for (author, date, text) in &self.changelog {
            let _ = writeln!(
                o,
                "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
                escape(author),
                escape(text)
            );
        }
        o.push_str("</package>\n");

        stats.files += self.files.len() as u64;
        stats.provides += self.provides.len() as u64;
        stats.requires += self.requires.len() as u64;
    }
}

fn write_deps(out: &mut String, tag: &str, deps: &[Dep]) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for dep in deps {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", escape(&dep.name));
        if let Some((flags, epoch, ver, rel)) = &dep.version {
            let _ = write!(out, " flags=\"{flags}\" epoch=\"{epoch}\" ver=\"{ver}\"");
            if let Some(rel) = rel {
                let _ = write!(out, " rel=\"{rel}\"");
            }
        }
        if dep.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

fn escape(text: &str) -> String {
    if !text.contains(['&', '<', '>', '"']) {
        return text.to_owned();
    }
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Makes source packages one at a time, each as its binary packages.
struct Generator {
    rng: Rng,
    now: u64,
    /// Names already used (the fixture's included), so that no two sources collide.
    names: HashSet<String>,
    /// Sonames provided so far, for later packages to require.
    sonames: Vec<String>,
    /// (python dist name, version) provided so far.
    python_dists: Vec<(String, String)>,
    perl_modules: Vec<String>,
}

impl Generator {
    fn new(seed: u64, now: u64, reserved: impl Iterator<Item = String>) -> Generator {
        Generator {
            rng: Rng(seed ^ 0x05EE_D0F5_E71C),
            now,
            names: reserved.collect(),
            sonames: Vec::new(),
            python_dists: Vec::new(),
            perl_modules: Vec::new(),
        }
    }

    fn word(&mut self) -> String {
        let n = self.rng.range(2, 4);
        (0..n).map(|_| *self.rng.pick(SYLLABLES)).collect()
    }

    /// A base name nobody has yet and that cannot be mistaken for the packages under test.
    fn fresh_name(&mut self, make: impl Fn(&mut Self) -> String) -> String {
        loop {
            let name = make(self);
            let reserved = ["kernel", "kmod", "drbd", "linstor"]
                .iter()
                .any(|r| name.contains(r));
            if !reserved && self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    fn version(&mut self) -> String {
        match self.rng.range(0, 9) {
            0..=5 => format!(
                "{}.{}.{}",
                self.rng.range(0, 12),
                self.rng.range(0, 30),
                self.rng.range(0, 20)
            ),
            6 | 7 => format!("{}.{}", self.rng.range(0, 40), self.rng.range(0, 99)),
            8 => format!(
                "{}",
                self.rng.range(2010, 2024) * 10_000 + self.rng.range(101, 1231)
            ),
            _ => format!(
                "{}.{}~rc{}",
                self.rng.range(1, 9),
                self.rng.range(0, 9),
                self.rng.range(1, 3)
            ),
        }
    }

    /// One source package: 1–3 releases of 1–4 binary packages each.
    fn source_group(&mut self, out: &mut Vec<Pkg>) {
        let flavor = match self.rng.range(0, 99) {
            0..=29 => Flavor::Tool,
            30..=49 => Flavor::Library,
            50..=67 => Flavor::Python,
            68..=79 => Flavor::Perl,
            80..=87 => Flavor::Golang,
            88..=93 => Flavor::Rust,
            94..=98 => Flavor::Texlive,
            _ => Flavor::IconTheme,
        };
        let base = self.fresh_name(|g| {
            let w = g.word();
            match flavor {
                Flavor::Tool | Flavor::IconTheme => w,
                Flavor::Library => format!("lib{w}"),
                Flavor::Python => format!("python3-{w}"),
                Flavor::Perl => {
                    let second = g.word();
                    format!("perl-{}-{}", capitalize(&w), capitalize(&second))
                }
                Flavor::Golang => format!("golang-github-{w}-{}", g.word()),
                Flavor::Rust => format!("rust-{w}"),
                Flavor::Texlive => format!("texlive-{w}"),
            }
        });
        let releases = match self.rng.range(0, 99) {
            0..=84 => 1,
            85..=96 => 2,
            _ => 3,
        };
        let mut ver = self.version();
        let epoch = if self.rng.chance(8) {
            self.rng.range(1, 3) as u32
        } else {
            0
        };
        let dist = if self.rng.chance(85) { "el8" } else { "el8_10" };
        let mut release = self.rng.range(1, 6);
        let license = *self.rng.pick(&[
            "GPL-2.0-or-later",
            "LGPL-2.1-or-later",
            "MIT",
            "BSD-3-Clause",
            "Apache-2.0",
            "GPL-3.0-only",
            "(GPL-1.0-or-later OR Artistic-1.0-Perl)",
            "LPPL-1.3c",
        ]);
        let subpackages: Vec<&'static str> = {
            let mut subs = vec![""];
            let optional: &[(&str, u64)] = match flavor {
                Flavor::Tool => &[("-devel", 25), ("-libs", 20), ("-doc", 10), ("-common", 10)],
                Flavor::Library => &[("-devel", 75), ("-tools", 20), ("-static", 8), ("-doc", 10)],
                Flavor::Python => &[("-tests", 5)],
                Flavor::Perl => &[("-tests", 10)],
                Flavor::Golang => &[],
                Flavor::Rust => &[("+default-devel", 60), ("+std-devel", 30)],
                Flavor::Texlive => &[("-doc", 50)],
                Flavor::IconTheme => &[],
            };
            for (suffix, percent) in optional {
                if self.rng.chance(*percent) {
                    subs.push(suffix);
                }
            }
            subs
        };
        for r in 0..releases {
            if r > 0 {
                // An update: a newer release, sometimes a newer upstream version.
                if self.rng.chance(50) {
                    ver = bump(&ver);
                }
                release += 1;
            }
            let rel = format!("{release}.{dist}");
            let build_time = self.now - self.rng.range(86_400, 4 * 365 * 86_400);
            let lib_word = base.trim_start_matches("lib").to_string();
            let soname_major = self.rng.range(0, 9);
            let group_sonames: Vec<String> = (0..self.rng.range(1, 3))
                .map(|i| {
                    let stem = if i == 0 {
                        lib_word.clone()
                    } else {
                        format!("{lib_word}-{}", self.word())
                    };
                    format!("lib{stem}.so.{soname_major}")
                })
                .collect();
            for suffix in &subpackages {
                let name = if suffix.starts_with('+') {
                    format!("{base}{suffix}")
                } else if flavor == Flavor::Rust || flavor == Flavor::Golang {
                    format!("{base}-devel{}", suffix.trim_start_matches("-devel"))
                } else {
                    format!("{base}{suffix}")
                };
                let pkg = self.binary(
                    flavor,
                    &base,
                    suffix,
                    name,
                    (epoch, &ver, &rel),
                    &group_sonames,
                    license,
                    build_time,
                );
                out.push(pkg);
            }
            // Later packages may link against this one.
            if matches!(flavor, Flavor::Library | Flavor::Tool) && r == 0 {
                for s in &group_sonames {
                    self.sonames.push(s.clone());
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        flavor: Flavor,
        base: &str,
        suffix: &str,
        name: String,
        (epoch, ver, rel): (u32, &str, &str),
        sonames: &[String],
        license: &'static str,
        build_time: u64,
    ) -> Pkg {
        let noarch = matches!(
            flavor,
            Flavor::Perl | Flavor::Golang | Flavor::Rust | Flavor::Texlive | Flavor::IconTheme
        ) || matches!(suffix, "-doc" | "-common")
            || (flavor == Flavor::Python && self.rng.chance(70));
        let arch = if noarch { "noarch" } else { "x86_64" };
        let word = base
            .trim_start_matches("lib")
            .trim_start_matches("python3-")
            .trim_start_matches("golang-github-")
            .trim_start_matches("rust-")
            .trim_start_matches("texlive-")
            .to_string();
        let evr_rel = Some(rel);
        let mut provides = vec![Dep::versioned(&name, "EQ", epoch, ver, evr_rel)];
        if !noarch {
            provides.push(Dep::versioned(
                format!("{name}(x86-64)"),
                "EQ",
                epoch,
                ver,
                evr_rel,
            ));
        }
        let mut requires = Vec::new();
        let mut files = Vec::new();
        let doc_dir = format!("/usr/share/doc/{name}");
        let base_dep = |arch_suffix: bool| {
            let n = if arch_suffix {
                format!("{base}(x86-64)")
            } else {
                base.to_string()
            };
            Dep::versioned(n, "EQ", epoch, ver, evr_rel)
        };
        if !noarch {
            requires.push(Dep::plain("libc.so.6()(64bit)"));
            requires.push(Dep::plain(format!(
                "libc.so.6(GLIBC_2.{})(64bit)",
                self.rng.range(2, 28)
            )));
            requires.push(Dep::plain("rtld(GNU_HASH)"));
            for _ in 0..self.rng.range(0, 6) {
                if self.sonames.is_empty() {
                    break;
                }
                let s = self.rng.pick(&self.sonames).clone();
                requires.push(Dep::plain(format!("{s}()(64bit)")));
            }
        }
        match (flavor, suffix) {
            (Flavor::Tool | Flavor::Library, "" | "-libs")
                if flavor == Flavor::Library || suffix == "-libs" =>
            {
                for s in sonames {
                    provides.push(Dep::plain(format!("{s}()(64bit)")));
                    let minor = format!("{s}.{}.{}", self.rng.range(0, 30), self.rng.range(0, 9));
                    files.push((format!("/usr/lib64/{s}"), false));
                    files.push((format!("/usr/lib64/{minor}"), false));
                    for v in 0..self.rng.range(0, 3) {
                        provides.push(Dep::plain(format!(
                            "{s}({}_{}.{v})(64bit)",
                            word.to_uppercase(),
                            ver
                        )));
                    }
                }
                requires.push(Dep::plain("/sbin/ldconfig"));
                self.docs(&mut files, &doc_dir);
                if flavor == Flavor::Library {
                    self.locales(&mut files, &word, 10);
                }
            }
            (Flavor::Tool, "") => {
                self.binaries(&mut files, &word, 1, 5);
                self.docs(&mut files, &doc_dir);
                self.config(&mut files, &mut provides, &mut requires, &name, (epoch, ver, rel));
                self.locales(&mut files, &word, 20);
                self.data(&mut files, &format!("/usr/share/{word}"), 0, 60);
                if self.rng.chance(3) {
                    // The long tail: a package with thousands of files.
                    self.data(&mut files, &format!("/usr/share/{word}/modules"), 800, 4000);
                }
            }
            (_, "-devel") | (Flavor::Rust, _) | (Flavor::Golang, _) => {
                match flavor {
                    Flavor::Golang => {
                        let (org, repo) = word.split_once('-').unwrap_or((&word, &word));
                        let root = format!("/usr/share/gocode/src/github.com/{org}/{repo}");
                        self.sources(&mut files, &root, "go", 10, 400);
                        provides.push(Dep::plain(format!("golang(github.com/{org}/{repo})")));
                        for _ in 0..self.rng.range(0, 8) {
                            let sub = self.word();
                            provides.push(Dep::plain(format!("golang(github.com/{org}/{repo}/{sub})")));
                        }
                        requires.push(Dep::plain("golang"));
                        requires.push(Dep::plain("go-filesystem"));
                    }
                    Flavor::Rust => {
                        let root = format!("/usr/share/cargo/registry/{word}-{ver}");
                        self.sources(&mut files, &root, "rs", 5, 80);
                        files.push((format!("{root}/Cargo.toml"), false));
                        let feature = suffix.trim_start_matches('+').trim_end_matches("-devel");
                        let crate_name = if suffix.is_empty() {
                            format!("crate({word})")
                        } else {
                            format!("crate({word}/{feature})")
                        };
                        provides.push(Dep::versioned(crate_name, "EQ", 0, ver, None));
                        requires.push(Dep::plain("cargo"));
                        if !suffix.is_empty() {
                            requires.push(Dep::versioned(format!("crate({word})"), "EQ", 0, ver, None));
                        }
                    }
                    _ => {
                        self.sources(&mut files, &format!("/usr/include/{word}"), "h", 3, 80);
                        for s in sonames {
                            let dev = s
                                .rsplit_once(".so.")
                                .map_or(s.clone(), |(stem, _)| format!("{stem}.so"));
                            files.push((format!("/usr/lib64/{dev}"), false));
                        }
                        files.push((format!("/usr/lib64/pkgconfig/{word}.pc"), false));
                        provides.push(Dep::versioned(format!("pkgconfig({word})"), "EQ", 0, ver, None));
                        requires.push(base_dep(!noarch));
                        requires.push(Dep::plain("/usr/bin/pkg-config"));
                        requires.push(Dep::plain("pkgconfig"));
                        if self.rng.chance(25) {
                            let cmake = format!("/usr/lib64/cmake/{word}");
                            files.push((cmake.clone(), true));
                            for f in ["Config", "ConfigVersion", "Targets", "Targets-release"] {
                                files.push((format!("{cmake}/{word}{f}.cmake"), false));
                            }
                        }
                    }
                }
                if !matches!(flavor, Flavor::Golang | Flavor::Rust) {
                    self.docs(&mut files, &doc_dir);
                }
            }
            (Flavor::Python, _) => {
                let site = if noarch {
                    "/usr/lib/python3.6/site-packages"
                } else {
                    "/usr/lib64/python3.6/site-packages"
                };
                let module = word.replace('-', "_");
                let pkg_dir = format!("{site}/{module}");
                files.push((pkg_dir.clone(), true));
                files.push((format!("{pkg_dir}/__pycache__"), true));
                for _ in 0..self.rng.range(1, 60) {
                    let m = if files.len() == 2 {
                        "__init__".to_string()
                    } else {
                        self.word()
                    };
                    files.push((format!("{pkg_dir}/{m}.py"), false));
                    for opt in ["", ".opt-1"] {
                        files.push((format!("{pkg_dir}/__pycache__/{m}.cpython-36{opt}.pyc"), false));
                    }
                }
                let egg = format!("{site}/{module}-{ver}-py3.6.egg-info");
                files.push((egg.clone(), true));
                for f in [
                    "PKG-INFO",
                    "SOURCES.txt",
                    "dependency_links.txt",
                    "requires.txt",
                    "top_level.txt",
                ] {
                    files.push((format!("{egg}/{f}"), false));
                }
                self.docs(&mut files, &doc_dir);
                provides.push(Dep::versioned(
                    format!("python3.6dist({word})"),
                    "EQ",
                    0,
                    ver,
                    None,
                ));
                provides.push(Dep::versioned(format!("python3dist({word})"), "EQ", 0, ver, None));
                requires.push(Dep::versioned("python(abi)", "EQ", 0, "3.6", None));
                for _ in 0..self.rng.range(0, 4) {
                    if self.python_dists.is_empty() {
                        break;
                    }
                    let (d, v) = self.rng.pick(&self.python_dists).clone();
                    requires.push(Dep::versioned(format!("python3.6dist({d})"), "GE", 0, &v, None));
                }
                if suffix.is_empty() {
                    self.python_dists.push((word.clone(), ver.to_string()));
                }
            }
            (Flavor::Perl, _) => {
                let parts: Vec<&str> = base.trim_start_matches("perl-").split('-').collect();
                let module = parts.join("::");
                let root = format!("/usr/share/perl5/vendor_perl/{}", parts.join("/"));
                files.push((format!("{root}.pm"), false));
                files.push((format!("/usr/share/man/man3/{module}.3pm.gz"), false));
                provides.push(Dep::versioned(format!("perl({module})"), "EQ", 0, ver, None));
                let subs = self.rng.range(0, 12);
                if subs > 0 {
                    files.push((root.clone(), true));
                }
                for _ in 0..subs {
                    let sub = capitalize(&self.word());
                    files.push((format!("{root}/{sub}.pm"), false));
                    files.push((format!("/usr/share/man/man3/{module}::{sub}.3pm.gz"), false));
                    provides.push(Dep::plain(format!("perl({module}::{sub})")));
                }
                self.docs(&mut files, &doc_dir);
                requires.push(Dep::plain("perl(:MODULE_COMPAT_5.26.3)"));
                requires.push(Dep::plain("perl(strict)"));
                requires.push(Dep::plain("perl(warnings)"));
                for _ in 0..self.rng.range(0, 5) {
                    if self.perl_modules.is_empty() {
                        break;
                    }
                    let m = self.rng.pick(&self.perl_modules).clone();
                    requires.push(Dep::plain(format!("perl({m})")));
                }
                if suffix.is_empty() {
                    self.perl_modules.push(module);
                }
            }
            (Flavor::Texlive, "-doc") => {
                let root = format!("/usr/share/texlive/texmf-dist/doc/latex/{word}");
                self.sources(&mut files, &root, "pdf", 1, 30);
            }
            (Flavor::Texlive, _) => {
                let root = format!("/usr/share/texlive/texmf-dist/tex/latex/{word}");
                self.sources(&mut files, &root, "sty", 2, 60);
                provides.push(Dep::plain(format!("tex({word}.sty)")));
                requires.push(Dep::plain("texlive-base"));
                requires.push(Dep::plain("texlive-kpathsea"));
                requires.push(Dep::pre("/usr/bin/mktexlsr"));
            }
            (Flavor::IconTheme, _) => {
                let root = format!("/usr/share/icons/{word}");
                files.push((root.clone(), true));
                let icons: Vec<String> = (0..self.rng.range(100, 600)).map(|_| self.word()).collect();
                for size in ["16x16", "22x22", "24x24", "32x32", "48x48", "scalable"] {
                    for category in ["actions", "apps", "devices", "places", "status"] {
                        let dir = format!("{root}/{size}/{category}");
                        files.push((dir.clone(), true));
                        let ext = if size == "scalable" { "svg" } else { "png" };
                        for icon in icons.iter().skip(category.len()).step_by(5) {
                            files.push((format!("{dir}/{icon}.{ext}"), false));
                        }
                    }
                }
                files.push((format!("{root}/index.theme"), false));
                requires.push(Dep::plain("hicolor-icon-theme"));
                requires.push(Dep::pre("/bin/sh"));
            }
            (_, "-doc") => {
                self.data(&mut files, &format!("{doc_dir}/html"), 5, 400);
                requires.push(base_dep(false));
            }
            _ => {
                // -common, -tools, -static, -tests and the like.
                if suffix == "-tools" {
                    self.binaries(&mut files, &word, 1, 8);
                } else if suffix == "-static" {
                    for s in sonames {
                        let stem = s.split(".so.").next().unwrap_or(s);
                        files.push((format!("/usr/lib64/{stem}.a"), false));
                    }
                } else {
                    self.data(&mut files, &format!("/usr/share/{word}"), 2, 40);
                }
                requires.push(base_dep(!noarch));
            }
        }
        if self.rng.chance(3) {
            provides.push(Dep::versioned(
                format!("bundled({})", self.word()),
                "EQ",
                0,
                &self.version(),
                None,
            ));
        }
        if self.rng.chance(5) {
            requires.push(Dep::plain(format!("({} if {})", base, self.word())));
        }
        files.sort();
        files.dedup();

        let summary = format!("{} {}", capitalize(&word), self.rng.pick(PHRASES));
        let description = (0..self.rng.range(2, 5))
            .map(|_| *self.rng.pick(SENTENCES))
            .collect::<Vec<_>>()
            .join(" ");
        let changelog = (0..self.rng.range(1, 4))
            .map(|i| {
                let date = build_time - i * self.rng.range(86_400, 200 * 86_400);
                let who = format!(
                    "{} {} <{}@example.invalid> - {ver}-{rel}",
                    capitalize(&self.word()),
                    capitalize(&self.word()),
                    self.word()
                );
                let text = format!(
                    "- Update to {ver}\n- {}\n- Resolves: rhbz#{}",
                    self.rng.pick(SENTENCES),
                    self.rng.range(1_000_000, 2_300_000)
                );
                (who, date, text)
            })
            .collect();
        Pkg {
            source: base.to_string(),
            url: format!("https://{word}.example.org/"),
            file_time: self.now,
            name,
            arch,
            epoch,
            ver: ver.to_string(),
            rel: rel.to_string(),
            summary,
            description,
            license,
            build_time,
            provides,
            requires,
            files,
            changelog,
        }
    }

    fn docs(&mut self, files: &mut Vec<(String, bool)>, doc_dir: &str) {
        files.push((doc_dir.to_owned(), true));
        for f in [
            "README",
            "NEWS",
            "AUTHORS",
            "ChangeLog",
            "CONTRIBUTING.md",
            "TODO",
        ] {
            if self.rng.chance(45) {
                files.push((format!("{doc_dir}/{f}"), false));
            }
        }
        let licenses = doc_dir.replace("/doc/", "/licenses/");
        files.push((licenses.clone(), true));
        files.push((format!("{licenses}/COPYING"), false));
    }

    fn binaries(&mut self, files: &mut Vec<(String, bool)>, word: &str, lo: u64, hi: u64) {
        for i in 0..self.rng.range(lo, hi) {
            let bin = if i == 0 {
                word.to_owned()
            } else {
                format!("{word}-{}", self.word())
            };
            let dir = if self.rng.chance(80) {
                "/usr/bin"
            } else {
                "/usr/sbin"
            };
            files.push((format!("{dir}/{bin}"), false));
            files.push((format!("/usr/share/man/man1/{bin}.1.gz"), false));
        }
    }

    fn config(
        &mut self,
        files: &mut Vec<(String, bool)>,
        provides: &mut Vec<Dep>,
        requires: &mut Vec<Dep>,
        name: &str,
        (epoch, ver, rel): (u32, &str, &str),
    ) {
        if self.rng.chance(35) {
            files.push((format!("/etc/{name}"), true));
            files.push((format!("/etc/{name}/{name}.conf"), false));
            provides.push(Dep::versioned(
                format!("config({name})"),
                "EQ",
                epoch,
                ver,
                Some(rel),
            ));
        }
        if self.rng.chance(15) {
            files.push((format!("/usr/lib/systemd/system/{name}.service"), false));
            requires.push(Dep::pre("systemd"));
            requires.push(Dep::plain("systemd"));
        }
    }

    fn locales(&mut self, files: &mut Vec<(String, bool)>, word: &str, percent: u64) {
        if !self.rng.chance(percent) {
            return;
        }
        let n = self.rng.range(15, LANGS.len() as u64);
        for lang in &LANGS[..n as usize] {
            files.push((format!("/usr/share/locale/{lang}/LC_MESSAGES/{word}.mo"), false));
        }
    }

    fn data(&mut self, files: &mut Vec<(String, bool)>, root: &str, lo: u64, hi: u64) {
        let n = self.rng.range(lo, hi);
        if n == 0 {
            return;
        }
        files.push((root.to_owned(), true));
        let dirs: Vec<String> = (0..1 + n / 25)
            .map(|_| format!("{root}/{}", self.word()))
            .collect();
        for d in &dirs {
            files.push((d.clone(), true));
        }
        for _ in 0..n {
            let ext = *self
                .rng
                .pick(&["xml", "png", "svg", "json", "dat", "txt", "html", "css", "js"]);
            let dir = self.rng.pick(&dirs).clone();
            files.push((format!("{dir}/{}.{ext}", self.word()), false));
        }
    }

    fn sources(&mut self, files: &mut Vec<(String, bool)>, root: &str, ext: &str, lo: u64, hi: u64) {
        files.push((root.to_owned(), true));
        let n = self.rng.range(lo, hi);
        let dirs: Vec<String> = std::iter::once(root.to_owned())
            .chain((0..n / 12).map(|_| format!("{root}/{}", self.word())))
            .collect();
        for d in &dirs[1..] {
            files.push((d.clone(), true));
        }
        for _ in 0..n {
            let dir = self.rng.pick(&dirs).clone();
            files.push((format!("{dir}/{}.{ext}", self.word()), false));
        }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `1.2.3` → `1.2.4`; anything else gets `.1` appended.
fn bump(ver: &str) -> String {
    match ver.rsplit_once('.') {
        Some((head, last)) if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() => {
            format!("{head}.{}", last.parse::<u64>().unwrap_or(0) + 1)
        }
        _ => format!("{ver}.1"),
    }
}

#[cfg(test)]
mod tests {
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
}
