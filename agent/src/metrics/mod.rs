//! The agent's metrics: what `status --prometheus` prints and, with `[metrics] textfile_dir`,
//! node_exporter's textfile `linstor_agent.prom`, rewritten after every run of a command that
//! changes or checks the host and at every journal write of a pool upgrade.
//!
//! What the run saw ([`crate::observed`]) goes over what was known ([`state`],
//! `metrics.json` beside `state.json`), with the run's own outcome; the families
//! ([`families`]) are rendered from that and from the pool-upgrade journal when there is one.
//! Failing to write either file is a warning: the metrics never change a command's result.
//! docs/design-notes.md ("Metrics") has the decisions.

pub mod exposition;
pub mod families;
pub mod state;

use crate::context::Context;
use crate::host::{FileMode, Sysroot};
use crate::pool::JournalHook;
use crate::pool::journal::{JOURNAL_FILE, Journal, JournalFile};
use state::{MetricsState, RunRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The textfile's name in `[metrics] textfile_dir` (the collector reads `*.prom`; the
/// temporary file of the atomic write is `.linstor_agent.prom.*.tmp`, which it skips).
pub const TEXTFILE: &str = "linstor_agent.prom";

/// Held while `metrics.json` and the textfile are read and replaced: a kernel-guard hook may
/// run beside a `provision`, and neither may lose the other's record.
const LOCK_FILE: &str = "/var/lib/linstor-agent/metrics.lock";

/// A finished run to record.
#[derive(Debug, Clone)]
pub struct Run {
    /// As the command's JSON document names it (`install`, `pool upgrade`, …).
    pub command: &'static str,
    /// The host step the command is, all of it (`storage`, `install` without `--only`): its
    /// outcome says whether the step converged.
    pub step: Option<&'static str>,
    /// When it started, in seconds since the epoch.
    pub started: f64,
}

/// Seconds since the epoch, to the millisecond (what a metric needs, and shorter to read).
pub fn now() -> f64 {
    (crate::pool::clock::now() * 1000.0).round() / 1000.0
}

/// Records a finished run (`exit_code` as the process exits) with what it noted in
/// `ctx.observed`, writes the textfile when one is configured, and returns the exposition.
pub fn after_run(ctx: &Context, run: &Run, exit_code: i32) -> String {
    if let Some(step) = run.step
        && !ctx.observed.has_step(step)
    {
        ctx.observed.step_converged(step, exit_code == 0);
    }
    let seen = ctx.observed.take();
    let finished = now();
    let _lock = lock(&ctx.sysroot);
    let mut state = state::load(&ctx.sysroot);
    state.observe(seen, finished);
    state.record_run(
        run.command,
        RunRecord {
            finished,
            duration_seconds: ((finished - run.started) * 1000.0).round().max(0.0) / 1000.0,
            exit_code,
        },
    );
    if let Err(e) = state::save(&ctx.sysroot, &state) {
        tracing::warn!(
            "cannot record the metrics in {}: {e:#}",
            ctx.sysroot.path(state::STATE_FILE).display()
        );
    }
    let text = families::render(&state, journal(&ctx.sysroot).as_ref());
    write_textfile(&ctx.sysroot, ctx.settings.metrics.textfile_dir.as_deref(), &text);
    text
}

/// For `pool upgrade`, with a textfile configured: the textfile rewritten at every write of
/// the journal (hosts done, the phase), the host's families kept as recorded.
pub fn journal_hook(ctx: &Context) -> Option<JournalHook> {
    let dir = ctx.settings.metrics.textfile_dir.clone()?;
    let sysroot = ctx.sysroot.clone();
    Some(JournalHook(Arc::new(move |journal: &Journal| {
        let _lock = lock(&sysroot);
        let state: MetricsState = state::load(&sysroot);
        write_textfile(&sysroot, Some(&dir), &families::render(&state, Some(journal)));
    })))
}

/// The pool-upgrade journal of this machine, when it has one it can read.
fn journal(sysroot: &Sysroot) -> Option<Journal> {
    match JournalFile::new(sysroot, JOURNAL_FILE).load() {
        Ok(journal) => journal,
        Err(e) => {
            tracing::debug!("no pool-upgrade metrics: {e:#}");
            None
        }
    }
}

/// Writes `<dir>/linstor_agent.prom` atomically inside the root (a new file in the same
/// directory, synced, renamed over the old one); a failure is a warning.
fn write_textfile(sysroot: &Sysroot, dir: Option<&Path>, text: &str) {
    let Some(dir) = dir else {
        return;
    };
    let path: PathBuf = dir.join(TEXTFILE);
    if let Err(e) = sysroot.write_file(&path, text.as_bytes(), FileMode::Set(0o644)) {
        tracing::warn!(
            "cannot write the metrics textfile {}: {e:#}",
            sysroot.path(&path).display()
        );
    }
}

/// The metrics lock, or None (with a warning) when it cannot be taken: the metrics are then
/// written unlocked rather than not at all.
fn lock(sysroot: &Sysroot) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let taken = sysroot.open_lock(LOCK_FILE).and_then(|file| {
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| anyhow::anyhow!("{errno}"))
    });
    match taken {
        Ok(lock) => Some(lock),
        Err(e) => {
            tracing::warn!("cannot lock {}: {e:#}", sysroot.path(LOCK_FILE).display());
            None
        }
    }
}
