//! Which hosts may be down together: from LINSTOR's replica placement, groups of hosts whose
//! simultaneous absence leaves every resource with quorum (a strict majority of its replicas:
//! diskful, diskless and tie-breaker replicas all vote, as DRBD counts them) and with an
//! UpToDate copy of its data somewhere else, and whose VMs fit in the free memory of the hosts
//! that stay up.
//!
//! The grouping is first-fit in upgrade order (the master first): each host joins the first
//! batch it can join safely, else opens a new one. `--batch 1` makes every batch one host.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaKind {
    Diskful,
    Diskless,
    TieBreaker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub resource: String,
    pub node: String,
    pub kind: ReplicaKind,
}

/// What batching needs to know about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLoad {
    pub node: String,
    /// Memory free now (bytes).
    pub memory_free: u64,
    /// Memory of each VM running on it (bytes): they move when it goes down.
    pub vm_memory: Vec<u64>,
}

/// Why a set of hosts cannot be down together (empty: it can).
pub fn why_unsafe(down: &BTreeSet<&str>, replicas: &[Replica], hosts: &[HostLoad]) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut by_resource: BTreeMap<&str, Vec<&Replica>> = BTreeMap::new();
    for r in replicas {
        by_resource.entry(r.resource.as_str()).or_default().push(r);
    }
    for (resource, reps) in &by_resource {
        let total = reps.len();
        let gone = reps.iter().filter(|r| down.contains(r.node.as_str())).count();
        if gone == 0 {
            continue;
        }
        if (total - gone) * 2 <= total {
            reasons.push(format!(
                "resource {resource} would keep {} of its {total} replicas, not a majority: it would lose quorum",
                total - gone
            ));
        }
        let data_elsewhere = reps
            .iter()
            .any(|r| r.kind == ReplicaKind::Diskful && !down.contains(r.node.as_str()));
        if !data_elsewhere {
            reasons.push(format!(
                "resource {resource} would have no diskful replica left up"
            ));
        }
    }
    if let Some(reason) = memory_shortfall(down, hosts) {
        reasons.push(reason);
    }
    reasons
}

/// First-fit-decreasing of the leaving VMs into the free memory of the hosts that stay.
fn memory_shortfall(down: &BTreeSet<&str>, hosts: &[HostLoad]) -> Option<String> {
    let mut leaving: Vec<u64> = hosts
        .iter()
        .filter(|h| down.contains(h.node.as_str()))
        .flat_map(|h| h.vm_memory.iter().copied())
        .collect();
    leaving.sort_unstable_by(|a, b| b.cmp(a));
    let mut free: Vec<u64> = hosts
        .iter()
        .filter(|h| !down.contains(h.node.as_str()))
        .map(|h| h.memory_free)
        .collect();
    for vm in &leaving {
        match free.iter_mut().find(|f| **f >= *vm) {
            Some(slot) => *slot -= vm,
            None => {
                let total: u64 = leaving.iter().sum();
                return Some(format!(
                    "its VMs ({} MiB in all) would not fit in the free memory of the hosts that stay up",
                    total / (1024 * 1024)
                ));
            }
        }
    }
    None
}

/// Groups `order` (node names, the master first) into batches of at most `max_size` hosts
/// (None: as large as safety allows). A host that cannot go down even alone is an error
/// naming it and why.
pub fn plan(
    order: &[String],
    replicas: &[Replica],
    hosts: &[HostLoad],
    max_size: Option<usize>,
) -> Result<Vec<Vec<String>>, String> {
    let mut batches: Vec<Vec<String>> = Vec::new();
    for node in order {
        let alone: BTreeSet<&str> = [node.as_str()].into_iter().collect();
        let reasons = why_unsafe(&alone, replicas, hosts);
        if !reasons.is_empty() {
            return Err(format!(
                "{node} cannot go down even alone: {}",
                reasons.join("; ")
            ));
        }
        let joined = batches.iter_mut().find(|batch| {
            if max_size.is_some_and(|m| batch.len() >= m) {
                return false;
            }
            let mut down: BTreeSet<&str> = batch.iter().map(String::as_str).collect();
            down.insert(node);
            why_unsafe(&down, replicas, hosts).is_empty()
        });
        match joined {
            Some(batch) => batch.push(node.clone()),
            None => batches.push(vec![node.clone()]),
        }
    }
    Ok(batches)
}

/// `--batch`: how many hosts may be down at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// The largest groups replica placement and free memory allow.
    Auto,
    /// At most this many, still only where it is safe.
    AtMost(usize),
}

impl std::fmt::Display for BatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchMode::Auto => f.write_str("auto"),
            BatchMode::AtMost(n) => write!(f, "{n}"),
        }
    }
}

