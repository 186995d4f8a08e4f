//! Writing under the root without leaving it: every file the agent writes, creates, locks or
//! removes on the host goes through here (docs/design-notes.md, "Hardening (issue 14)").
//!
//! `Sysroot::path` joins strings, and the kernel then follows every symbolic link it meets from
//! the *agent's* `/`: with `--root R`, a link `R/var/cache/linstor-agent -> /srv/cache` sent the
//! agent's writes to the build machine's `/srv/cache`, and a `.repo` file that was a link to a
//! file outside `R` had that file overwritten. Here the path is walked one directory at a time,
//! each opened relative to the one before with `O_NOFOLLOW`, so no step can be redirected
//! behind the agent's back:
//!
//! - a symbolic link among the directories is followed *inside the root*, as a chroot would:
//!   an absolute target starts again at the root, `..` stops at the root. That is what the host
//!   sees once booted from it, and the same rule [`super::rootfs`] applies to reads;
//! - the last component is written by a rename within its directory, so a link there is
//!   replaced by the file, never followed; a lock file that is a link is refused; removing a
//!   link removes the link;
//! - missing directories are created (0755) as the walk meets them.
//!
//! Why not `openat2(RESOLVE_IN_ROOT)`: XCP-ng 8.x dom0 runs Linux 4.19 and openat2 came in 5.6,
//! so the walk would be needed anyway; and it creates directories as it goes, which openat2
//! cannot. Why not cap-std: it refuses absolute links where a root needs them followed inside
//! it, and brings half a dozen crates; rustix (already in the build through tempfile) gives the
//! `*at` calls with owned descriptors, without `unsafe`, and with no glibc symbol newer than
//! 2.17 (its Linux backend makes the system calls itself).

use super::Sysroot;
use crate::error::Refusal;
use anyhow::{Result, anyhow};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// As Linux's limit on nested links (ELOOP): a cycle is an error, not a hang.
const MAX_LINKS: usize = 40;

const LOCK_IS_A_LINK: &str = "is a symbolic link: the agent does not lock through a link (it could \
     be another file than the one other runs lock); remove the link, the agent creates its lock files itself";

/// The permissions of a file written by [`HostDir::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Exactly this mode.
    Set(u32),
    /// The mode of the file being replaced, else this one (config files an operator may have
    /// tightened keep their permissions).
    KeepOr(u32),
}

/// A directory of the host, opened inside its root. Files are written relative to the open
/// directory, so nothing that changes on the way to it afterwards can move the writes.
#[derive(Debug)]
pub struct HostDir {
    fd: OwnedFd,
    /// Where it is on the agent's filesystem: the root joined with the resolved host path.
    real: PathBuf,
}

impl HostDir {
    /// The directory on the agent's filesystem, with every link on the way resolved inside the
    /// root: the path to give programs the agent runs (dnf's `reposdir`, package files).
    pub fn path(&self) -> &Path {
        &self.real
    }

    /// Replaces `name` with `bytes`: written to a new file beside it, synced, then renamed over
    /// it, so readers see the old file or the new one, and a link at `name` is replaced, never
    /// followed.
    pub fn write(&self, name: &str, bytes: &[u8], mode: FileMode) -> std::io::Result<()> {
        check_name(name)?;
        let mode = match mode {
            FileMode::Set(mode) => mode,
            FileMode::KeepOr(default) => {
                match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                        st.st_mode & 0o7777
                    }
                    _ => default,
                }
            }
        };
        let temp = temp_name(name);
        let file = rustix::fs::openat(
            &self.fd,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let written = (|| {
            rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            let mut file = std::fs::File::from(file);
            file.write_all(bytes)?;
            file.sync_all()?;
            rustix::fs::renameat(&self.fd, temp.as_str(), &self.fd, name)?;
            Ok(())
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
        }
        written
    }

    /// Removes `name` (a link is removed, not what it points to); false when it was not there.
    pub fn remove(&self, name: &str) -> std::io::Result<bool> {
        check_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens (creating it 0644) the lock file `name` for reading and writing, never through a
    /// link: a lock reached through a link could be another file than the one other runs lock.
    pub fn open_lock(&self, name: &str) -> std::io::Result<std::fs::File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| match e {
            Errno::LOOP => std::io::Error::new(std::io::ErrorKind::InvalidInput, LOCK_IS_A_LINK),
            e => e.into(),
        })?;
        Ok(std::fs::File::from(fd))
    }

    /// Makes the renames in this directory durable (after a power loss, the new files are there).
    pub fn sync(&self) -> std::io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }
}

