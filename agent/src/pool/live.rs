//! The pool upgrade's live view (issue 15): what `pool upgrade` draws on a terminal while it
//! runs and `pool status --watch` draws from the journal. [`lines`] is a pure function of the
//! journal, a few live details the journal does not hold (a resync's percentage) and the time;
//! [`Live`] keeps the running upgrade's copy of both for the terminal's board.
//!
//! The view only reads: nothing the upgrade decides comes from here.

use super::clock::now;
use super::journal::{HOST_STEPS, HostEntry, Journal, PHASES, RunState, StepState};
use crate::progress::{self, duration};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the view shows beside the journal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// Per host waiting for the resync after its return: how far it is, in percent
    /// (LINSTOR's `done_percentage`; see `health::resync_percent`).
    pub resync: BTreeMap<String, f64>,
    /// End with the journal's last event (`pool status --watch`, which prints no log lines).
    pub last_event: bool,
}

/// The view: a header (state, elapsed, hosts done and the ETA), where the run is (the phase,
/// or the batch and its hosts), one line per host (its step and how long it has taken), and
/// why it stopped, if it did.
pub fn lines(journal: &Journal, details: &Details, now: f64) -> Vec<String> {
    let mut out = vec![header(journal, now), stage(journal, now)];
    let width = journal.hosts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    for h in &journal.hosts {
        let (what, step_time) = host_state(journal, h, details, now);
        let step_time = step_time.map_or(String::new(), duration);
        let host_time = host_elapsed(h, now).map_or(String::new(), |t| format!("host {}", duration(t)));
        out.push(
            format!(
                "  {:<width$}  batch {:<2} {what:<22} {step_time:>6}  {host_time}",
                h.name, h.batch
            )
            .trim_end()
            .to_string(),
        );
    }
    if let Some(stall) = &journal.stall {
        out.push(format!("paused: {}", stall.message()));
    } else if let Some(error) = &journal.error {
        out.push(format!("stopped: {error}"));
    }
    if details.last_event
        && let Some(event) = journal.log.last()
    {
        // Each log line is `<epoch seconds> <text>`.
        let text = event.split_once(' ').map_or(event.as_str(), |(_, t)| t);
        out.push(format!("last: {text}"));
    }
    out
}

fn header(journal: &Journal, now: f64) -> String {
    let state = format!("{:?}", journal.state).to_lowercase();
    let elapsed = journal.ended.unwrap_or(now) - journal.started;
    let mut line = format!("Pool upgrade {state} · {}", duration(elapsed));
    // No hosts yet: preflight has not listed them.
    if !journal.hosts.is_empty() {
        line.push_str(&format!(
            " · hosts {}/{} done",
            journal.hosts_done(),
            journal.hosts.len()
        ));
    }
    // The ETA is the hosts phase's: after it, only the VMs' way home is left.
    if journal.state == RunState::Running && !journal.phase("hosts").is_finished() {
        let eta = eta(journal, now).map_or("— (after the first batch)".to_string(), duration);
        line.push_str(&format!(" · ETA {eta}"));
    }
    line
}

/// The phase the run is in, or in the hosts phase the batch and its hosts.
fn stage(journal: &Journal, now: f64) -> String {
    let Some(phase) = PHASES.iter().find(|p| !journal.phase(p).is_finished()).copied() else {
        return "every phase done".to_string();
    };
    let step = journal.phases.get(phase);
    let since = step
        .and_then(|s| s.started)
        .map_or(String::new(), |t| format!(" ({})", duration(now - t)));
    let word = match journal.phase(phase) {
        StepState::Started => "running",
        StepState::Failed => "failed",
        // A running upgrade goes from one phase straight to the next (preflight is journaled
        // once it is over).
        _ if journal.state == RunState::Running => "running",
        _ => "next",
    };
    if phase == "hosts" {
        let total = journal.batches.len();
        if let Some((i, batch)) = journal
            .batches
            .iter()
            .enumerate()
            .find(|(_, b)| !b.iter().all(|h| journal.host(h).is_some_and(HostEntry::is_done)))
        {
            let started = batch_span(journal, batch).map(|(start, _)| start);
            let since = started.map_or(String::new(), |t| format!(" ({})", duration(now - t)));
            return format!("batch {}/{total}: {}{since}", i + 1, batch.join(", "));
        }
    }
    let what = match phase {
        "preflight" => "checking the pool",
        "settings" => "auto-eviction and HA off for the run",
        "prefetch" => "every host downloads its packages",
        "linstor" => "LINSTOR on every host",
        "hosts" => "the hosts, batch by batch",
        "finish" => "VMs back home, settings restored",
        _ => "",
    };
    format!("phase {phase} {word}: {what}{since}")
}

