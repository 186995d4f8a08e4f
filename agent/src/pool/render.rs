//! What `pool upgrade --dry-run`, the end of a run and `pool status` print.

use super::journal::{HOST_STEPS, Journal, JournalFile, PHASES, RunState, StepState};
use super::targets::nevra_version;
use crate::error::ExitCode;
use crate::output::Render;
use anyhow::Result;
use serde_json::json;
use std::fmt::Write;
use std::io::IsTerminal;

/// What a `pool` command ends with: its JSON document (the journal, a plan, a request), its
/// text, and its exit code. The documents are built here from the journal, so the report carries
/// them as JSON rather than as one struct per view.
#[derive(Debug)]
pub struct PoolReport {
    document: serde_json::Value,
    human: String,
    pub exit: ExitCode,
}

impl PoolReport {
    pub fn new(document: &impl serde::Serialize, human: String) -> Result<PoolReport> {
        Ok(PoolReport {
            document: serde_json::to_value(document)?,
            human,
            exit: ExitCode::Ok,
        })
    }
}

impl PoolReport {
    /// Says where the run's HTML report went (`html` in JSON; `html_error` and a warning when
    /// it could not be written, which changes nothing else of the report).
    pub fn add_html(&mut self, written: &std::result::Result<std::path::PathBuf, String>) {
        let map = self.document.as_object_mut();
        match written {
            Ok(path) => {
                let _ = writeln!(self.human, "Report: {}", path.display());
                if let Some(map) = map {
                    map.insert("html".into(), json!(path));
                }
            }
            Err(message) => {
                let _ = writeln!(self.human, "warning: {message}");
                if let Some(map) = map {
                    map.insert("html".into(), serde_json::Value::Null);
                    map.insert("html_error".into(), json!(message));
                }
            }
        }
    }
}

impl serde::Serialize for PoolReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.document.serialize(serializer)
    }
}

impl Render for PoolReport {
    fn human(&self) -> String {
        self.human.clone()
    }
    fn exit(&self) -> ExitCode {
        self.exit
    }
}

fn changes_line(journal: &Journal, host: &str) -> String {
    let Some(h) = journal.host(host) else {
        return String::new();
    };
    let parts: Vec<String> = h
        .changes
        .iter()
        .filter(|c| c.change != "keep")
        // The old module package a new one replaces shows as "from" of the new one.
        .filter(|c| c.to.is_some() || !h.changes.iter().any(|o| o.name == c.name && o.to.is_some()))
        .map(|c| {
            let from = c
                .from
                .iter()
                .filter_map(|f| nevra_version(f, &c.name))
                .collect::<Vec<_>>()
                .join("+");
            let to =
                c.to.as_deref()
                    .and_then(|t| nevra_version(t, &c.name))
                    .unwrap_or_else(|| "removed".into());
            let from = if from.is_empty() { "none".to_string() } else { from };
            if from == to {
                // Same version, another release (`xcp-ng-linstor` 1.2-3 → 1.2-4).
                let release = |n: &str| {
                    n.rsplit_once('.')
                        .and_then(|(vr, _)| vr.rsplit_once('-'))
                        .map(|(_, r)| r.to_string())
                };
                let old = c.from.first().and_then(|f| release(f)).unwrap_or_default();
                let new = c.to.as_deref().and_then(release).unwrap_or_default();
                return format!("{} {from}-{old} → {to}-{new}", c.name);
            }
            format!("{} {from} → {to}", c.name)
        })
        .collect();
    if parts.is_empty() {
        "no package changes".into()
    } else {
        parts.join(", ")
    }
}

fn targets_line(journal: &Journal) -> String {
    journal
        .targets
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan per host, changing nothing.
pub fn dry_run(journal: &Journal) -> Result<PoolReport> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Pool upgrade plan (dry run: nothing changed) for {} hosts in {} batches (--batch {}):",
        journal.hosts.len(),
        journal.batches.len(),
        journal.batch_mode
    );
    let _ = writeln!(out, "Targets: {}", targets_line(journal));
    if journal.linstor_change {
        let _ = writeln!(
            out,
            "LINSTOR step: {} → {} on every host ({}), then the controller stopped for \
             drbd-reactor to start it again and the satellites restarted",
            super::linstor_versions::from_summary(&journal.linstor_installed, &journal.linstor_from),
            journal.linstor_to,
            journal.linstor_packages.join(", ")
        );
    } else {
        let _ = writeln!(out, "LINSTOR step: none (stays at {})", journal.linstor_from);
    }
    for line in super::linstor_versions::describe(&journal.linstor_installed) {
        let _ = writeln!(out, "  installed now: {line}");
    }
    for warning in &journal.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for (i, batch) in journal.batches.iter().enumerate() {
        for name in batch {
            let Some(h) = journal.host(name) else { continue };
            let _ = writeln!(
                out,
                "  batch {:>2}  {:<16} {:<8} {}",
                i + 1,
                name,
                if h.reboot { "reboot" } else { "restart" },
                changes_line(journal, name)
            );
        }
    }
    let document = json!({
        "command": "pool upgrade",
        "changed": false,
        "dry_run": true,
        "targets": journal.targets,
        "linstor_from": journal.linstor_from,
        "linstor_to": journal.linstor_to,
        "linstor_change": journal.linstor_change,
        "linstor_installed": journal.linstor_installed,
        "linstor_packages": journal.linstor_packages,
        "warnings": journal.warnings,
        "batches": journal.batches,
        "hosts": journal.hosts.iter().map(|h| json!({
            "name": h.name,
            "node": h.node,
            "batch": h.batch,
            "reboot": h.reboot,
            "changes": h.changes,
            "vms": h.vms.len(),
        })).collect::<Vec<_>>(),
    });
    PoolReport::new(&document, out)
}

