//! The rolling pool upgrade: preflight, prefetch, the LINSTOR step, host by host in batches
//! that keep quorum, finish (docs/ARCHITECTURE.md has the flow). Every phase and host step is journaled before and
//! after it runs, so `--resume` continues from the exact step a killed run stopped at.
//!
//! It runs anywhere that reaches the pool master's XAPI (`[xapi]`) and the controller
//! (`[controller]`); each host's packages are handled by that host's own agent, called through
//! the `linstor-agent` XAPI plugin, and services are restarted through XCP-ng's `service.py`.

pub mod batches;
pub mod clock;
pub mod create_sr;
pub mod events;
pub mod health;
pub mod journal;
pub mod linstor_versions;
pub mod live;
pub mod pbd_wait;
pub mod phases;
pub mod plugin;
pub mod preflight;
pub mod render;
pub mod report_html;
pub mod saved_settings;
pub mod steps;
pub mod targets;
pub mod wait;
pub mod watch;
mod xostor_checks;

use crate::context::Context;
use crate::error::{ExitCode, Refusal, UsageError, exit_code_for};
use crate::{linstor, xapi};
use anyhow::{Result, anyhow};
use batches::BatchMode;
use journal::{EventKind, Journal, JournalFile, RunState, Step, StepState, now};
use render::PoolReport;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Test hook: `LINSTOR_AGENT_POOL_KILL_AT=<point>` makes the run kill itself (SIGKILL) right
/// after the journal records that point (`phase:<name>:started|done`,
/// `host:<name>:<step>:started|done`), as a crash there would. Used by the resume tests.
pub const KILL_AT_ENV: &str = "LINSTOR_AGENT_POOL_KILL_AT";

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub resume: bool,
    pub batch: BatchMode,
    pub hosts: Vec<String>,
    pub pins: BTreeMap<String, String>,
    pub evacuate_timeout: Duration,
    pub host_timeout: Duration,
    pub resync_timeout: Duration,
    pub linstor_timeout: Duration,
    /// How long a state that waiting does not fix (VERSION_MISMATCH, a satellite not running
    /// on a live host) may last before the run pauses on it.
    pub stuck_after: Duration,
    pub poll: Duration,
    pub quiet: bool,
    /// Called after every write of the journal (the metrics textfile follows the run).
    pub on_save: Option<JournalHook>,
}

/// What to do with the journal each time it is written; the dispatcher sets it (the pool
/// module knows nothing of what it feeds).
#[derive(Clone)]
pub struct JournalHook(pub std::sync::Arc<dyn Fn(&Journal) + Send + Sync>);

impl std::fmt::Debug for JournalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalHook")
    }
}

/// What `linstor-agent pool …` asks for.
#[derive(Debug, Clone)]
pub enum Request {
    Upgrade(Options),
    /// `pool status`; with `--watch`, until the run ends.
    Status(Option<watch::Watch>),
    Pause,
    Abort {
        quiet: bool,
    },
    /// `pool report`: the HTML picture of a journal (default: the one `pool status` reads),
    /// written to `output` (default: beside the journal). Paths as given on the command line.
    Report {
        journal: Option<PathBuf>,
        output: Option<PathBuf>,
    },
}

/// The test hook of [`KILL_AT_ENV`]: dies here, as a crash would, when asked to.
pub fn kill_point(point: &str) {
    if std::env::var(KILL_AT_ENV).is_ok_and(|p| p == point) {
        eprintln!("{KILL_AT_ENV}: killing this run at {point}");
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    }
}

/// One upgrade run: the clients, the journal and the options.
pub struct Upgrade {
    pub xapi_settings: xapi::Settings,
    pub xapi: xapi::Client,
    pub linstor: linstor::Client,
    pub file: JournalFile,
    pub journal: Journal,
    pub opts: Options,
    pub kmod: String,
    /// The pool's XOSTOR SR when it has one (its PBDs are waited for after each host).
    pub xostor: Option<crate::xostor::sr::XostorSr>,
    /// The live view on a terminal (nothing otherwise): it only shows the journal.
    pub live: live::Live,
}

