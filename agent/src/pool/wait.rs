//! Waiting on the pool, with a deadline and an eye for states that will not fix themselves.
//!
//! Every wait of the upgrade (a host back from its reboot, a node ONLINE, the resyncs, the
//! LINSTOR step) goes through [`until`]. Each look at the pool returns what still blocks:
//!
//! - [`Blocker::Pending`]: something that takes time (a reboot, a resync, the controller moving);
//!   the wait goes on until the deadline.
//! - [`Blocker::Stuck`]: something that does not change by waiting (a node `VERSION_MISMATCH`,
//!   a satellite that does not run on a host that is up). It may be a passing moment (the
//!   controller restarting at its new version), so it stops the wait only once it has lasted
//!   `stuck_after` without a break.
//! - [`Blocker::Final`]: stops the wait at once (a node `EVICTED`: only an operator brings it back).
//!
//! A wait that ends without success returns a [`Stall`]: what was waited for, on which host,
//! what blocks it, since when and what the operator can do. The run pauses on it with the
//! journal intact, so `pool upgrade --resume` continues once the operator has fixed it.

use super::clock::utc_clock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What still blocks a wait (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    Pending(String),
    Stuck { state: String, hint: String },
    Final { state: String, hint: String },
}

impl Blocker {
    fn state(&self) -> &str {
        match self {
            Blocker::Pending(s) | Blocker::Stuck { state: s, .. } | Blocker::Final { state: s, .. } => s,
        }
    }
}

/// Why a wait ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StallReason {
    /// The deadline passed with the pool still on its way.
    Deadline,
    /// A state that does not fix itself lasted `stuck_after` (or is final).
    Stuck,
}

/// A wait that ended without success: the run pauses on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.message())]
pub struct Stall {
    /// The step or phase that waited (`wait-online`, `phase linstor`, …).
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// What the step waited for, in words.
    pub waits_for: String,
    pub reason: StallReason,
    /// What blocked it last.
    pub blockers: Vec<String>,
    /// When the blocking state was first seen (seconds since the epoch): for a stuck state,
    /// when it began; for a deadline, when the wait began.
    pub since: f64,
    /// When the wait gave up (seconds since the epoch).
    pub at: f64,
    /// What the operator can do.
    pub hint: String,
}

impl Stall {
    pub fn message(&self) -> String {
        let host = self.host.as_deref().map_or(String::new(), |h| format!("{h}: "));
        let how_long = (self.at - self.since).max(0.0);
        let why = match self.reason {
            StallReason::Deadline => format!(
                "not reached within {how_long:.0} s (waiting since {})",
                utc_clock(self.since)
            ),
            StallReason::Stuck => format!(
                "stuck since {} ({how_long:.0} s), which waiting does not fix",
                utc_clock(self.since)
            ),
        };
        format!(
            "{host}{}: waiting for {}: {why}: {}. {} Then `pool upgrade --resume` continues \
             (the journal keeps every step).",
            self.step,
            self.waits_for,
            self.blockers.join("; "),
            self.hint
        )
    }
}

/// One wait: what for, and its limits.
#[derive(Debug, Clone)]
pub struct Wait {
    pub step: String,
    pub host: Option<String>,
    pub waits_for: String,
    pub deadline: Duration,
    pub stuck_after: Duration,
    pub poll: Duration,
    /// What to say when the deadline passes (the stuck blockers carry their own hints).
    pub deadline_hint: String,
    /// Show what blocks the wait on stderr each time it changes.
    pub show: bool,
}

fn epoch_now() -> f64 {
    super::clock::now()
}

