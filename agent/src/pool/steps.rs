//! Phase 4 for one batch: each step for every host of the batch, in order (disable,
//! evacuate, install, reboot or restart, wait until live and ONLINE, wait until every
//! resource is UpToDate, enable). The hosts of a batch go through a step together: their
//! evacuations, installs and reboots run at the same time (each host in its own thread with
//! its own XAPI session), so a batch of N hosts is down for about as long as one.
//!
//! A step recorded as done is not run again; one recorded as started is checked against the
//! world and finished (a reboot that already happened, as `boot_time` shows, is not asked for
//! again). A step that fails or times out stops the run: the host stays disabled, the reason
//! is in the journal and the error, and no further host is touched.

use super::health;
use super::journal::{HOST_STEPS, HostEntry, StepState};
use super::plugin::{self, AgentArgs};
use super::wait::{self, Blocker, Stall, StallReason, Wait};
use super::{Options, Upgrade, kill_point};
use crate::{linstor, xapi};
use anyhow::{Result, anyhow};
use std::collections::BTreeMap;

/// What one host's step works with (shared read-only across the batch's threads, but for
/// the XAPI session, which is each thread's own).
struct Work<'a> {
    xapi: &'a mut xapi::Client,
    linstor: &'a linstor::Client,
    targets: &'a BTreeMap<String, String>,
    /// The LINSTOR version of the run (what a VERSION_MISMATCH is fixed to).
    linstor_to: &'a str,
    /// The XOSTOR SR's reference, whose PBD each host must have plugged again.
    xostor_sr: Option<&'a str>,
    opts: &'a Options,
    /// The terminal's view, told how far a resync is.
    live: &'a super::live::Live,
}

pub fn run_batch(up: &mut Upgrade, batch: &[String]) -> Result<()> {
    for step in HOST_STEPS {
        let mut pending: Vec<HostEntry> = Vec::new();
        for host in batch {
            let entry = up
                .journal
                .host(host)
                .cloned()
                .ok_or_else(|| anyhow!("host {host} is not in the journal"))?;
            if !entry.step(step).is_finished() {
                pending.push(entry);
            }
        }
        if pending.is_empty() {
            continue;
        }
        if *step == "reboot" {
            record_boot_times(up, &mut pending)?;
        }
        let names: Vec<&str> = pending.iter().map(|e| e.name.as_str()).collect();
        up.begin_steps(&names, step)?;
        let results = run_step_on_all(up, step, &pending);
        let mut failed: Option<(String, anyhow::Error)> = None;
        let mut outcomes = Vec::new();
        for (entry, result) in pending.iter().zip(results) {
            match result {
                Ok(note) => outcomes.push((entry.name.clone(), StepState::Done, note)),
                // A wait that stalled leaves its step started: `--resume` waits again.
                Err(e) if e.downcast_ref::<Stall>().is_some() => {
                    outcomes.push((entry.name.clone(), StepState::Started, Some(format!("{e:#}"))));
                    if failed.is_none() {
                        failed = Some((entry.name.clone(), e));
                    }
                }
                Err(e) => {
                    outcomes.push((entry.name.clone(), StepState::Failed, Some(format!("{e:#}"))));
                    if failed.is_none() {
                        failed = Some((entry.name.clone(), e));
                    }
                }
            }
        }
        up.end_steps(&outcomes, step)?;
        if let Some((host, e)) = failed {
            if e.downcast_ref::<Stall>().is_some() {
                return Err(e);
            }
            return Err(e.context(format!(
                "{host}: step {step} failed; the host is left as it is (disabled), no further \
                 host was touched. Fix it, then `pool upgrade --resume`"
            )));
        }
    }
    Ok(())
}

/// Before any reboot of the batch is asked for, each host's current `boot_time` goes into
/// the journal: after a crash, a different one proves the reboot happened.
fn record_boot_times(up: &mut Upgrade, pending: &mut [HostEntry]) -> Result<()> {
    if pending.iter().all(|e| !e.reboot || e.boot_time_before.is_some()) {
        return Ok(());
    }
    let hosts = up.xapi.pool_hosts()?;
    for entry in pending.iter_mut() {
        if !entry.reboot || entry.boot_time_before.is_some() {
            continue;
        }
        let now = hosts
            .iter()
            .find(|h| h.reference == entry.reference)
            .map(|h| h.boot_time.clone())
            .ok_or_else(|| anyhow!("host {} is no longer in the pool", entry.name))?;
        entry.boot_time_before = Some(now.clone());
        up.journal.host_mut(&entry.name)?.boot_time_before = Some(now);
    }
    up.save()
}

