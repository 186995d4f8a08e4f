//! LINSTOR REST client (API v1, `linstor-rest-v1-openapi.yaml` 1.28.0): the controller's
//! version, nodes, net-interfaces, storage pools, resources and their sync status, controller
//! properties.
//!
//! Each call tries `[controller] urls` in order, starting with the last one that answered; a
//! URL that cannot be reached (connect error, timeout) passes the call to the next one, an
//! answer of any kind ends the search. HTTPS uses `ca_file` as trust root and, with `cert_file`
//! and `key_file` (PEM), a client certificate. The controller's refusals come back as
//! [`LinstorError::Api`], shown as each entry's message, cause and correction.
//!
//! Bounds (issue 14): an answer longer than [`bounds::LINSTOR_BODY_LIMIT`] is refused
//! ([`LinstorError::TooLarge`]) without reading further, and a client given a deadline
//! ([`Client::with_deadline`], a step's `--timeout`) clips every request's timeout, connection
//! and body included, to the time left, so a controller that accepts and never answers cannot
//! hold a step past its deadline.

pub mod types;

use crate::bounds;
use crate::error::UsageError;
use crate::settings::ControllerSettings;
use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
pub use types::*;

/// How long to wait for a TCP connection to one controller URL.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take, connection and body included (less when a deadline is
/// nearer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum LinstorError {
    /// No URL answered.
    #[error("no LINSTOR controller answered at {}: {}", .tried.join(", "), .errors.join("; "))]
    Unreachable { tried: Vec<String>, errors: Vec<String> },
    /// The controller refused the call: its `ApiCallRc` error entries (and warnings).
    #[error("LINSTOR controller at {url} refused {call}: {}", render_entries(.entries))]
    Api {
        url: String,
        call: String,
        status: u16,
        entries: Vec<ApiCallRc>,
    },
    /// An answer longer than any the API gives: not read to its end.
    #[error(
        "LINSTOR controller at {url} answered {call} with more than {} (the agent's limit for one \
         answer): this is not a LINSTOR controller answering normally; check [controller] urls and \
         what listens there",
        bounds::show_size(*.limit)
    )]
    TooLarge { url: String, call: String, limit: u64 },
    /// An answer that is not what the API says (no `ApiCallRc` body to show).
    #[error("LINSTOR controller at {url} answered {call} with HTTP {status}: {body}")]
    Http {
        url: String,
        call: String,
        status: u16,
        body: String,
    },
}

impl LinstorError {
    /// The error entries of an API refusal (empty for other errors).
    pub fn entries(&self) -> &[ApiCallRc] {
        match self {
            LinstorError::Api { entries, .. } => entries,
            _ => &[],
        }
    }

    /// Whether the controller said the object was not found (node, interface or pool).
    pub fn is_not_found(&self) -> bool {
        match self {
            LinstorError::Api { status, entries, .. } => {
                *status == 404
                    || entries.iter().any(|e| {
                        e.is_error()
                            && matches!(
                                e.bare_code(),
                                CODE_NOT_FOUND_NODE | CODE_NOT_FOUND_NET_IF | CODE_NOT_FOUND_STOR_POOL
                            )
                    })
            }
            LinstorError::Http { status, .. } => *status == 404,
            LinstorError::Unreachable { .. } | LinstorError::TooLarge { .. } => false,
        }
    }
}

/// The errors first (each with cause and correction), then the warnings.
fn render_entries(entries: &[ApiCallRc]) -> String {
    let shown: Vec<String> = entries
        .iter()
        .filter(|e| e.is_error())
        .chain(entries.iter().filter(|e| e.is_warning()))
        .map(ApiCallRc::render)
        .collect();
    if shown.is_empty() {
        "(no message)".into()
    } else {
        shown.join("\n")
    }
}

/// A client for one LINSTOR controller (with its fallback URLs).
pub struct Client {
    http: reqwest::blocking::Client,
    urls: Vec<String>,
    /// The URL that answered last: calls start there.
    current: AtomicUsize,
    /// No request runs past this (a step's `--timeout`).
    deadline: Option<Instant>,
}

