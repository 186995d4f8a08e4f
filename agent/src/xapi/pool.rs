//! Typed helpers over the client for what the rolling pool upgrade needs: the pool's hosts,
//! VMs and HA state, the maintenance calls (`host.disable`, `host.evacuate`, `host.reboot`,
//! `host.enable`, `VM.pool_migrate`), plugin calls, and waiting on `event.from`.

use super::{Client, XapiError};
use anyhow::{Result, anyhow};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A pool member as the upgrade sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolHost {
    pub reference: String,
    pub uuid: String,
    pub name_label: String,
    /// The dom0 hostname: LINSTOR's node name on XCP-ng.
    pub hostname: String,
    pub address: String,
    pub enabled: bool,
    pub live: bool,
    pub memory_free: u64,
    /// `other_config:boot_time` (seconds since the epoch, as xapi records it at start): a
    /// change proves the host rebooted.
    pub boot_time: String,
}

/// A guest VM (no control domains, templates or snapshots).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolVm {
    pub reference: String,
    pub uuid: String,
    pub name_label: String,
    pub power_state: String,
    /// Host reference, or `OpaqueRef:NULL`.
    pub resident_on: String,
    pub memory: u64,
}

/// The pool object's fields the upgrade reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolRecord {
    pub reference: String,
    pub master: String,
    pub ha_enabled: bool,
    /// SRs holding the HA statefiles, to enable HA again on the same ones.
    pub ha_heartbeat_srs: Vec<String>,
}

pub const NULL_REF: &str = "OpaqueRef:NULL";

