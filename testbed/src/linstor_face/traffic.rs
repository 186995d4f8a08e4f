//! Optional record of every exchange, one JSON object per line, so the conformance tests can
//! validate each request and response body the real clients produced against the OpenAPI spec.
//! Enabled by `TESTBED_LINSTOR_TRAFFIC=/path/file.jsonl` in the server's environment.

use super::http::{Call, Reply};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub const ENV: &str = "TESTBED_LINSTOR_TRAFFIC";

pub struct Recorder {
    file: Mutex<File>,
}

impl Recorder {
    /// The recorder named by the environment, if any.
    pub fn from_env() -> anyhow::Result<Option<Recorder>> {
        match std::env::var_os(ENV) {
            Some(path) if !path.is_empty() => Ok(Some(Recorder::open(Path::new(&path))?)),
            _ => Ok(None),
        }
    }

    pub fn open(path: &Path) -> anyhow::Result<Recorder> {
        use anyhow::Context as _;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the LINSTOR traffic record {} ({ENV})", path.display()))?;
        Ok(Recorder {
            file: Mutex::new(file),
        })
    }

    pub fn record(&self, method: &str, target: &str, call: &Call, reply: &Reply) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let line = json!({
            "method": method,
            "path": path,
            "query": query,
            "status": reply.status,
            "request_body": call.body_json(),
            "response_body": reply.body.clone().unwrap_or(Value::Null),
        });
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A lost line only weakens a test; it must not fail the request.
        if let Err(e) = writeln!(file, "{line}") {
            tracing::warn!("cannot append to the LINSTOR traffic record: {e}");
        }
    }
}
