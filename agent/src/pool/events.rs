//! What happened to the run as a whole, as records the HTML report (`pool report`) can draw:
//! pauses, resumes, aborts, failures, faults of host steps, and the pool's health as checked
//! between batches. The journal keeps them in `events` (absent from journals written before
//! issue 15, which still load: the report then reads the same moments from the log lines).
//!
//! A leaf module: the journal holds these, `health` fills [`PoolHealth`], nothing here reads
//! the journal (which would make a loop `journal` <-> `events`).

use serde::{Deserialize, Serialize};

/// One moment of the run, at `at` (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    pub at: f64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What the moment was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// The run paused: on `pool pause`, or on a wait that stalled (`reason` says which).
    Paused { reason: String },
    /// `pool upgrade --resume` took the run up again.
    Resumed,
    /// The run was aborted (`pool abort`), its settings restored.
    Aborted { reason: String },
    /// The run stopped on an error (state `failed`).
    Failed { error: String },
    /// A host step failed, or its wait stalled (`stalled`); the run stopped on it.
    Fault {
        host: String,
        step: String,
        detail: String,
        #[serde(default)]
        stalled: bool,
    },
    /// The pool's health as LINSTOR reported it once batch `after_batch` (from 1) was done.
    Health(PoolHealth),
}

/// The pool's health at one look: nodes ONLINE, diskful replicas UpToDate, and what was not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolHealth {
    pub after_batch: usize,
    pub nodes_online: usize,
    pub nodes: usize,
    /// Diskful volumes UpToDate, of all diskful volumes (each replica's volumes).
    pub volumes_uptodate: usize,
    pub volumes: usize,
    /// What was wrong ("node x is OFFLINE", "resource r on x (volume 0): Inconsistent"); also
    /// a controller that did not answer. Empty: healthy.
    #[serde(default)]
    pub problems: Vec<String>,
}

impl PoolHealth {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_flat_json() {
        let e = RunEvent {
            at: 5.5,
            kind: EventKind::Fault {
                host: "h".into(),
                step: "reboot".into(),
                detail: "did not come back".into(),
                stalled: true,
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"at":5.5,"event":"fault","host":"h","step":"reboot","detail":"did not come back","stalled":true}"#
        );
        assert_eq!(serde_json::from_str::<RunEvent>(&text).unwrap(), e);
        let health: RunEvent =
            serde_json::from_str(r#"{"at":1,"event":"health","after_batch":2,"nodes_online":3,"nodes":3,"volumes_uptodate":4,"volumes":4}"#)
                .unwrap();
        assert!(matches!(health.kind, EventKind::Health(ref h) if h.healthy() && h.after_batch == 2));
        let resumed: RunEvent = serde_json::from_str(r#"{"at":2,"event":"resumed"}"#).unwrap();
        assert_eq!(resumed.kind, EventKind::Resumed);
    }
}
