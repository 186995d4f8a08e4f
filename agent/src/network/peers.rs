//! The peer check: can every peer be reached at the storage network's MTU?
//!
//! For each peer, a ping with don't-fragment (`ping -M do`) carrying a full-MTU packet, then a
//! 1500-byte one. A peer answering both is "ok"; one answering only smaller packets is
//! "MTU mismatch (path carries N)", where N, the largest packet the path carries, is found by
//! probing down between the largest size that passed and the smallest that did not (several
//! sizes per round, in parallel, a bounded number of rounds); one answering nothing is
//! "unreachable". Peers are checked in parallel. `ping` runs through [`crate::exec`].

use crate::exec;
use serde::Serialize;
use std::net::IpAddr;
use std::process::Command;

/// The size every Ethernet path carries; checked when the full MTU fails.
pub const BASE_MTU: u32 = 1500;
/// Sizes tried in parallel per round of the search for the path MTU.
const PROBES_PER_ROUND: u32 = 7;
/// Rounds of that search (7 probes a round narrow 9000 down to the byte in 5).
const MAX_ROUNDS: u32 = 6;
/// ping's default payload: what "reachable at all" is checked with.
const SMALL_PAYLOAD: u32 = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    Ok,
    MtuMismatch,
    Unreachable,
}

/// What the check found for one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerResult {
    pub peer: String,
    pub state: PeerState,
    /// "ok", "MTU mismatch (path carries N)" or "unreachable".
    pub status: String,
    /// The MTU checked for.
    pub mtu: u32,
    /// The largest packet (IP header included) the path carries, when smaller than `mtu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_mtu: Option<u32>,
    /// What ping said, when the peer is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl PeerResult {
    pub fn is_ok(&self) -> bool {
        self.state == PeerState::Ok
    }
}

/// Checks every peer at `mtu`, in parallel; the results are in the order of `peers`.
pub fn check(peers: &[String], mtu: u32) -> Vec<PeerResult> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = peers
            .iter()
            .map(|peer| scope.spawn(move || check_one(peer, mtu)))
            .collect();
        handles
            .into_iter()
            .zip(peers)
            .map(|(handle, peer)| {
                handle.join().unwrap_or_else(|_| PeerResult {
                    peer: peer.clone(),
                    state: PeerState::Unreachable,
                    status: "unreachable".into(),
                    mtu,
                    path_mtu: None,
                    detail: Some("the check of this peer failed unexpectedly".into()),
                })
            })
            .collect()
    })
}

/// Whether every peer is "ok".
pub fn all_ok(results: &[PeerResult]) -> bool {
    results.iter().all(PeerResult::is_ok)
}

/// One line per peer.
pub fn render(results: &[PeerResult]) -> String {
    let width = results.iter().map(|r| r.peer.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("  {:width$}  {}", r.peer, r.status));
        if r.state != PeerState::Ok {
            out.push_str(&format!(" (checked at MTU {})", r.mtu));
        }
        if let Some(detail) = &r.detail {
            out.push_str(&format!(": {detail}"));
        }
        out.push('\n');
    }
    out
}

/// Checks one peer (see the module documentation).
pub fn check_one(peer: &str, mtu: u32) -> PeerResult {
    let overhead = header_overhead(peer);
    let full = mtu.saturating_sub(overhead).max(SMALL_PAYLOAD);
    let result = |state, status: String, path_mtu, detail| PeerResult {
        peer: peer.to_string(),
        state,
        status,
        mtu,
        path_mtu,
        detail,
    };
    let first = ping(peer, full);
    if first.replied {
        return result(PeerState::Ok, "ok".into(), None, None);
    }
    // The largest size known to pass, if any: 1500, else the smallest ping.
    let mut known_good = None;
    let base = BASE_MTU.saturating_sub(overhead);
    if base < full && ping(peer, base).replied {
        known_good = Some(base);
    } else if SMALL_PAYLOAD < full.min(base) && ping(peer, SMALL_PAYLOAD).replied {
        known_good = Some(SMALL_PAYLOAD);
    }
    let Some(good) = known_good else {
        return result(PeerState::Unreachable, "unreachable".into(), None, first.detail);
    };
    let bad = if good == base { full } else { full.min(base) };
    let carried = largest_passing(good, bad, |size| ping(peer, size).replied) + overhead;
    result(
        PeerState::MtuMismatch,
        format!("MTU mismatch (path carries {carried})"),
        Some(carried),
        None,
    )
}