/// What the host is doing, as the operator names it, and for how long it has been at it.
fn host_state(journal: &Journal, h: &HostEntry, details: &Details, now: f64) -> (String, Option<f64>) {
    let finish = journal.phases.get("finish");
    if h.is_done() {
        if let Some(started) = finish
            .filter(|s| s.state == StepState::Started)
            .and_then(|s| s.started)
            && !h.vms.is_empty()
            && h.steps.values().any(|s| s.state == StepState::Done)
        {
            return ("migrate back".into(), Some(now - started));
        }
        if h.steps.values().all(|s| s.state == StepState::Skipped) {
            return ("at the targets already".into(), None);
        }
        return ("done".into(), None);
    }
    let Some(current) = HOST_STEPS.iter().find(|s| !h.step(s).is_finished()) else {
        return ("done".into(), None);
    };
    let step = h.steps.get(*current);
    let name = label(h, current, details);
    match h.step(current) {
        StepState::Started => {
            let paused = journal.state == RunState::Paused
                && journal
                    .stall
                    .as_ref()
                    .is_some_and(|s| s.host.as_deref() == Some(&h.name));
            let since = step.and_then(|s| s.started).map(|t| now - t);
            if paused {
                (format!("paused at {name}"), None)
            } else if journal.state == RunState::Running {
                (name, since)
            } else {
                (format!("stopped at {name}"), None)
            }
        }
        StepState::Failed => (format!("failed at {name}"), None),
        _ if h.steps.is_empty() => ("waiting".into(), None),
        _ => (format!("{name} next"), None),
    }
}

/// A host step as the operator names it (issue 15).
fn label(h: &HostEntry, step: &str, details: &Details) -> String {
    match step {
        "reboot" if !h.reboot => "restart services".into(),
        "wait-online" => "wait ONLINE".into(),
        "wait-synced" => match details.resync.get(&h.name) {
            Some(percent) => format!("resync {percent:.0}%"),
            None => "resync".into(),
        },
        "wait-pbd" => "PBD".into(),
        other => other.into(),
    }
}

/// From the host's first step to its last (or now, while it runs).
fn host_elapsed(h: &HostEntry, now: f64) -> Option<f64> {
    let start = h.steps.values().filter_map(|s| s.started).reduce(f64::min)?;
    let end = if h.is_done() {
        h.steps.values().filter_map(|s| s.ended).reduce(f64::max)?
    } else {
        now
    };
    Some(end - start)
}

/// When a batch's first step started and its last ended (None: nothing recorded yet; the end
/// is None until every host of it is done).
fn batch_span(journal: &Journal, batch: &[String]) -> Option<(f64, Option<f64>)> {
    let hosts: Vec<&HostEntry> = batch.iter().filter_map(|n| journal.host(n)).collect();
    let steps = || hosts.iter().flat_map(|h| h.steps.values());
    let start = steps().filter_map(|s| s.started).reduce(f64::min)?;
    let done = hosts.iter().all(|h| h.is_done());
    let end = done
        .then(|| steps().filter_map(|s| s.ended).reduce(f64::max))
        .flatten();
    Some((start, end))
}