pub fn run(ctx: &Context, request: &Request) -> Result<PoolReport> {
    let file = JournalFile::new(&ctx.sysroot, journal::JOURNAL_FILE);
    match request {
        Request::Upgrade(opts) => upgrade(ctx, file, opts.clone()),
        Request::Status(None) => render::status(&file),
        Request::Status(Some(watch)) => watch::run(&file, *watch),
        Request::Pause => self::request(&file, "pause"),
        Request::Report { journal, output } => {
            report_html::command(&ctx.sysroot, journal.as_deref(), output.as_deref())
        }
        Request::Abort { quiet } => {
            let quiet = *quiet;
            let open = file
                .load()?
                .filter(|j| matches!(j.state, RunState::Running | RunState::Paused | RunState::Failed));
            match open {
                Some(journal) if !is_locked(&file)? => close_stopped_run(ctx, file, journal, quiet),
                _ => self::request(&file, "abort"),
            }
        }
    }
}

/// `pool abort` of a run that is not running (paused, failed or killed): its settings are
/// restored and the journal closed, so a new upgrade can start.
fn close_stopped_run(ctx: &Context, file: JournalFile, journal: Journal, quiet: bool) -> Result<PoolReport> {
    let mut up = Upgrade::connect(ctx, file, journal, abort_options(quiet))?;
    let _lock = take_lock(&up.file)?;
    let busy = up.journal.unfinished_hosts();
    phases::restore_settings(&mut up)?;
    up.journal.state = RunState::Aborted;
    up.journal.ended = Some(now());
    let note = if busy.is_empty() {
        "aborted: pool settings restored".to_string()
    } else {
        format!(
            "aborted: pool settings restored; {} stopped mid-way and may still be disabled: \
             check it and `xe host-enable` it when it is healthy",
            busy.join(", ")
        )
    };
    up.journal.record(EventKind::Aborted {
        reason: "`pool abort` of a run that was not running".into(),
    });
    up.log(&note);
    up.save()?;
    let document = serde_json::json!({
        "command": "pool abort",
        "changed": true,
        "journal": up.file.path,
        "unfinished_hosts": busy,
    });
    let mut report = PoolReport::new(&document, format!("{note}.\n"))?;
    report.add_html(&picture(&up));
    Ok(report)
}

/// The options of a `pool abort` that closes a stopped run: it only restores settings.
fn abort_options(quiet: bool) -> Options {
    Options {
        dry_run: false,
        resume: false,
        batch: BatchMode::AtMost(1),
        hosts: Vec::new(),
        pins: BTreeMap::new(),
        evacuate_timeout: Duration::from_secs(600),
        host_timeout: Duration::from_secs(600),
        resync_timeout: Duration::from_secs(600),
        linstor_timeout: Duration::from_secs(600),
        stuck_after: Duration::from_secs(120),
        poll: Duration::from_millis(500),
        quiet,
        on_save: None,
    }
}

/// Asks the running upgrade (the one holding the lock) to `pause` or `abort`.
fn request(file: &JournalFile, what: &str) -> Result<PoolReport> {
    let journal = file.load()?;
    let running = is_locked(file)?;
    let state = journal.as_ref().map(|j| j.state);
    if !running {
        return Err(UsageError(format!(
            "no pool upgrade is running (journal {}: {}); nothing to {what}",
            file.path.display(),
            state.map_or("none".to_string(), |s| format!("{s:?}").to_lowercase())
        ))
        .into());
    }
    let path = file.request(what)?;
    let doc = serde_json::json!({
        "command": format!("pool {what}"),
        "changed": true,
        "request": path,
    });
    PoolReport::new(
        &doc,
        format!(
            "Asked the running upgrade to {what} after the batch it is working on ({}).\n",
            path.display()
        ),
    )
}

/// Whether a run holds the journal's lock.
fn is_locked(file: &JournalFile) -> Result<bool> {
    let path = file.lock_path();
    // No lock file, no run: asking creates nothing.
    if !file.lock_exists() {
        return Ok(false);
    }
    let f = file.open_lock()?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(_) => Ok(false),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(true),
        Err((_, e)) => Err(anyhow!("cannot check the lock {}: {e}", path.display())),
    }
}

