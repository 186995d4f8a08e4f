//! The testbed's own endpoint beside the two APIs, for `testbed status` and `testbed fault`:
//!
//! - `GET /status` → [`Status`](super::status::Status)
//! - `GET /state` → the world's whole state (debugging)
//! - `POST /fault` with a [`Fault`] as JSON → `{"ok": true}`, or 400 `{"error": "..."}`

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use tiny_http::{Header, Method, Request, Response, Server};

use super::status;
use crate::world::World;
use crate::world::faults::Fault;

/// Serves the control endpoint on `listener` until the process ends.
pub fn serve(world: Arc<World>, listener: TcpListener) -> Result<()> {
    let server = Server::from_listener(listener, None).map_err(|e| anyhow!("control endpoint: {e}"))?;
    for request in server.incoming_requests() {
        let world = world.clone();
        // Status reads every host's rpmdb: don't hold up a fault behind it.
        std::thread::spawn(move || handle(&world, request));
    }
    Ok(())
}

fn handle(world: &World, mut request: Request) {
    let (code, body) = match (request.method(), request.url()) {
        (Method::Get, "/status") => json(200, &status::of_world(world)),
        (Method::Get, "/state") => json(200, &world.read(|s| s.clone())),
        (Method::Post, "/fault") => {
            let mut text = String::new();
            match request.as_reader().read_to_string(&mut text) {
                Err(e) => error(400, format!("cannot read the request body: {e}")),
                Ok(_) => match serde_json::from_str::<Fault>(&text) {
                    Err(e) => error(400, format!("not a fault: {e}")),
                    Ok(fault) => match world.inject(&fault) {
                        Ok(()) => json(200, &serde_json::json!({"ok": true, "fault": fault})),
                        Err(e) => error(400, format!("{e:#}")),
                    },
                },
            }
        }
        (method, url) => error(
            404,
            format!("no {method} {url} here; try GET /status, POST /fault"),
        ),
    };
    let header = Header::from_bytes("Content-Type", "application/json").ok();
    let mut response = Response::from_string(body).with_status_code(code);
    if let Some(h) = header {
        response = response.with_header(h);
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("control endpoint: cannot respond: {e}");
    }
}

fn json(code: u16, value: &impl serde::Serialize) -> (u16, String) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => (code, text),
        Err(e) => error(500, format!("cannot serialize: {e}")),
    }
}

fn error(code: u16, message: String) -> (u16, String) {
    (code, serde_json::json!({ "error": message }).to_string())
}
