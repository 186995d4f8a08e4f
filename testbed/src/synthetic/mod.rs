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

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::fixture::FixtureRepo;
use crate::fixture::gpg::Keyring;
use crate::fsutil;

mod contents;
mod fixture_entries;
mod generator;
mod package;
#[cfg(test)]
mod tests;
mod words;
mod writer;

use fixture_entries::{RealEntry, read_fixture_entries};
use generator::Generator;
use package::{Buffers, Stats};
use writer::MetaWriter;

/// What the error says when the directory to build into is not empty.
const NOT_EMPTY: &str = "a synthetic repository is built into a new or empty directory";

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
    fsutil::ensure_empty(&dir, NOT_EMPTY)?;
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