impl BatchMode {
    /// `auto` or a number of hosts (1 or more), as `--batch` takes it.
    pub fn parse(value: &str) -> Result<BatchMode, String> {
        if value == "auto" {
            return Ok(BatchMode::Auto);
        }
        match value.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(BatchMode::AtMost(n)),
            _ => Err(format!("{value:?}: use `auto` or a number of hosts (1 or more)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn rep(resource: &str, node: &str, kind: ReplicaKind) -> Replica {
        Replica {
            resource: resource.into(),
            node: node.into(),
            kind,
        }
    }

    /// 2 diskful + 1 tie-breaker on each of the given triples.
    fn placement(triples: &[[&str; 3]]) -> Vec<Replica> {
        triples
            .iter()
            .enumerate()
            .flat_map(|(i, [a, b, c])| {
                let name = format!("r{i}");
                vec![
                    rep(&name, a, ReplicaKind::Diskful),
                    rep(&name, b, ReplicaKind::Diskful),
                    rep(&name, c, ReplicaKind::TieBreaker),
                ]
            })
            .collect()
    }

    fn roomy(nodes: &[&str]) -> Vec<HostLoad> {
        nodes
            .iter()
            .map(|n| HostLoad {
                node: n.to_string(),
                memory_free: 64 * GIB,
                vm_memory: vec![4 * GIB],
            })
            .collect()
    }

    fn names(nodes: &[&str]) -> Vec<String> {
        nodes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn disjoint_triples_pair_up() {
        let nodes = ["h0", "h1", "h2", "h3", "h4", "h5"];
        let replicas = placement(&[["h0", "h1", "h2"], ["h3", "h4", "h5"]]);
        let batches = plan(&names(&nodes), &replicas, &roomy(&nodes), None).unwrap();
        assert_eq!(
            batches,
            vec![names(&["h0", "h3"]), names(&["h1", "h4"]), names(&["h2", "h5"])]
        );
        let one = plan(&names(&nodes), &replicas, &roomy(&nodes), Some(1)).unwrap();
        assert_eq!(one.len(), 6);
    }

    #[test]
    fn a_ring_of_overlapping_resources_allows_no_pairs() {
        let nodes = ["h0", "h1", "h2", "h3"];
        // Every pair of hosts shares a resource.
        let replicas = placement(&[
            ["h0", "h1", "h2"],
            ["h1", "h2", "h3"],
            ["h2", "h3", "h0"],
            ["h3", "h0", "h1"],
        ]);
        let batches = plan(&names(&nodes), &replicas, &roomy(&nodes), None).unwrap();
        assert_eq!(batches.len(), 4, "{batches:?}");
    }

    #[test]
    fn memory_limits_the_batch() {
        let nodes = ["h0", "h1", "h2", "h3"];
        let replicas = placement(&[["h0", "h1", "h2"]]);
        let mut hosts = roomy(&nodes);
        for h in &mut hosts {
            h.memory_free = 5 * GIB;
        }
        // h3 holds no replica, but its VM and h0's cannot both move into what stays free
        // when one of the two targets is also down... each host has room for one more VM.
        let batches = plan(&names(&nodes), &replicas, &hosts, None).unwrap();
        for batch in &batches {
            let down: BTreeSet<&str> = batch.iter().map(String::as_str).collect();
            assert!(why_unsafe(&down, &replicas, &hosts).is_empty(), "{batch:?}");
        }
        hosts[1].memory_free = 0;
        hosts[2].memory_free = 0;
        hosts[3].memory_free = 0;
        let err = plan(&names(&nodes), &replicas, &hosts, None).unwrap_err();
        assert!(err.contains("h0 cannot go down even alone"), "{err}");
        assert!(err.contains("free memory"), "{err}");
    }

    #[test]
    fn two_replicas_without_a_tie_breaker_refuse_any_host() {
        let replicas = vec![
            rep("r0", "h0", ReplicaKind::Diskful),
            rep("r0", "h1", ReplicaKind::Diskful),
        ];
        let nodes = ["h0", "h1", "h2"];
        let err = plan(&names(&nodes), &replicas, &roomy(&nodes), None).unwrap_err();
        assert!(
            err.contains("resource r0 would keep 1 of its 2 replicas"),
            "{err}"
        );
    }

    #[test]
    fn the_last_diskful_replica_is_kept_up() {
        let replicas = vec![
            rep("r0", "h0", ReplicaKind::Diskful),
            rep("r0", "h1", ReplicaKind::Diskless),
            rep("r0", "h2", ReplicaKind::TieBreaker),
        ];
        let down: BTreeSet<&str> = ["h0"].into_iter().collect();
        let reasons = why_unsafe(&down, &replicas, &roomy(&["h0", "h1", "h2"]));
        assert!(
            reasons.iter().any(|r| r.contains("no diskful replica")),
            "{reasons:?}"
        );
    }

    #[test]
    fn batch_mode_is_auto_or_a_positive_number() {
        assert_eq!(BatchMode::parse("auto"), Ok(BatchMode::Auto));
        assert_eq!(BatchMode::parse("3"), Ok(BatchMode::AtMost(3)));
        assert!(BatchMode::parse("0").is_err());
        assert!(BatchMode::parse("two").unwrap_err().contains("use `auto`"));
    }
}
