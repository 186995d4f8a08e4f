//! Phase 4 for one batch: each step for every host of the batch, in order (disable,
//! evacuate, install, reboot or restart, wait until live and ONLINE, wait until every
//! resource is UpToDate, enable). A step recorded as done is not run again; one recorded as
//! started is checked against the world and finished (a reboot that already happened, as
//! `boot_time` shows, is not asked for again).
//!
//! A step that fails or times out stops the run: the host stays disabled, the reason is in
//! the journal and the error, and no other host is touched.

use super::Upgrade;
use super::health;
use super::journal::{HOST_STEPS, StepState};
use super::plugin::{self, AgentArgs};
use crate::error::Refusal;
use anyhow::{Result, anyhow};

pub fn run_batch(up: &mut Upgrade, batch: &[String]) -> Result<()> {
    for step in HOST_STEPS {
        for host in batch {
            let state = up
                .journal
                .host(host)
                .map(|h| h.step(step))
                .ok_or_else(|| anyhow!("host {host} is not in the journal"))?;
            if state.is_finished() {
                continue;
            }
            up.begin_step(host, step)?;
            let result = match *step {
                "disable" => disable(up, host),
                "evacuate" => evacuate(up, host),
                "install" => install(up, host),
                "reboot" => reboot_or_restart(up, host),
                "wait-online" => wait_online(up, host),
                "wait-synced" => wait_synced(up, host),
                "enable" => enable(up, host),
                other => Err(anyhow!("unknown step {other}")),
            };
            match result {
                Ok(note) => up.end_step(host, step, StepState::Done, note)?,
                Err(e) => {
                    let _ = up.end_step(host, step, StepState::Failed, Some(format!("{e:#}")));
                    return Err(e.context(format!(
                        "{host}: step {step} failed; the host is left as it is (disabled), no other \
                         host was touched. Fix it, then `pool upgrade --resume`"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn reference(up: &Upgrade, host: &str) -> Result<String> {
    up.journal
        .host(host)
        .map(|h| h.reference.clone())
        .ok_or_else(|| anyhow!("host {host} is not in the journal"))
}

fn disable(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let r = reference(up, host)?;
    up.xapi.host_disable(&r)?;
    Ok(None)
}

fn evacuate(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let r = reference(up, host)?;
    up.xapi.host_evacuate(&r, up.opts.evacuate_timeout)?;
    let left: Vec<String> = up
        .xapi
        .pool_vms()?
        .into_iter()
        .filter(|v| v.power_state == "Running" && v.resident_on == r)
        .map(|v| v.name_label)
        .collect();
    if !left.is_empty() {
        return Err(anyhow!(
            "VMs still running on it after host.evacuate: {}",
            left.join(", ")
        ));
    }
    let moved = up.journal.host(host).map_or(0, |h| h.vms.len());
    Ok(Some(format!("{moved} VMs moved away")))
}

fn install(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let r = reference(up, host)?;
    // The pins are saved into the host's agent.d/ so a later `provision` keeps them.
    let args = AgentArgs {
        pins: up.journal.targets.clone(),
        save_pins: true,
        ..AgentArgs::default()
    };
    let doc = plugin::agent_done(&mut up.xapi, &r, host, "install", &args)?;
    let changed = doc.get("changed").and_then(|c| c.as_bool()).unwrap_or(false);
    Ok(Some(if changed {
        "packages installed from the prefetched cache".to_string()
    } else {
        "nothing to install".to_string()
    }))
}

fn reboot_or_restart(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let entry = up
        .journal
        .host(host)
        .cloned()
        .ok_or_else(|| anyhow!("host {host} is not in the journal"))?;
    if !entry.reboot {
        let userland_changed = entry.changes.iter().any(|c| c.change != "keep");
        if userland_changed {
            plugin::service(
                &mut up.xapi,
                &entry.reference,
                host,
                "restart",
                "linstor-satellite",
            )?;
            return Ok(Some(
                "kernel and module unchanged: linstor-satellite restarted".into(),
            ));
        }
        return Ok(Some("nothing changed that needs a restart".into()));
    }
    let current = up
        .xapi
        .pool_hosts()?
        .into_iter()
        .find(|h| h.reference == entry.reference)
        .ok_or_else(|| anyhow!("host {host} is no longer in the pool"))?;
    let already = match &entry.boot_time_before {
        // A resumed step: the boot time moved on, so the reboot was asked for and happened.
        Some(before) => !before.is_empty() && current.boot_time != *before,
        None => false,
    };
    let before = match (&entry.boot_time_before, already) {
        (Some(b), _) => b.clone(),
        (None, _) => {
            let b = current.boot_time.clone();
            up.journal.host_mut(host)?.boot_time_before = Some(b.clone());
            up.save()?;
            b
        }
    };
    if !already && current.live && current.boot_time == before {
        match up.xapi.host_reboot(&entry.reference) {
            Ok(()) => {}
            // Rebooting the master takes XAPI down with it: the call may not get its answer.
            Err(e) if crate::xapi::pool::is_unreachable(&e) => {
                up.xapi.forget_session();
                up.log(&format!(
                    "{host}: XAPI went away with the reboot (the pool master)"
                ));
            }
            Err(e) => return Err(e),
        }
        up.log(&format!("{host}: reboot asked for"));
        up.save()?;
        up.kill_point(&format!("host:{host}:reboot:asked"));
    }
    let timeout = up.opts.host_timeout;
    let mut seen_down = false;
    let reference = entry.reference.clone();
    let (hosts, back) = up.xapi.wait_hosts(timeout, |hosts| {
        let Some(h) = hosts.iter().find(|h| h.reference == reference) else {
            return false;
        };
        if !h.live {
            seen_down = true;
        }
        let rebooted = if before.is_empty() {
            seen_down
        } else {
            h.boot_time != before
        };
        h.live && rebooted
    })?;
    if !back {
        let last = hosts
            .iter()
            .find(|h| h.reference == reference)
            .map_or("gone from the pool".to_string(), |h| {
                format!("live={}, enabled={}", h.live, h.enabled)
            });
        return Err(anyhow!(
            "{host} did not come back within {} s of its reboot (last seen: {last}): check its console; \
             once it is up, `pool upgrade --resume` continues",
            timeout.as_secs()
        ));
    }
    // xapi enables a host when it starts: disable it again, so nothing is placed on it
    // before its node is ONLINE and its replicas are UpToDate.
    if hosts.iter().any(|h| h.reference == reference && h.enabled) {
        up.xapi.host_disable(&reference)?;
    }
    Ok(Some("rebooted: kernel or DRBD module changed".into()))
}

fn wait_online(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let node = up
        .journal
        .host(host)
        .map(|h| h.node.clone())
        .ok_or_else(|| anyhow!("host {host} is not in the journal"))?;
    let timeout = up.opts.host_timeout;
    let only = [node.clone()];
    let problems = health::wait_healthy(timeout, up.opts.poll, || {
        let mut p = health::node_problems(&up.linstor, Some(&only))?;
        if up.linstor.node(&node)?.is_none() {
            p.push(format!("node {node} is not known to the controller"));
        }
        Ok(p)
    });
    if !problems.is_empty() {
        return Err(anyhow!(
            "node {node} not ONLINE after {} s: {} (VERSION_MISMATCH: its linstor-satellite differs \
             from the controller's; OFFLINE: the satellite is not running or not reachable)",
            timeout.as_secs(),
            problems.join("; ")
        ));
    }
    Ok(Some(format!("node {node} ONLINE")))
}

/// Every resource of the pool UpToDate before the host is given back (and before any other
/// host goes down): the guard Xen Orchestra's rolling update lacks.
fn wait_synced(up: &mut Upgrade, _host: &str) -> Result<Option<String>> {
    let timeout = up.opts.resync_timeout;
    let problems = health::wait_healthy(timeout, up.opts.poll, || {
        let resources = up.linstor.resources(None)?;
        Ok(health::resource_problems(&resources))
    });
    if !problems.is_empty() {
        return Err(Refusal(format!(
            "resync not finished after {} s: {}; no further host is taken down. When it is \
             UpToDate (`linstor resource list`), `pool upgrade --resume` continues",
            timeout.as_secs(),
            problems.join("; ")
        ))
        .into());
    }
    Ok(Some("every resource UpToDate".into()))
}

fn enable(up: &mut Upgrade, host: &str) -> Result<Option<String>> {
    let r = reference(up, host)?;
    up.xapi.host_enable(&r)?;
    Ok(None)
}
