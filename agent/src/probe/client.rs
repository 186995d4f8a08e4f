//! `probe PEER…`: round-trip time and throughput to each peer, one after the other (probing
//! two at once would measure the sender's own NIC twice).

use super::{MAGIC, OP_BULK, OP_PING, OP_QUIT, PING_SIZE, split_host_port};
use crate::report::ReportCore;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Round trips timed per peer (after a few to warm up).
const RTT_SAMPLES: usize = 21;
const RTT_WARMUP: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes asked for per second of bulk transfer: enough for a 100 Gbit/s link.
const WANTED_PER_SECOND: f64 = 12.5e9;

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// How long each bulk transfer lasts.
    pub seconds: f64,
    /// What the disks behind a link can write, in Gbit/s: a slower link is a warning.
    pub disk_gbps: f64,
}

/// What was measured for one peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerProbe {
    /// As given on the command line.
    pub peer: String,
    /// The address connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub throughput_gbps: Option<f64>,
    /// Bulk bytes the peer acknowledged, and over how long.
    pub bytes: u64,
    pub seconds: f64,
    /// Median round trip of small messages, in µs.
    pub rtt_us: Option<f64>,
    pub rtt_samples: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProbeReport {
    #[serde(flatten)]
    pub core: ReportCore,
    pub disk_gbps: f64,
    pub peers: Vec<PeerProbe>,
    pub warnings: Vec<String>,
}

impl ProbeReport {
    /// The peers that could not be probed.
    pub fn failures(&self) -> Vec<&PeerProbe> {
        self.peers.iter().filter(|p| p.error.is_some()).collect()
    }
}

/// Probes every peer in turn.
pub fn probe(peers: &[String], options: &ProbeOptions) -> ProbeReport {
    let results: Vec<PeerProbe> = peers.iter().map(|peer| probe_one(peer, options)).collect();
    let warnings = results.iter().filter_map(|p| p.warning.clone()).collect();
    ProbeReport {
        core: ReportCore::new("probe", false),
        disk_gbps: options.disk_gbps,
        peers: results,
        warnings,
    }
}

pub fn render_probe(report: &ProbeReport) -> String {
    let width = report.peers.iter().map(|p| p.peer.len()).max().unwrap_or(0);
    let mut out = format!(
        "link probe (disks behind each link write {} Gbit/s)\n",
        fmt_gbps(report.disk_gbps)
    );
    for p in &report.peers {
        match (&p.error, p.throughput_gbps, p.rtt_us) {
            (Some(err), _, _) => out.push_str(&format!("  {:width$}  failed: {err}\n", p.peer)),
            (None, Some(gbps), Some(rtt)) => out.push_str(&format!(
                "  {:width$}  {} Gbit/s  rtt {rtt:.0} µs  ({} bytes in {:.2} s)\n",
                p.peer,
                fmt_gbps(gbps),
                p.bytes,
                p.seconds
            )),
            _ => out.push_str(&format!("  {:width$}  no measurement\n", p.peer)),
        }
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

fn fmt_gbps(gbps: f64) -> String {
    if gbps >= 10.0 {
        format!("{gbps:.1}")
    } else {
        format!("{gbps:.2}")
    }
}

fn probe_one(peer: &str, options: &ProbeOptions) -> PeerProbe {
    let mut result = PeerProbe {
        peer: peer.to_string(),
        address: None,
        throughput_gbps: None,
        bytes: 0,
        seconds: 0.0,
        rtt_us: None,
        rtt_samples: 0,
        warning: None,
        error: None,
    };
    if let Err(err) = measure(peer, options, &mut result) {
        result.error = Some(format!("{err:#}"));
        return result;
    }
    if let Some(gbps) = result.throughput_gbps
        && gbps < options.disk_gbps
    {
        result.warning = Some(format!(
            "link to {peer} carries {} Gbit/s, less than the disks behind it can write ({} Gbit/s): \
             replication will be network-bound",
            fmt_gbps(gbps),
            fmt_gbps(options.disk_gbps)
        ));
    }
    result
}

fn connect(peer: &str) -> Result<(TcpStream, SocketAddr)> {
    let (host, port) = split_host_port(peer);
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((stream, addr)),
            Err(err) => last = Some((addr, err)),
        }
    }
    match last {
        Some((addr, err)) => Err(err).with_context(|| {
            format!(
                "cannot connect to {addr} (is `linstor-agent probe serve` running there, port {port} open?)"
            )
        }),
        None => bail!("{host} has no address"),
    }
}

/// Measures the link to `peer` into `result`: the greeting, the round trips, then (when the
/// server grants bytes) the bulk transfer.
fn measure(peer: &str, options: &ProbeOptions, result: &mut PeerProbe) -> Result<()> {
    let (mut stream, addr) = connect(peer)?;
    result.address = Some(addr.to_string());
    stream.set_nodelay(true)?;
    let timeout = Duration::from_secs_f64(options.seconds.max(0.0) + 10.0);
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let granted = greet(&mut stream, options.seconds)?;

    let rtts = round_trips(&mut stream)?;
    result.rtt_samples = rtts.len();
    result.rtt_us = rtts.get(rtts.len() / 2).map(|us| (us * 10.0).round() / 10.0);

    if granted == 0 {
        let _ = stream.write_all(&[OP_QUIT]);
        bail!("the probe server's byte budget is spent (its --max-bytes): no throughput measured");
    }
    let (acked, elapsed) = bulk(&mut stream, granted, options.seconds)?;
    result.bytes = acked;
    result.seconds = (elapsed * 1000.0).round() / 1000.0;
    result.throughput_gbps = Some((acked as f64 * 8.0 / elapsed / 1e9 * 1000.0).round() / 1000.0);
    Ok(())
}

