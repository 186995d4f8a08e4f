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

use crate::app::Context;
use crate::cli::{ProbeArgs, ProbeCommand, ProbeServeArgs};
use crate::error::UsageError;
use crate::output::Outcome;
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

/// Runs `probe serve` or `probe PEER…`.
pub fn run(ctx: &Context, args: ProbeArgs) -> Result<Outcome> {
    if let Some(ProbeCommand::Serve(serve_args)) = args.serve {
        let options = serve_options(ctx, &serve_args)?;
        let report = serve(&options)?;
        return Outcome::new(&report, render_serve(&report));
    }
    if !(args.seconds > 0.0 && args.seconds <= 60.0) {
        return Err(UsageError(format!(
            "--seconds {} must be more than 0 and at most 60",
            args.seconds
        ))
        .into());
    }
    let disk_gbps = args.disk_gbps.unwrap_or(DEFAULT_DISK_GBPS);
    if !(disk_gbps > 0.0 && disk_gbps.is_finite()) {
        return Err(UsageError(format!("--disk-gbps {disk_gbps} must be a positive number")).into());
    }
    let report = probe(
        &args.peers,
        &ProbeOptions {
            seconds: args.seconds,
            disk_gbps,
        },
    );
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
    Outcome::new(&report, render_probe(&report))
}

fn serve_options(ctx: &Context, args: &ProbeServeArgs) -> Result<ServeOptions> {
    if !(args.max_seconds > 0.0 && args.max_seconds.is_finite()) {
        return Err(UsageError(format!(
            "--max-seconds {} must be a positive number",
            args.max_seconds
        ))
        .into());
    }
    let text = match &args.listen {
        Some(listen) => listen.clone(),
        None => ctx
            .config
            .config
            .network
            .as_ref()
            .and_then(|n| n.storage_address.as_deref())
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .unwrap_or_else(|| "0.0.0.0".to_string()),
    };
    let (host, port) = split_host_port(&text);
    let listen = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the listen address {text}"))?
        .next()
        .ok_or_else(|| UsageError(format!("the listen address {text} has no address")))?;
    Ok(ServeOptions {
        listen,
        max_seconds: args.max_seconds,
        max_bytes: args.max_bytes,
        max_clients: args.max_clients,
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