fn take_lock(file: &JournalFile) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = file.lock_path();
    let f = file.open_lock()?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::errno::Errno::EWOULDBLOCK {
            UsageError(format!(
                "another `pool upgrade` is running (lock {}): wait for it, or `pool pause` / `pool abort` it",
                path.display()
            ))
            .into()
        } else {
            anyhow!("cannot lock {}: {e}", path.display())
        }
    })
}

/// The clients a run needs, from `[xapi]` and `[controller]`.
/// The controller is `[controller] urls`, or on an XOSTOR pool the one its hosts run (found
/// the driver's way, every host a URL: the client follows the controller when it moves).
fn connect(ctx: &Context) -> Result<Connected> {
    let xapi_settings = xapi::Settings::from_settings(ctx.settings.require_xapi("`pool upgrade`")?)?;
    let mut xapi = xapi::Client::new(xapi_settings.clone())?;
    login_patiently(&mut xapi)?;
    let Some(resolved) = crate::xostor::controller::resolve(ctx)? else {
        return Err(ctx
            .settings
            .require_controller("`pool upgrade` (on a pool without an XOSTOR SR)")
            .err()
            .unwrap_or_else(|| anyhow!("no LINSTOR controller to talk to: set [controller] urls")));
    };
    let linstor = linstor::Client::new(&resolved.settings)?;
    Ok(Connected {
        xapi_settings,
        xapi,
        linstor,
        xostor: resolved.xostor,
    })
}

/// The clients of a run, and the pool's XOSTOR SR.
struct Connected {
    xapi_settings: xapi::Settings,
    xapi: xapi::Client,
    linstor: linstor::Client,
    xostor: Option<crate::xostor::sr::XostorSr>,
}

/// How long to wait for XAPI to answer at start: a run resumed while the pool master reboots.
const XAPI_START_PATIENCE: Duration = Duration::from_secs(120);

