//! Reaching each host's agent and services through XAPI: the `linstor-agent` plugin
//! (`specs/files/xapi-plugin/linstor-agent`, which runs the host's own agent and returns its JSON
//! document) and XCP-ng's `service.py` plugin (whitelisted `systemctl` on linstor-controller and
//! linstor-satellite, what Xen Orchestra uses to restart them).

use crate::xapi::{Client, XapiError};
use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub const AGENT_PLUGIN: &str = "linstor-agent";
pub const SERVICE_PLUGIN: &str = "service.py";

/// How long one agent command on a host may take (a dnf transaction of large packages).
const AGENT_CALL_TIMEOUT: Duration = Duration::from_secs(1800);

/// Arguments of a plugin call.
#[derive(Debug, Clone, Default)]
pub struct AgentArgs {
    pub pins: BTreeMap<String, String>,
    pub only: Vec<String>,
    pub save_pins: bool,
    pub dry_run: bool,
    /// `plan` only: leave out the host config's pins.
    pub newest: bool,
}

impl AgentArgs {
    pub fn pinned(pins: &BTreeMap<String, String>) -> AgentArgs {
        AgentArgs {
            pins: pins.clone(),
            ..AgentArgs::default()
        }
    }

    fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        if !self.pins.is_empty() {
            let pins: Vec<String> = self.pins.iter().map(|(k, v)| format!("{k}={v}")).collect();
            map.insert("pins".into(), pins.join(","));
        }
        if !self.only.is_empty() {
            map.insert("only".into(), self.only.join(","));
        }
        if self.save_pins {
            map.insert("save_pins".into(), "true".into());
        }
        if self.dry_run {
            map.insert("dry_run".into(), "true".into());
        }
        if self.newest {
            map.insert("newest".into(), "true".into());
        }
        map
    }
}

/// What an agent call on a host ended with.
#[derive(Debug)]
pub enum AgentAnswer {
    Done(Value),
    /// The host's agent refused for safety (its exit code 3): the message says why.
    Refused(String),
}

/// Runs `function` (facts, plan, prefetch, install, status, kernel_guard) on `host` through
/// the plugin. Failures name the host and carry the agent's own message.
pub fn agent(
    xapi: &mut Client,
    host_ref: &str,
    host_name: &str,
    function: &str,
    args: &AgentArgs,
) -> Result<AgentAnswer> {
    match xapi.call_plugin(
        host_ref,
        AGENT_PLUGIN,
        function,
        &args.to_map(),
        AGENT_CALL_TIMEOUT,
    ) {
        Ok(text) => {
            let doc: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{host_name}: the linstor-agent plugin's {function} answered something that is not JSON"
                )
            })?;
            Ok(AgentAnswer::Done(doc))
        }
        Err(err) => {
            if let Some(x) = err.chain().find_map(|c| c.downcast_ref::<XapiError>()) {
                match x.code.as_str() {
                    "LINSTOR_AGENT_REFUSED" => {
                        let message = x.params.first().cloned().unwrap_or_default();
                        return Ok(AgentAnswer::Refused(message));
                    }
                    "LINSTOR_AGENT_FAILED" => {
                        let message = x.params.get(1).cloned().unwrap_or_default();
                        let code = x.params.first().map(String::as_str).unwrap_or("?");
                        let text =
                            format!("{host_name}: linstor-agent {function} failed (exit {code}): {message}");
                        // The host's agent found a config error (a pin its repository cannot
                        // satisfy, a bad agent.toml): the pool command exits 2 for it too.
                        return Err(if code == "2" {
                            crate::error::UsageError(text).into()
                        } else {
                            anyhow!(text)
                        });
                    }
                    "XENAPI_MISSING_PLUGIN" => {
                        return Err(anyhow!(
                            "{host_name}: the linstor-agent XAPI plugin is not installed \
                             (/etc/xapi.d/plugins/linstor-agent): install the linstor-agent package on every host"
                        ));
                    }
                    _ => {}
                }
            }
            Err(err.context(format!("{host_name}: linstor-agent plugin call {function}")))
        }
    }
}

/// Like [`agent`], but a refusal is an error.
pub fn agent_done(
    xapi: &mut Client,
    host_ref: &str,
    host_name: &str,
    function: &str,
    args: &AgentArgs,
) -> Result<Value> {
    match agent(xapi, host_ref, host_name, function, args)? {
        AgentAnswer::Done(doc) => Ok(doc),
        AgentAnswer::Refused(message) => Err(crate::error::Refusal(format!(
            "{host_name}: linstor-agent {function} refused: {message}"
        ))
        .into()),
    }
}

/// `service.py` `<action>_service` of `service` on a host (`restart`, `stop`, `start`).
pub fn service(
    xapi: &mut Client,
    host_ref: &str,
    host_name: &str,
    action: &str,
    service: &str,
) -> Result<()> {
    let mut args = BTreeMap::new();
    args.insert("service".to_string(), service.to_string());
    xapi.call_plugin(
        host_ref,
        SERVICE_PLUGIN,
        &format!("{action}_service"),
        &args,
        Duration::from_secs(300),
    )
    .with_context(|| format!("{host_name}: {action} {service} (XAPI plugin service.py)"))
    .map(|_| ())
}

/// The host agent's `status` document (its checks), whether or not every check holds: the
/// agent exits 1 when one fails, and the plugin then carries the document in its failure.
pub fn status(xapi: &mut Client, host_ref: &str, host_name: &str) -> Result<Value> {
    match xapi.call_plugin(
        host_ref,
        AGENT_PLUGIN,
        "status",
        &BTreeMap::new(),
        AGENT_CALL_TIMEOUT,
    ) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{host_name}: the linstor-agent plugin's status is not JSON")),
        Err(err) => {
            let failed = err
                .chain()
                .find_map(|c| c.downcast_ref::<XapiError>())
                .filter(|x| {
                    x.code == "LINSTOR_AGENT_FAILED" && x.params.first().map(String::as_str) == Some("1")
                });
            let doc = failed
                .and_then(|x| x.params.get(2))
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .filter(|d| d.get("checks").is_some());
            match doc {
                Some(doc) => Ok(doc),
                None => Err(err.context(format!("{host_name}: linstor-agent plugin call status"))),
            }
        }
    }
}