/// Seconds left for the hosts phase: each batch not done yet takes as long as the batches
/// done so far took on average (less what the current one has already taken). None before a
/// batch has finished: nothing to go by yet.
pub fn eta(journal: &Journal, now: f64) -> Option<f64> {
    let spans: Vec<f64> = journal
        .batches
        .iter()
        .filter_map(|b| batch_span(journal, b))
        .filter_map(|(start, end)| end.map(|e| e - start))
        .collect();
    if spans.is_empty() {
        return None;
    }
    let mean = spans.iter().sum::<f64>() / spans.len() as f64;
    let mut left = 0.0;
    for batch in &journal.batches {
        if batch
            .iter()
            .all(|h| journal.host(h).is_some_and(HostEntry::is_done))
        {
            continue;
        }
        left += match batch_span(journal, batch) {
            Some((start, _)) => (mean - (now - start)).max(0.0),
            None => mean,
        };
    }
    Some(left)
}

/// The running upgrade's view on the terminal: its copy of the journal (taken at every save)
/// and the live details, drawn by a board; nothing at all when progress is off.
pub struct Live {
    state: Option<Arc<Mutex<(Journal, Details)>>>,
    board: progress::Board,
}

impl Default for Live {
    fn default() -> Live {
        Live::off()
    }
}

impl Live {
    pub fn off() -> Live {
        Live {
            state: None,
            board: progress::board(Vec::new, Duration::from_secs(1)),
        }
    }

    /// The view of `journal`, on a terminal (else [`Live::off`]).
    pub fn start(journal: &Journal) -> Live {
        if !progress::is_on() {
            return Live::off();
        }
        let state = Arc::new(Mutex::new((journal.clone(), Details::default())));
        let seen = state.clone();
        let board = progress::board(
            move || match seen.lock() {
                Ok(guard) => lines(&guard.0, &guard.1, now()),
                Err(_) => Vec::new(),
            },
            Duration::from_secs(1),
        );
        Live {
            state: Some(state),
            board,
        }
    }

    /// The journal as just saved.
    pub fn update(&self, journal: &Journal) {
        if let Some(state) = &self.state
            && let Ok(mut guard) = state.lock()
        {
            guard.0 = journal.clone();
            drop(guard);
            self.board.refresh();
        }
    }

