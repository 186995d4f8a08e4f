//! The pool's health as LINSTOR reports it: nodes ONLINE and not evicted, every diskful
//! replica UpToDate; and the replica placement batching is computed from.

use super::batches::{Replica, ReplicaKind};
use super::events::PoolHealth;
use super::wait::Blocker;
use crate::linstor::{
    Client,
    types::{Node, Resource},
};
use anyhow::Result;

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

/// The pool's health once batch `after_batch` is done, for the journal and the HTML report:
/// nodes ONLINE, diskful volumes UpToDate, and the problems. It only records: the steps' own
/// waits decide whether the run goes on. A controller that does not answer is a problem.
pub fn snapshot(linstor: &Client, after_batch: usize) -> PoolHealth {
    let mut health = PoolHealth {
        after_batch,
        ..PoolHealth::default()
    };
    match linstor.nodes() {
        Ok(nodes) => {
            health.nodes = nodes.len();
            for node in &nodes {
                // Worded as preflight words them (`node_problems`).
                if node.flags.iter().any(|f| f == EVICTED) {
                    health.problems.push(format!("node {} is EVICTED", node.name));
                } else if node.connection_status != "ONLINE" {
                    health
                        .problems
                        .push(format!("node {} is {}", node.name, node.connection_status));
                } else {
                    health.nodes_online += 1;
                }
            }
        }
        Err(e) => health
            .problems
            .push(format!("the controller did not list its nodes: {e:#}")),
    }
    match linstor.resources(None) {
        Ok(resources) => {
            let diskful = resources
                .iter()
                .filter(|r| replica_kind(r) == ReplicaKind::Diskful);
            health.volumes = diskful.clone().map(|r| r.volumes.len()).sum();
            let problems = resource_problems(&resources);
            health.volumes_uptodate = health.volumes.saturating_sub(problems.len());
            health.problems.extend(problems);
        }
        Err(e) => health
            .problems
            .push(format!("the controller did not list its resources: {e:#}")),
    }
    health
}

/// How far the resync of the pool's diskful replicas that are not UpToDate is, in percent:
/// the mean of the `done_percentage` LINSTOR gives for them (None when none is out of date,
/// or LINSTOR gives no percentage). For the terminal's view only: waits never read it.
pub fn resync_percent(resources: &[Resource]) -> Option<f64> {
    let done: Vec<f64> = resources
        .iter()
        .filter(|r| replica_kind(r) == ReplicaKind::Diskful)
        .flat_map(|r| &r.volumes)
        .filter_map(|v| v.state.as_ref())
        .filter(|s| s.disk_state.as_deref() != Some("UpToDate"))
        .flat_map(|s| s.replication_states.values())
        .filter_map(|r| r.done_percentage)
        .filter(|p| p.is_finite())
        .collect();
    (!done.is_empty()).then(|| (done.iter().sum::<f64>() / done.len() as f64).clamp(0.0, 100.0))
}

/// Why each node of `only` is not ONLINE, as wait blockers: EVICTED is final (only an operator
/// brings a node back), VERSION_MISMATCH is stuck (nothing but a package install and a service
/// restart changes it), OFFLINE on a host that XAPI says is live is stuck (its satellite does
/// not run), OFFLINE elsewhere is pending (the host is still booting). `controller` is the
/// version the controller runs now, `target` the LINSTOR version of the run, `host_live` says
/// whether the node's host is live (None: not known).
pub fn node_blockers(
    nodes: &[Node],
    only: &[String],
    controller: &str,
    target: &str,
    host_live: impl Fn(&str) -> Option<bool>,
) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    for name in only {
        let Some(node) = nodes.iter().find(|n| &n.name == name) else {
            blockers.push(Blocker::Pending(format!(
                "node {name} is not known to the controller"
            )));
            continue;
        };
        if node.flags.iter().any(|f| f == EVICTED) {
            blockers.push(Blocker::Final {
                state: format!("node {name} is EVICTED"),
                hint: format!(
                    "LINSTOR evicted {name} (it was away longer than auto-eviction allows). Once \
                     the host is healthy, `linstor node restore {name}` brings it back."
                ),
            });
            continue;
        }
        match node.connection_status.as_str() {
            "ONLINE" => {}
            "VERSION_MISMATCH" => blockers.push(Blocker::Stuck {
                state: format!(
                    "node {name} is VERSION_MISMATCH (its satellite and the controller, at {controller}, \
                     run different LINSTOR versions)"
                ),
                hint: version_mismatch_hint(target),
            }),
            status if host_live(name) == Some(true) => blockers.push(Blocker::Stuck {
                state: format!("node {name} is {status} while its host is up"),
                hint: format!(
                    "Its satellite does not run or does not reach the controller: on {name}, \
                     `systemctl status linstor-satellite` and `journalctl -u linstor-satellite` say \
                     why; start it (`systemctl restart linstor-satellite`)."
                ),
            }),
            status => blockers.push(Blocker::Pending(format!("node {name} is {status}"))),
        }
    }
    blockers
}

/// What an operator does about a VERSION_MISMATCH: one LINSTOR version everywhere, then the
/// restarts Vates documents for XOSTOR updates.
pub fn version_mismatch_hint(target: &str) -> String {
    let pins = if target.is_empty() {
        String::new()
    } else {
        format!(" --pin linstor-satellite={target} --pin linstor-controller={target}")
    };
    format!(
        "Install one LINSTOR version on every host (`linstor-agent install --only linstor-satellite \
         --only linstor-controller{pins}`), then `systemctl stop linstor-controller` on the host \
         where it runs (drbd-reactor starts it again) and `systemctl restart linstor-satellite` on \
         every host."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linstor::types::{ReplicationState, Volume, VolumeState};

    fn replica(node: &str, disk: &str, done: &[f64]) -> Resource {
        let replication_states = done
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("peer-{i}"),
                    ReplicationState {
                        replication_state: Some("SyncTarget".into()),
                        done_percentage: Some(*p),
                    },
                )
            })
            .collect();
        Resource {
            name: "r1".into(),
            node_name: node.into(),
            volumes: vec![Volume {
                state: Some(VolumeState {
                    disk_state: Some(disk.into()),
                    replication_states,
                }),
                ..Volume::default()
            }],
            ..Resource::default()
        }
    }

    #[test]
    fn the_resync_percentage_is_the_mean_of_the_replicas_still_syncing() {
        assert_eq!(resync_percent(&[replica("a", "UpToDate", &[])]), None);
        assert_eq!(
            resync_percent(&[replica("a", "Inconsistent", &[])]),
            None,
            "no percentage given"
        );
        let pool = [
            replica("a", "UpToDate", &[100.0]),
            replica("b", "Inconsistent", &[20.0, 40.0]),
            replica("c", "Inconsistent", &[60.0]),
        ];
        assert_eq!(resync_percent(&pool), Some(40.0));
    }
}
