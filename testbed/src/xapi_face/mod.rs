//! The simulated XAPI: the pool master's management API over the world, XML-RPC at `/` (and
//! `/RPC2`, where Python's `xmlrpc.client` posts when a URL has no path) and JSON-RPC at
//! `/jsonrpc`, both over one dispatcher, with XAPI's wire formats and error shapes, so the
//! real `XenAPI` SDK and the agent's JSON-RPC client cannot tell it from the real thing.
//!
//! Layout: [`http`] (the server, which goes away with the master host), [`value`] (the
//! neutral value type), [`xmlrpc`] and [`jsonrpc`] (the codecs), `dispatch` (method table,
//! parameter checks, generic getters), `methods` (the calls that do something), [`records`]
//! (objects, references and records), `events` (`event.from`), `tasks` (`Async.*` calls and
//! their task objects), [`plugin`]
//! (`host.call_plugin` of a host's plugin files), [`service_plugin`] (XCP-ng's `service.py`,
//! built in). Host and VM operations are the world's (`world::ops`, which owns XAPI's
//! semantics and error codes); this face resolves references and translates.

mod dispatch;
pub mod error;
mod events;
pub mod http;
pub mod jsonrpc;
mod methods;
pub mod plugin;
pub mod records;
pub mod service_plugin;
mod tasks;
pub mod value;
pub mod xmlrpc;

pub use error::Failure;
pub use value::Value;

use crate::world::{Power, State, World};
use crate::xapi_record;
use events::EventLog;
use http::{HttpRequest, HttpResponse};
use records::{Class, Obj, View, derived_uuid, opaque_ref};
use std::collections::HashSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tasks::Tasks;

/// Serves XAPI on `listener` until the process ends. Like the pool master's xapi, it is not
/// there while the master host is away (the port refuses connections, open ones break), and
/// comes back with no sessions when the master is up again.
pub fn serve(world: Arc<World>, listener: TcpListener) -> anyhow::Result<()> {
    serve_with(world, listener, Options::default())
}

/// What the XAPI face knows beyond the world.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The agent binary plugins are told to run (`LINSTOR_AGENT_BIN`).
    pub agent_bin: Option<PathBuf>,
}

/// [`serve`], with `options`.
pub fn serve_with(world: Arc<World>, listener: TcpListener, options: Options) -> anyhow::Result<()> {
    let xapi = Arc::new(Xapi::new(Arc::clone(&world)).with_agent_bin(options.agent_bin));
    let on_return = {
        let xapi = Arc::clone(&xapi);
        move || xapi.restarted()
    };
    let handler: Arc<http::Handler> = Arc::new(move |request: &HttpRequest| xapi.handle(request));
    http::serve_while_up(world, listener, master_up, on_return, handler)
}

fn master_up(state: &State) -> bool {
    state
        .hosts
        .iter()
        .any(|h| h.uuid == state.pool.master && h.power == Power::Up)
}

/// The XAPI face's own state: sessions, tasks and the event log (everything else is the
/// world's). A clone shares all of it (an `Async.*` call runs on a clone in its own thread).
#[derive(Clone)]
pub struct Xapi {
    world: Arc<World>,
    /// Live session references.
    sessions: Arc<Mutex<HashSet<String>>>,
    session_counter: Arc<AtomicU64>,
    events: Arc<Mutex<EventLog>>,
    tasks: Arc<Mutex<Tasks>>,
    task_counter: Arc<AtomicU64>,
    /// Unix time at simulated time 0: `host.get_servertime` follows the simulated clock.
    epoch: f64,
    /// Passed to plugins as `LINSTOR_AGENT_BIN`.
    agent_bin: Option<PathBuf>,
}

impl Xapi {
    pub fn new(world: Arc<World>) -> Xapi {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let sim_now = world.now();
        let xapi = Xapi {
            world,
            sessions: Arc::default(),
            session_counter: Arc::default(),
            events: Arc::default(),
            tasks: Arc::default(),
            task_counter: Arc::default(),
            epoch: unix_now - sim_now,
            agent_bin: None,
        };
        // The log's baseline: changes from here on are events.
        xapi.observe();
        xapi
    }

    /// Plugins this face runs get `LINSTOR_AGENT_BIN=<path>` (None: not set).
    pub fn with_agent_bin(mut self, agent_bin: Option<PathBuf>) -> Xapi {
        self.agent_bin = agent_bin;
        self
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
        if class == Class::Task {
            return tasks::has_field(field);
        }
        self.view(|v| {
            let objects = v.objects(class);
            objects.is_empty() || objects.iter().any(|o| o.record.get(field).is_some())
        })
    }

    /// Every object of a class: the world's, or this face's tasks.
    fn objects(&self, class: Class) -> Vec<Obj> {
        match class {
            Class::Task => self.lock_tasks().objects(),
            _ => self.view(|v| v.objects(class)),
        }
    }

    fn record(&self, class: Class, uuid: &str) -> Option<Value> {
        match class {
            Class::Task => self.lock_tasks().record(uuid),
            _ => self.view(|v| v.record(class, uuid)),
        }
    }

