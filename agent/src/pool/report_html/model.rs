//! What the picture shows, computed from the journal alone (no clock, no pool): the bars of
//! each host and phase, the batches, the moments the run stopped and went on, the health
//! checks, the versions, and the split of the run's time into floor, overhead and stopped time.
//!
//! The floor (docs/ARCHITECTURE.md, "The HTML report"): for each batch, the longest time one of
//! its hosts spent in `reboot`, `wait-online` and `wait-synced` (the reboot or restart, the
//! node coming back, the resync: what no orchestrator can make shorter), less any time the run
//! was stopped inside those steps; summed over the batches, since batches run one after the
//! other. Stopped time is from a pause or a failure to the next resume (or to an abort, or to
//! the end of the record). Overhead is the rest: total − stopped − floor (evacuations,
//! installs, prefetch, the LINSTOR step, finish, and every wait on XAPI or LINSTOR beyond it).

use super::super::events::{EventKind, PoolHealth};
use super::super::journal::{HOST_STEPS, HostEntry, Journal, PHASES, StepState};
use super::super::targets::{PackageChange, nevra_version};

/// The host steps whose time makes the floor.
pub const FLOOR_STEPS: &[&str] = &["reboot", "wait-online", "wait-synced"];

/// A recorded step or phase: it has a start time.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub name: String,
    pub state: StepState,
    pub start: f64,
    /// None: not ended (the run stopped in it); drawn to the end of the record.
    pub end: Option<f64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionChange {
    pub package: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub name: String,
    pub batch: usize,
    pub reboot: bool,
    pub done: bool,
    pub bars: Vec<Bar>,
    /// Steps recorded without a time (skipped in preflight: already at the targets).
    pub untimed: Vec<String>,
    pub versions: Vec<VersionChange>,
    /// Its reboot, wait-online and wait-synced time, stopped time left out.
    pub floor: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchSpan {
    pub number: usize,
    pub hosts: Vec<String>,
    /// First step started and last step ended of its hosts (None: not begun).
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// The longest floor of its hosts.
    pub floor: f64,
}

/// A moment to mark on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: f64,
    /// `paused`, `resumed`, `aborted`, `failed`, `fault`.
    pub kind: &'static str,
    pub host: Option<String>,
    pub step: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub total: f64,
    pub stopped: f64,
    pub floor: f64,
    pub overhead: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub start: f64,
    /// The end of the record: when the run ended, else the latest time it recorded.
    pub end: f64,
    pub phases: Vec<Bar>,
    pub rows: Vec<HostRow>,
    pub batches: Vec<BatchSpan>,
    pub marks: Vec<Mark>,
    /// Intervals in which the run was stopped (paused or failed, until resumed).
    pub stopped: Vec<(f64, f64)>,
    pub health: Vec<(f64, PoolHealth)>,
    pub summary: Summary,
}

/// A time the picture can use: journals are read from files anyone may have edited.
fn time(t: Option<f64>) -> Option<f64> {
    t.filter(|t| t.is_finite())
}

pub fn picture(journal: &Journal) -> Picture {
    let start = time(Some(journal.started)).unwrap_or(0.0);
    let phases: Vec<Bar> = PHASES
        .iter()
        .filter_map(|name| journal.phases.get(*name).map(|s| (name.to_string(), s)))
        .filter_map(|(name, s)| bar(name, s))
        .collect();
    let marks = marks(journal);
    let mut end = time(journal.ended).unwrap_or(start);
    let all_bars = journal
        .hosts
        .iter()
        .flat_map(|h| h.steps.values())
        .chain(journal.phases.values());
    for s in all_bars {
        for t in [time(s.started), time(s.ended)].into_iter().flatten() {
            end = end.max(t);
        }
    }
    for t in marks
        .iter()
        .map(|m| m.at)
        .chain(journal.events.iter().map(|e| e.at))
    {
        if t.is_finite() {
            end = end.max(t);
        }
    }
    let stopped = stopped_intervals(&marks, end);
    let rows: Vec<HostRow> = journal.hosts.iter().map(|h| host_row(h, &stopped)).collect();
    let batches = batch_spans(journal, &rows);
    let health = journal
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Health(h) if e.at.is_finite() => Some((e.at, h.clone())),
            _ => None,
        })
        .collect();
    let total = (end - start).max(0.0);
    let stopped_time: f64 = stopped.iter().map(|(a, b)| b - a).sum();
    let floor: f64 = batches.iter().map(|b| b.floor).sum();
    Picture {
        start,
        end,
        phases,
        rows,
        batches,
        marks,
        stopped,
        health,
        summary: Summary {
            total,
            stopped: stopped_time,
            floor,
            overhead: (total - stopped_time - floor).max(0.0),
        },
    }
}

