//! What every command's JSON document carries, whatever the command: its name, whether it
//! changed the host, whether it was a dry run, notes for the operator, and the live-only actions
//! it did not take (under `--root`). Each report embeds it (`#[serde(flatten)]`), so the keys
//! stay at the top of the document, where scripts, the Ansible role and the XAPI plugin read them.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportCore {
    pub command: &'static str,
    pub changed: bool,
    pub dry_run: bool,
    pub notes: Vec<String>,
    /// Actions not taken, each with why (live-only under `--root`, `--download-only`, …).
    pub skipped: Vec<String>,
}

impl ReportCore {
    pub fn new(command: &'static str, dry_run: bool) -> ReportCore {
        ReportCore {
            command,
            dry_run,
            ..ReportCore::default()
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn skip(&mut self, what: impl Into<String>) {
        self.skipped.push(what.into());
    }
}
