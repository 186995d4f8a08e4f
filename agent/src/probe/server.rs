//! `probe serve`: answers probes until its time or byte budget is spent (or, with
//! `--max-clients`, after that many probes), serving clients concurrently.

use super::{MAGIC, OP_BULK, OP_PING, OP_QUIT, PING_SIZE};
use crate::report::ReportCore;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Clients served at once; more wait in the listen backlog.
const MAX_CONCURRENT: usize = 16;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The server exits after this long, whatever it is doing.
    pub max_seconds: f64,
    /// At most this many bulk bytes are accepted, over all clients.
    pub max_bytes: u64,
    /// Exit once this many probes have finished.
    pub max_clients: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct ServeReport {
    #[serde(flatten)]
    pub core: ReportCore,
    pub listen: String,
    /// Probes that finished (a refused or broken connection counts too).
    pub clients: u32,
    pub bytes_received: u64,
    /// Why it stopped: "max-seconds", "max-bytes" or "max-clients".
    pub stopped: String,
    /// Connections that ended in an error, with the reason.
    pub errors: Vec<String>,
}

#[derive(Default)]
struct State {
    /// Bulk bytes not yet granted to a client.
    remaining: u64,
    received: u64,
    active: usize,
    finished: u32,
    errors: Vec<String>,
}

/// The shared state, also when a worker panicked while holding it.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Listens on `options.listen` and serves probes until a bound is reached.
pub fn serve(options: &ServeOptions) -> Result<ServeReport> {
    let listener = bind(options.listen)?;
    let listen = listener.local_addr().unwrap_or(options.listen);
    tracing::info!(%listen, max_seconds = options.max_seconds, max_bytes = options.max_bytes, "probe server listening");
    let deadline = Instant::now() + Duration::from_secs_f64(options.max_seconds.max(0.0));
    let state = Arc::new(Mutex::new(State {
        remaining: options.max_bytes,
        ..State::default()
    }));
    let (stopped, workers) = accept_until_bound(&listener, &state, options.max_clients, deadline);
    drop(listener);
    // Each worker's socket times out at the deadline at the latest.
    for worker in workers {
        let _ = worker.join();
    }
    let s = lock(&state);
    Ok(ServeReport {
        core: ReportCore::new("probe serve", false),
        listen: listen.to_string(),
        clients: s.finished,
        bytes_received: s.received,
        stopped: stopped.to_string(),
        errors: s.errors.clone(),
    })
}

/// The listening socket, non-blocking (so the accept loop sees its bounds).
fn bind(listen: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(listen).with_context(|| {
        format!(
            "cannot listen on {listen} (is another probe server running, or is the address not on this host?)"
        )
    })?;
    listener
        .set_nonblocking(true)
        .context("cannot make the probe socket non-blocking")?;
    Ok(listener)
}

/// What the accept loop does next.
enum Next {
    /// A bound is reached: "max-seconds", "max-clients" or "max-bytes".
    Stop(&'static str),
    /// As many clients as are served at once: wait for one to finish.
    Wait,
    Accept,
}

/// Whether a bound is reached, or room is left for another client.
fn next(state: &Mutex<State>, max_clients: Option<u32>, deadline: Instant) -> Next {
    if Instant::now() >= deadline {
        return Next::Stop("max-seconds");
    }
    let s = lock(state);
    if let Some(max) = max_clients
        && s.finished >= max
    {
        return Next::Stop("max-clients");
    }
    if s.remaining == 0 && s.active == 0 {
        return Next::Stop("max-bytes");
    }
    if s.active >= MAX_CONCURRENT {
        return Next::Wait;
    }
    Next::Accept
}

/// Accepts clients, each served by a worker thread, until a bound is reached; returns the
/// bound and the workers.
fn accept_until_bound(
    listener: &TcpListener,
    state: &Arc<Mutex<State>>,
    max_clients: Option<u32>,
    deadline: Instant,
) -> (&'static str, Vec<JoinHandle<()>>) {
    let mut workers = Vec::new();
    loop {
        match next(state, max_clients, deadline) {
            Next::Stop(bound) => return (bound, workers),
            Next::Wait => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Next::Accept => {}
        }
        match listener.accept() {
            Ok((stream, peer)) => workers.push(spawn_worker(stream, peer, state, deadline)),
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => {
                tracing::warn!("accepting a probe connection failed: {err}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one client in its own thread, counted as active until it finishes (its error, if
/// any, kept for the report).
fn spawn_worker(
    stream: TcpStream,
    peer: SocketAddr,
    state: &Arc<Mutex<State>>,
    deadline: Instant,
) -> JoinHandle<()> {
    lock(state).active += 1;
    let state = Arc::clone(state);
    std::thread::spawn(move || {
        let result = handle(stream, &state, deadline);
        let mut s = lock(&state);
        s.active -= 1;
        s.finished += 1;
        if let Err(err) = result {
            tracing::warn!(%peer, "probe from {peer} failed: {err:#}");
            s.errors.push(format!("{peer}: {err:#}"));
        }
    })
}

pub fn render_serve(report: &ServeReport) -> String {
    let mut out = format!(
        "probe server on {}: served {} probe(s), received {} bytes, stopped at {}\n",
        report.listen, report.clients, report.bytes_received, report.stopped
    );
    for err in &report.errors {
        out.push_str(&format!("  error: {err}\n"));
    }
    out
}

fn read_u64(stream: &mut TcpStream) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    stream.read_exact(&mut buf)?;
    Ok(u64::from_be_bytes(buf))
}

/// Serves one connection; every read and write gives up at `deadline`.
fn handle(mut stream: TcpStream, state: &Mutex<State>, deadline: Instant) -> Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(());
    }
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;

    let mut magic = vec![0u8; MAGIC.len()];
    stream.read_exact(&mut magic).context("reading the greeting")?;
    if magic != MAGIC {
        bail!("not a linstor-agent probe (bad greeting)");
    }
    let wanted = read_u64(&mut stream).context("reading the bytes wanted")?;
    let granted = {
        let mut s = lock(state);
        let granted = wanted.min(s.remaining);
        s.remaining -= granted;
        granted
    };
    let mut received = 0u64;
    let result = converse(&mut stream, granted, &mut received);
    let mut s = lock(state);
    s.remaining += granted.saturating_sub(received);
    s.received += received;
    result
}

fn converse(stream: &mut TcpStream, granted: u64, received: &mut u64) -> Result<()> {
    stream
        .write_all(&granted.to_be_bytes())
        .context("answering the greeting")?;
    let mut op = [0u8; 1];
    loop {
        match stream.read(&mut op) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(err) => return Err(err).context("reading the next request"),
        }
        match op[0] {
            OP_PING => {
                let mut msg = [0u8; PING_SIZE];
                msg[0] = OP_PING;
                stream.read_exact(&mut msg[1..]).context("reading a ping")?;
                stream.write_all(&msg).context("answering a ping")?;
            }
            OP_BULK => {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = stream.read(&mut buf).context("receiving the bulk transfer")?;
                    if n == 0 {
                        break;
                    }
                    *received += n as u64;
                    if *received > granted {
                        bail!("the client sent more than the {granted} bytes it was granted");
                    }
                }
                stream
                    .write_all(&received.to_be_bytes())
                    .context("acknowledging the bulk transfer")?;
                return Ok(());
            }
            OP_QUIT => return Ok(()),
            other => bail!("unknown request {other:#04x}"),
        }
    }
}
