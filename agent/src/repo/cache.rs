//! The download cache under `<root>/var/cache/linstor-agent`:
//!
//! ```text
//! metadata/<repomd.xml sha256>/repomd.xml, repomd.xml.asc, <…>-primary.xml.gz, <…>-filelists.xml.gz
//! packages/<file name>.rpm
//! ```
//!
//! Metadata directories are keyed by the signed repomd.xml's own hash, so an unchanged
//! repository reuses its files and a changed one never mixes old and new. Nothing in the cache
//! is trusted: every file is re-hashed against the (freshly verified) metadata before use, and
//! files only appear under their final name by an atomic rename after they were checked.

use super::fetch::Fetcher;
use super::scan::{Content, Scanned, scan_file};
use crate::host::{HostDir, Sysroot, rootfs};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use url::Url;

#[derive(Debug, Clone)]
pub(crate) struct Cache {
    /// The cache is `/var/cache/linstor-agent` of this root, opened inside it (`host::confined`):
    /// a link there, or on the way to it, never sends downloads or metadata out of the root.
    sysroot: Sysroot,
}

/// The cache's host path.
pub(crate) const CACHE_DIR: &str = "/var/cache/linstor-agent";

/// What a file must be: its sha256 and, when known, its size.
pub(crate) struct Expected<'a> {
    pub sha256: &'a str,
    pub size: Option<u64>,
}

/// Whether [`ensure_file`] found the file in the cache or downloaded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Cached,
    Downloaded,
}

impl Cache {
    pub(crate) fn new(sysroot: &Sysroot) -> Cache {
        Cache {
            sysroot: sysroot.clone(),
        }
    }

    /// `sub` of the cache (`metadata/<revision>`, `packages`), created, opened inside the root.
    pub(crate) fn dir(&self, sub: &str) -> Result<HostDir> {
        self.sysroot.dir(Path::new(CACHE_DIR).join(sub)).with_context(|| {
            format!(
                "cannot create the cache directory {}: check permissions and free space (or the --root directory)",
                self.sysroot.path(CACHE_DIR).join(sub).display()
            )
        })
    }

    pub(crate) fn metadata_dir(&self, revision: &str) -> Result<HostDir> {
        self.dir(&format!("metadata/{revision}"))
    }

    pub(crate) fn packages_dir(&self) -> Result<HostDir> {
        self.dir("packages")
    }

    /// Every directory a download is written into: packages, and each metadata revision; as
    /// they resolve inside the root (created by nobody: a cache not there yet has nothing to
    /// sweep), and only real directories (a link among the revisions is not followed).
    pub(crate) fn download_dirs(&self) -> Vec<PathBuf> {
        let resolved = |sub: &str| rootfs::real_path(&self.sysroot, &Path::new(CACHE_DIR).join(sub)).ok();
        let revisions = resolved("metadata")
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .map(|entry| entry.path());
        resolved("packages").into_iter().chain(revisions).collect()
    }

    /// Removes the metadata of other repository revisions: they can never be used again
    /// (a revision is a repomd hash) and would otherwise pile up with every repository update.
    /// Best effort: a directory another process still reads is harmless to leave.
    pub(crate) fn prune_metadata(&self, keep: &str) {
        let Ok(Ok(entries)) = self.dir("metadata").map(|dir| std::fs::read_dir(dir.path())) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name() != keep
                && let Err(e) = std::fs::remove_dir_all(entry.path())
            {
                tracing::debug!(dir = %entry.path().display(), "cannot prune old repository metadata: {e}");
            }
        }
    }
}

/// The file name a location (`repodata/abc-primary.xml.gz`, `Packages/k/kmod.rpm`) is cached
/// under: its last segment, refused if it could climb out of the cache directory.
pub(crate) fn file_name(location: &str) -> Result<&str> {
    let name = location.rsplit('/').next().unwrap_or(location);
    if name.is_empty() || name == "." || name == ".." || name.contains('\\') || name.starts_with('.') {
        anyhow::bail!(
            "the repository metadata names the file {location:?}, which cannot be stored safely: the \
             metadata is malformed; ask the repository owner to rerun createrepo_c"
        );
    }
    Ok(name)
}

