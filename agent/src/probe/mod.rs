//! The link probe: proves the storage network before anyone trusts it with replication.
//!
//! `linstor-agent probe serve` listens (on the storage address, TCP port [`DEFAULT_PORT`]),
//! bounded in time and bytes; `linstor-agent probe PEER…` connects to each peer in turn, times
//! small ping-pong messages (the round trip, median, in µs) and then sends in bulk for a second or
//! two (the throughput, in Gbit/s, counted by what the server acknowledges having received). A
//! link slower than the disks behind it is a warning: replication would be network-bound.
//!
//! The protocol, over one TCP connection (integers are big-endian u64):
//!
//! ```text
//! client: "LINSTOR-AGENT-PROBE 1\n" <bytes wanted>     server: <bytes granted>  (0: budget spent)
//! client: 'P' + 31 bytes                               server: the same 32 bytes   (repeated)
//! client: 'B' + bulk bytes…, then shuts down writing   server: <bytes received>, then closes
//! ```

pub mod client;
pub mod server;

pub use client::{PeerProbe, ProbeOptions, ProbeReport, probe, render_probe};
pub use server::{ServeOptions, ServeReport, render_serve, serve};

use crate::context::Context;
use crate::error::UsageError;
use crate::output::Render;
use anyhow::{Context as _, Result};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The probe's TCP port: outside LINSTOR's (3366-3371) and DRBD's (7000-7999).
pub const DEFAULT_PORT: u16 = 3380;

/// The first line a client sends.
pub(crate) const MAGIC: &[u8] = b"LINSTOR-AGENT-PROBE 1\n";
/// Ping-pong message size.
pub(crate) const PING_SIZE: usize = 32;
pub(crate) const OP_PING: u8 = b'P';
pub(crate) const OP_BULK: u8 = b'B';
pub(crate) const OP_QUIT: u8 = b'Q';

/// The disks' sequential write throughput assumed when `--disk-gbps` is not given: an NVMe or
/// SSD array writes about this much (a 10G link is saturated by it).
pub const DEFAULT_DISK_GBPS: f64 = 10.0;

/// What `linstor-agent probe …` asks for.
#[derive(Debug, Clone)]
pub enum Request {
    /// Probe each peer in turn.
    Probe {
        peers: Vec<String>,
        seconds: f64,
        /// None: [`DEFAULT_DISK_GBPS`].
        disk_gbps: Option<f64>,
    },
    /// Answer probes, bounded.
    Serve {
        /// None: the storage address, else every address.
        listen: Option<String>,
        max_seconds: f64,
        max_bytes: u64,
        max_clients: Option<u32>,
    },
}

/// What a probe command ends with.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Report {
    Probe(ProbeReport),
    Serve(ServeReport),
}

impl Render for Report {
    fn human(&self) -> String {
        match self {
            Report::Probe(r) => render_probe(r),
            Report::Serve(r) => render_serve(r),
        }
    }
}

/// Runs `probe serve` or `probe PEER…`.
pub fn run(ctx: &Context, request: &Request) -> Result<Report> {
    match request {
        Request::Serve {
            listen,
            max_seconds,
            max_bytes,
            max_clients,
        } => {
            let options = serve_options(ctx, listen.as_deref(), *max_seconds, *max_bytes, *max_clients)?;
            Ok(Report::Serve(serve(&options)?))
        }
        Request::Probe {
            peers,
            seconds,
            disk_gbps,
        } => probe_peers(peers, *seconds, *disk_gbps).map(Report::Probe),
    }
}

fn probe_peers(peers: &[String], seconds: f64, disk_gbps: Option<f64>) -> Result<ProbeReport> {
    if !(seconds > 0.0 && seconds <= 60.0) {
        return Err(UsageError(format!("--seconds {seconds} must be more than 0 and at most 60")).into());
    }
    let disk_gbps = disk_gbps.unwrap_or(DEFAULT_DISK_GBPS);
    if !(disk_gbps > 0.0 && disk_gbps.is_finite()) {
        return Err(UsageError(format!("--disk-gbps {disk_gbps} must be a positive number")).into());
    }
    let report = probe(peers, &ProbeOptions { seconds, disk_gbps });
    let failures = report.failures();
    if !failures.is_empty() {
        let mut message = failures
            .iter()
            .map(|p| format!("probe of {} failed: {}", p.peer, p.error.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("; ");
        let measured: Vec<String> = report
            .peers
            .iter()
            .filter_map(|p| p.throughput_gbps.map(|g| format!("{} {g:.2} Gbit/s", p.peer)))
            .collect();
        if !measured.is_empty() {
            message.push_str(&format!(" (measured: {})", measured.join(", ")));
        }
        anyhow::bail!(message);
    }
    Ok(report)
}

fn serve_options(
    ctx: &Context,
    listen: Option<&str>,
    max_seconds: f64,
    max_bytes: u64,
    max_clients: Option<u32>,
) -> Result<ServeOptions> {
    if !(max_seconds > 0.0 && max_seconds.is_finite()) {
        return Err(UsageError(format!("--max-seconds {max_seconds} must be a positive number")).into());
    }
    let text = match listen {
        Some(listen) => listen.to_string(),
        None => ctx
            .settings
            .network
            .storage_address
            .map_or_else(|| "0.0.0.0".to_string(), |a| a.addr.to_string()),
    };
    let (host, port) = split_host_port(&text);
    let listen = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the listen address {text}"))?
        .next()
        .ok_or_else(|| UsageError(format!("the listen address {text} has no address")))?;
    Ok(ServeOptions {
        listen,
        max_seconds,
        max_bytes,
        max_clients,
    })
}

/// Parses "ADDR", "ADDR:PORT", "[V6]:PORT" or a host name with an optional ":PORT" into what
/// to connect to or listen on (host, port).
pub fn split_host_port(text: &str) -> (String, u16) {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return (addr.ip().to_string(), addr.port());
    }
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        return (ip.to_string(), DEFAULT_PORT);
    }
    if let Some((host, port)) = text.rsplit_once(':')
        && !host.contains(':')
        && let Ok(port) = port.parse::<u16>()
    {
        return (host.to_string(), port);
    }
    (text.to_string(), DEFAULT_PORT)
}

/// Parses a byte count: a number with an optional K, M, G or T (powers of 1000) or Ki, Mi, Gi,
/// Ti (powers of 1024) suffix, and an optional trailing "B" ("10G", "512MiB", "1000000").
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (digits, mult) = units
        .iter()
        .find_map(|(suffix, mult)| {
            t.strip_suffix(suffix)
                .or_else(|| t.strip_suffix(&suffix.to_ascii_lowercase()))
                .map(|d| (d, *mult))
        })
        .unwrap_or((t, 1));
    let value: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count (e.g. 10G, 512MiB, 1000000)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a byte count"));
    }
    Ok((value * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_with_and_without_ports() {
        assert_eq!(split_host_port("10.0.0.2"), ("10.0.0.2".into(), 3380));
        assert_eq!(split_host_port("10.0.0.2:4000"), ("10.0.0.2".into(), 4000));
        assert_eq!(split_host_port("fd00::2"), ("fd00::2".into(), 3380));
        assert_eq!(split_host_port("[fd00::2]:4000"), ("fd00::2".into(), 4000));
        assert_eq!(split_host_port("node2"), ("node2".into(), 3380));
        assert_eq!(split_host_port("node2:4000"), ("node2".into(), 4000));
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("10G"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5k"), Ok(1500));
        assert!(parse_bytes("lots").is_err());
    }
}