impl Sysroot {
    /// The host directory `host_dir` (`/var/cache/linstor-agent/packages`), created if missing,
    /// opened inside the root (see the module documentation).
    pub fn dir(&self, host_dir: impl AsRef<Path>) -> Result<HostDir> {
        let host_dir = host_dir.as_ref();
        open(self, host_dir, true)?
            .ok_or_else(|| anyhow!("{} vanished while it was created", self.path(host_dir).display()))
    }

    /// Writes the host file `host_path` atomically, inside the root; returns where it went.
    pub fn write_file(&self, host_path: impl AsRef<Path>, bytes: &[u8], mode: FileMode) -> Result<PathBuf> {
        let host_path = host_path.as_ref();
        let (parent, name) = split(self, host_path)?;
        let dir = self.dir(parent)?;
        dir.write(name, bytes, mode)
            .map_err(|e| anyhow!("cannot write {}: {e}", self.path(host_path).display()))?;
        Ok(dir.path().join(name))
    }

    /// Removes the host file `host_path` if it is there (never outside the root); false when it
    /// was not.
    pub fn remove_file(&self, host_path: impl AsRef<Path>) -> Result<bool> {
        let host_path = host_path.as_ref();
        let (parent, name) = split(self, host_path)?;
        let Some(dir) = open(self, parent, false)? else {
            return Ok(false);
        };
        dir.remove(name)
            .map_err(|e| anyhow!("cannot remove {}: {e}", self.path(host_path).display()))
    }

    /// Opens (creating it) the lock file `host_path` inside the root. One that is a link is
    /// refused (exit 3): nothing has been done yet, and nothing is.
    pub fn open_lock(&self, host_path: impl AsRef<Path>) -> Result<std::fs::File> {
        let host_path = host_path.as_ref();
        let (parent, name) = split(self, host_path)?;
        self.dir(parent)?.open_lock(name).map_err(|e| {
            let shown = self.path(host_path);
            if e.to_string() == LOCK_IS_A_LINK {
                Refusal(format!("the lock file {} {LOCK_IS_A_LINK}", shown.display())).into()
            } else {
                anyhow!("cannot open the lock file {}: {e}", shown.display())
            }
        })
    }

    /// The host path of `real`, a path on the agent's filesystem, when it lies under the root
    /// (`R/etc/linstor-agent/agent.toml` → `/etc/linstor-agent/agent.toml`).
    pub fn host_path_of(&self, real: &Path) -> Option<PathBuf> {
        real.strip_prefix(self.root())
            .ok()
            .map(|rest| Path::new("/").join(rest))
    }
}

/// Where a file the agent writes by its path on the agent's machine lives: in the root when
/// the path is under it (a config directory under `--root`), else in the agent's own `/`
/// (`--config` given elsewhere). Either way the same rules apply.
pub fn locate(sysroot: &Sysroot, real: &Path) -> (Sysroot, PathBuf) {
    match sysroot.host_path_of(real) {
        Some(host_path) => (sysroot.clone(), host_path),
        None => (Sysroot::live(), real.to_path_buf()),
    }
}

/// The parent directory and the file name of a host path.
fn split<'a>(sysroot: &Sysroot, host_path: &'a Path) -> Result<(&'a Path, &'a str)> {
    match (host_path.parent(), host_path.file_name().and_then(OsStr::to_str)) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(anyhow!(
            "{} is not a file path",
            sysroot.path(host_path).display()
        )),
    }
}

