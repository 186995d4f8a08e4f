//! Partial downloads (`.download-*.part` beside the file they become). A download deletes its
//! own when it fails, but a run that is killed (or loses power) leaves it behind, and a
//! package-sized leftover per interrupted run fills the cache. The next run removes them.
//!
//! A part file being written is held under an exclusive `flock` for as long as its download
//! lives, so a sweep (by another run of the agent: `plan` and `install --download-only` take no
//! run lock) never removes a download in progress: it removes only files it can lock itself
//! and that are old enough not to be one just created and not locked yet.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub(crate) const PREFIX: &str = ".download-";
pub(crate) const SUFFIX: &str = ".part";
/// Between creating a part file and locking it a download takes microseconds; a file younger
/// than this is left for the next sweep.
const MIN_AGE: Duration = Duration::from_secs(60);

/// The lock that marks a part file as being written; released when dropped (or when the
/// process dies, which is what makes its file a leftover).
pub(crate) struct Claim {
    _lock: Flock<File>,
}

/// Locks the part file `file` for the download writing it.
pub(crate) fn claim(file: &File) -> io::Result<Claim> {
    Flock::lock(file.try_clone()?, FlockArg::LockExclusiveNonblock)
        .map(|lock| Claim { _lock: lock })
        .map_err(|(_, errno)| errno.into())
}

/// Removes the part files in `dir` that no download holds; returns how many were removed.
/// Best effort: what cannot be read or removed is left (and logged).
pub(crate) fn sweep(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Only regular files: a link or a FIFO planted under that name is not opened (an open
        // would follow the link out of the root, or block on the FIFO).
        let is_part = name.starts_with(PREFIX) && name.ends_with(SUFFIX);
        if !(is_part && entry.file_type().is_ok_and(|t| t.is_file())) {
            continue;
        }
        let path = entry.path();
        if is_leftover(&path) {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a partial download left by an earlier run");
                    removed += 1;
                }
                Err(e) => tracing::warn!(file = %path.display(), "cannot remove a partial download: {e}"),
            }
        }
    }
    removed
}

/// Old enough, and not locked by a download (ours is released as soon as we drop it).
fn is_leftover(path: &Path) -> bool {
    let Ok(file) = File::options().read(true).open(path) else {
        return false;
    };
    let old = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= MIN_AGE);
    old && claim(&file).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aged(path: &Path) -> File {
        let file = File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)
            .unwrap();
        file.set_modified(SystemTime::now() - 2 * MIN_AGE).unwrap();
        file
    }

    #[test]
    fn only_old_unlocked_part_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".download-abc.part");
        let held = dir.path().join(".download-def.part");
        let fresh = dir.path().join(".download-ghi.part");
        let other = dir.path().join("kmod-drbd.rpm");
        aged(&leftover);
        let _claim = claim(&aged(&held)).unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        aged(&other);
        assert_eq!(sweep(dir.path()), 1);
        assert!(!leftover.exists());
        assert!(held.exists() && fresh.exists() && other.exists());
    }
}