pub(super) fn text(record: &Value, name: &str) -> String {
    match record.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub(super) fn flag(record: &Value, name: &str) -> bool {
    match record.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

pub(super) fn number(record: &Value, name: &str) -> u64 {
    match record.get(name) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn records(value: Value, class: &str) -> Result<BTreeMap<String, Value>> {
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        other => Err(anyhow!(
            "XAPI {class}.get_all_records answered {other}, not a map"
        )),
    }
}

/// Whether XAPI could not be reached at all (as while the pool master reboots), as opposed
/// to an error XAPI answered.
pub fn is_unreachable(err: &anyhow::Error) -> bool {
    !err.chain().any(|c| c.downcast_ref::<XapiError>().is_some())
        && err.chain().any(|c| c.downcast_ref::<reqwest::Error>().is_some())
}

/// Whether an error is this XAPI error code.
pub fn is_code(err: &anyhow::Error, code: &str) -> bool {
    err.chain()
        .any(|c| c.downcast_ref::<XapiError>().is_some_and(|x| x.code == code))
}

impl Client {
    pub fn pool_record(&mut self) -> Result<PoolRecord> {
        let pools = records(self.call("pool.get_all_records", vec![])?, "pool")?;
        let (reference, record) = pools
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("XAPI at {} lists no pool", self.url()))?;
        let mut heartbeat = Vec::new();
        if let Some(files) = record.get("ha_statefiles").and_then(Value::as_array) {
            for vdi in files.iter().filter_map(Value::as_str) {
                // A statefile names its VDI; HA is enabled again on that VDI's SR.
                if let Ok(sr) = self.call_str("VDI.get_SR", vec![json!(vdi)]) {
                    heartbeat.push(sr);
                }
            }
        }
        Ok(PoolRecord {
            reference,
            master: text(&record, "master"),
            ha_enabled: flag(&record, "ha_enabled"),
            ha_heartbeat_srs: heartbeat,
        })
    }

    /// Every host of the pool, with liveness and free memory from its metrics.
    pub fn pool_hosts(&mut self) -> Result<Vec<PoolHost>> {
        let hosts = records(self.call("host.get_all_records", vec![])?, "host")?;
        let metrics = records(self.call("host_metrics.get_all_records", vec![])?, "host_metrics")?;
        let mut out = Vec::new();
        for (reference, h) in hosts {
            let m = metrics.get(&text(&h, "metrics"));
            let boot_time = h
                .get("other_config")
                .and_then(|o| o.get("boot_time"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            out.push(PoolHost {
                reference,
                uuid: text(&h, "uuid"),
                name_label: text(&h, "name_label"),
                hostname: text(&h, "hostname"),
                address: text(&h, "address"),
                enabled: flag(&h, "enabled"),
                live: m.is_some_and(|m| flag(m, "live")),
                memory_free: m.map_or(0, |m| number(m, "memory_free")),
                boot_time,
            });
        }
        out.sort_by(|a, b| a.name_label.cmp(&b.name_label));
        Ok(out)
    }

    /// The guest VMs of the pool.
    pub fn pool_vms(&mut self) -> Result<Vec<PoolVm>> {
        let vms = records(self.call("VM.get_all_records", vec![])?, "VM")?;
        let mut out: Vec<PoolVm> = vms
            .into_iter()
            .filter(|(_, v)| {
                !flag(v, "is_control_domain") && !flag(v, "is_a_template") && !flag(v, "is_a_snapshot")
            })
            .map(|(reference, v)| PoolVm {
                reference,
                uuid: text(&v, "uuid"),
                name_label: text(&v, "name_label"),
                power_state: text(&v, "power_state"),
                resident_on: text(&v, "resident_on"),
                memory: number(&v, "memory_dynamic_max").max(number(&v, "memory_static_max")),
            })
            .collect();
        out.sort_by(|a, b| a.name_label.cmp(&b.name_label));
        Ok(out)
    }

    pub fn host_disable(&mut self, host: &str) -> Result<()> {
        self.call("host.disable", vec![json!(host)]).map(|_| ())
    }

    pub fn host_enable(&mut self, host: &str) -> Result<()> {
        self.call("host.enable", vec![json!(host)]).map(|_| ())
    }

    pub fn host_assert_can_evacuate(&mut self, host: &str) -> Result<()> {
        self.call("host.assert_can_evacuate", vec![json!(host)])
            .map(|_| ())
    }

    /// Migrates every VM off the host; returns when they have all left (or it failed).
    /// Started as `Async.host.evacuate` and waited for on `event.from`, as Xen Orchestra
    /// does: no HTTP request held open for the minutes an evacuation can take.
    pub fn host_evacuate(&mut self, host: &str, timeout: Duration) -> Result<()> {
        match self.call_str("Async.host.evacuate", vec![json!(host)]) {
            Ok(task) => self.wait_task(&task, "host.evacuate", timeout).map(|_| ()),
            // A server without asynchronous calls: the blocking call does the same.
            Err(e) if is_code(&e, "MESSAGE_METHOD_UNKNOWN") => self
                .call_with_timeout("host.evacuate", vec![json!(host)], timeout)
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// Waits on `event.from` until the task is no longer pending; its result, or its
    /// `error_info` as the [`XapiError`] the call would have raised. The task is destroyed.
    pub fn wait_task(&mut self, task: &str, what: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut token = String::new();
        loop {
            let status = self.call_str("task.get_status", vec![json!(task)])?;
            if status != "pending" {
                let record = self.call("task.get_record", vec![json!(task)])?;
                let _ = self.call("task.destroy", vec![json!(task)]);
                return match status.as_str() {
                    "success" => Ok(text(&record, "result")),
                    _ => {
                        let info: Vec<String> = record
                            .get("error_info")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                            .unwrap_or_default();
                        let mut info = info.into_iter();
                        let code = info
                            .next()
                            .unwrap_or_else(|| format!("TASK_{}", status.to_uppercase()));
                        Err(anyhow::Error::new(XapiError {
                            code,
                            params: info.collect(),
                        })
                        .context(format!("XAPI {what} (task {status})")))
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = self.call("task.cancel", vec![json!(task)]);
                return Err(anyhow!(
                    "XAPI {what} did not finish within {} s (task {task} still pending; asked to cancel it)",
                    timeout.as_secs()
                ));
            }
            let wait = left.min(Duration::from_secs(30));
            match self.call_with_timeout(
                "event.from",
                vec![
                    json!([format!("task/{task}")]),
                    json!(token),
                    json!(wait.as_secs_f64()),
                ],
                wait + Duration::from_secs(30),
            ) {
                Ok(answer) => {
                    token = answer
                        .get("token")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                }
                Err(e) if is_code(&e, "EVENTS_LOST") => token.clear(),
                Err(e) => return Err(e.context(format!("waiting on XAPI event.from for {what}"))),
            }
        }
    }

    pub fn host_reboot(&mut self, host: &str) -> Result<()> {
        self.call("host.reboot", vec![json!(host)]).map(|_| ())
    }

    pub fn vm_pool_migrate(&mut self, vm: &str, host: &str, timeout: Duration) -> Result<()> {
        self.call_with_timeout(
            "VM.pool_migrate",
            vec![json!(vm), json!(host), json!({"live": "true"})],
            timeout,
        )
        .map(|_| ())
    }

    pub fn pool_disable_ha(&mut self) -> Result<()> {
        self.call_with_timeout("pool.disable_ha", vec![], Duration::from_secs(600))
            .map(|_| ())
    }

    pub fn pool_enable_ha(&mut self, heartbeat_srs: &[String]) -> Result<()> {
        self.call_with_timeout(
            "pool.enable_ha",
            vec![json!(heartbeat_srs), json!({})],
            Duration::from_secs(600),
        )
        .map(|_| ())
    }

    /// `host.call_plugin(host, plugin, fn, args)`: the plugin's string result.
    pub fn call_plugin(
        &mut self,
        host: &str,
        plugin: &str,
        function: &str,
        args: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<String> {
        let value = self.call_with_timeout(
            "host.call_plugin",
            vec![json!(host), json!(plugin), json!(function), json!(args)],
            timeout,
        )?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("plugin {plugin}.{function} answered {value}, not a string"))
    }

    /// Waits on `event.from` until `done` holds for the pool's hosts (re-read after every
    /// batch of events), or `timeout` passes. Returns the last hosts seen and whether `done`.
    pub fn wait_hosts(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[PoolHost]) -> bool,
    ) -> Result<(Vec<PoolHost>, bool)> {
        let deadline = Instant::now() + timeout;
        let mut token = String::new();
        let mut last: Vec<PoolHost> = Vec::new();
        loop {
            // While the pool master itself reboots, XAPI does not answer: try again until
            // the deadline (a new session is made once it is back).
            let hosts = match self.pool_hosts() {
                Ok(h) => h,
                Err(e) if is_unreachable(&e) => {
                    if Instant::now() >= deadline {
                        return Ok((last, false));
                    }
                    tracing::debug!("XAPI unreachable while waiting (master rebooting?): {e:#}");
                    self.forget_session();
                    std::thread::sleep(Duration::from_millis(250));
                    token.clear();
                    continue;
                }
                Err(e) => return Err(e),
            };
            last = hosts.clone();
            if done(&hosts) {
                return Ok((hosts, true));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok((hosts, false));
            }
            // Long poll: returns as soon as a host or its metrics change, else after `wait`.
            let wait = left.min(Duration::from_secs(30));
            let classes = json!(["host", "host_metrics"]);
            match self.call_with_timeout(
                "event.from",
                vec![classes, json!(token), json!(wait.as_secs_f64())],
                wait + Duration::from_secs(30),
            ) {
                Ok(answer) => {
                    token = answer
                        .get("token")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                }
                // The master went away mid-poll, or our token is too old: start over.
                Err(e) if is_unreachable(&e) || is_code(&e, "EVENTS_LOST") => token.clear(),
                Err(e) => return Err(e.context("waiting on XAPI event.from")),
            }
        }
    }
}