/// Opens `host_dir` inside the root: `None` when part of it is missing and `create` is false.
fn open(sysroot: &Sysroot, host_dir: &Path, create: bool) -> Result<Option<HostDir>> {
    let shown = || sysroot.path(host_dir).display().to_string();
    let root = rustix::fs::openat(
        rustix::fs::CWD,
        sysroot.root(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow!("cannot open the root directory {}: {e}", sysroot.root().display()))?;
    match walk(root, host_dir, create) {
        Ok(Some((fd, resolved))) => Ok(Some(HostDir {
            fd,
            real: sysroot.path(resolved),
        })),
        Ok(None) => Ok(None),
        Err(Walk::Loop) => Err(anyhow!(
            "cannot use {}: more than {MAX_LINKS} symbolic links on the way (a loop?); fix the links under {}",
            shown(),
            sysroot.root().display()
        )),
        Err(Walk::NotADirectory(at)) => Err(anyhow!(
            "cannot use {}: {} is not a directory; move it away",
            shown(),
            sysroot.path(at).display()
        )),
        Err(Walk::Io(at, e)) => Err(anyhow!(
            "cannot use {}: {}: {e}",
            shown(),
            sysroot.path(at).display()
        )),
    }
}

enum Walk {
    Loop,
    /// The host path of the component that is neither a directory nor a link.
    NotADirectory(PathBuf),
    Io(PathBuf, std::io::Error),
}

enum Part {
    Root,
    Parent,
    Name(OsString),
}

/// Walks `host_dir` from the root's descriptor; returns the directory's descriptor and the host
/// path it resolved to.
fn walk(root: OwnedFd, host_dir: &Path, create: bool) -> Result<Option<(OwnedFd, PathBuf)>, Walk> {
    // The directories below the root, each with its name: `..` pops one, never the root.
    let mut stack: Vec<(OwnedFd, OsString)> = Vec::new();
    let mut pending = Vec::new();
    push_components(&mut pending, host_dir);
    let mut links = 0;
    let mut created_retries = 0;
    while let Some(part) = pending.pop() {
        let name = match part {
            Part::Root => {
                stack.clear();
                continue;
            }
            Part::Parent => {
                stack.pop();
                continue;
            }
            Part::Name(name) => name,
        };
        let here = |stack: &[(OwnedFd, OsString)]| resolved(stack).join(&name);
        let current = stack.last().map_or(&root, |(fd, _)| fd);
        match rustix::fs::openat(
            current,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                stack.push((fd, name));
                created_retries = 0;
            }
            // Created, then opened on the next turn; a directory that keeps vanishing in
            // between (another process removing it) ends the walk after a few turns.
            Err(Errno::NOENT) if create && created_retries < 3 => {
                created_retries += 1;
                match rustix::fs::mkdirat(current, name.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => pending.push(Part::Name(name)),
                    Err(e) => return Err(Walk::Io(here(&stack), e.into())),
                }
            }
            Err(Errno::NOENT) if !create => return Ok(None),
            // O_NOFOLLOW: a link (ELOOP), or not a directory at all (ENOTDIR).
            Err(Errno::LOOP | Errno::NOTDIR) => {
                match rustix::fs::readlinkat(current, name.as_os_str(), Vec::new()) {
                    Ok(target) => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(Walk::Loop);
                        }
                        push_components(&mut pending, Path::new(OsStr::from_bytes(target.as_bytes())));
                    }
                    Err(_) => return Err(Walk::NotADirectory(here(&stack))),
                }
            }
            Err(e) => return Err(Walk::Io(here(&stack), e.into())),
        }
    }
    let path = resolved(&stack);
    let fd = match stack.pop() {
        Some((fd, _)) => fd,
        None => root,
    };
    Ok(Some((fd, path)))
}

/// The host path of the directories walked so far.
fn resolved(stack: &[(OwnedFd, OsString)]) -> PathBuf {
    let mut path = PathBuf::from("/");
    path.extend(stack.iter().map(|(_, name)| name));
    path
}

/// Pushes the path's components on a stack, last first, so that popping walks the path.
fn push_components(stack: &mut Vec<Part>, path: &Path) {
    let parts: Vec<Part> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(Part::Root),
            Component::CurDir => None,
            Component::ParentDir => Some(Part::Parent),
            Component::Normal(name) => Some(Part::Name(name.to_owned())),
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

/// A file name, not a path: what is written is always one entry of the opened directory.
fn check_name(name: &str) -> std::io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name"),
        ));
    }
    Ok(())
}

/// A name no other writer uses at the same time: hidden, this process, a counter.
fn temp_name(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests;