/// Makes `dest` a verified copy of `url`:
/// - if `dest` exists and has the expected sha256 (and size), it is reused after `check`;
///   a cached file that fails `check` is deleted and the error returned (downloading it again
///   would give the same bytes);
/// - otherwise `url` is downloaded next to it into a temporary file while it is scanned,
///   compared, passed through `check`, and only then renamed to `dest`. Any failure leaves no
///   file behind.
///
/// Either way the file is read once: `check` gets the file's path and the scan (for
/// [`Content::Rpm`], the RPM headers and payload hash) of the very bytes whose sha256 matched.
/// `what` names the file in messages ("primary metadata", a package NEVRA).
pub(crate) fn ensure_file(
    fetcher: &Fetcher,
    url: &Url,
    dest: &Path,
    expected: &Expected<'_>,
    what: &str,
    content: Content,
    check: impl Fn(&Path, &Scanned) -> Result<()>,
) -> Result<Origin> {
    // Only a regular file is read as a cached copy: a link (to anywhere) or a FIFO planted in
    // the cache is removed (the link itself) and the file downloaded afresh.
    if std::fs::symlink_metadata(dest).is_ok_and(|m| !m.file_type().is_file()) {
        tracing::warn!(file = %dest.display(), "the cached {what} is not a regular file; downloading it again");
        let _ = std::fs::remove_file(dest);
    }
    match scan_file(dest, content) {
        Ok(scanned)
            if scanned.sha256 == expected.sha256 && expected.size.is_none_or(|s| s == scanned.size) =>
        {
            if let Err(e) = check(dest, &scanned) {
                let _ = std::fs::remove_file(dest);
                return Err(e);
            }
            return Ok(Origin::Cached);
        }
        Ok(_) => {
            // Stale or damaged: say so, then fetch it again rather than trusting it.
            tracing::warn!(file = %dest.display(), "cached {what} does not match the repository metadata; downloading it again");
            let _ = std::fs::remove_file(dest);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %dest.display(), "cannot read cached {what} ({e}); downloading it again");
            let _ = std::fs::remove_file(dest);
        }
    }

    let dir = dest.parent().unwrap_or(Path::new("."));
    let shown = crate::progress::transfer(what, expected.size);
    let download = fetcher
        .download(url, dir, expected.size, content, &shown)
        .with_context(|| format!("cannot download {what}"))?;
    if download.scanned.sha256 != expected.sha256 {
        // Dropping `download` deletes the temporary file.
        anyhow::bail!(
            "checksum mismatch for {what}: {url} has sha256 {}, but the signed repository metadata says {} — \
             the file is corrupt or was replaced after the metadata was signed (the repository may be \
             mid-update, or tampered with); run again later, and tell the repository owner if it persists",
            download.scanned.sha256,
            expected.sha256
        );
    }
    check(download.file.path(), &download.scanned)?;
    tracing::debug!(%url, bytes = download.scanned.size, "downloaded {what}");
    download.file.persist(dest).map_err(|e| {
        anyhow::anyhow!(
            "cannot store {what} as {}: {} — check permissions and free space of the cache directory",
            dest.display(),
            e.error
        )
    })?;
    shown.done();
    Ok(Origin::Downloaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::digest::sha256_hex;

    #[test]
    fn file_names_cannot_escape_the_cache() {
        assert_eq!(
            file_name("repodata/abc-primary.xml.gz").unwrap(),
            "abc-primary.xml.gz"
        );
        assert_eq!(
            file_name("Packages/k/kmod-drbd-9.2.11-1.x86_64.rpm").unwrap(),
            "kmod-drbd-9.2.11-1.x86_64.rpm"
        );
        assert_eq!(file_name("plain.rpm").unwrap(), "plain.rpm");
        for bad in ["", "repodata/", "a/..", "a/.", "..", ".hidden", "a\\b"] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ensure_file_reuses_verified_copies_and_replaces_bad_ones() {
        let src = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f.xml"), b"content").unwrap();
        let fetcher = Fetcher::new(&format!("file://{}", src.path().display())).unwrap();
        let url = fetcher.resolve("f.xml").unwrap();
        let dest = cache.path().join("f.xml");
        let sha = sha256_hex(b"content");
        let expected = Expected {
            sha256: &sha,
            size: Some(7),
        };

        let ensure = |expected: &Expected<'_>, check: &dyn Fn(&Path, &Scanned) -> Result<()>| {
            ensure_file(
                &fetcher,
                &url,
                &dest,
                expected,
                "test file",
                Content::Plain,
                check,
            )
        };

        let ok = |_: &Path, _: &Scanned| Ok(());
        assert_eq!(ensure(&expected, &ok).unwrap(), Origin::Downloaded);
        assert_eq!(ensure(&expected, &ok).unwrap(), Origin::Cached);

        // A corrupted cache entry is fetched again, not trusted.
        std::fs::write(&dest, b"CONTENT").unwrap();
        assert_eq!(ensure(&expected, &ok).unwrap(), Origin::Downloaded);
        assert_eq!(std::fs::read(&dest).unwrap(), b"content");

        // A check that fails deletes the file: the cached one, then a downloaded one.
        let refuse = |_: &Path, _: &Scanned| -> Result<()> { anyhow::bail!("refused") };
        assert!(ensure(&expected, &refuse).is_err());
        assert!(!dest.exists());
        assert!(ensure(&expected, &refuse).is_err());
        assert!(!dest.exists());
        assert_eq!(
            std::fs::read_dir(cache.path()).unwrap().count(),
            0,
            "no partial files left"
        );

        // A source that differs from the metadata is refused, and nothing is left behind.
        let wrong = sha256_hex(b"other");
        let err = ensure(
            &Expected {
                sha256: &wrong,
                size: None,
            },
            &ok,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("checksum mismatch for test file"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }
}