/// The largest payload in `[good, bad)` that passes, given that `good` passes and `bad` does not:
/// each round tries several sizes in parallel and keeps the narrowest bracket, for at most
/// [`MAX_ROUNDS`] rounds (then the largest size seen to pass).
fn largest_passing(mut good: u32, mut bad: u32, passes: impl Fn(u32) -> bool + Sync) -> u32 {
    for _ in 0..MAX_ROUNDS {
        if bad <= good + 1 {
            break;
        }
        let span = bad - good;
        let mut sizes: Vec<u32> = (1..=PROBES_PER_ROUND)
            .map(|i| good + (span as u64 * i as u64 / (PROBES_PER_ROUND as u64 + 1)) as u32)
            .filter(|s| *s > good && *s < bad)
            .collect();
        sizes.dedup();
        let passed: Vec<(u32, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = sizes
                .iter()
                .map(|&size| {
                    let passes = &passes;
                    scope.spawn(move || (size, passes(size)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, false)))
                .collect()
        });
        // The smallest failure bounds the bracket; the largest success below it opens it.
        if let Some(fail) = passed
            .iter()
            .filter(|(s, ok)| !ok && *s > 0)
            .map(|(s, _)| *s)
            .min()
        {
            bad = bad.min(fail);
        }
        if let Some(pass) = passed
            .iter()
            .filter(|(s, ok)| *ok && *s < bad)
            .map(|(s, _)| *s)
            .max()
        {
            good = good.max(pass);
        }
    }
    good
}

/// IP + ICMP header bytes on top of ping's payload.
fn header_overhead(peer: &str) -> u32 {
    match peer.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => 48,
        _ => 28,
    }
}

struct Ping {
    replied: bool,
    detail: Option<String>,
}

/// `ping -n -M do -s PAYLOAD -c 2 -i 0.2 -W 1 PEER`: did any reply come back?
fn ping(peer: &str, payload: u32) -> Ping {
    let mut cmd = Command::new("ping");
    cmd.env("LC_ALL", "C").args(["-n", "-M", "do", "-s"]);
    cmd.arg(payload.to_string())
        .args(["-c", "2", "-i", "0.2", "-W", "1"])
        .arg(peer.trim_matches(['[', ']']));
    match exec::run_unchecked(&mut cmd) {
        Ok(output) if output.status.success() => Ping {
            replied: true,
            detail: None,
        },
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr
                .lines()
                .map(|l| l.trim().trim_start_matches("ping: ").to_string())
                .find(|l| !l.is_empty())
                .unwrap_or_else(|| "no reply".into());
            Ping {
                replied: false,
                detail: Some(said),
            }
        }
        Err(err) => Ping {
            replied: false,
            detail: Some(format!("{err:#}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_finds_the_largest_passing_size_in_bounded_rounds() {
        for limit in [1472, 1473, 4000, 8971, 1500 - 28 + 1] {
            let calls = std::sync::atomic::AtomicU32::new(0);
            let found = largest_passing(1472, 8972, |s| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s <= limit
            });
            assert_eq!(found, limit);
            assert!(calls.into_inner() <= PROBES_PER_ROUND * MAX_ROUNDS);
        }
    }

    #[test]
    fn ipv6_peers_have_larger_headers() {
        assert_eq!(header_overhead("10.0.0.1"), 28);
        assert_eq!(header_overhead("fd00::1"), 48);
        assert_eq!(header_overhead("[fd00::1]"), 48);
        assert_eq!(header_overhead("node2.example"), 28);
    }

    #[test]
    fn render_names_each_peer_and_its_status() {
        let r = PeerResult {
            peer: "10.0.0.13".into(),
            state: PeerState::MtuMismatch,
            status: "MTU mismatch (path carries 1500)".into(),
            mtu: 9000,
            path_mtu: Some(1500),
            detail: None,
        };
        let text = render(&[r]);
        assert!(text.contains("10.0.0.13  MTU mismatch (path carries 1500) (checked at MTU 9000)"));
    }
}
