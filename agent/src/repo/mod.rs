//! The repository client: signed yum repository metadata and verified package downloads.
//!
//! Trust flows one way, and nothing is used before it is checked:
//! 1. the key file (`[repo] gpgkey`), optionally pinned by `[repo] fingerprint` (`key`);
//! 2. `repodata/repomd.xml`, by its detached signature `repomd.xml.asc` under that key, then
//!    by its age: never older than the newest this host accepted from the repository, nor than
//!    `[repo] max_metadata_age` (`freshness`);
//! 3. primary and filelists, by the sha256 the signed repomd.xml gives them (`cache`,
//!    `metadata`);
//! 4. each package, by the sha256 in the (now trusted) primary metadata, then by its own RPM
//!    header signature under the same key and its payload digest (`package_check`).
//!
//! Modules: `fetch` (http(s)/file transport, truncation, size bounds), `freshness` (rollback
//! and freeze checks, `<root>/var/lib/linstor-agent/repo-state.json`), `pace` (the low-speed
//! limit), `partials` (leftover partial downloads), `scan` (one pass over a file: its
//! sha256 and RPM payload digest, hashed on worker threads while it is written), `sha256x2`
//! (both digests of a download on one thread, interleaved), `digest` (sha256 helpers), `cache`
//! (layout and verified reuse), `metadata` (parsing), `package_check` (RPM verification),
//! `version` (rpmvercmp).

mod cache;
mod digest;
mod fetch;
mod freshness;
mod key;
mod metadata;
mod pace;
mod package_check;
mod partials;
mod scan;
mod sha256x2;

pub use crate::rpmver::{compare_evr, compare_versions};
pub use fetch::FetchError;
/// The metadata parsers on bytes, for the fuzz targets (`docs/fuzzing.md`).
pub use metadata::from_bytes as metadata_from_bytes;
pub use package_check::PackageCheckError;

use crate::host::{FileMode, HostDir, Sysroot};
use crate::settings::RepoSettings;
use anyhow::{Context, Result};
use cache::{Cache, Expected};
use fetch::Fetcher;
use freshness::Freshness;
use key::RepoKey;
use scan::Content;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// repomd.xml of a 10,000-package repository is a few kB; anything near this is not one.
const MAX_REPOMD_BYTES: u64 = 16 * 1024 * 1024;
const MAX_SIGNATURE_BYTES: u64 = 1024 * 1024;

/// A configured, key-verified repository.
#[derive(Debug)]
pub struct Repository {
    baseurl: String,
    fetcher: Fetcher,
    key: RepoKey,
    cache: Cache,
    freshness: Freshness,
}

/// What the repository offers, as of one signed revision.
#[derive(Debug, Clone)]
pub struct RepoMetadata {
    /// sha256 of the signed repomd.xml: changes whenever the repository does.
    pub revision: String,
    pub packages: Vec<RepoPackage>,
}

impl RepoMetadata {
    /// The packages called `name`, in metadata order.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RepoPackage> + 'a {
        self.packages.iter().filter(move |p| p.name == name)
    }
}

/// Which filelists entries [`Repository::metadata_with`] keeps in [`RepoPackage::files`].
///
/// Every file of a large repository is most of its metadata (about a million paths, some
/// 80 MB, for 10,000 packages); a caller that only looks at some paths can say so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Files {
    /// Every file and directory (what [`Repository::metadata`] does).
    #[default]
    All,
    /// Only paths that start with one of these prefixes (e.g. `/lib/modules/`).
    Under(Vec<String>),
    /// Only the files of the packages called one of `names`, and of those only the paths
    /// that start with one of the `under` prefixes (all of them when `under` is empty); every
    /// other package gets no files.
    ///
    /// The cheapest way to read a large repository's filelists: the `<package>` blocks of other
    /// packages are recognised by their `name` attribute and skipped unparsed, so the cost is
    /// little more than decompressing the file.
    Named { names: Vec<String>, under: Vec<String> },
    /// None: filelists is not even downloaded.
    Skip,
}

impl Files {
    /// Whether the files of the package called `name` are kept at all.
    fn keeps_package(&self, name: &str) -> bool {
        match self {
            Files::All | Files::Under(_) => true,
            Files::Named { names, .. } => names.iter().any(|n| n == name),
            Files::Skip => false,
        }
    }