/// Runs `step` for each host: in the calling thread for one host, else one thread per host.
fn run_step_on_all(up: &mut Upgrade, step: &str, pending: &[HostEntry]) -> Vec<Result<Option<String>>> {
    if pending.len() == 1 {
        let mut work = Work {
            xapi: &mut up.xapi,
            linstor: &up.linstor,
            targets: &up.journal.targets,
            linstor_to: &up.journal.linstor_to,
            xostor_sr: up.xostor.as_ref().map(|x| x.sr.reference.as_str()),
            opts: &up.opts,
            live: &up.live,
        };
        return vec![run_step(&mut work, step, &pending[0])];
    }
    let settings = up.xapi_settings.clone();
    let (linstor, targets, opts, live) = (&up.linstor, &up.journal.targets, &up.opts, &up.live);
    let linstor_to = up.journal.linstor_to.as_str();
    let xostor_sr = up.xostor.as_ref().map(|x| x.sr.reference.as_str());
    std::thread::scope(|scope| {
        let handles: Vec<_> = pending
            .iter()
            .map(|entry| {
                let settings = settings.clone();
                scope.spawn(move || -> Result<Option<String>> {
                    let mut xapi = xapi::Client::new(settings)?;
                    xapi.login()?;
                    let mut work = Work {
                        xapi: &mut xapi,
                        linstor,
                        targets,
                        linstor_to,
                        xostor_sr,
                        opts,
                        live,
                    };
                    run_step(&mut work, step, entry)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a worker thread panicked")))
            })
            .collect()
    })
}

fn run_step(w: &mut Work<'_>, step: &str, entry: &HostEntry) -> Result<Option<String>> {
    match step {
        "disable" => w.xapi.host_disable(&entry.reference).map(|()| None),
        "evacuate" => evacuate(w, entry),
        "install" => install(w, entry),
        "reboot" => reboot_or_restart(w, entry),
        "wait-online" => wait_online(w, entry),
        "wait-synced" => wait_synced(w, entry),
        "wait-pbd" => super::pbd_wait::wait_pbd(w.xapi, w.xostor_sr, entry, w.opts),
        "enable" => w.xapi.host_enable(&entry.reference).map(|()| None),
        other => Err(anyhow!("unknown step {other}")),
    }
}

fn evacuate(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    w.xapi.host_evacuate(&entry.reference, w.opts.evacuate_timeout)?;
    let left: Vec<String> = w
        .xapi
        .pool_vms()?
        .into_iter()
        .filter(|v| v.power_state == "Running" && v.resident_on == entry.reference)
        .map(|v| v.name_label)
        .collect();
    if !left.is_empty() {
        return Err(anyhow!(
            "VMs still running on it after host.evacuate: {}",
            left.join(", ")
        ));
    }
    Ok(Some(format!("{} VMs moved away", entry.vms.len())))
}

fn install(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    // The pins are saved into the host's agent.d/ so a later `provision` keeps them.
    let args = AgentArgs {
        pins: w.targets.clone(),
        save_pins: true,
        ..AgentArgs::default()
    };
    let doc = plugin::agent_done(w.xapi, &entry.reference, &entry.name, "install", &args)?;
    let changed = doc.get("changed").and_then(|c| c.as_bool()).unwrap_or(false);
    Ok(Some(if changed {
        "packages installed from the prefetched cache".to_string()
    } else {
        "nothing to install".to_string()
    }))
}

/// A host whose kernel or module changed is rebooted (and waited for); one where only
/// packages changed has its satellite restarted.
fn reboot_or_restart(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    if !entry.reboot {
        return restart_satellite(w, entry);
    }
    let before = entry.boot_time_before.clone().unwrap_or_default();
    let mut notes: Vec<String> = ask_reboot(w, entry, &before)?.into_iter().collect();
    wait_rebooted(w, entry, &before)?;
    notes.push("rebooted: kernel or DRBD module changed".into());
    Ok(Some(notes.join("; ")))
}

/// Without a reboot: linstor-satellite restarted when any package changed.
fn restart_satellite(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    let changed = entry.changes.iter().any(|c| c.change != "keep");
    if changed {
        plugin::service(
            w.xapi,
            &entry.reference,
            &entry.name,
            "restart",
            "linstor-satellite",
        )?;
        return Ok(Some(
            "kernel and module unchanged: linstor-satellite restarted".into(),
        ));
    }
    Ok(Some("nothing changed that needs a restart".into()))
}

/// Asks for the reboot, unless a resumed step's reboot already happened (the boot time moved
/// on from `before`) or the host is down. Returns a note when XAPI went away with it.
fn ask_reboot(w: &mut Work<'_>, entry: &HostEntry, before: &str) -> Result<Option<String>> {
    let host = entry.name.as_str();
    let current = w
        .xapi
        .pool_hosts()?
        .into_iter()
        .find(|h| h.reference == entry.reference)
        .ok_or_else(|| anyhow!("host {host} is no longer in the pool"))?;
    let already = !before.is_empty() && current.boot_time != before;
    if already || !current.live {
        return Ok(None);
    }
    let mut note = None;
    match w.xapi.host_reboot(&entry.reference) {
        Ok(()) => {}
        // Rebooting the master takes XAPI down with it: the call may not get its answer.
        Err(e) if xapi::pool::is_unreachable(&e) => {
            w.xapi.forget_session();
            note = Some("XAPI went away with the reboot (the pool master)".to_string());
        }
        Err(e) => return Err(e),
    }
    tracing::info!(host, "reboot asked for");
    kill_point(&format!("host:{host}:reboot:asked"));
    Ok(note)
}

/// Waits until the host is live again after its reboot (its boot time moved on from
/// `before`, or, without one, it was seen down), then disables it again: xapi enables a host
/// when it starts, and nothing may be placed on it before its node is ONLINE and its
/// replicas are UpToDate. Not back in time is a stall.
fn wait_rebooted(w: &mut Work<'_>, entry: &HostEntry, before: &str) -> Result<()> {
    let timeout = w.opts.host_timeout;
    let waited_from = super::journal::now();
    let mut seen_down = false;
    let reference = entry.reference.clone();
    let (hosts, back) = w.xapi.wait_hosts(timeout, |hosts| {
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
    let this = hosts.iter().find(|h| h.reference == reference);
    if !back {
        let last = this.map_or("gone from the pool".to_string(), |h| {
            format!("live={}, enabled={}", h.live, h.enabled)
        });
        return Err(reboot_stall(&entry.name, &last, timeout, waited_from).into());
    }
    if this.is_some_and(|h| h.enabled) {
        w.xapi.host_disable(&reference)?;
    }
    Ok(())
}

/// The stall of a host not back within `timeout` of its reboot (`last`: how it was last seen).
fn reboot_stall(host: &str, last: &str, timeout: std::time::Duration, since: f64) -> Stall {
    Stall {
        step: "reboot".into(),
        host: Some(host.to_string()),
        waits_for: format!("{host} back live after its reboot"),
        reason: StallReason::Deadline,
        blockers: vec![format!(
            "{host} did not come back within {} s of its reboot (last seen: {last})",
            timeout.as_secs()
        )],
        since,
        at: super::journal::now(),
        hint: format!("Check {host}'s console and bring it up (XAPI must show it live)."),
    }
}

fn wait_online(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    let node = entry.node.clone();
    let only = [node.clone()];
    let target = w.linstor_to.to_string();
    let linstor = w.linstor;
    let reference = entry.reference.clone();
    let xapi = &mut *w.xapi;
    let wait = Wait {
        step: "wait-online".into(),
        host: Some(entry.name.clone()),
        waits_for: format!("node {node} ONLINE"),
        deadline: w.opts.host_timeout,
        stuck_after: w.opts.stuck_after,
        poll: w.opts.poll,
        deadline_hint: format!(
            "Check {} (its console, `systemctl status linstor-satellite`) and the controller \
             (`linstor node list`).",
            entry.name
        ),
        show: !w.opts.quiet,
    };
    wait::until(&wait, || {
        let nodes = linstor.nodes()?;
        let controller = linstor.version()?.version;
        let live = xapi
            .pool_hosts()
            .ok()
            .and_then(|hosts| hosts.iter().find(|h| h.reference == reference).map(|h| h.live));
        Ok(health::node_blockers(&nodes, &only, &controller, &target, |_| {
            live
        }))
    })?;
    Ok(Some(format!("node {node} ONLINE")))
}

/// Every resource of the pool UpToDate before the hosts are given back (and before any other
/// host goes down): the guard Xen Orchestra's rolling update lacks.
fn wait_synced(w: &mut Work<'_>, entry: &HostEntry) -> Result<Option<String>> {
    let linstor = w.linstor;
    let wait = Wait {
        step: "wait-synced".into(),
        host: Some(entry.name.clone()),
        waits_for: "every diskful replica UpToDate (the resync after this host's return)".into(),
        deadline: w.opts.resync_timeout,
        stuck_after: w.opts.stuck_after,
        poll: w.opts.poll,
        deadline_hint: "No further host is taken down. Bring the resources UpToDate \
                        (`linstor resource list`; `linstor advise resource` suggests fixes)."
            .into(),
        show: !w.opts.quiet,
    };
    let live = w.live;
    let waited = wait::until(&wait, || {
        let resources = linstor.resources(None)?;
        live.resync(&entry.name, health::resync_percent(&resources));
        Ok(health::resource_problems(&resources)
            .into_iter()
            .map(Blocker::Pending)
            .collect())
    });
    live.resync(&entry.name, None);
    waited?;
    Ok(Some("every resource UpToDate".into()))
}