    /// How far `host`'s resync is (None: not known, or over).
    pub fn resync(&self, host: &str, percent: Option<f64>) {
        if let Some(state) = &self.state
            && let Ok(mut guard) = state.lock()
        {
            let before = guard.1.resync.get(host).copied();
            match percent {
                Some(p) => guard.1.resync.insert(host.to_string(), p),
                None => guard.1.resync.remove(host),
            };
            if before.map(f64::round) != percent.map(f64::round) {
                drop(guard);
                self.board.refresh();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::journal::{SavedSettings, Step};

    fn host(name: &str, batch: usize) -> HostEntry {
        HostEntry {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            reference: format!("OpaqueRef:{name}"),
            node: name.into(),
            batch,
            changes: vec![],
            reboot: true,
            vms: vec![format!("vm-on-{name}")],
            boot_time_before: None,
            steps: BTreeMap::new(),
        }
    }

    /// Three hosts, one per batch, the run started at t=1000 with its first phases done.
    fn journal() -> Journal {
        let mut j = Journal::blank();
        j.started = 1000.0;
        j.hosts = vec![host("xcp-ng-1", 1), host("xcp-ng-2", 2), host("xcp-ng-3", 3)];
        j.batches = vec![
            vec!["xcp-ng-1".into()],
            vec!["xcp-ng-2".into()],
            vec!["xcp-ng-3".into()],
        ];
        j.settings = SavedSettings::default();
        for p in ["preflight", "settings", "prefetch", "linstor"] {
            j.phases.insert(p.into(), done(1000.0, 1010.0));
        }
        j.phases.insert(
            "hosts".into(),
            Step {
                state: StepState::Started,
                started: Some(1010.0),
                ..Step::default()
            },
        );
        j
    }

    fn done(started: f64, ended: f64) -> Step {
        Step {
            state: StepState::Done,
            started: Some(started),
            ended: Some(ended),
            note: None,
        }
    }

    /// `name` did every step from `from`, ten seconds each.
    fn finish_host(j: &mut Journal, name: &str, from: f64) {
        let h = j.host_mut(name).unwrap();
        for (i, step) in HOST_STEPS.iter().enumerate() {
            let t = from + 10.0 * i as f64;
            h.steps.insert(step.to_string(), done(t, t + 10.0));
        }
    }

    /// `name` is at `step`, started at `at`, every step before done.
    fn at_step(j: &mut Journal, name: &str, step: &str, from: f64, at: f64) {
        let h = j.host_mut(name).unwrap();
        for s in HOST_STEPS.iter().take_while(|s| **s != step) {
            h.steps.insert(s.to_string(), done(from, from + 1.0));
        }
        h.steps.insert(
            step.to_string(),
            Step {
                state: StepState::Started,
                started: Some(at),
                ..Step::default()
            },
        );
    }

    #[test]
    fn each_host_shows_its_phase_and_how_long_it_has_taken() {
        let mut j = journal();
        finish_host(&mut j, "xcp-ng-1", 1010.0);
        at_step(&mut j, "xcp-ng-2", "reboot", 1100.0, 1130.0);
        let view = lines(&j, &Details::default(), 1195.0);
        assert!(
            view[0].starts_with("Pool upgrade running · 3m15s · hosts 1/3 done · ETA "),
            "{view:#?}"
        );
        assert_eq!(view[1], "batch 2/3: xcp-ng-2 (1m35s)");
        assert!(
            view[2].contains("xcp-ng-1  batch 1  done") && view[2].ends_with("host 1m20s"),
            "{view:#?}"
        );
        assert!(
            view[3].contains("reboot") && view[3].contains("1m05s") && view[3].ends_with("host 1m35s"),
            "{view:#?}"
        );
        assert!(view[4].contains("xcp-ng-3  batch 3  waiting"), "{view:#?}");
        assert_eq!(view.len(), 5, "{view:#?}");

        // The operator's names of the steps.
        let named = |step: &str, reboot: bool| {
            let mut j = journal();
            j.host_mut("xcp-ng-2").unwrap().reboot = reboot;
            at_step(&mut j, "xcp-ng-2", step, 1100.0, 1130.0);
            lines(&j, &Details::default(), 1140.0)[3].clone()
        };
        assert!(named("evacuate", true).contains("evacuate"));
        assert!(named("install", true).contains("install"));
        assert!(named("reboot", false).contains("restart services"));
        assert!(named("wait-online", true).contains("wait ONLINE"));
        assert!(named("wait-synced", true).contains("resync"));
        assert!(named("wait-pbd", true).contains("PBD"));
    }

    #[test]
    fn the_resync_shows_its_percentage_when_linstor_gives_one() {
        let mut j = journal();
        at_step(&mut j, "xcp-ng-1", "wait-synced", 1010.0, 1050.0);
        let mut details = Details::default();
        details.resync.insert("xcp-ng-1".into(), 41.7);
        let view = lines(&j, &details, 1060.0);
        assert!(view[2].contains("resync 42%"), "{view:#?}");
        assert!(
            lines(&j, &Details::default(), 1060.0)[2].contains("resync "),
            "no percentage: the step alone"
        );
    }

    #[test]
    fn the_eta_comes_from_the_batches_done_so_far() {
        let mut j = journal();
        assert_eq!(eta(&j, 1020.0), None, "nothing to go by before a batch ends");
        assert!(lines(&j, &Details::default(), 1020.0)[0].ends_with("ETA — (after the first batch)"));
        // Batch 1 took 80 s; batch 2 has run 30 s of its 80; batch 3 is still to come.
        finish_host(&mut j, "xcp-ng-1", 1010.0);
        at_step(&mut j, "xcp-ng-2", "install", 1100.0, 1120.0);
        assert_eq!(eta(&j, 1130.0), Some(50.0 + 80.0));
        assert!(lines(&j, &Details::default(), 1130.0)[0].ends_with("ETA 2m10s"));
        // A batch running longer than the mean counts as about to end, not as negative time.
        assert_eq!(eta(&j, 1300.0), Some(80.0));
        // Hosts already at the targets (skipped, no times) are not batches to wait for.
        for step in HOST_STEPS {
            j.host_mut("xcp-ng-3").unwrap().steps.insert(
                step.to_string(),
                Step {
                    state: StepState::Skipped,
                    ..Step::default()
                },
            );
        }
        assert_eq!(eta(&j, 1130.0), Some(50.0));
        assert!(lines(&j, &Details::default(), 1130.0)[4].contains("at the targets already"));
    }

    #[test]
    fn phases_before_and_after_the_hosts_and_the_end_of_a_run() {
        let mut j = journal();
        j.phases.remove("hosts");
        j.phases.insert(
            "linstor".into(),
            Step {
                state: StepState::Started,
                started: Some(1005.0),
                ..Step::default()
            },
        );
        assert_eq!(
            lines(&j, &Details::default(), 1020.0)[1],
            "phase linstor running: LINSTOR on every host (15s)"
        );

        // A new run's journal before preflight lists the hosts.
        let mut blank = Journal::blank();
        blank.started = 1000.0;
        let view = lines(&blank, &Details::default(), 1003.0);
        assert_eq!(
            view[0],
            "Pool upgrade running · 3s · ETA — (after the first batch)"
        );
        assert_eq!(view[1], "phase preflight running: checking the pool");

        let mut j = journal();
        for h in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
            finish_host(&mut j, h, 1010.0);
        }
        j.phases.insert("hosts".into(), done(1010.0, 1090.0));
        j.phases.insert(
            "finish".into(),
            Step {
                state: StepState::Started,
                started: Some(1090.0),
                ..Step::default()
            },
        );
        let view = lines(&j, &Details::default(), 1100.0);
        assert_eq!(
            view[0], "Pool upgrade running · 1m40s · hosts 3/3 done",
            "no ETA after the hosts"
        );
        assert!(view[1].starts_with("phase finish running"), "{view:#?}");
        assert!(
            view[2].contains("migrate back") && view[2].contains("10s"),
            "{view:#?}"
        );

        j.phases.insert("finish".into(), done(1090.0, 1110.0));
        j.state = RunState::Done;
        j.ended = Some(1110.0);
        j.log.push("1110.000 phase finish: done".into());
        let view = lines(
            &j,
            &Details {
                last_event: true,
                ..Details::default()
            },
            5000.0,
        );
        assert_eq!(
            view[0], "Pool upgrade done · 1m50s · hosts 3/3 done",
            "no ETA once over"
        );
        assert_eq!(view[1], "every phase done");
        assert_eq!(view.last().unwrap(), "last: phase finish: done");
    }

    #[test]
    fn a_paused_run_says_where_and_why() {
        let mut j = journal();
        at_step(&mut j, "xcp-ng-1", "wait-online", 1010.0, 1050.0);
        j.state = RunState::Paused;
        j.stall = Some(crate::pool::wait::Stall {
            step: "wait-online".into(),
            host: Some("xcp-ng-1".into()),
            waits_for: "node xcp-ng-1 ONLINE".into(),
            reason: crate::pool::wait::StallReason::Deadline,
            blockers: vec!["node xcp-ng-1 is OFFLINE".into()],
            since: 1050.0,
            at: 1100.0,
            hint: "Check it.".into(),
        });
        let view = lines(&j, &Details::default(), 1200.0);
        assert!(view[2].contains("paused at wait ONLINE"), "{view:#?}");
        assert!(
            view.last().unwrap().starts_with("paused: xcp-ng-1: wait-online"),
            "{view:#?}"
        );
        assert!(!view[0].contains("ETA"), "{view:#?}");
    }
}
