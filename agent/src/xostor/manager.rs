//! Calls to Vates' `linstor-manager` XAPI plugin (xcp-ng/sm, docs/xostor.md §1): `addHost`,
//! `healthCheck`, `hasControllerRunning`. A host without the plugin answers
//! `XENAPI_MISSING_PLUGIN`: the callers then do the same steps themselves.

use crate::xapi::{Client, pool::is_code};
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::time::Duration;

pub const PLUGIN: &str = "linstor-manager";

/// How long one plugin call may take (`addHost` restarts services and plugs a PBD).
const TIMEOUT: Duration = Duration::from_secs(600);

/// `host.call_plugin(host, "linstor-manager", function, args)`; None when the host has no such
/// plugin.
pub fn call(
    xapi: &mut Client,
    host: &str,
    host_name: &str,
    function: &str,
    args: &[(&str, &str)],
) -> Result<Option<String>> {
    let args: BTreeMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match xapi.call_plugin(host, PLUGIN, function, &args, TIMEOUT) {
        Ok(text) => Ok(Some(text)),
        Err(e) if is_code(&e, "XENAPI_MISSING_PLUGIN") => Ok(None),
        Err(e) => Err(e.context(format!("{host_name}: {PLUGIN} {function}"))),
    }
}

/// `addHost groupName=…` on `host`: ports, drbd-reactor, satellite, node, PBD (§1.5). None when
/// the host has no plugin.
pub fn add_host(xapi: &mut Client, host: &str, host_name: &str, group_name: &str) -> Result<Option<()>> {
    let answer = call(xapi, host, host_name, "addHost", &[("groupName", group_name)])?;
    match answer.as_deref() {
        None => Ok(None),
        Some("True") => Ok(Some(())),
        Some(other) => anyhow::bail!("{host_name}: {PLUGIN} addHost answered {other:?}"),
    }
}

/// `healthCheck groupName=…` (§1.8): the JSON document. None when the host has no plugin.
pub fn health_check(
    xapi: &mut Client,
    host: &str,
    host_name: &str,
    group_name: &str,
) -> Result<Option<serde_json::Value>> {
    let Some(text) = call(xapi, host, host_name, "healthCheck", &[("groupName", group_name)])? else {
        return Ok(None);
    };
    let doc = serde_json::from_str(&text)
        .with_context(|| format!("{host_name}: {PLUGIN} healthCheck answered something that is not JSON"))?;
    Ok(Some(doc))
}

/// `hasControllerRunning` (§1.9): whether the controller runs on `host`. None when the host has
/// no plugin (or does not answer: a host that is down has no controller).
pub fn has_controller_running(xapi: &mut Client, host: &str, host_name: &str) -> Option<bool> {
    match call(xapi, host, host_name, "hasControllerRunning", &[]) {
        Ok(answer) => answer.map(|a| a == "True"),
        Err(e) => {
            tracing::debug!("{host_name}: {PLUGIN} hasControllerRunning: {e:#}");
            None
        }
    }
}