fn login_patiently(xapi: &mut xapi::Client) -> Result<()> {
    let deadline = std::time::Instant::now() + XAPI_START_PATIENCE;
    loop {
        match xapi.login() {
            Err(e) if xapi::pool::is_unreachable(&e) && std::time::Instant::now() < deadline => {
                tracing::info!("XAPI does not answer yet (pool master rebooting?): {e:#}");
                std::thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// `pool upgrade`: a dry run's plan, or a run started (or resumed) from its journal.
fn upgrade(ctx: &Context, file: JournalFile, opts: Options) -> Result<PoolReport> {
    let _lock = if opts.dry_run {
        None
    } else {
        let lock = take_lock(&file)?;
        // Requests are only accepted while a run holds the lock: any left now are stale.
        file.clear_request("pause");
        file.clear_request("abort");
        Some(lock)
    };
    // The journal decides what this run may do before anything is asked of the pool.
    let journal = starting_journal(&file, &opts)?;
    let mut up = Upgrade::connect(ctx, file, journal, opts)?;
    if !up.opts.dry_run {
        up.live = live::Live::start(&up.journal);
    }
    if up.opts.dry_run {
        let planned = preflight::run(&mut up)?;
        return render::dry_run(&planned);
    }
    if up.opts.resume {
        resume(&mut up)?;
    } else if let Some(nothing_to_do) = start(&mut up)? {
        return Ok(nothing_to_do);
    }
    match phases::run_all(&mut up) {
        Ok(()) => {
            let mut report = render::report(&up.journal)?;
            report.add_html(&picture(&up));
            Ok(report)
        }
        Err(err) => stop(&mut up, err),
    }
}

/// The HTML picture of the run (`report_html`), written beside its journal at the end of every
/// run. Only a picture: a failure to write it is a warning, never the run's outcome.
fn picture(up: &Upgrade) -> std::result::Result<PathBuf, String> {
    report_html::write_beside(&up.file, &up.journal).map_err(|e| {
        let message = format!("the HTML report of the run was not written: {e:#}");
        tracing::warn!("{message}");
        message
    })
}

/// The journal a run starts from: the open one with `--resume` (there must be one); else a
/// blank one (an open journal refuses a new run, but for a dry run).
fn starting_journal(file: &JournalFile, opts: &Options) -> Result<Journal> {
    let open = |j: &Journal| matches!(j.state, RunState::Running | RunState::Paused | RunState::Failed);
    let state = |j: &Journal| format!("{:?}", j.state).to_lowercase();
    match (file.load()?, opts.resume) {
        (Some(j), true) if open(&j) => Ok(j),
        (Some(j), true) => Err(UsageError(format!(
            "nothing to resume: the upgrade journaled at {} is {}; start a new one without --resume",
            file.path.display(),
            state(&j)
        ))
        .into()),
        (None, true) => Err(UsageError(format!(
            "nothing to resume: no journal at {}",
            file.path.display()
        ))
        .into()),
        (Some(j), false) if !opts.dry_run && open(&j) => Err(UsageError(format!(
            "an upgrade is journaled at {} ({}, {} of {} hosts done): continue it with \
             `pool upgrade --resume`, or close it with `pool abort` first",
            file.path.display(),
            state(&j),
            j.hosts_done(),
            j.hosts.len()
        ))
        .into()),
        _ => Ok(Journal::blank()),
    }
}

/// `--resume`: the world re-checked, the journal running again.
fn resume(up: &mut Upgrade) -> Result<()> {
    preflight::recheck(up)?;
    up.journal.state = RunState::Running;
    up.journal.error = None;
    up.journal.stall = None;
    up.journal.record(EventKind::Resumed);
    up.log("resuming from the journal");
    up.save()
}

/// A new run: preflight's journal, saved with the preflight phase done. When every host is
/// at the targets already, the report that says so (and the pool is not touched).
fn start(up: &mut Upgrade) -> Result<Option<PoolReport>> {
    up.journal = preflight::run(up)?;
    for warning in up.journal.warnings.clone() {
        up.log(&format!("warning: {warning}"));
    }
    if up.journal.hosts.iter().all(|h| h.is_done()) && !up.journal.linstor_change {
        let document = serde_json::json!({
            "command": "pool upgrade",
            "changed": false,
            "targets": up.journal.targets,
            "hosts": up.journal.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
        });
        return PoolReport::new(
            &document,
            "Nothing to do: every host is at the target versions; the pool was not touched.\n".into(),
        )
        .map(Some);
    }
    up.begin_phase("preflight")?;
    up.end_phase("preflight", StepState::Done, None)?;
    Ok(None)
}

/// A run that stopped on `err`: a wait that did not end well pauses it (a refusal, the
/// journal intact, for `--resume`); anything else fails it. Either is journaled.
fn stop(up: &mut Upgrade, err: anyhow::Error) -> Result<PoolReport> {
    if let Some(stall) = err.chain().find_map(|c| c.downcast_ref::<wait::Stall>()) {
        let message = stall.message();
        up.journal.state = RunState::Paused;
        up.journal.stall = Some(stall.clone());
        up.journal.record(EventKind::Paused {
            reason: message.clone(),
        });
        up.log(&format!("paused: {message}"));
        up.save()?;
        let html = picture(up).map_or(String::new(), |p| {
            format!(" The report of the run: {}.", p.display())
        });
        return Err(Refusal(format!(
            "the pool upgrade paused (journal {}): {message}{html}",
            up.file.path.display()
        ))
        .into());
    }
    let code = exit_code_for(&err);
    up.journal.state = RunState::Failed;
    up.journal.error = Some(format!("{err:#}"));
    up.journal.record(EventKind::Failed {
        error: format!("{err:#}"),
    });
    up.log(&format!("stopped: {err:#}"));
    let _ = up.save();
    tracing::debug!(?code, "upgrade stopped");
    match picture(up) {
        Ok(path) => Err(err.context(format!(
            "the pool upgrade stopped (the report of the run: {})",
            path.display()
        ))),
        Err(_) => Err(err),
    }
}

impl Upgrade {
    /// A run of `journal` with `opts`, its clients connected (from `[xapi]` and `[controller]`).
    fn connect(ctx: &Context, file: JournalFile, journal: Journal, opts: Options) -> Result<Upgrade> {
        let connected = connect(ctx)?;
        Ok(Upgrade {
            xapi_settings: connected.xapi_settings,
            xapi: connected.xapi,
            linstor: connected.linstor,
            file,
            journal,
            opts,
            kmod: ctx.settings.packages.kmod.clone(),
            xostor: connected.xostor,
            live: live::Live::off(),
        })
    }

    pub fn save(&self) -> Result<()> {
        self.file.save(&self.journal)?;
        if let Some(hook) = &self.opts.on_save {
            (hook.0)(&self.journal);
        }
        self.live.update(&self.journal);
        Ok(())
    }

    /// Adds a line to the journal's log and, unless quiet, shows it on stderr (above the live
    /// view on a terminal).
    pub fn log(&mut self, line: &str) {
        let stamp = now();
        if !self.opts.quiet {
            crate::progress::eprintln(&format!("[{:>8.1}s] {line}", stamp - self.journal.started));
        }
        self.journal.log.push(format!("{stamp:.3} {line}"));
    }

    pub fn kill_point(&self, point: &str) {
        kill_point(point);
    }

    pub fn begin_phase(&mut self, phase: &str) -> Result<()> {
        let step = self.journal.phases.entry(phase.to_string()).or_default();
        step.state = StepState::Started;
        step.started.get_or_insert(now());
        self.log(&format!("phase {phase}: started"));
        self.save()?;
        self.kill_point(&format!("phase:{phase}:started"));
        Ok(())
    }

    pub fn end_phase(&mut self, phase: &str, state: StepState, note: Option<String>) -> Result<()> {
        let step = self.journal.phases.entry(phase.to_string()).or_default();
        step.state = state;
        step.ended = Some(now());
        step.note = note.clone();
        let word = format!("{state:?}").to_lowercase();
        match note {
            Some(n) => self.log(&format!("phase {phase}: {word} ({n})")),
            None => self.log(&format!("phase {phase}: {word}")),
        }
        self.save()?;
        self.kill_point(&format!("phase:{phase}:done"));
        Ok(())
    }

    /// Records `step` as started for every host of `hosts`, in one write of the journal.
    pub fn begin_steps(&mut self, hosts: &[&str], step: &str) -> Result<()> {
        for host in hosts {
            let entry = self.journal.host_mut(host)?;
            let s = entry.steps.entry(step.to_string()).or_insert_with(Step::default);
            s.state = StepState::Started;
            s.started.get_or_insert(now());
            // The host and the step as fields of their own (journald: HOST=, STEP=).
            tracing::info!(host, step, "{host}: {step} started");
            self.log(&format!("{host}: {step} …"));
        }
        self.save()?;
        for host in hosts {
            self.kill_point(&format!("host:{host}:{step}:started"));
        }
        Ok(())
    }

    /// Records the outcome of `step` for several hosts, in one write of the journal.
    pub fn end_steps(&mut self, outcomes: &[(String, StepState, Option<String>)], step: &str) -> Result<()> {
        for (host, state, note) in outcomes {
            let entry = self.journal.host_mut(host)?;
            let s = entry.steps.entry(step.to_string()).or_insert_with(Step::default);
            s.state = *state;
            s.ended = Some(now());
            let took = s.started.map(|t| now() - t).unwrap_or(0.0);
            s.note = note.clone();
            // A failed step, or a wait that stalled (left started, with why): a fault to show.
            if *state == StepState::Failed || (*state == StepState::Started && note.is_some()) {
                let fault = EventKind::Fault {
                    host: host.clone(),
                    step: step.to_string(),
                    detail: note.clone().unwrap_or_default(),
                    stalled: *state == StepState::Started,
                };
                self.journal.record(fault);
            }
            let word = format!("{state:?}").to_lowercase();
            tracing::info!(host = %host, step, state = %word, "{host}: {step} {word}");
            let line = match note {
                Some(n) => format!("{host}: {step} {word} in {took:.1}s ({n})"),
                None => format!("{host}: {step} {word} in {took:.1}s"),
            };
            self.log(&line);
        }
        self.save()?;
        for (host, _, _) in outcomes {
            self.kill_point(&format!("host:{host}:{step}:done"));
        }
        Ok(())
    }
}

/// The exit code of a run that ended without an error: 0 when done or paused, 1 when aborted.
pub fn exit_for(journal: &Journal) -> ExitCode {
    match journal.state {
        RunState::Done | RunState::Paused => ExitCode::Ok,
        _ => ExitCode::Failed,
    }
}