    fn exists(&self, class: Class, uuid: &str) -> bool {
        match class {
            Class::Task => self.lock_tasks().exists(uuid),
            _ => self.view(|v| v.exists(class, uuid)),
        }
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_events(&self) -> MutexGuard<'_, EventLog> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_sessions(&self) -> MutexGuard<'_, HashSet<String>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the event log up to the world's current state and this face's tasks; returns
    /// the world's generation. The tasks are read under the log's lock, so the log never
    /// sees them go back in time; every task change bumps the generation after it is made
    /// (`World::touch`), so a log at that generation has it.
    fn observe(&self) -> u64 {
        let (generation, mut objects, now) =
            self.view(|v| (v.state.generation, v.all_objects(), events::timestamp(v)));
        let mut log = self.lock_events();
        objects.extend(self.lock_tasks().objects());
        log.update(generation, objects, &now);
        generation
    }

    /// A task changed: wake `event.from` waiters and log the change at once (so a client
    /// sees a task's end even if it is destroyed before its next `event.from`).
    fn tasks_changed(&self) {
        self.world.touch();
        self.observe();
    }

    /// Starts a pending task named after the call (`Async.host.evacuate`), resident on the
    /// master; returns its UUID.
    fn create_task(&self, name_label: &str) -> String {
        let n = self.task_counter.fetch_add(1, Ordering::Relaxed);
        let uuid = derived_uuid("task", &format!("{}/{n}", self.epoch));
        let (master, now) = self.view(|v| (v.state.pool.master.clone(), v.now_unix()));
        self.lock_tasks().create(&uuid, name_label, &master, now);
        self.tasks_changed();
        uuid
    }

    /// Ends a task with its call's outcome.
    fn complete_task(&self, uuid: &str, outcome: &Result<Value, Failure>) {
        let now = self.view(|v| v.now_unix());
        if self.lock_tasks().complete(uuid, outcome, now) {
            self.tasks_changed();
        }
    }

    /// `task.destroy`.
    fn destroy_task(&self, uuid: &str) -> Result<(), Failure> {
        self.lock_tasks().destroy(uuid)?;
        self.tasks_changed();
        Ok(())
    }

    /// `task.cancel`, by the call of `session`.
    fn cancel_task(&self, uuid: &str, session: &str) -> Result<(), Failure> {
        let by = opaque_ref(&derived_uuid("task.cancel", &format!("{session}/{uuid}")));
        self.lock_tasks().cancel(uuid, &by)?;
        self.tasks_changed();
        Ok(())
    }

    /// The master came back: xapi restarted, with no sessions and no tasks (it keeps both
    /// in memory only).
    fn restarted(&self) {
        self.forget_sessions();
        self.lock_tasks().clear();
        self.tasks_changed();
    }

    fn new_session(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        let reference = records::opaque_ref(&derived_uuid("session", &format!("{}/{n}", self.epoch)));
        self.lock_sessions().insert(reference.clone());
        reference
    }

    /// A restarted xapi has forgotten its sessions (XAPI keeps them in memory only): clients
    /// get `SESSION_INVALID` and log in again.
    fn forget_sessions(&self) {
        self.lock_sessions().clear();
    }

    fn session_valid(&self, reference: &str) -> bool {
        self.lock_sessions().contains(reference)
    }

    fn end_session(&self, reference: &str) {
        self.lock_sessions().remove(reference);
    }

    /// An error the world was told to inject into this method (fault injection).
    fn injected_fault(&self, method: &str) -> Option<Failure> {
        self.world.take_xapi_fault(method).map(Failure::from)
    }

    /// Answers one HTTP request: XML-RPC at `/` and `/RPC2`, JSON-RPC at `/jsonrpc` (and at `/`
    /// when the body is declared JSON, as xapi accepts it).
    pub fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let json_type = request.header("Content-Type").is_some_and(|t| t.contains("json"));
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/jsonrpc") => self.json_rpc(&request.body),
            ("POST", "/" | "/RPC2") if json_type => self.json_rpc(&request.body),
            ("POST", "/" | "/RPC2") => self.xml_rpc(&request.body),
            _ => HttpResponse {
                status: 404,
                content_type: "text/html",
                body: b"<html><body><h1>HTTP 404 not found</h1></body></html>".to_vec(),
            },
        }
    }

    fn xml_rpc(&self, body: &[u8]) -> HttpResponse {
        let parsed = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| xmlrpc::parse_call(text).map_err(|e| e.to_string()));
        let call = match parsed {
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
        HttpResponse {
            status: 200,
            content_type: "text/xml",
            body: xmlrpc::write_response(&envelope).into_bytes(),
        }
    }

    fn json_rpc(&self, body: &[u8]) -> HttpResponse {
        let request = match jsonrpc::parse_request(body) {
            Ok(r) => r,
            Err(e) => return internal_error(&format!("Jsonrpc.Malformed_method_request({e})")),
        };
        let outcome = self.call(&request.method, &request.params);
        HttpResponse {
            status: 200,
            content_type: "application/json",
            body: jsonrpc::write_response(&request, &outcome).into_bytes(),
        }
    }
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
    HttpResponse {
        status: 500,
        content_type: "text/html",
        body: body.into_bytes(),
    }
}