impl Client {
    /// A client for the `[controller]` section. Missing or unreadable TLS files are usage
    /// errors naming the file.
    pub fn new(config: &ControllerSettings) -> anyhow::Result<Client> {
        if config.urls.is_empty() {
            return Err(UsageError(
                "[controller] urls is empty: give the LINSTOR controller's REST URL, e.g. \
                 urls = [\"http://10.0.0.10:3370\"]"
                    .into(),
            )
            .into());
        }
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A fresh connection per call: a controller that went away (or moved to another
            // host with drbd-reactor) is noticed at once, not through a stale pooled socket.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("linstor-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.ca_file {
            let pem = read_tls_file(ca, "ca_file")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                UsageError(format!(
                    "[controller] ca_file {}: not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(UsageError(format!(
                    "[controller] ca_file {}: no certificate in it",
                    ca.display()
                ))
                .into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &config.identity {
            let mut pem = read_tls_file(cert, "cert_file")?;
            pem.push(b'\n');
            pem.extend(read_tls_file(key, "key_file")?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                UsageError(format!(
                    "[controller] cert_file {} / key_file {}: not a PEM certificate and private key: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder.build().context("building the LINSTOR HTTP client")?;
        let urls = config.urls.clone();
        Ok(Client {
            http,
            urls,
            current: AtomicUsize::new(0),
            deadline: None,
        })
    }

    /// This client, with every request's timeout clipped to the time left before `deadline`;
    /// once it has passed, calls fail as [`LinstorError::Unreachable`] without being sent.
    pub fn with_deadline(mut self, deadline: Instant) -> Client {
        self.deadline = Some(deadline);
        self
    }

    /// The URLs, in the order they are tried.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The URL that answered last.
    pub fn current_url(&self) -> &str {
        &self.urls[self.current.load(Ordering::Relaxed)]
    }

    /// Sends one call, trying each URL (the last good one first) until one answers.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(String, u16, String), LinstorError> {
        let n = self.urls.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut tried = Vec::new();
        let mut errors = Vec::new();
        for k in 0..n {
            let idx = (start + k) % n;
            let base = &self.urls[idx];
            let Some(timeout) = bounds::clip(self.deadline, REQUEST_TIMEOUT) else {
                errors.push(format!(
                    "{base}: not tried, the step's deadline (--timeout) has passed"
                ));
                tried.push(base.clone());
                continue;
            };
            // The request's own timeout covers connecting, the headers and the whole body.
            let mut request = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .timeout(timeout);
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            tracing::debug!("LINSTOR {method} {base}{path}");
            let answer = request.send().map_err(|e| describe(&e, timeout)).and_then(|r| {
                let status = r.status().as_u16();
                read_body(r, timeout).map(|t| t.map(|t| (status, t)))
            });
            match answer {
                Ok(Ok((status, text))) => {
                    self.current.store(idx, Ordering::Relaxed);
                    return Ok((base.clone(), status, text));
                }
                Ok(Err(bounds::Exceeded)) => {
                    return Err(LinstorError::TooLarge {
                        url: base.clone(),
                        call: format!("{method} {path}"),
                        limit: bounds::LINSTOR_BODY_LIMIT,
                    });
                }
                Err(e) => {
                    tracing::info!("LINSTOR controller {base} did not answer: {e}");
                    tried.push(base.clone());
                    errors.push(format!("{base}: {e}"));
                }
            }
        }
        Err(LinstorError::Unreachable { tried, errors })
    }

    /// A GET whose success body is `T`.
    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, LinstorError> {
        let call = format!("GET {path}");
        let (url, status, text) = self.send(reqwest::Method::GET, path, None)?;
        if (200..300).contains(&status)
            && let Ok(value) = serde_json::from_str::<T>(&text)
        {
            return Ok(value);
        }
        Err(failure(url, call, status, text))
    }

    /// A change (POST/PUT/DELETE) answered by an `ApiCallRc` list: its entries, or the refusal
    /// when any entry is an error.
    fn change(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Vec<ApiCallRc>, LinstorError> {
        let call = format!("{method} {path}");
        let body = body.map(|b| serde_json::to_value(b).unwrap_or(serde_json::Value::Null));
        let (url, status, text) = self.send(method, path, body.as_ref())?;
        match serde_json::from_str::<Vec<ApiCallRc>>(&text) {
            Ok(entries) if (200..300).contains(&status) && !entries.iter().any(ApiCallRc::is_error) => {
                for warning in entries.iter().filter(|e| e.is_warning()) {
                    tracing::warn!("LINSTOR {call}: {}", warning.render());
                }
                Ok(entries)
            }
            _ => Err(failure(url, call, status, text)),
        }
    }

    /// `GET /v1/controller/version`, checked: the REST API must be 1.x.
    pub fn version(&self) -> anyhow::Result<ControllerVersion> {
        let version: ControllerVersion = self.get("/v1/controller/version")?;
        if !version.rest_api_version.starts_with("1.") {
            anyhow::bail!(
                "LINSTOR controller at {} speaks REST API {}, this agent speaks 1.x: use a LINSTOR \
                 controller of version 1.x (the agent was built against API 1.28.0)",
                self.current_url(),
                version.rest_api_version
            );
        }
        Ok(version)
    }

    pub fn nodes(&self) -> Result<Vec<Node>, LinstorError> {
        self.get("/v1/nodes")
    }

    /// The node, or `None` when the controller has no node of that name.
    pub fn node(&self, name: &str) -> Result<Option<Node>, LinstorError> {
        match self.get::<Node>(&format!("/v1/nodes/{name}")) {
            Ok(node) => Ok(Some(node)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn create_node(&self, node: &NodeCreate) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(reqwest::Method::POST, "/v1/nodes", Some(node))
    }

    pub fn modify_node(&self, name: &str, modify: &PropsModify) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(reqwest::Method::PUT, &format!("/v1/nodes/{name}"), Some(modify))
    }

    pub fn delete_node(&self, name: &str) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(reqwest::Method::DELETE, &format!("/v1/nodes/{name}"), None::<&()>)
    }

    pub fn net_interfaces(&self, node: &str) -> Result<Vec<NetInterface>, LinstorError> {
        self.get(&format!("/v1/nodes/{node}/net-interfaces"))
    }

    pub fn create_net_interface(
        &self,
        node: &str,
        netif: &NetInterface,
    ) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(
            reqwest::Method::POST,
            &format!("/v1/nodes/{node}/net-interfaces"),
            Some(netif),
        )
    }

    pub fn modify_net_interface(
        &self,
        node: &str,
        netif: &NetInterface,
    ) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(
            reqwest::Method::PUT,
            &format!("/v1/nodes/{node}/net-interfaces/{}", netif.name),
            Some(netif),
        )
    }

    pub fn delete_net_interface(&self, node: &str, name: &str) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(
            reqwest::Method::DELETE,
            &format!("/v1/nodes/{node}/net-interfaces/{name}"),
            None::<&()>,
        )
    }

    pub fn storage_pools(&self, node: &str) -> Result<Vec<StoragePool>, LinstorError> {
        self.get(&format!("/v1/nodes/{node}/storage-pools"))
    }

    pub fn create_storage_pool(
        &self,
        node: &str,
        pool: &StoragePoolCreate,
    ) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(
            reqwest::Method::POST,
            &format!("/v1/nodes/{node}/storage-pools"),
            Some(pool),
        )
    }

    /// `GET /v1/view/resources`, optionally only the replicas on `node`.
    pub fn resources(&self, node: Option<&str>) -> Result<Vec<Resource>, LinstorError> {
        match node {
            Some(node) => self.get(&format!("/v1/view/resources?nodes={node}")),
            None => self.get("/v1/view/resources"),
        }
    }

    pub fn sync_status(&self, resource: &str) -> Result<SyncStatus, LinstorError> {
        self.get(&format!("/v1/resource-definitions/{resource}/sync-status"))
    }

    pub fn controller_properties(&self) -> Result<Props, LinstorError> {
        self.get("/v1/controller/properties")
    }

    pub fn set_controller_properties(&self, modify: &PropsModify) -> Result<Vec<ApiCallRc>, LinstorError> {
        self.change(reqwest::Method::POST, "/v1/controller/properties", Some(modify))
    }
}

/// An answer that is not the success the call wanted: the `ApiCallRc` entries when the body
/// is a list of them, else the status and the start of the body.
fn failure(url: String, call: String, status: u16, text: String) -> LinstorError {
    match serde_json::from_str::<Vec<ApiCallRc>>(&text) {
        Ok(entries) if !entries.is_empty() => LinstorError::Api {
            url,
            call,
            status,
            entries,
        },
        _ => {
            let mut body: String = text.trim().chars().take(300).collect();
            if body.is_empty() {
                body = "(empty body)".into();
            }
            LinstorError::Http {
                url,
                call,
                status,
                body,
            }
        }
    }
}

/// The body of an answer, at most [`bounds::LINSTOR_BODY_LIMIT`] bytes of it; a read error
/// (the connection cut, the timeout) is described like a send error.
fn read_body(
    response: reqwest::blocking::Response,
    timeout: Duration,
) -> Result<Result<String, bounds::Exceeded>, String> {
    match bounds::read_capped(response, bounds::LINSTOR_BODY_LIMIT) {
        Ok(Ok(bytes)) => Ok(Ok(utf8(bytes))),
        Ok(Err(exceeded)) => Ok(Err(exceeded)),
        Err(e) => Err(
            match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                Some(inner) => describe(inner, timeout),
                None => format!("reading the answer: {e}"),
            },
        ),
    }
}