/// Sends the greeting, asking for `seconds` worth of bulk bytes; returns the bytes granted.
fn greet(stream: &mut TcpStream, seconds: f64) -> Result<u64> {
    let wanted = (seconds.max(0.0) * WANTED_PER_SECOND) as u64;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&wanted.to_be_bytes());
    stream.write_all(&hello).context("sending the greeting")?;
    let mut granted = [0u8; 8];
    stream
        .read_exact(&mut granted)
        .context("waiting for the server's answer (is it a linstor-agent probe server?)")?;
    Ok(u64::from_be_bytes(granted))
}

/// Round trips on the idle connection, after the warm-up ones: in µs, sorted.
fn round_trips(stream: &mut TcpStream) -> Result<Vec<f64>> {
    let mut rtts = Vec::with_capacity(RTT_SAMPLES);
    let mut msg = [0u8; PING_SIZE];
    msg[0] = OP_PING;
    let mut back = [0u8; PING_SIZE];
    for i in 0..RTT_WARMUP + RTT_SAMPLES {
        msg[1..9].copy_from_slice(&(i as u64).to_be_bytes());
        let started = Instant::now();
        stream.write_all(&msg).context("sending a ping")?;
        stream
            .read_exact(&mut back)
            .context("waiting for a ping's answer")?;
        let rtt = started.elapsed();
        if back != msg {
            bail!("the server answered a ping with something else");
        }
        if i >= RTT_WARMUP {
            rtts.push(rtt.as_secs_f64() * 1e6);
        }
    }
    rtts.sort_by(f64::total_cmp);
    Ok(rtts)
}

/// Bulk: sends until `seconds` are up (or the grant is used), then reads what the server
/// acknowledges having received; returns those bytes and the seconds it took.
fn bulk(stream: &mut TcpStream, granted: u64, seconds: f64) -> Result<(u64, f64)> {
    let chunk = vec![0x5au8; 256 * 1024];
    let started = Instant::now();
    stream
        .write_all(&[OP_BULK])
        .context("starting the bulk transfer")?;
    let mut sent = 0u64;
    while started.elapsed().as_secs_f64() < seconds && sent < granted {
        let n = chunk.len().min((granted - sent) as usize);
        stream
            .write_all(&chunk[..n])
            .context("sending (did the server stop at its --max-seconds?)")?;
        sent += n as u64;
    }
    stream
        .shutdown(Shutdown::Write)
        .context("ending the bulk transfer")?;
    let mut acked = [0u8; 8];
    stream
        .read_exact(&mut acked)
        .context("waiting for the server to acknowledge the bulk transfer")?;
    Ok((u64::from_be_bytes(acked), started.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::super::server::{ServeOptions, ServeReport, serve};
    use super::*;

    /// A probe server on a free loopback port that stops after one client.
    fn one_client_server(
        max_seconds: f64,
        max_bytes: u64,
    ) -> (SocketAddr, std::thread::JoinHandle<Result<ServeReport>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let server = std::thread::spawn(move || {
            serve(&ServeOptions {
                listen: addr,
                max_seconds,
                max_bytes,
                max_clients: Some(1),
            })
        });
        (addr, server)
    }

    #[test]
    fn a_probe_over_loopback_measures_and_the_server_stops_after_its_clients() {
        let (addr, server) = one_client_server(20.0, 1 << 40);
        let peer = addr.to_string();
        let mut report = None;
        for _ in 0..100 {
            let r = probe(
                std::slice::from_ref(&peer),
                &ProbeOptions {
                    seconds: 0.2,
                    disk_gbps: 1e6,
                },
            );
            if r.failures().is_empty() {
                report = Some(r);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = report.expect("the probe reaches the server");
        let served = server.join().unwrap().unwrap();
        assert_eq!(served.stopped, "max-clients");
        assert_eq!(served.bytes_received, report.peers[0].bytes);
        assert!(report.peers[0].throughput_gbps.unwrap() > 0.0);
        assert_eq!(report.peers[0].rtt_samples, RTT_SAMPLES);
        // Slower than a million Gbit/s of disks: the warning names the peer.
        assert!(report.warnings[0].starts_with(&format!("link to {peer} carries ")));
        assert!(render_probe(&report).contains("replication will be network-bound"));
    }

    #[test]
    fn a_spent_byte_budget_is_reported() {
        let (addr, server) = one_client_server(5.0, 0);
        std::thread::sleep(Duration::from_millis(50));
        let report = probe(
            &[addr.to_string()],
            &ProbeOptions {
                seconds: 0.2,
                disk_gbps: 1.0,
            },
        );
        // A budget of 0 stops the server at once, or tells the client it is spent.
        let served = server.join().unwrap().unwrap();
        assert_eq!(served.stopped, "max-bytes");
        assert!(report.peers[0].error.is_some());
    }
}
