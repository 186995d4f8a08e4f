//! The pool's health as LINSTOR reports it: nodes ONLINE and not evicted, every diskful
//! replica UpToDate; and the replica placement batching is computed from.

use super::batches::{Replica, ReplicaKind};
use crate::linstor::{Client, types::Resource};
use anyhow::Result;
use std::time::{Duration, Instant};

pub const EVICTED: &str = "EVICTED";

pub fn replica_kind(r: &Resource) -> ReplicaKind {
    let has = |f: &str| r.flags.iter().any(|x| x.eq_ignore_ascii_case(f));
    if has("TIE_BREAKER") {
        ReplicaKind::TieBreaker
    } else if has("DISKLESS") || has("DRBD_DISKLESS") {
        ReplicaKind::Diskless
    } else {
        ReplicaKind::Diskful
    }
}

pub fn replicas(resources: &[Resource]) -> Vec<Replica> {
    resources
        .iter()
        .map(|r| Replica {
            resource: r.name.clone(),
            node: r.node_name.clone(),
            kind: replica_kind(r),
        })
        .collect()
}

/// Nodes that are not ONLINE or are evicted, as "node: STATUS".
pub fn node_problems(linstor: &Client, only: Option<&[String]>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for node in linstor.nodes()? {
        if only.is_some_and(|o| !o.contains(&node.name)) {
            continue;
        }
        if node.flags.iter().any(|f| f == EVICTED) {
            problems.push(format!("node {} is EVICTED", node.name));
        } else if node.connection_status != "ONLINE" {
            problems.push(format!("node {} is {}", node.name, node.connection_status));
        }
    }
    Ok(problems)
}

/// Diskful replicas whose volumes are not UpToDate, as "resource on node: state".
pub fn resource_problems(resources: &[Resource]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in resources {
        if replica_kind(r) != ReplicaKind::Diskful {
            continue;
        }
        for v in &r.volumes {
            let state = v
                .state
                .as_ref()
                .and_then(|s| s.disk_state.clone())
                .unwrap_or_else(|| "unknown".into());
            if state != "UpToDate" {
                problems.push(format!(
                    "resource {} on {} (volume {}): {state}",
                    r.name, r.node_name, v.volume_number
                ));
            }
        }
    }
    problems
}

/// Polls `check` until it returns no problems, or the timeout passes; returns the last
/// problems seen (empty: healthy). A check that errors (the controller moving) is retried
/// and its error counts as the problem.
pub fn wait_healthy(
    timeout: Duration,
    poll: Duration,
    mut check: impl FnMut() -> Result<Vec<String>>,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let problems = match check() {
            Ok(p) => p,
            Err(e) => vec![format!("{e:#}")],
        };
        if problems.is_empty() || Instant::now() >= deadline {
            return problems;
        }
        std::thread::sleep(poll);
    }
}