/// A failed request in words: its causes, and how long it was given when it timed out.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no complete answer within {} s", timeout.as_secs_f64().ceil())
    } else {
        error_chain(e)
    }
}

fn read_tls_file(path: &std::path::Path, key: &str) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    match bounds::read_file_capped(path, bounds::CONFIG_FILE_LIMIT) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(bounds::Exceeded)) => Err(UsageError(format!(
            "[controller] {key} {shown} is larger than {}, which no PEM file of certificates or key is: \
             point [controller] {key} at the PEM file",
            bounds::show_size(bounds::CONFIG_FILE_LIMIT)
        ))
        .into()),
        Err(e) => Err(UsageError(format!("[controller] {key} {shown}: {e}")).into()),
    }
}

/// The error with its sources (reqwest hides the useful part, "Connection refused", there).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The body as text, without a copy when it is UTF-8 (it is up to the body limit long).
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: u64, message: &str) -> ApiCallRc {
        ApiCallRc {
            ret_code: code as i64,
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_api_refusal_shows_message_cause_and_correction() {
        let mut e = entry(MASK_ERROR | 500, "Registration of node 'a' failed.");
        e.cause = Some("A node with the specified name 'a' already exists.".into());
        e.correction = Some("- Specify another name\nor\n- Delete the node".into());
        let err = failure(
            "http://c:3370".into(),
            "POST /v1/nodes".into(),
            500,
            serde_json::to_string(&vec![e]).unwrap(),
        );
        let text = err.to_string();
        assert!(text.contains("Registration of node 'a' failed."), "{text}");
        assert!(text.contains("cause: A node with the specified name"), "{text}");
        assert!(
            text.contains("correction: - Specify another name\n    or"),
            "{text}"
        );
        assert!(!text.contains("500"), "{text}");
    }

    #[test]
    fn a_body_that_is_no_rc_list_is_shown_with_its_status() {
        let err = failure("u".into(), "GET /v1/x".into(), 404, String::new());
        assert!(err.to_string().contains("HTTP 404: (empty body)"));
        assert!(err.is_not_found());
    }

    #[test]
    fn error_and_warning_bits() {
        assert!(entry(MASK_ERROR | 300, "x").is_error());
        assert!(entry(MASK_WARN | 1002, "x").is_warning());
        assert!(!entry(MASK_WARN | 1002, "x").is_error());
        assert_eq!(entry(MASK_ERROR | 0x003C_0000 | 300, "x").bare_code(), 300);
    }

    #[test]
    fn a_missing_certificate_file_is_a_usage_error_naming_it() {
        let mut config = ControllerSettings::with_urls(vec!["https://c:3371".into()]);
        config.identity = Some(("/nonexistent.pem".into(), "/nonexistent.key".into()));
        let err = Client::new(&config).err().expect("refused");
        assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Usage);
        assert!(format!("{err:#}").contains("/nonexistent.pem"), "{err:#}");
    }
}