fn bar(name: String, s: &super::super::journal::Step) -> Option<Bar> {
    let start = time(s.started)?;
    Some(Bar {
        name,
        state: s.state,
        start,
        end: time(s.ended).map(|e| e.max(start)),
        note: s.note.clone(),
    })
}

fn host_row(h: &HostEntry, stopped: &[(f64, f64)]) -> HostRow {
    // The known steps in their order, then any other (a journal of a later version).
    let order = |name: &str| {
        HOST_STEPS
            .iter()
            .position(|s| *s == name)
            .unwrap_or(HOST_STEPS.len())
    };
    let mut names: Vec<&String> = h.steps.keys().collect();
    names.sort_by_key(|n| order(n));
    let mut bars = Vec::new();
    let mut untimed = Vec::new();
    for name in names {
        match bar(name.clone(), &h.steps[name]) {
            Some(b) => bars.push(b),
            None => untimed.push(name.clone()),
        }
    }
    let floor = bars
        .iter()
        .filter(|b| FLOOR_STEPS.contains(&b.name.as_str()))
        .filter_map(|b| b.end.map(|e| (b.start, e)))
        .map(|(a, b)| (b - a) - overlap(stopped, a, b))
        .sum::<f64>()
        .max(0.0);
    HostRow {
        name: h.name.clone(),
        batch: h.batch,
        reboot: h.reboot,
        done: h.is_done(),
        bars,
        untimed,
        versions: versions(&h.changes),
        floor,
    }
}

/// Time of `[a, b]` inside the intervals.
fn overlap(intervals: &[(f64, f64)], a: f64, b: f64) -> f64 {
    intervals
        .iter()
        .map(|(x, y)| (b.min(*y) - a.max(*x)).max(0.0))
        .sum()
}

fn batch_spans(journal: &Journal, rows: &[HostRow]) -> Vec<BatchSpan> {
    let count = journal
        .batches
        .len()
        .max(rows.iter().map(|r| r.batch).max().unwrap_or(0));
    (1..=count)
        .map(|number| {
            let members: Vec<&HostRow> = rows.iter().filter(|r| r.batch == number).collect();
            let hosts = match journal.batches.get(number - 1) {
                Some(names) => names.clone(),
                None => members.iter().map(|r| r.name.clone()).collect(),
            };
            let bars = || members.iter().flat_map(|r| r.bars.iter());
            BatchSpan {
                number,
                hosts,
                start: bars().map(|b| b.start).reduce(f64::min),
                end: bars().filter_map(|b| b.end).reduce(f64::max),
                floor: members.iter().map(|r| r.floor).fold(0.0, f64::max),
            }
        })
        .collect()
}

/// Before and after of each package that changes, as `pool upgrade`'s report words them: the
/// module package a new one replaces shows as the new one's before; the same version in
/// another release shows with its release.
fn versions(changes: &[PackageChange]) -> Vec<VersionChange> {
    let replaced =
        |c: &PackageChange| c.to.is_none() && changes.iter().any(|o| o.name == c.name && o.to.is_some());
    changes
        .iter()
        .filter(|c| c.change != "keep" && !replaced(c))
        .map(|c| {
            let before: Vec<String> = c.from.iter().filter_map(|f| nevra_version(f, &c.name)).collect();
            let before = if before.is_empty() {
                "none".to_string()
            } else {
                before.join(" + ")
            };
            let after =
                c.to.as_deref()
                    .and_then(|t| nevra_version(t, &c.name))
                    .unwrap_or_else(|| "removed".into());
            if before == after {
                let release = |n: &str| version_release(n, &c.name);
                return VersionChange {
                    package: c.name.clone(),
                    before: c.from.first().and_then(|f| release(f)).unwrap_or(before),
                    after: c.to.as_deref().and_then(release).unwrap_or(after),
                };
            }
            VersionChange {
                package: c.name.clone(),
                before,
                after,
            }
        })
        .collect()
}

