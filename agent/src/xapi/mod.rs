//! The XAPI JSON-RPC client (docs/ARCHITECTURE.md, "XAPI"): `POST <url>/jsonrpc` with JSON-RPC 2.0, the way xapi
//! serves it (positional `params`, the session reference first; results bare; errors as
//! `{code, message: CODE, data: [params…]}`, or `[CODE, params…]` from a 1.0 server).
//!
//! It logs in with `session.login_with_password(user, password, "1.0", "linstor-agent")`,
//! logs in again once when a call answers `SESSION_INVALID` (a restarted xapi forgets its
//! sessions), follows `HOST_IS_SLAVE [master]` to the pool master, and speaks TLS with a CA
//! file or a pinned certificate fingerprint. The password comes from a file that must be mode
//! 0600 and is never logged: requests are logged by method name only.
//!
//! Bounds (issue 14): an answer longer than [`bounds::XAPI_BODY_LIMIT`] is refused without
//! reading further (plugin output comes back inside an answer, so it is bounded too), and a
//! client given a deadline ([`Client::set_deadline`], a step's `--timeout`) clips every call's
//! timeout, connection and body included, to the time left.

pub mod host;
pub mod pool;
pub mod storage;
pub mod tls;

use crate::bounds;
use crate::error::UsageError;
use crate::settings::XapiSettings;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use host::{HostRef, Pif};

/// An error XAPI answered: `[CODE, params…]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XAPI error [{}]", self.description().join(", "))]
pub struct XapiError {
    pub code: String,
    pub params: Vec<String>,
}

impl XapiError {
    pub fn description(&self) -> Vec<String> {
        std::iter::once(self.code.clone())
            .chain(self.params.iter().cloned())
            .collect()
    }
}

/// A password that cannot be printed by accident (`{:?}` shows `***`).
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Reads the password file, which must be readable by its owner only.
pub fn read_password_file(path: &Path) -> Result<Password> {
    let meta = std::fs::metadata(path).map_err(|e| {
        UsageError(format!(
            "[xapi] password_file {}: {e}: create it with the pool's password (mode 0600)",
            path.display()
        ))
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(UsageError(format!(
            "[xapi] password_file {} has mode {mode:04o}: it must be readable by its owner only: chmod 600 {}",
            path.display(),
            path.display()
        ))
        .into());
    }
    let bytes = read_config_file(path, "password_file")?;
    let text = String::from_utf8(bytes).map_err(|_| {
        UsageError(format!(
            "[xapi] password_file {} is not UTF-8 text: write the pool's password in it",
            path.display()
        ))
    })?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(UsageError(format!("[xapi] password_file {} is empty", path.display())).into());
    }
    Ok(Password(password))
}

/// A file named by `[xapi]`, read with the ceiling of [`bounds::CONFIG_FILE_LIMIT`].
fn read_config_file(path: &Path, key: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    match bounds::read_file_capped(path, bounds::CONFIG_FILE_LIMIT) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(bounds::Exceeded)) => Err(UsageError(format!(
            "[xapi] {key} {shown} is larger than {}, far more than such a file holds: point [xapi] \
             {key} at the right file",
            bounds::show_size(bounds::CONFIG_FILE_LIMIT)
        ))
        .into()),
        Err(e) => Err(UsageError(format!("cannot read [xapi] {key} {shown}: {e}")).into()),
    }
}

/// How to reach XAPI, once the `[xapi]` section is validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub username: String,
    pub password: Password,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<[u8; 32]>,
}

impl Settings {
    /// The connection settings of a validated `[xapi]`, with its password read from the file.
    pub fn from_settings(xapi: &XapiSettings) -> Result<Settings> {
        Ok(Settings {
            url: xapi.url.clone(),
            username: xapi.username.clone(),
            password: read_password_file(&xapi.password_file)?,
            ca_file: xapi.ca_file.clone(),
            fingerprint: xapi.fingerprint,
        })
    }
}

/// A logged-in (or about to log in) connection to the pool master.
pub struct Client {
    http: reqwest::blocking::Client,
    settings: Settings,
    /// The base URL in use (the master's, after a `HOST_IS_SLAVE` redirect).
    base: url::Url,
    session: Option<String>,
    next_id: u64,
    /// No call runs past this (a step's `--timeout`).
    deadline: Option<Instant>,
}

const TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    pub fn new(settings: Settings) -> Result<Client> {
        let base = url::Url::parse(&settings.url).with_context(|| format!("[xapi] url {}", settings.url))?;
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        if let Some(pin) = settings.fingerprint {
            builder = builder.use_preconfigured_tls(tls::pinned_config(pin)?);
        } else if let Some(ca_file) = &settings.ca_file {
            let pem = read_config_file(ca_file, "ca_file")?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                UsageError(format!(
                    "[xapi] ca_file {} is not a PEM certificate: {e}",
                    ca_file.display()
                ))
            })?;
            builder = builder.tls_built_in_root_certs(false).add_root_certificate(cert);
        }
        let http = builder.build().context("cannot set up the XAPI HTTP client")?;
        Ok(Client {
            http,
            settings,
            base,
            session: None,
            next_id: 1,
            deadline: None,
        })
    }

    /// Clips every call's timeout to the time left before `deadline` (none: each call has its
    /// own); once it has passed, calls fail without being sent.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The URL requests go to now (the master's).
    pub fn url(&self) -> &url::Url {
        &self.base
    }

    /// Logs in (following `HOST_IS_SLAVE` to the master once).
    pub fn login(&mut self) -> Result<()> {
        match self.login_here() {
            Err(e) => {
                let Some(xe) = e.downcast_ref::<XapiError>() else {
                    return Err(e);
                };
                if xe.code != "HOST_IS_SLAVE" {
                    return Err(e);
                }
                let master = xe
                    .params
                    .first()
                    .cloned()
                    .ok_or_else(|| anyhow!("XAPI answered HOST_IS_SLAVE without the master's address"))?;
                let mut to = self.base.clone();
                to.set_host(Some(&master))
                    .with_context(|| format!("HOST_IS_SLAVE named master {master:?}, which is not a host"))?;
                tracing::info!(from = %self.base, to = %to, "XAPI host is a pool member: following HOST_IS_SLAVE to the master");
                self.base = to;
                self.login_here()
            }
            ok => ok,
        }
    }

    fn login_here(&mut self) -> Result<()> {
        let params = vec![
            json!(self.settings.username),
            json!(self.settings.password.0),
            json!("1.0"),
            json!("linstor-agent"),
        ];
        let session = self.rpc("session.login_with_password", params)?;
        let session = session
            .as_str()
            .ok_or_else(|| anyhow!("XAPI login at {} answered no session reference", self.base))?;
        tracing::debug!(url = %self.base, user = %self.settings.username, "logged in to XAPI");
        self.session = Some(session.to_string());
        Ok(())
    }

    /// Calls `method(session, params…)`, logging in first when needed and once more when the
    /// session is no longer valid.
    pub fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.call_with_timeout(method, params, TIMEOUT)
    }

    /// [`Client::call`] for a method that may take longer than the usual minute
    /// (`host.evacuate`, a long-polling `event.from`).
    pub fn call_with_timeout(
        &mut self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        if self.session.is_none() {
            self.login()?;
        }
        match self.call_with_session(method, &params, timeout) {
            Err(e)
                if e.downcast_ref::<XapiError>()
                    .is_some_and(|x| x.code == "SESSION_INVALID") =>
            {
                tracing::info!(method, "XAPI session no longer valid: logging in again");
                self.session = None;
                self.login()?;
                self.call_with_session(method, &params, timeout)
            }
            other => other,
        }
    }

    fn call_with_session(&mut self, method: &str, params: &[Value], timeout: Duration) -> Result<Value> {
        let session = self.session.clone().unwrap_or_default();
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(json!(session));
        all.extend(params.iter().cloned());
        self.rpc_with_timeout(method, all, timeout)
    }

    /// Calls a method that returns a string (a reference, or `void` as "").
    pub fn call_str(&mut self, method: &str, params: Vec<Value>) -> Result<String> {
        let value = self.call(method, params)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("XAPI {method} answered {value}, not a string"))
    }

    /// Drops the session without logging out (the server that held it went away).
    pub fn forget_session(&mut self) {
        self.session = None;
    }

    /// Logs out (best effort).
    pub fn logout(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = self.rpc("session.logout", vec![json!(session)]);
        }
    }

    /// One JSON-RPC 2.0 request. Only the method name is logged, never the parameters.
    fn rpc(&mut self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.rpc_with_timeout(method, params, TIMEOUT)
    }

    fn rpc_with_timeout(&mut self, method: &str, params: Vec<Value>, timeout: Duration) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let endpoint = self
            .base
            .join("/jsonrpc")
            .with_context(|| format!("cannot build the JSON-RPC URL from {}", self.base))?;
        let Some(timeout) = bounds::clip(self.deadline, timeout) else {
            bail!(
                "XAPI at {endpoint}: {method} not sent, the step's deadline (--timeout) has passed: \
                 check that XAPI answers there, then run again"
            );
        };
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
        tracing::debug!(%endpoint, method, id, "XAPI call");
        // The request's own timeout covers connecting, the headers and the whole body.
        let response = self
            .http
            .post(endpoint.clone())
            .header("Content-Type", "application/json")
            .timeout(timeout)
            .body(body.to_string())
            .send()
            .map_err(|e| timed_out(e, timeout))
            .with_context(|| format!("cannot reach XAPI at {endpoint} ({method})"))?;
        let status = response.status();
        let text = match bounds::read_capped(response, bounds::XAPI_BODY_LIMIT) {
            Ok(Ok(bytes)) => utf8(bytes),
            Ok(Err(bounds::Exceeded)) => bail!(
                "XAPI at {endpoint} answered {method} with more than {} (the agent's limit for one \
                 answer): this is not XAPI answering normally; check [xapi] url and what listens there",
                bounds::show_size(bounds::XAPI_BODY_LIMIT)
            ),
            Err(e) => {
                let hit = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout);
                let cause = if hit { timeout_error(timeout) } else { anyhow!(e) };
                return Err(cause.context(format!("cannot read XAPI's answer from {endpoint} ({method})")));
            }
        };
        if !status.is_success() {
            bail!(
                "XAPI at {endpoint} answered HTTP {status} to {method}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        let doc: Value = serde_json::from_str(&text).with_context(|| {
            format!("XAPI at {endpoint} answered {method} with something that is not JSON")
        })?;
        parse_response(&doc).with_context(|| format!("XAPI {method} at {endpoint}"))
    }
}

