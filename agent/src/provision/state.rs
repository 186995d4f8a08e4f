//! What `provision` keeps between runs: `<root>/var/lib/linstor-agent/state.json` (per step,
//! when it was last applied and whether that changed anything; the last run's outcome), and the
//! run's exclusive `flock` on `<root>/var/lib/linstor-agent/lock` (holding its pid): a second run
//! started meanwhile does not wait, it exits 1 saying which pid runs.

use crate::host::{FileMode, Sysroot, rootfs};
use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub const STATE_DIR: &str = "/var/lib/linstor-agent";
pub const STATE_FILE: &str = "/var/lib/linstor-agent/state.json";
pub const LOCK_FILE: &str = "/var/lib/linstor-agent/lock";

/// `state.json`: per step, when it was last applied and whether that changed anything; the
/// last run's outcome.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub steps: BTreeMap<String, StepState>,
    #[serde(default)]
    pub last_run: Option<RunState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepState {
    pub applied_at: String,
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `"ok"`, or `"failed"`.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The exclusive lock of a provision run, released when dropped.
pub struct RunLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the lock, or says which pid holds it.
pub fn lock(sysroot: &Sysroot) -> Result<RunLock> {
    let path = sysroot.path(LOCK_FILE);
    let file = sysroot.open_lock(LOCK_FILE)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            lock.flush()?;
            Ok(RunLock { _lock: lock })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            let pid = if pid.is_empty() { "unknown" } else { pid };
            Err(anyhow!(
                "linstor-agent provision is already running (pid {pid}, lock {}): wait for it to finish, \
                 then run again",
                path.display()
            ))
        }
        Err((_, errno)) => Err(anyhow!("cannot lock {}: {errno}", path.display())),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (year, month, day, hour, minute, second) = crate::utc::utc_parts(secs as f64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// `state.json` (links followed inside the root); an unreadable one starts afresh.
pub fn load_state(sysroot: &Sysroot) -> State {
    rootfs::read_optional(sysroot, Path::new(STATE_FILE))
        .ok()
        .flatten()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Replaces `state.json` atomically inside the root.
pub fn save_state(sysroot: &Sysroot, state: &State) -> Result<()> {
    let mut text = serde_json::to_string_pretty(state)?;
    text.push('\n');
    sysroot.write_file(STATE_FILE, text.as_bytes(), FileMode::Set(0o600))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }

    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = crate::host::Sysroot::new(dir.path());
        let first = lock(&root).expect("first");
        let err = lock(&root).err().expect("second refused");
        let text = err.to_string();
        assert!(text.contains("already running"), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        drop(first);
        lock(&root).expect("free again");
    }
}
