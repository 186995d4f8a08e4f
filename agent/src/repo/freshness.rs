//! Rollback and freeze protection for the signed metadata (issue 14).
//!
//! A signature says who published a repomd.xml, not when: a mirror, a proxy or anyone in
//! between can serve an older, genuinely signed snapshot (a rollback: the newest packages are
//! gone, and a host would be downgraded) or keep serving the same old one (a freeze: updates
//! never arrive). So the agent remembers, per repository (its base URL and the key's
//! fingerprint), the newest repomd.xml it accepted, in `<root>`[`STATE_FILE`], and refuses
//! anything older (exit 3). The file is written only after the signature verified, atomically,
//! under a lock, inside the root (`host::confined`). With `[repo] max_metadata_age`, metadata
//! generated longer ago than that is refused too (exit 3).
//!
//! "Older": a lower `<revision>` when both are numbers (createrepo_c writes the Unix time of
//! the build), or an older newest `<timestamp>` (every createrepo_c writes them). Metadata that
//! says neither cannot be ordered, and is accepted.

use crate::error::Refusal;
use crate::host::{FileMode, Sysroot, rootfs};
use crate::settings::ConfigDuration;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file, on the host.
pub(crate) const STATE_FILE: &str = "/var/lib/linstor-agent/repo-state.json";
/// Held while the file is read, compared and written (a kernel-guard hook may run meanwhile).
const LOCK_FILE: &str = "/var/lib/linstor-agent/repo-state.lock";

/// What one signed repomd.xml says about its age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub revision: Option<String>,
    /// The newest `<timestamp>` of its records (Unix seconds).
    pub timestamp: Option<i64>,
    /// sha256 of the repomd.xml itself.
    pub repomd_sha256: String,
}

/// One repository's newest accepted metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    baseurl: String,
    fingerprint: String,
    #[serde(flatten)]
    newest: Seen,
    /// When this host accepted it (Unix seconds).
    accepted_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// Keyed by `<key fingerprint> <baseurl>`.
    #[serde(default)]
    repositories: BTreeMap<String, Entry>,
}

/// The checks for one repository, as configured.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    sysroot: Sysroot,
    baseurl: String,
    fingerprint: String,
    max_age: Option<ConfigDuration>,
}

impl Freshness {
    pub(crate) fn new(
        sysroot: &Sysroot,
        baseurl: &str,
        fingerprint: &str,
        max_age: Option<ConfigDuration>,
    ) -> Freshness {
        Freshness {
            sysroot: sysroot.clone(),
            baseurl: baseurl.to_owned(),
            fingerprint: fingerprint.to_owned(),
            max_age,
        }
    }

    /// Where the file is on the agent's machine (links resolved inside the root), for messages.
    pub(crate) fn path(&self) -> PathBuf {
        rootfs::real_path(&self.sysroot, Path::new(STATE_FILE))
            .unwrap_or_else(|_| self.sysroot.path(STATE_FILE))
    }

    /// Refuses `seen` (a repomd.xml whose signature verified, from `url`) when it is older than
    /// the newest this host accepted from the repository, or than `max_metadata_age` allows;
    /// else records it as the newest.
    pub(crate) fn accept(&self, seen: &Seen, url: &str) -> Result<()> {
        let _lock = self.lock()?;
        let path = self.path();
        let mut state = load(&self.sysroot, &path)?;
        let key = format!("{} {}", self.fingerprint, self.baseurl);
        let known = state.repositories.get(&key);
        if let Some(entry) = known
            && is_older(seen, &entry.newest)
        {
            return Err(Refusal(format!(
                "{url} is older than the metadata this host already accepted from {}: it is {}, but {} was \
                 accepted {} ago. A mirror or someone in between may be replaying an old snapshot (a rollback \
                 attack), which would take the newest packages away. Nothing was changed. If the repository \
                 was rolled back on purpose, delete {} (it remembers the newest metadata of each repository) \
                 and run again.",
                self.baseurl,
                describe(seen),
                describe(&entry.newest),
                age(now() - entry.accepted_at),
                path.display()
            ))
            .into());
        }
        self.check_age(seen, url)?;
        if known.is_some_and(|e| e.newest == *seen) {
            return Ok(());
        }
        state.repositories.insert(
            key,
            Entry {
                baseurl: self.baseurl.clone(),
                fingerprint: self.fingerprint.clone(),
                newest: seen.clone(),
                accepted_at: now(),
            },
        );
        let mut text = serde_json::to_string_pretty(&state)?;
        text.push('\n');
        self.sysroot
            .write_file(STATE_FILE, text.as_bytes(), FileMode::Set(0o644))
            .map(drop)
    }

    /// The freeze check: metadata generated longer ago than `max_metadata_age` is refused.
    fn check_age(&self, seen: &Seen, url: &str) -> Result<()> {
        let Some(max) = &self.max_age else {
            return Ok(());
        };
        let Some(timestamp) = seen.timestamp else {
            return Err(Refusal(format!(
                "{url} gives no <timestamp>, so its age is unknown and [repo] max_metadata_age = \"{max}\" \
                 cannot hold. Nothing was changed. Ask the repository owner to rebuild it with createrepo_c, \
                 or remove max_metadata_age from the config."
            ))
            .into());
        };
        let old = now() - timestamp;
        if old > max.as_duration().as_secs() as i64 {
            return Err(Refusal(format!(
                "{url} was generated {} ago ({}), longer ago than [repo] max_metadata_age = \"{max}\" allows. \
                 The repository, a mirror that stopped syncing, or someone in between is serving stale \
                 metadata, which holds back updates (a freeze attack). Nothing was changed. Check that the \
                 repository is still published; to accept older metadata, raise max_metadata_age in the \
                 config.",
                age(old),
                describe(seen)
            ))
            .into());
        }
        Ok(())
    }

    fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>> {
        let file = self.sysroot.open_lock(LOCK_FILE)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
            anyhow::anyhow!("cannot lock {}: {errno}", self.sysroot.path(LOCK_FILE).display())
        })
    }
}

/// Whether `new` is older than `known`: by revision when both are numbers, by timestamp when
/// both have one.
fn is_older(new: &Seen, known: &Seen) -> bool {
    let number = |s: &Seen| s.revision.as_deref().and_then(|r| r.parse::<u64>().ok());
    let by_revision = matches!((number(new), number(known)), (Some(a), Some(b)) if a < b);
    let by_time = matches!((new.timestamp, known.timestamp), (Some(a), Some(b)) if a < b);
    by_revision || by_time
}

/// `revision 1796302482 (timestamp 1796302482)`.
fn describe(seen: &Seen) -> String {
    let revision = seen.revision.as_deref().unwrap_or("(none)");
    match seen.timestamp {
        Some(t) => format!("revision {revision} (timestamp {t})"),
        None => format!("revision {revision} (no timestamp)"),
    }
}

/// `3d 4h`, `2h 5m`, `40s`.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The state, or none yet; a file that cannot be read is an error (it is the rollback memory).
/// `path` names it in messages.
fn load(sysroot: &Sysroot, path: &Path) -> Result<StateFile> {
    let text = match rootfs::read_optional(sysroot, Path::new(STATE_FILE))
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        Some(text) => text,
        None => return Ok(StateFile::default()),
    };
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not the agent's repository state ({e}): it records the newest repository metadata \
             accepted, against rollbacks; delete it to start again from the metadata the repository \
             serves now",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};

    fn root_file(root: &Path) -> PathBuf {
        root.join("var/lib/linstor-agent/repo-state.json")
    }

    fn seen(revision: &str, timestamp: Option<i64>) -> Seen {
        Seen {
            revision: Some(revision.to_owned()),
            timestamp,
            repomd_sha256: format!("sha-{revision}-{timestamp:?}"),
        }
    }

    #[test]
    fn older_is_a_lower_numeric_revision_or_an_older_timestamp() {
        let known = seen("1000", Some(1000));
        assert!(is_older(&seen("999", Some(1000)), &known));
        assert!(is_older(&seen("1000", Some(999)), &known));
        assert!(is_older(&seen("1001", Some(999)), &known));
        assert!(!is_older(&seen("1000", Some(1000)), &known));
        assert!(!is_older(&seen("1001", Some(1001)), &known));
        // Revisions that are not numbers are not compared; timestamps still are.
        assert!(!is_older(&seen("8.3-a", Some(1000)), &seen("8.3-b", Some(1000))));
        assert!(is_older(&seen("8.3-b", Some(10)), &seen("8.3-a", Some(1000))));
        assert!(!is_older(&seen("x", None), &known));
    }

    #[test]
    fn the_newest_is_remembered_and_an_older_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let file = dir.path().join("var/lib/linstor-agent/repo-state.json");
        let repo = Freshness::new(&root, "file:///r/", "ABCD", None);
        let t = now();
        repo.accept(&seen(&t.to_string(), Some(t)), "R").unwrap();
        repo.accept(&seen(&(t + 10).to_string(), Some(t + 10)), "R")
            .unwrap();
        let err = repo
            .accept(&seen(&t.to_string(), Some(t)), "file:///r/repodata/repomd.xml")
            .unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Refused);
        let msg = err.to_string();
        assert!(msg.contains(&format!("revision {t} (timestamp {t})")), "{msg}");
        assert!(msg.contains(&format!("revision {}", t + 10)), "{msg}");
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        // The same metadata again is fine; another repository, or another key, is its own.
        repo.accept(&seen(&(t + 10).to_string(), Some(t + 10)), "R")
            .unwrap();
        Freshness::new(&root, "file:///other/", "ABCD", None)
            .accept(&seen("1", Some(1)), "R")
            .unwrap();
        Freshness::new(&root, "file:///r/", "EF01", None)
            .accept(&seen("1", Some(1)), "R")
            .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("\"ABCD file:///r/\""), "{text}");
        assert_eq!(load(&root, &file).unwrap().repositories.len(), 3);

        // A damaged file is an error naming it, not a fresh start.
        std::fs::write(&file, "{").unwrap();
        let msg = repo.accept(&seen("1", Some(1)), "R").unwrap_err().to_string();
        assert!(msg.contains("is not the agent's repository state"), "{msg}");
    }

    #[test]
    fn metadata_older_than_the_maximum_age_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let week = ConfigDuration::parse("7d").unwrap();
        let repo = Freshness::new(&Sysroot::new(dir.path()), "file:///r/", "ABCD", Some(week));
        let t = now();
        let err = repo
            .accept(&seen("1", Some(t - 8 * 86_400)), "file:///r/repodata/repomd.xml")
            .unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Refused);
        let msg = err.to_string();
        assert!(msg.contains("was generated 8d 0h ago"), "{msg}");
        assert!(msg.contains("max_metadata_age = \"7d\""), "{msg}");
        assert!(
            !root_file(dir.path()).exists(),
            "refused metadata is not remembered"
        );
        let err = repo.accept(&seen("1", None), "R").unwrap_err();
        assert!(err.to_string().contains("gives no <timestamp>"), "{err}");
        repo.accept(&seen("2", Some(t - 6 * 86_400)), "R").unwrap();
    }
}
