//! `pool status --watch`: the live view of [`super::live`], from the journal, for a second
//! terminal or another admin while an upgrade runs. It reads the journal where `pool status`
//! does (the root of the machine that runs the upgrade: the master, or an operator's machine
//! with `[xapi]`), every interval, and nothing else: no lock taken, no file written.
//!
//! On a terminal the view is redrawn in place; otherwise (a pipe, a log) a new block of the
//! same lines is printed each time the journal changed, and under `--output json` nothing until
//! the end. It ends with `pool status`'s report once the run is over (done, paused, failed or
//! aborted), or on Ctrl-C.

use super::journal::{Journal, JournalFile, RunState};
use super::live::{Details, lines};
use super::render::{self, PoolReport};
use crate::host::rootfs;
use crate::progress;
use anyhow::{Result, anyhow};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most of a journal file read: one of a pool of hundreds of hosts is a few MB.
pub const JOURNAL_READ_LIMIT: u64 = 64 * 1024 * 1024;

/// How to watch.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// Between two reads of the journal.
    pub every: Duration,
    /// Without a terminal, print a block of the view each time the journal changes (human
    /// output; under `--output json` only the final document is printed).
    pub blocks: bool,
}

/// What the view is drawn from: the journal as last read (None: none yet).
type Seen = Arc<Mutex<Option<Journal>>>;

pub fn run(file: &JournalFile, watch: Watch) -> Result<PoolReport> {
    let seen: Seen = Arc::new(Mutex::new(None));
    let shown = seen.clone();
    let path = file.path.display().to_string();
    let details = Details {
        resync: Default::default(),
        last_event: true,
    };
    // Redrawn every second, so elapsed times tick between two reads of the journal.
    let board = progress::board(
        move || match shown.lock().ok().as_deref() {
            Some(Some(journal)) => lines(journal, &details, super::clock::now()),
            _ => vec![waiting(&path)],
        },
        Duration::from_secs(1),
    );
    let blocks = watch.blocks && !board.is_drawn();
    let mut printed: Option<Option<Journal>> = None;
    let last = loop {
        let journal = read(file)?;
        if blocks && printed.as_ref() != Some(&journal) && !print_block(file, journal.as_ref()) {
            // The reader went away (`… | head`): nothing more to show.
            break journal;
        }
        printed = Some(journal.clone());
        if let Ok(mut slot) = seen.lock() {
            slot.clone_from(&journal);
        }
        board.refresh();
        if journal.as_ref().is_some_and(is_over) {
            break journal;
        }
        std::thread::sleep(watch.every);
    };
    drop(board);
    match last {
        Some(journal) => render::status_of(file, &journal),
        None => render::status(file),
    }
}

/// The run is over: nothing will write the journal until someone acts.
fn is_over(journal: &Journal) -> bool {
    !matches!(journal.state, RunState::Running)
}

fn waiting(path: &str) -> String {
    format!("No pool upgrade journaled at {path} yet: waiting for one (Ctrl-C to stop)")
}

/// The journal as it is now, read within [`JOURNAL_READ_LIMIT`] (the run replaces it by a
/// rename: a read sees the old one or the new one whole).
fn read(file: &JournalFile) -> Result<Option<Journal>> {
    let path = match rootfs::real_path(&file.sysroot, &file.host_path) {
        Ok(path) => path,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", file.path.display())),
    };
    let bytes = match crate::bounds::read_file_capped(&path, JOURNAL_READ_LIMIT) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(anyhow!(
                "{} is larger than {}: not a journal this agent wrote",
                file.path.display(),
                crate::bounds::show_size(JOURNAL_READ_LIMIT)
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", file.path.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    file.parse(&text).map(Some)
}

/// One block of the view on stdout, then an empty line; false when stdout is gone.
fn print_block(file: &JournalFile, journal: Option<&Journal>) -> bool {
    let text = match journal {
        Some(journal) => {
            let details = Details {
                resync: Default::default(),
                last_event: true,
            };
            lines(journal, &details, super::clock::now()).join("\n")
        }
        None => waiting(&file.path.display().to_string()),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{text}\n\n").as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Sysroot;

    #[test]
    fn a_finished_journal_ends_the_watch_with_the_status_report() {
        let dir = tempfile::tempdir().unwrap();
        let file = JournalFile::new(
            &Sysroot::new(dir.path()),
            "/var/lib/linstor-agent/pool-upgrade.json",
        );
        assert!(read(&file).unwrap().is_none(), "no journal yet");
        let mut journal = Journal::blank();
        journal.state = RunState::Done;
        file.save(&journal).unwrap();
        let report = run(
            &file,
            Watch {
                every: Duration::from_millis(10),
                blocks: false,
            },
        )
        .unwrap();
        let doc = serde_json::to_value(&report).unwrap();
        assert_eq!(doc["command"], "pool status");
        assert_eq!(doc["state"], "done");
    }

    #[test]
    fn a_journal_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let file = JournalFile::new(&Sysroot::new(dir.path()), "/pool-upgrade.json");
        let f = std::fs::File::create(dir.path().join("pool-upgrade.json")).unwrap();
        f.set_len(JOURNAL_READ_LIMIT + 1).unwrap();
        let err = read(&file).unwrap_err();
        assert!(format!("{err:#}").contains("is larger than"), "{err:#}");
    }
}
