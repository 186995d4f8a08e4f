//! The simulated LINSTOR controller's REST API (v1, as in `linstor-rest-v1-openapi.yaml`
//! 1.28.0) over the world: what python-linstor and the agent's client talk to.
//!
//! Bodies, status codes and `ApiCallRc` entries follow the real controller (linstor-server's
//! `api/rest/v1` and `apicallhandler`), not only the spec: where the two differ the client
//! sees what the controller sends (upper-case types, error lists on 500, …).
//!
//! Layout: [`door`] accepts connections (and refuses them while no controller answers there:
//! one door for the pool's URL, one per host address for `testbed up`), tiny_http parses
//! HTTP behind it, [`router`] sends each [`http::Call`] to its handler module, handlers read or
//! change the [`World`] and answer a [`http::Reply`].

mod api_call_rc;
mod controller;
mod door;
mod http;
mod json;
mod lookup;
mod names;
mod netifs;
mod nodes;
mod resource_groups;
mod resources;
mod router;
mod satellite;
mod storage_pools;
pub mod test_world;
mod traffic;

pub use controller::REST_API_VERSION;
pub use traffic::ENV as TRAFFIC_ENV;

use crate::world::World;
use anyhow::{Context as _, anyhow};
use http::{Call, Method, Reply};
use std::net::TcpListener;
use std::sync::Arc;
use traffic::Recorder;

/// Requests handled at once; each holds the world's lock only briefly.
const WORKERS: usize = 16;

/// Serves the LINSTOR REST API on `listener` until the process ends (blocking). It answers
/// wherever the controller runs (the pool's `linstor_url`), and refuses connections while
/// no controller answers.
pub fn serve(world: Arc<World>, listener: TcpListener) -> anyhow::Result<()> {
    serve_with_hosts(world, listener, Vec::new())
}

/// [`serve`], plus one listener per host (host name, its `<address>:3370`) that answers only
/// while the controller runs on that host: a client looking for the controller the way the
/// driver does (each host's address, port 3370) finds it only there.
pub fn serve_with_hosts(
    world: Arc<World>,
    listener: TcpListener,
    hosts: Vec<(String, TcpListener)>,
) -> anyhow::Result<()> {
    let backend = TcpListener::bind("127.0.0.1:0").context("binding the LINSTOR face's internal listener")?;
    let backend_addr = backend.local_addr()?;
    let server = tiny_http::Server::from_listener(backend, None)
        .map_err(|e| anyhow!("starting the LINSTOR face's HTTP server: {e}"))?;
    let server = Arc::new(server);
    let recorder = Arc::new(Recorder::from_env()?);
    for i in 0..WORKERS {
        let (server, world, recorder) = (server.clone(), world.clone(), recorder.clone());
        std::thread::Builder::new()
            .name(format!("linstor-face-{i}"))
            .spawn(move || {
                while let Ok(request) = server.recv() {
                    handle(&world, request, recorder.as_ref().as_ref());
                }
            })?;
    }
    for (host, host_listener) in hosts {
        let world = world.clone();
        let refusing = move || !world.controller_answers_on(&host);
        std::thread::Builder::new()
            .name("linstor-host-door".into())
            .spawn(move || {
                if let Err(e) = door::run(host_listener, backend_addr, Arc::new(refusing)) {
                    tracing::error!("LINSTOR face: a host's door stopped: {e:#}");
                }
            })?;
    }
    let refusing = move || world.controller_refusing();
    door::run(listener, backend_addr, Arc::new(refusing))
}

fn handle(world: &World, mut request: tiny_http::Request, recorder: Option<&Recorder>) {
    let method = request.method().as_str().to_string();
    let target = request.url().to_string();
    let mut body = Vec::new();
    if let Err(e) = request.as_reader().read_to_end(&mut body) {
        tracing::debug!("linstor face: reading the body of {method} {target}: {e}");
        return;
    }
    let call = Call::new(Method::parse(&method), &target, body);
    // A bug in one handler must answer 500, not kill a worker.
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| router::route(world, &call)))
        .unwrap_or_else(|_| {
            let entry = api_call_rc::RcEntry::new(api_call_rc::MASK_ERROR | 998, "Exception thrown.");
            Reply::rc(vec![entry], 500)
        });
    if let Some(recorder) = recorder {
        recorder.record(&method, &target, &call, &reply);
    }
    respond(request, reply);
}

fn respond(request: tiny_http::Request, reply: Reply) {
    let (data, content_type) = match &reply.body {
        Some(value) => (serde_json::to_vec(value).unwrap_or_default(), "application/json"),
        None => (Vec::new(), "text/plain"),
    };
    let mut response = tiny_http::Response::from_data(data).with_status_code(reply.status);
    if let Ok(header) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        response = response.with_header(header);
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("linstor face: answering: {e}");
    }
}
