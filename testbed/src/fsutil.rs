//! Small filesystem helpers with error messages that name the path.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `contents` to `path`, creating parent directories.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `contents` to `path` through a temporary file and a rename, so that a reader
/// (or a build that was killed half-way) never sees a partial file. Used for the marker
/// that says a fixture build is complete.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let parent = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    tmp.write_all(contents.as_ref())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot rename into {}", path.display()))?;
    // NamedTempFile is created 0600; the file is meant to be read like any other.
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Copies a directory tree: regular files, directories (with their modes) and symlinks.
/// Sockets and other special files are skipped: a copied GnuPG home must not carry
/// the sockets of the original's gpg-agent.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("cannot stat {}", from.display()))?;
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    fs::set_permissions(to, meta.permissions()).with_context(|| format!("cannot chmod {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", src.display()))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target =
                fs::read_link(&src).with_context(|| format!("cannot read link {}", src.display()))?;
            std::os::unix::fs::symlink(&target, &dst)
                .with_context(|| format!("cannot create symlink {}", dst.display()))?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Fails unless `dir` is missing or empty: what is built there must not mix with what was
/// there before. The error says "`dir` is not empty; `hint`".
pub fn ensure_empty(dir: &Path, hint: &str) -> Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        if entries.next().is_some() {
            anyhow::bail!("{} is not empty; {hint}", dir.display());
        }
    }
    Ok(())
}

/// Makes `path` an absolute path without resolving symlinks (the path need not exist).
pub fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_copies_files_dirs_and_links() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let src = tmp.path().join("src");
        write(&src.join("a/b.txt"), "hello")?;
        std::os::unix::fs::symlink("a/b.txt", src.join("link"))?;
        let dst = tmp.path().join("dst");
        copy_tree(&src, &dst)?;
        assert_eq!(fs::read_to_string(dst.join("a/b.txt"))?, "hello");
        assert_eq!(fs::read_link(dst.join("link"))?, Path::new("a/b.txt"));
        Ok(())
    }

    #[test]
    fn write_atomic_replaces_and_is_readable() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let p = tmp.path().join("x/marker.json");
        write_atomic(&p, "1")?;
        write_atomic(&p, "2")?;
        assert_eq!(fs::read_to_string(&p)?, "2");
        assert_eq!(fs::metadata(&p)?.permissions().mode() & 0o777, 0o644);
        Ok(())
    }
}