/// Looks at the pool with `check` until nothing blocks (Ok), or a [`Stall`] (the error, for
/// the run to find in the chain).
/// A `check` that errors (the controller moving, XAPI away) counts as pending.
pub fn until(wait: &Wait, mut check: impl FnMut() -> anyhow::Result<Vec<Blocker>>) -> anyhow::Result<()> {
    let started = Instant::now();
    let started_epoch = epoch_now();
    // When each stuck state was first seen in the current unbroken run of looks.
    let mut stuck_since: BTreeMap<String, (Instant, f64)> = BTreeMap::new();
    let mut shown: Vec<String> = Vec::new();
    loop {
        let blockers = match check() {
            Ok(b) => b,
            Err(e) => vec![Blocker::Pending(format!("{e:#}"))],
        };
        if blockers.is_empty() {
            return Ok(());
        }
        let states: Vec<String> = blockers.iter().map(|b| b.state().to_string()).collect();
        if wait.show && states != shown {
            let host = wait.host.as_deref().map_or(String::new(), |h| format!("{h}: "));
            crate::progress::eprintln(&format!(
                "  … {host}{} waits ({:.0}s): {}",
                wait.step,
                started.elapsed().as_secs_f64(),
                states.join("; ")
            ));
            shown = states.clone();
        }
        stuck_since.retain(|state, _| states.contains(state));
        let now = Instant::now();
        for b in &blockers {
            match b {
                Blocker::Final { hint, .. } => {
                    return Err(stall(wait, StallReason::Stuck, &states, epoch_now(), hint).into());
                }
                Blocker::Stuck { state, hint } => {
                    let (first, first_epoch) =
                        *stuck_since.entry(state.clone()).or_insert((now, epoch_now()));
                    if now.duration_since(first) >= wait.stuck_after {
                        return Err(stall(wait, StallReason::Stuck, &states, first_epoch, hint).into());
                    }
                }
                Blocker::Pending(_) => {}
            }
        }
        if started.elapsed() >= wait.deadline {
            let hint = blockers
                .iter()
                .find_map(|b| match b {
                    Blocker::Stuck { hint, .. } => Some(hint.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| wait.deadline_hint.clone());
            return Err(stall(wait, StallReason::Deadline, &states, started_epoch, &hint).into());
        }
        std::thread::sleep(wait.poll);
    }
}

fn stall(wait: &Wait, reason: StallReason, states: &[String], since: f64, hint: &str) -> Stall {
    Stall {
        step: wait.step.clone(),
        host: wait.host.clone(),
        waits_for: wait.waits_for.clone(),
        reason,
        blockers: states.to_vec(),
        since,
        at: epoch_now(),
        hint: hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(deadline_ms: u64, stuck_ms: u64) -> Wait {
        Wait {
            step: "wait-online".into(),
            host: Some("h1".into()),
            waits_for: "node h1 ONLINE".into(),
            deadline: Duration::from_millis(deadline_ms),
            stuck_after: Duration::from_millis(stuck_ms),
            poll: Duration::from_millis(5),
            deadline_hint: "check the host".into(),
            show: false,
        }
    }

    #[test]
    fn a_wait_ends_when_nothing_blocks() {
        let mut looks = 0;
        let r = until(&wait(5_000, 5_000), || {
            looks += 1;
            Ok(if looks < 3 {
                vec![Blocker::Pending("rebooting".into())]
            } else {
                vec![]
            })
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(looks, 3);
    }

    #[test]
    fn pending_states_wait_for_the_deadline_and_stuck_ones_for_stuck_after() {
        let r = until(&wait(50, 10_000), || {
            Ok(vec![Blocker::Pending("resync 40%".into())])
        });
        let stall = r.unwrap_err().downcast::<Stall>().unwrap();
        assert_eq!(stall.reason, StallReason::Deadline);
        assert!(stall.message().contains("h1: wait-online"), "{}", stall.message());
        assert!(stall.message().contains("check the host"), "{}", stall.message());

        let started = Instant::now();
        let r = until(&wait(10_000, 60), || {
            Ok(vec![Blocker::Stuck {
                state: "node h1 is VERSION_MISMATCH".into(),
                hint: "align the versions".into(),
            }])
        });
        let stall = r.unwrap_err().downcast::<Stall>().unwrap();
        assert_eq!(stall.reason, StallReason::Stuck);
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = stall.message();
        assert!(
            text.contains("VERSION_MISMATCH") && text.contains("align the versions"),
            "{text}"
        );
        assert!(
            text.contains("stuck since") && text.contains("--resume"),
            "{text}"
        );
    }

    #[test]
    fn a_stuck_state_that_clears_starts_its_clock_again() {
        let mut looks = 0;
        // Stuck for 2 looks, clear for one, stuck again: never 50 ms in a row before it ends.
        let r = until(&wait(10_000, 50), || {
            looks += 1;
            std::thread::sleep(Duration::from_millis(15));
            Ok(match looks {
                1 | 2 | 4 | 5 => vec![Blocker::Stuck {
                    state: "node h1 is VERSION_MISMATCH".into(),
                    hint: String::new(),
                }],
                3 => vec![Blocker::Pending("controller moving".into())],
                _ => vec![],
            })
        });
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn a_final_state_stops_at_once() {
        let started = Instant::now();
        let r = until(&wait(10_000, 10_000), || {
            Ok(vec![Blocker::Final {
                state: "node h1 is EVICTED".into(),
                hint: "restore it".into(),
            }])
        });
        assert_eq!(
            r.unwrap_err().downcast::<Stall>().unwrap().reason,
            StallReason::Stuck
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
