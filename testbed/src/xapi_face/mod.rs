//! The simulated XAPI: the pool master's management API over the world, XML-RPC at `/` (and
//! `/RPC2`, where Python's `xmlrpc.client` posts when a URL has no path) and JSON-RPC at
//! `/jsonrpc`, both over one dispatcher, with XAPI's wire formats and error shapes, so the
//! real `XenAPI` SDK and the agent's JSON-RPC client cannot tell it from the real thing.
//!
//! Layout, lower modules first: [`value`] (the neutral value type), [`error`] (XAPI's error
//! shape), [`xmlrpc`] and [`jsonrpc`] (the codecs), [`records`] (objects, references and
//! records), `events` (`event.from`'s log), `tasks` (the task objects of `Async.*` calls),
//! `face` ([`Xapi`]: sessions, tasks, the event log, views of the world), `args` (a call's
//! typed parameters and record parameters), `methods` (the calls that do something),
//! `storage_calls` (SR, PBD, VDI and VBD calls), `dispatch` (method table, parameter checks,
//! generic getters, `Async.*`), [`plugin`] (`host.call_plugin` of a host's plugin files),
//! [`service_plugin`] (XCP-ng's `service.py`, built in), [`linstor_manager`] (Vates'
//! `linstor-manager`, built in, with `health_check`), [`http`] (the server, which goes away
//! with the master host). This file serves HTTP requests through them. Host
//! and VM operations are the world's (`world::ops`, which owns XAPI's semantics and error
//! codes); this face resolves references and translates.

mod args;
mod dispatch;
pub mod error;
mod events;
mod face;
mod health_check;
pub mod http;
pub mod jsonrpc;
pub mod linstor_manager;
mod methods;
pub mod plugin;
pub mod records;
pub mod service_plugin;
mod storage_calls;
mod tasks;
pub mod value;
pub mod xmlrpc;

pub use error::Failure;
pub use value::Value;

pub use face::Xapi;

use crate::world::{Power, State, World};
use crate::xapi_record;
use http::{HttpRequest, HttpResponse};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

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

impl Xapi {
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
