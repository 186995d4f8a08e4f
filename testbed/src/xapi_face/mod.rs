//! The simulated XAPI: the pool master's management API over the world, XML-RPC at `/` (and
//! `/RPC2`, where Python's `xmlrpc.client` posts when a URL has no path) and JSON-RPC at
//! `/jsonrpc`, both over one dispatcher, with XAPI's wire formats and error shapes, so the
//! real `XenAPI` SDK and the agent's JSON-RPC client cannot tell it from the real thing.
//!
//! Layout: [`value`] (the neutral value type), [`xmlrpc`] and [`jsonrpc`] (the codecs),
//! `dispatch` (method table, parameter checks, generic getters), `methods` (the calls that
//! do something), `records` (objects and records), `events` (`event.from`), [`plugin`]
//! (`host.call_plugin`). State changes go through the world's operations, which own XAPI's
//! semantics; this face only translates.

mod dispatch;
pub mod error;
mod events;
pub mod jsonrpc;
mod methods;
pub mod plugin;
pub mod records;
pub mod value;
pub mod xmlrpc;

pub use error::Failure;
pub use value::Value;

use crate::world::World;
use crate::xapi_record;
use anyhow::anyhow;
use events::EventLog;
use records::{Class, View, derived_uuid};
use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Request bodies larger than this are refused (XAPI's own limit is of this order).
const MAX_BODY: u64 = 16 << 20;

/// Serves XAPI on `listener` until the process ends; one thread per request, because
/// `event.from` holds its request open until something changes.
pub fn serve(world: Arc<World>, listener: TcpListener) -> anyhow::Result<()> {
    let server = tiny_http::Server::from_listener(listener, None).map_err(|e| anyhow!("XAPI server: {e}"))?;
    let xapi = Arc::new(Xapi::new(world));
    for request in server.incoming_requests() {
        let xapi = Arc::clone(&xapi);
        std::thread::spawn(move || xapi.respond(request));
    }
    Ok(())
}

struct Session {
    #[allow(dead_code)] // Kept for debugging: who logged in, from which client.
    originator: String,
}

/// The XAPI face's own state: sessions and the event log (everything else is the world's).
pub struct Xapi {
    world: Arc<World>,
    sessions: Mutex<HashMap<String, Session>>,
    session_counter: AtomicU64,
    master_was_live: AtomicBool,
    events: Mutex<EventLog>,
    /// Unix time at simulated time 0: `host.get_servertime` follows the simulated clock.
    epoch: f64,
}

impl Xapi {
    pub fn new(world: Arc<World>) -> Xapi {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let sim_now = world.now();
        let xapi = Xapi {
            world,
            sessions: Mutex::new(HashMap::new()),
            session_counter: AtomicU64::new(0),
            master_was_live: AtomicBool::new(true),
            events: Mutex::new(EventLog::default()),
            epoch: unix_now - sim_now,
        };
        // The log's baseline: changes from here on are events.
        xapi.observe();
        xapi
    }

    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    fn view<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> R {
        let epoch = self.epoch;
        self.world.read(|state| f(&View { state, epoch }))
    }

    /// Whether `Class.get_<field>` exists: some object of the class has the field (a class
    /// with no objects accepts any getter; the reference then fails as it would in XAPI).
    fn has_field(&self, class: Class, field: &str) -> bool {
        self.view(|v| {
            let objects = v.objects(class);
            objects.is_empty() || objects.iter().any(|o| o.record.get(field).is_some())
        })
    }

    fn lock_events(&self) -> MutexGuard<'_, EventLog> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the event log up to the world's current state; returns that generation.
    fn observe(&self) -> u64 {
        let (generation, objects, now) =
            self.view(|v| (v.state.generation, v.all_objects(), events::timestamp(v)));
        self.lock_events().update(generation, objects, &now);
        generation
    }

    fn new_session(&self, originator: &str) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        let reference = records::opaque_ref(&derived_uuid("session", &format!("{}/{n}", self.epoch)));
        self.lock_sessions().insert(
            reference.clone(),
            Session {
                originator: originator.to_string(),
            },
        );
        reference
    }

    /// Whether the master's xapi runs. A master that went away forgets its sessions (XAPI
    /// keeps them in memory only), so clients log in again, as with the real one.
    fn master_up(&self) -> bool {
        let live = self.world.master_live();
        let was_live = self.master_was_live.swap(live, Ordering::SeqCst);
        if live && !was_live {
            self.lock_sessions().clear();
        }
        live
    }

    fn session_valid(&self, reference: &str) -> bool {
        self.lock_sessions().contains_key(reference)
    }

    fn end_session(&self, reference: &str) {
        self.lock_sessions().remove(reference);
    }

    /// An error the world was told to inject into this method (fault injection).
    fn injected_fault(&self, method: &str) -> Option<Failure> {
        self.world.take_xapi_fault(method).map(Failure::from)
    }

    fn respond(&self, mut request: tiny_http::Request) {
        if !self.master_up() {
            let _ = request.respond(unavailable());
            return;
        }
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let is_json_type = request
            .headers()
            .iter()
            .any(|h| h.field.equiv("Content-Type") && h.value.as_str().contains("json"));
        let mut body = Vec::new();
        let read = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
        let response = match (request.method(), path.as_str(), read) {
            (_, _, Err(e)) => internal_error(&format!("reading the request: {e}")),
            (tiny_http::Method::Post, "/jsonrpc", Ok(_)) => self.json_rpc(&body),
            (tiny_http::Method::Post, "/" | "/RPC2", Ok(_)) if is_json_type => self.json_rpc(&body),
            (tiny_http::Method::Post, "/" | "/RPC2", Ok(_)) => self.xml_rpc(&body),
            _ => tiny_http::Response::from_string("<html><body><h1>HTTP 404 not found</h1></body></html>")
                .with_status_code(404)
                .with_header(header("Content-Type", "text/html")),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!("XAPI client went away: {e}");
        }
    }

    fn xml_rpc(&self, body: &[u8]) -> HttpResponse {
        let call = match std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|s| xmlrpc::parse_call(s).map_err(|e| e.to_string()))
        {
            Ok(call) => call,
            Err(e) => return internal_error(&e),
        };
        let envelope = match self.call(&call.method, &call.params) {
            Ok(value) => xapi_record![("Status", "Success"), ("Value", value)],
            Err(failure) => {
                xapi_record![
                    ("Status", "Failure"),
                    ("ErrorDescription", Value::strings(failure.description()))
                ]
            }
        };
        tiny_http::Response::from_string(xmlrpc::write_response(&envelope))
            .with_header(header("Content-Type", "text/xml"))
    }

    fn json_rpc(&self, body: &[u8]) -> HttpResponse {
        let request = match jsonrpc::parse_request(body) {
            Ok(r) => r,
            Err(e) => return internal_error(&format!("Jsonrpc.Malformed_method_request({e})")),
        };
        let outcome = self.call(&request.method, &request.params);
        tiny_http::Response::from_string(jsonrpc::write_response(&request, &outcome))
            .with_header(header("Content-Type", "application/json"))
    }
}

type HttpResponse = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Both are ASCII constants, so this cannot fail; fall back to a harmless header anyway.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|_| {
        tiny_http::Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("valid header")
    })
}

/// While the master is away its XAPI cannot answer. A real client then sees connection
/// errors; here the request gets HTTP 503, which clients treat the same way (a failed
/// transport, no XAPI answer).
fn unavailable() -> HttpResponse {
    tiny_http::Response::from_string("<html><body><h1>HTTP 503 service unavailable</h1></body></html>")
        .with_status_code(503)
        .with_header(header("Content-Type", "text/html"))
}

/// XAPI's answer to a request it cannot parse: HTTP 500 with an HTML page.
fn internal_error(detail: &str) -> HttpResponse {
    let mut escaped = String::new();
    for c in detail.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    let body = format!(
        "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while \
         and try again. If the problem persists, please contact your support representative.<h1> Additional \
         information </h1>{escaped}</body></html>"
    );
    tiny_http::Response::from_string(body)
        .with_status_code(500)
        .with_header(header("Content-Type", "text/html"))
}
