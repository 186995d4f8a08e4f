//! The picture of a pool upgrade: one self-contained HTML file (inline CSS, no script, nothing
//! fetched, so it opens the same from a USB stick) drawn from the journal alone. A timeline
//! with a row per host and a bar per recorded step, the phases, the batches, pauses, resumes,
//! aborts and faults, the pool's health after each batch; the floor against the orchestration
//! overhead (`model`); the versions before and after.
//!
//! Written beside the journal at the end of every `pool upgrade` run, and by `pool report`.
//! The same journal always gives the same bytes (nothing in it depends on when it is drawn).

mod format;
mod html;
pub mod model;
mod tables;

use super::clock::utc_stamp;
use super::journal::{JOURNAL_FILE, Journal, JournalFile};
use super::render::PoolReport;
use crate::error::UsageError;
use crate::host::{FileMode, Sysroot, confined};
use anyhow::{Result, anyhow};
use std::path::{Path, PathBuf};

pub use format::esc;

/// The HTML document of `journal`.
pub fn render(journal: &Journal) -> String {
    html::document(journal, &model::picture(journal))
}

/// `pool-upgrade-<start, UTC>.html`: one file per run, beside its journal.
pub fn file_name(journal: &Journal) -> String {
    format!("pool-upgrade-{}.html", utc_stamp(journal.started))
}

/// Writes the picture of `journal` beside its file (atomically, inside the journal's root);
/// returns where it went.
pub fn write_beside(file: &JournalFile, journal: &Journal) -> Result<PathBuf> {
    let host_path = file.host_path.with_file_name(file_name(journal));
    write(&file.sysroot, &host_path, journal)
}

fn write(sysroot: &Sysroot, host_path: &Path, journal: &Journal) -> Result<PathBuf> {
    // Readable by all: a picture to hand around, with no secret in it (no URL, no credential).
    sysroot.write_file(host_path, render(journal).as_bytes(), FileMode::Set(0o644))
}

/// A path given on the command line, as the confined writes and reads take it: inside the
/// root when it lies under it, else on the agent's own filesystem (`host::confined::locate`).
fn located(sysroot: &Sysroot, given: &Path, what: &str) -> Result<(Sysroot, PathBuf)> {
    let absolute = std::path::absolute(given)
        .map_err(|e| UsageError(format!("{what} {}: not a usable path ({e})", given.display())))?;
    Ok(confined::locate(sysroot, &absolute))
}

/// `pool report [--journal FILE] [-o FILE.html]`: the picture of a journal (by default the one
/// `pool status` reads), written to FILE.html (by default beside the journal). It changes
/// nothing in the pool: `changed` is false.
pub fn command(sysroot: &Sysroot, journal: Option<&Path>, output: Option<&Path>) -> Result<PoolReport> {
    let file = match journal {
        Some(given) => {
            let (root, host_path) = located(sysroot, given, "--journal")?;
            JournalFile::new(&root, host_path)
        }
        None => JournalFile::new(sysroot, JOURNAL_FILE),
    };
    let Some(loaded) = file.load()? else {
        return Err(UsageError(format!(
            "no pool-upgrade journal at {}: nothing to draw (name one with --journal FILE)",
            file.path.display()
        ))
        .into());
    };
    let written = match output {
        Some(given) => {
            let (root, host_path) = located(sysroot, given, "--html")?;
            write(&root, &host_path, &loaded)
        }
        None => write_beside(&file, &loaded),
    }
    .map_err(|e| anyhow!("the report of {} was not written: {e:#}", file.path.display()))?;
    let picture = model::picture(&loaded);
    let document = serde_json::json!({
        "command": "pool report",
        "changed": false,
        "journal": file.path,
        "html": written,
        "state": loaded.state,
        "hosts": loaded.hosts.len(),
        "total_secs": picture.summary.total,
        "floor_secs": picture.summary.floor,
        "overhead_secs": picture.summary.overhead,
        "stopped_secs": picture.summary.stopped,
    });
    PoolReport::new(&document, format!("{}\n", written.display()))
}