/// A timeout said as such (reqwest says "operation timed out" deep in its chain), with how
/// long the call was given; other errors as they are.
fn timed_out(e: reqwest::Error, timeout: Duration) -> anyhow::Error {
    if e.is_timeout() {
        timeout_error(timeout)
    } else {
        e.into()
    }
}

fn timeout_error(timeout: Duration) -> anyhow::Error {
    anyhow!("no complete answer within {} s", timeout.as_secs_f64().ceil())
}

impl Drop for Client {
    fn drop(&mut self) {
        self.logout();
    }
}

/// The result of a JSON-RPC response, or its error as an [`XapiError`].
fn parse_response(doc: &Value) -> Result<Value> {
    match doc.get("error") {
        None | Some(Value::Null) => Ok(doc.get("result").cloned().unwrap_or(Value::Null)),
        Some(err) => {
            let as_strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let error = if let Some(list) = err.as_array() {
                // JSON-RPC 1.0: [CODE, params…]
                let mut all = as_strings(&Value::Array(list.clone()));
                let code = if all.is_empty() {
                    "UNKNOWN".into()
                } else {
                    all.remove(0)
                };
                XapiError { code, params: all }
            } else {
                XapiError {
                    code: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("UNKNOWN")
                        .to_string(),
                    params: err.get("data").map(as_strings).unwrap_or_default(),
                }
            };
            Err(error.into())
        }
    }
}

/// The body as text, without a copy when it is UTF-8 (it is up to the body limit long).
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_both_versions_parse() {
        let v2 = json!({"jsonrpc": "2.0", "error": {"code": 1, "message": "HOST_IS_SLAVE", "data": ["10.0.0.1"]}, "id": 1});
        let e = parse_response(&v2).unwrap_err();
        let x = e.downcast_ref::<XapiError>().unwrap();
        assert_eq!(x.code, "HOST_IS_SLAVE");
        assert_eq!(x.params, vec!["10.0.0.1"]);
        assert_eq!(e.to_string(), "XAPI error [HOST_IS_SLAVE, 10.0.0.1]");
        let v1 = json!({"result": null, "error": ["SESSION_INVALID", "OpaqueRef:x"], "id": 1});
        let x = parse_response(&v1).unwrap_err().downcast::<XapiError>().unwrap();
        assert_eq!(x.code, "SESSION_INVALID");
        assert_eq!(
            parse_response(&json!({"result": "ok", "id": 1})).unwrap(),
            json!("ok")
        );
    }

    #[test]
    fn password_debug_is_masked() {
        assert_eq!(format!("{:?}", Password("hunter2".into())), "***");
    }
}