    /// Whether `path` is kept, in a package whose files are.
    fn keeps(&self, path: &str) -> bool {
        let under = |prefixes: &[String]| prefixes.iter().any(|p| path.starts_with(p.as_str()));
        match self {
            Files::All => true,
            Files::Under(prefixes) => under(prefixes),
            Files::Named { under: prefixes, .. } => prefixes.is_empty() || under(prefixes),
            Files::Skip => false,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RepoPackage {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The location href, relative to the base URL (absolute only when the metadata gives an
    /// `xml:base`, as mirror layouts do).
    pub location: String,
    /// sha256 of the .rpm file, lower-case hex.
    pub sha256: String,
    /// Size of the .rpm file in bytes.
    pub size: u64,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    /// Every file and directory of the package, from filelists.
    pub files: Vec<String>,
}

impl RepoPackage {
    /// `name-[epoch:]version-release.arch`, the epoch left out when 0 (as yum prints it).
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// `[epoch:]version-release`, the epoch left out when 0; compare with [`compare_evr`].
    pub fn evr(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}", self.version, self.release)
        } else {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        }
    }
}

/// A Provides or Requires entry, as the repository XML states it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// "EQ", "LT", "LE", "GT" or "GE"; `None` for an unversioned dependency.
    pub flags: Option<String>,
    pub epoch: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
}

impl Repository {
    /// Loads the ASCII-armored key from `repo.gpgkey`, checks its primary fingerprint against
    /// the pin if any (mismatch → an error naming both fingerprints and the key file, exit 1).
    /// A bad URL, or a missing or unparsable key file, is a config error (exit 2).
    ///
    /// `repo.gpgkey` and a `file://` base URL are paths on the machine the agent runs on, like
    /// the config file itself (not inside `--root`); only the cache lives in the sysroot.
    pub fn open(repo: &RepoSettings, sysroot: &Sysroot) -> Result<Repository> {
        let speed = pace::Speed {
            minrate: repo.minrate,
            window: repo.timeout,
        };
        let fetcher = Fetcher::with_speed(&repo.baseurl, speed)?;
        let key = RepoKey::load(&repo.gpgkey, repo.fingerprint.as_deref())?;
        tracing::debug!(baseurl = %fetcher.base(), key = %key.fingerprint(), "repository opened");
        let cache = Cache::new(sysroot);
        // Partial downloads of runs that were killed (issue 14): removed before they pile up.
        for dir in cache.download_dirs() {
            partials::sweep(&dir);
        }
        let freshness = Freshness::new(
            sysroot,
            fetcher.base().as_str(),
            &key.fingerprint(),
            repo.max_metadata_age.clone(),
        );
        Ok(Repository {
            baseurl: fetcher.base().to_string(),
            fetcher,
            key,
            cache,
            freshness,
        })
    }

    /// The base URL, normalised to end with `/`.
    pub fn baseurl(&self) -> &str {
        &self.baseurl
    }

    /// Fetches and verifies the repository metadata (see the module documentation), reusing
    /// the cached primary and filelists of an unchanged repository after re-hashing them.
    pub fn metadata(&self) -> Result<RepoMetadata> {
        self.metadata_with(&Files::All)
    }

    /// [`Repository::metadata`], keeping only the filelists entries `files` selects.
    pub fn metadata_with(&self, files: &Files) -> Result<RepoMetadata> {
        let started = Instant::now();
        let repomd_url = self.fetcher.resolve("repodata/repomd.xml")?;
        let signature_url = self.fetcher.resolve("repodata/repomd.xml.asc")?;
        // Two small requests: the signature's on another thread, so that they take one round
        // trip, not two.
        let (repomd_bytes, signature) = std::thread::scope(|scope| {
            let signature = scope.spawn(|| self.fetcher.get_bytes(&signature_url, MAX_SIGNATURE_BYTES));
            let repomd = self.fetcher.get_bytes(&repomd_url, MAX_REPOMD_BYTES);
            let signature = signature
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (repomd, signature)
        });
        let repomd_bytes = repomd_bytes.context("cannot get the repository metadata")?;
        let signature = match signature {
            Ok(bytes) => bytes,
            Err(FetchError::NotFound { .. } | FetchError::MissingFile { .. }) => anyhow::bail!(
                "{signature_url} does not exist: the repository metadata is not signed, and the agent only uses \
                 signed repositories; ask the repository owner to sign it (`gpg --detach-sign --armor \
                 repodata/repomd.xml`)"
            ),
            Err(e) => return Err(e).context("cannot get the repository metadata signature"),
        };
        self.key
            .verify_detached(&repomd_bytes, &signature, repomd_url.as_str())?;

        // From here on repomd.xml is trusted.
        let revision = digest::sha256_hex(&repomd_bytes);
        let repomd = metadata::parse_repomd(&repomd_bytes, repomd_url.as_str())?;
        // Signed is not enough: it must not be older than what this host has seen (exit 3).
        let seen = freshness::Seen {
            revision: repomd.revision.clone(),
            timestamp: repomd.timestamp,
            repomd_sha256: revision.clone(),
        };
        self.freshness.accept(&seen, repomd_url.as_str())?;
        let dir = self.cache.metadata_dir(&revision)?;
        // Kept beside the files they describe, for whoever inspects the cache.
        write_atomic(&dir, "repomd.xml", &repomd_bytes)?;
        write_atomic(&dir, "repomd.xml.asc", &signature)?;

        let primary_path = self.metadata_file(&repomd.primary, dir.path())?;
        let filelists_path = match files {
            Files::Skip => None,
            _ => Some(self.metadata_file(&repomd.filelists, dir.path())?),
        };
        let filelists = filelists_path.as_deref().map(|path| (&repomd.filelists, path));
        let packages = metadata::read_packages(&repomd.primary, &primary_path, filelists, files)?;
        self.cache.prune_metadata(&revision);
        tracing::debug!(
            baseurl = %self.baseurl,
            %revision,
            packages = packages.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "repository metadata loaded"
        );
        Ok(RepoMetadata { revision, packages })
    }