/// `version-release` of a NEVRA whose name is `name`.
fn version_release(nevra: &str, name: &str) -> Option<String> {
    let rest = nevra.strip_prefix(name)?.strip_prefix('-')?;
    let (vr, _arch) = rest.rsplit_once('.')?;
    Some(vr.split_once(':').map_or(vr, |(_, v)| v).to_string())
}

/// The run's moments: from its events, or for a journal written before them, from its log.
/// Faults of steps still failed are added when the events do not have them.
fn marks(journal: &Journal) -> Vec<Mark> {
    let mut marks: Vec<Mark> = if journal.events.is_empty() {
        marks_from_log(&journal.log)
    } else {
        journal.events.iter().filter_map(mark_of).collect()
    };
    for h in &journal.hosts {
        for (step, s) in &h.steps {
            let known = marks.iter().any(|m| {
                m.kind == "fault" && m.host.as_ref() == Some(&h.name) && m.step.as_ref() == Some(step)
            });
            if s.state == StepState::Failed
                && !known
                && let Some(at) = time(s.ended).or(time(s.started))
            {
                marks.push(Mark {
                    at,
                    kind: "fault",
                    host: Some(h.name.clone()),
                    step: Some(step.clone()),
                    text: s.note.clone().unwrap_or_else(|| "failed".into()),
                });
            }
        }
    }
    marks.retain(|m| m.at.is_finite());
    marks.sort_by(|a, b| a.at.total_cmp(&b.at));
    marks
}

fn mark_of(e: &super::super::events::RunEvent) -> Option<Mark> {
    let simple = |kind, text: &str| Mark {
        at: e.at,
        kind,
        host: None,
        step: None,
        text: text.to_string(),
    };
    Some(match &e.kind {
        EventKind::Paused { reason } => simple("paused", reason),
        EventKind::Resumed => simple("resumed", "resumed from the journal (`pool upgrade --resume`)"),
        EventKind::Aborted { reason } => simple("aborted", reason),
        EventKind::Failed { error } => simple("failed", error),
        EventKind::Fault {
            host,
            step,
            detail,
            stalled,
        } => Mark {
            at: e.at,
            kind: "fault",
            host: Some(host.clone()),
            step: Some(step.clone()),
            text: if *stalled {
                format!("stalled: {detail}")
            } else {
                detail.clone()
            },
        },
        EventKind::Health(_) => return None,
    })
}

/// The moments of a journal without events, from the lines `Upgrade::log` wrote
/// (`<epoch> <line>`).
fn marks_from_log(log: &[String]) -> Vec<Mark> {
    log.iter()
        .filter_map(|line| {
            let (stamp, text) = line.split_once(' ')?;
            let at: f64 = stamp.parse().ok()?;
            let kind = if text.starts_with("paused") {
                "paused"
            } else if text.starts_with("resuming") {
                "resumed"
            } else if text.starts_with("aborted") {
                "aborted"
            } else if text.starts_with("stopped: ") {
                "failed"
            } else {
                return None;
            };
            Some(Mark {
                at,
                kind,
                host: None,
                step: None,
                text: text.to_string(),
            })
        })
        .collect()
}

/// From each pause or failure to the resume after it (or an abort, or `end`).
fn stopped_intervals(marks: &[Mark], end: f64) -> Vec<(f64, f64)> {
    let mut intervals = Vec::new();
    let mut open: Option<f64> = None;
    for m in marks {
        match m.kind {
            "paused" | "failed" => {
                open.get_or_insert(m.at);
            }
            "resumed" | "aborted" => {
                if let Some(from) = open.take() {
                    intervals.push((from, m.at.max(from)));
                }
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        intervals.push((from, end.max(from)));
    }
    intervals
}

#[cfg(test)]
mod tests;
