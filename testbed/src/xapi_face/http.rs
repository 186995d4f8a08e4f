//! The HTTP/1.1 server under the XAPI face, built to go away the way a rebooting pool master
//! does: while the master host is not up, its port refuses connections and connections that
//! were open are reset; when it is back, the same port answers again. A library server
//! (tiny_http) cannot do this: it owns its sockets, so open keep-alive connections would hang
//! instead of failing, which is not what a client of a real XCP-ng pool sees.
//!
//! One thread per connection, requests read with `httparse`; bodies by `Content-Length`
//! (what XML-RPC and JSON-RPC clients send), `Expect: 100-continue` honoured, keep-alive as
//! HTTP/1.1 says.

use crate::world::{State, World};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest request head and body accepted.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 16 << 20;
/// How long to wait for the port to be free again when the master comes back.
const REBIND_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// An HTTP/1.0 request (its connection closes after the answer unless it asks otherwise).
    pub http10: bool,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

pub type Handler = dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync;

/// The connections open now, so they can all be reset at once.
#[derive(Default)]
struct Open {
    next: AtomicU64,
    streams: Mutex<HashMap<u64, TcpStream>>,
}

impl Open {
    fn add(&self, stream: &TcpStream) -> Option<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone().ok()?;
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, clone);
        Some(id)
    }

    fn remove(&self, id: u64) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    fn reset_all(&self) {
        for (_, stream) in self.streams.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Serves `handler` on `listener` while `up(state)` holds; while it does not, the port is
/// closed. `on_return` runs each time the server comes back (a restarted XAPI has forgotten
/// its sessions). Returns only on error.
pub fn serve_while_up(
    world: Arc<World>,
    listener: TcpListener,
    up: fn(&State) -> bool,
    on_return: impl Fn(),
    handler: Arc<Handler>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let open = Arc::new(Open::default());
    let mut listener = Some(listener);
    loop {
        let current = match listener.take() {
            Some(l) => l,
            None => rebind(addr)?,
        };
        let going_down = Arc::new(AtomicBool::new(false));
        watch_for_down(&world, up, addr, &going_down);
        for stream in current.incoming() {
            if going_down.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let (open, handler) = (Arc::clone(&open), Arc::clone(&handler));
            std::thread::spawn(move || {
                let Some(id) = open.add(&stream) else { return };
                serve_connection(stream, handler.as_ref());
                open.remove(id);
            });
        }
        // The host went away: nothing listens on its port, and open connections break.
        drop(current);
        open.reset_all();
        tracing::info!(%addr, "server host is down: port closed");
        while !world.wait_until(Duration::from_secs(3600), up) {}
        on_return();
        tracing::info!(%addr, "server host is back");
    }
}

/// Sets `going_down` and wakes the accept loop (with a connection of its own) when the host
/// stops being up.
fn watch_for_down(
    world: &Arc<World>,
    up: fn(&State) -> bool,
    addr: SocketAddr,
    going_down: &Arc<AtomicBool>,
) {
    let (world, going_down) = (Arc::clone(world), Arc::clone(going_down));
    std::thread::spawn(move || {
        while !world.wait_until(Duration::from_secs(3600), |s| !up(s)) {}
        going_down.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(addr);
    });
}

fn rebind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let deadline = Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= deadline => {
                return Err(anyhow::anyhow!("cannot listen on {addr} again: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_connection(stream: TcpStream, handler: &Handler) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(status) => {
                let _ = write_response(&mut writer, &error_page(status), false);
                return;
            }
        };
        let keep_alive = keep_alive(&request);
        let response = handler(&request);
        if write_response(&mut writer, &response, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

fn keep_alive(request: &HttpRequest) -> bool {
    let connection = request
        .header("Connection")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if connection.contains("close") {
        return false;
    }
    !request.http10 || connection.contains("keep-alive")
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests,
/// `Err(status)` for a request that cannot be served.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<HttpRequest>, u16> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .by_ref()
            .take((MAX_HEAD + 1 - before) as u64)
            .read_until(b'\n', &mut head)
            .map_err(|_| 400u16)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(400) };
        }
        if head.len() > MAX_HEAD {
            return Err(431);
        }
        let line = &head[before..];
        // Empty lines before a request are allowed (RFC 9112 §2.2); an empty line after the
        // request line ends the head.
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(400),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let path = parsed
        .path
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let fields: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let request = HttpRequest {
        method,
        path,
        headers: fields,
        body: Vec::new(),
        http10: parsed.version == Some(0),
    };
    if request
        .header("Transfer-Encoding")
        .is_some_and(|t| !t.eq_ignore_ascii_case("identity"))
    {
        return Err(411);
    }
    let length: usize = match request.header("Content-Length") {
        Some(v) => v.parse().map_err(|_| 400u16)?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(413);
    }
    if request
        .header("Expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| 400u16)?;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|_| 400u16)?;
    Ok(Some(HttpRequest { body, ..request }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Error",
        _ => "Unknown",
    }
}

fn error_page(status: u16) -> HttpResponse {
    let body = format!(
        "<html><body><h1>HTTP {status} {}</h1></body></html>",
        reason(status).to_lowercase()
    );
    HttpResponse {
        status,
        content_type: "text/html",
        body: body.into_bytes(),
    }
}

fn write_response(writer: &mut TcpStream, response: &HttpResponse, keep_alive: bool) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache, no-store\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    out.extend_from_slice(&response.body);
    writer.write_all(&out)?;
    writer.flush()
}