    /// Makes one metadata file present and sha256-verified in `dir`; returns its path.
    fn metadata_file(&self, file: &metadata::MetadataFile, dir: &Path) -> Result<PathBuf> {
        let url = self.fetcher.resolve(&file.location)?;
        let dest = dir.join(cache::file_name(&file.location)?);
        // The errors name the URL (which holds the file name); this names the role.
        let what = format!("{} metadata", file.kind);
        let expected = Expected {
            sha256: &file.sha256,
            size: file.size,
        };
        cache::ensure_file(
            &self.fetcher,
            &url,
            &dest,
            &expected,
            &what,
            Content::Plain,
            |_, _| Ok(()),
        )?;
        Ok(dest)
    }

    /// Downloads `pkg` into `<cache>/packages/` (or reuses a cached copy whose sha256 matches),
    /// and verifies it: size and sha256 against the metadata, then the RPM header signature
    /// against the key and the header/payload digests. Returns the cached file's path.
    /// Any failure deletes the partial or bad file and names the package NEVRA and the URL.
    ///
    /// The file is read once, as it arrives (or from the cache): its sha256 and its payload
    /// digest are hashed on two threads while it is written, and only its headers are kept in
    /// memory, so a package of any size costs a few MB.
    pub fn fetch_package(&self, pkg: &RepoPackage) -> Result<PathBuf> {
        let nevra = pkg.nevra();
        let url = self
            .package_url(pkg)
            .with_context(|| format!("cannot fetch {nevra}"))?;
        let dir = self.cache.packages_dir()?;
        let dir = dir.path();
        let dest =
            dir.join(cache::file_name(&pkg.location).with_context(|| format!("cannot fetch {nevra}"))?);
        let expected = Expected {
            sha256: &pkg.sha256,
            size: Some(pkg.size),
        };
        // Every error below names the URL; `nevra` names the package.
        let origin = cache::ensure_file(
            &self.fetcher,
            &url,
            &dest,
            &expected,
            &nevra,
            Content::Rpm,
            |path, scanned| {
                let rpm = scanned
                    .rpm
                    .as_ref()
                    .expect("a file scanned as Content::Rpm has an RPM scan");
                package_check::verify_rpm(rpm, path, &self.key, &nevra, url.as_str())
                    .map_err(anyhow::Error::from)
            },
        )?;
        if origin == cache::Origin::Cached {
            crate::progress::cached(pkg.size);
        }
        tracing::debug!(package = %nevra, file = %dest.display(), ?origin, "package verified");
        Ok(dest)
    }

    /// The URL of `pkg`. A relative location must resolve inside the base URL: the metadata
    /// parser already refuses an href that climbs out, and this holds for a package from
    /// anywhere. (An absolute location comes from an `xml:base`, a mirror layout.)
    fn package_url(&self, pkg: &RepoPackage) -> Result<url::Url> {
        let url = self.fetcher.resolve(&pkg.location)?;
        let relative = url::Url::parse(&pkg.location).is_err();
        let why = metadata::escapes(&pkg.location);
        if relative && (why.is_some() || !url.as_str().starts_with(self.fetcher.base().as_str())) {
            anyhow::bail!(
                "package {} has the location href {:?}, which leaves the repository {} ({}): the agent only \
                 reads packages from inside the repository; ask the repository owner to rebuild it with createrepo_c",
                pkg.nevra(),
                pkg.location,
                self.baseurl,
                why.unwrap_or("it resolves outside the base URL")
            );
        }
        Ok(url)
    }
}

/// Writes a small file of the cache via a temporary file and a rename, so readers never see
/// half of it.
fn write_atomic(dir: &HostDir, name: &str, bytes: &[u8]) -> Result<()> {
    dir.write(name, bytes, FileMode::Set(0o644)).map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: {e} — check permissions and free space of the cache directory",
            dir.path().join(name).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(epoch: u32) -> RepoPackage {
        RepoPackage {
            name: "kmod-drbd".into(),
            epoch,
            version: "9.2.11".into(),
            release: "1.xcpng8.3".into(),
            arch: "x86_64".into(),
            location: "Packages/kmod-drbd-9.2.11-1.xcpng8.3.x86_64.rpm".into(),
            sha256: String::new(),
            size: 0,
            provides: Vec::new(),
            requires: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The pool upgrade prefetches on several threads with one client.
    #[test]
    fn repository_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Repository>();
        assert_send_sync::<RepoMetadata>();
    }

    #[test]
    fn nevra_leaves_out_a_zero_epoch() {
        assert_eq!(package(0).nevra(), "kmod-drbd-9.2.11-1.xcpng8.3.x86_64");
        assert_eq!(package(0).evr(), "9.2.11-1.xcpng8.3");
        assert_eq!(package(1).nevra(), "kmod-drbd-1:9.2.11-1.xcpng8.3.x86_64");
        assert_eq!(package(1).evr(), "1:9.2.11-1.xcpng8.3");
    }
}