/// The report at the end of a run (or when it paused or was aborted).
pub fn report(journal: &Journal) -> Result<PoolReport> {
    let mut out = String::new();
    let took = journal.ended.unwrap_or_else(super::journal::now) - journal.started;
    let verdict = match journal.state {
        RunState::Done => "done",
        RunState::Paused => "paused (continue with `pool upgrade --resume`)",
        RunState::Aborted => "aborted",
        RunState::Failed => "failed",
        RunState::Running => "running",
    };
    let _ = writeln!(
        out,
        "Pool upgrade {verdict} after {took:.1} s: {}/{} hosts upgraded in {} batches.",
        journal.hosts_done(),
        journal.hosts.len(),
        journal.batches.len()
    );
    let _ = writeln!(out, "Targets: {}", targets_line(journal));
    if let Some(note) = journal.phases.get("linstor").and_then(|s| s.note.clone()) {
        let _ = writeln!(out, "LINSTOR step: {note}");
    }
    let _ = writeln!(
        out,
        "  {:<16} {:>5}  {:<8} {:>9}  packages",
        "host", "batch", "action", "window"
    );
    let mut longest: Option<(f64, &str)> = None;
    for h in &journal.hosts {
        let window = h.maintenance_window();
        if let Some(w) = window
            && longest.is_none_or(|(l, _)| w > l)
        {
            longest = Some((w, &h.name));
        }
        let _ = writeln!(
            out,
            "  {:<16} {:>5}  {:<8} {:>9}  {}",
            h.name,
            h.batch,
            if h.reboot { "reboot" } else { "restart" },
            window.map_or("-".to_string(), |w| format!("{w:.1} s")),
            changes_line(journal, &h.name)
        );
    }
    if let Some((w, name)) = longest {
        let _ = writeln!(out, "Longest maintenance window: {name}, {w:.1} s.");
    }
    if let Some(note) = journal.phases.get("finish").and_then(|s| s.note.clone()) {
        let _ = writeln!(out, "Finish: {note}.");
    }
    let mut document = serde_json::to_value(journal)?;
    if let Some(map) = document.as_object_mut() {
        map.insert("command".into(), json!("pool upgrade"));
        let upgraded = journal
            .hosts
            .iter()
            .any(|h| h.steps.values().any(|s| s.state == StepState::Done));
        map.insert(
            "changed".into(),
            json!(upgraded || journal.phase("linstor") == StepState::Done),
        );
        map.insert("longest_window_secs".into(), json!(longest.map(|(w, _)| w)));
        map.insert("duration_secs".into(), json!(took));
    }
    let mut report = PoolReport::new(&document, out)?;
    report.exit = super::exit_for(journal);
    Ok(report)
}

fn bar(done: usize, total: usize) -> String {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// `pool status`: the journal, phase by phase and host by host.
pub fn status(file: &JournalFile) -> Result<PoolReport> {
    let Some(journal) = file.load()? else {
        let document = json!({"command": "pool status", "changed": false, "journal": null});
        return PoolReport::new(
            &document,
            format!("No pool upgrade journaled at {}.\n", file.path.display()),
        );
    };
    status_of(file, &journal)
}

/// `pool status` of a journal read from `file` (apart, so the fuzz target `journal` shows
/// whatever a journal file parses into, as the command would).
pub fn status_of(file: &JournalFile, journal: &Journal) -> Result<PoolReport> {
    let mut out = String::new();
    let state = format!("{:?}", journal.state).to_lowercase();
    let done = journal.hosts_done();
    let total = journal.hosts.len();
    let _ = writeln!(
        out,
        "Pool upgrade {state} ({}): {done}/{total} hosts done",
        file.path.display()
    );
    if std::io::stdout().is_terminal() {
        let _ = writeln!(out, "{} {done}/{total}", bar(done, total));
    }
    let _ = writeln!(out, "Targets: {}", targets_line(journal));
    for phase in PHASES {
        let _ = writeln!(out, "  phase {:<10} {}", phase, word(journal.phase(phase)));
    }
    for h in &journal.hosts {
        let current = HOST_STEPS
            .iter()
            .find(|s| !h.step(s).is_finished())
            .map_or("done".to_string(), |s| format!("{s}: {}", word(h.step(s))));
        let _ = writeln!(out, "  batch {:>2}  {:<16} {current}", h.batch, h.name);
    }
    if let Some(stall) = &journal.stall {
        let _ = writeln!(out, "Paused: {}", stall.message());
    } else if let Some(err) = &journal.error {
        let _ = writeln!(out, "Stopped: {err}");
    }
    let mut document = serde_json::to_value(journal)?;
    if let Some(map) = document.as_object_mut() {
        map.insert("command".into(), json!("pool status"));
        map.insert("changed".into(), json!(false));
        map.insert("hosts_done".into(), json!(done));
    }
    PoolReport::new(&document, out)
}

fn word(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "pending",
        StepState::Started => "started",
        StepState::Done => "done",
        StepState::Skipped => "skipped",
        StepState::Failed => "failed",
    }
}
