//! Phases 2 to 6 of the rolling upgrade (docs/ARCHITECTURE.md) and the pool settings the run changes and restores: settings
//! (auto-eviction off, HA off), prefetch, the LINSTOR step, the hosts in batches, finish.
//! Each phase is skipped when the journal says it is done, so `--resume` picks up the first
//! one that is not; every phase is safe to run again from its start.

use super::Upgrade;
use super::health;
use super::journal::{EventKind, RunState, StepState, now};
use super::plugin::{self, AgentArgs};
use super::steps;
use super::targets::is_linstor_package;
use super::wait;
use crate::linstor::types::PropsModify;
use anyhow::{Result, anyhow};
use std::collections::BTreeMap;

pub use super::saved_settings::AUTO_EVICT;

/// Why the run stopped early without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Paused,
    Aborted,
}

pub fn run_all(up: &mut Upgrade) -> Result<()> {
    if !up.journal.phase("settings").is_finished() {
        settings(up)?;
    }
    if !up.journal.phase("prefetch").is_finished() {
        if let Some(stop) = requested_stop(up)? {
            return stopped(up, stop);
        }
        prefetch(up)?;
    }
    if !up.journal.phase("linstor").is_finished() {
        if let Some(stop) = requested_stop(up)? {
            return stopped(up, stop);
        }
        linstor_step(up)?;
    }
    if !up.journal.phase("hosts").is_finished() {
        up.begin_phase("hosts")?;
        let batches = up.journal.batches.clone();
        for (i, batch) in batches.iter().enumerate() {
            let all_done = batch
                .iter()
                .all(|h| up.journal.host(h).is_some_and(|e| e.is_done()));
            if all_done {
                continue;
            }
            let untouched = batch
                .iter()
                .all(|h| up.journal.host(h).is_some_and(|e| e.steps.is_empty()));
            // Stop only between batches: a batch started is finished first.
            if untouched && let Some(stop) = requested_stop(up)? {
                return stopped(up, stop);
            }
            up.log(&format!(
                "batch {}/{}: {}",
                i + 1,
                batches.len(),
                batch.join(", ")
            ));
            steps::run_batch(up, batch)?;
            record_health(up, i + 1, batches.len())?;
        }
        up.end_phase("hosts", StepState::Done, None)?;
    }
    if !up.journal.phase("finish").is_finished() {
        finish(up)?;
    }
    Ok(())
}

fn requested_stop(up: &mut Upgrade) -> Result<Option<Stop>> {
    if up.file.requested("abort") {
        return Ok(Some(Stop::Aborted));
    }
    if up.file.requested("pause") {
        return Ok(Some(Stop::Paused));
    }
    Ok(None)
}

fn stopped(up: &mut Upgrade, stop: Stop) -> Result<()> {
    match stop {
        Stop::Paused => {
            up.file.clear_request("pause");
            up.journal.state = RunState::Paused;
            up.journal.record(EventKind::Paused {
                reason: "on request (`pool pause`)".into(),
            });
            up.log("paused on request: `pool upgrade --resume` continues");
            up.save()
        }
        Stop::Aborted => {
            up.file.clear_request("abort");
            restore_settings(up)?;
            up.journal.state = RunState::Aborted;
            up.journal.ended = Some(now());
            up.journal.record(EventKind::Aborted {
                reason: "on request (`pool abort`)".into(),
            });
            up.log("aborted on request: pool settings restored; hosts not upgraded keep their versions");
            up.save()
        }
    }
}

/// The pool's health once a batch is done, into the journal for the report (see
/// [`health::snapshot`]): what the next batch starts from.
fn record_health(up: &mut Upgrade, batch: usize, batches: usize) -> Result<()> {
    let h = health::snapshot(&up.linstor, batch);
    let mut line = format!(
        "pool health after batch {batch}/{batches}: {}/{} nodes ONLINE, {}/{} diskful volumes UpToDate",
        h.nodes_online, h.nodes, h.volumes_uptodate, h.volumes
    );
    if !h.healthy() {
        line.push_str(&format!(" ({})", h.problems.join("; ")));
    }
    up.log(&line);
    up.journal.record(EventKind::Health(h));
    up.save()
}

/// Auto-eviction off (a host away for its reboot must not be evicted) and HA off (HA would
/// fence or restart VMs on a host that is only rebooting), each saved in the journal first.
fn settings(up: &mut Upgrade) -> Result<()> {
    up.begin_phase("settings")?;
    if !up.journal.settings.auto_evict_saved {
        let props = up.linstor.controller_properties()?;
        up.journal.settings.auto_evict_allow = props.get(AUTO_EVICT).cloned();
        up.journal.settings.auto_evict_saved = true;
        save_settings(up)?;
    }
    let mut modify = PropsModify::default();
    modify.override_props.insert(AUTO_EVICT.into(), "false".into());
    up.linstor
        .set_controller_properties(&modify)
        .map_err(|e| anyhow!("cannot turn auto-eviction off on the controller: {e}"))?;
    let pool = up.xapi.pool_record()?;
    let mut notes = vec!["auto-eviction off".to_string()];
    if pool.ha_enabled {
        up.journal.settings.ha_was_enabled = true;
        up.journal.settings.ha_heartbeat_srs = pool.ha_heartbeat_srs.clone();
        save_settings(up)?;
        up.xapi.pool_disable_ha()?;
        notes.push("HA disabled for the run".into());
    }
    up.end_phase("settings", StepState::Done, Some(notes.join(", ")))
}

/// Records the settings before they are changed: in the copy beside the journal first (which
/// outlives a damaged journal), then in the journal.
fn save_settings(up: &mut Upgrade) -> Result<()> {
    up.file.save_settings(&up.journal.settings, up.journal.started)?;
    up.save()
}

/// Puts back what `settings` changed; the copy beside the journal goes once they are back.
pub fn restore_settings(up: &mut Upgrade) -> Result<()> {
    if up.journal.settings.auto_evict_saved {
        let mut modify = PropsModify::default();
        match up.journal.settings.auto_evict_allow.clone() {
            Some(value) => {
                modify.override_props.insert(AUTO_EVICT.into(), value);
            }
            None => modify.delete_props.push(AUTO_EVICT.into()),
        }
        up.linstor
            .set_controller_properties(&modify)
            .map_err(|e| anyhow!("cannot restore auto-eviction on the controller: {e}"))?;
    }
    if up.journal.settings.ha_was_enabled {
        let pool = up.xapi.pool_record()?;
        if !pool.ha_enabled {
            let srs = up.journal.settings.ha_heartbeat_srs.clone();
            up.xapi.pool_enable_ha(&srs)?;
        }
    }
    up.file.clear_settings();
    Ok(())
}

/// Every host downloads and verifies its packages, in parallel, before any host goes down.
fn prefetch(up: &mut Upgrade) -> Result<()> {
    up.begin_phase("prefetch")?;
    let hosts: Vec<(String, String)> = up
        .journal
        .hosts
        .iter()
        .map(|h| (h.reference.clone(), h.name.clone()))
        .collect();
    let pins = up.journal.targets.clone();
    let results = on_each_host(up, &hosts, |xapi, reference, name| {
        plugin::agent_done(xapi, reference, name, "prefetch", &AgentArgs::pinned(&pins)).map(|_| ())
    })?;
    let failures: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
    if !failures.is_empty() {
        return Err(anyhow!(
            "prefetch failed; no host was taken down:\n  - {}",
            failures.join("\n  - ")
        ));
    }
    up.end_phase(
        "prefetch",
        StepState::Done,
        Some(format!("{} hosts", hosts.len())),
    )
}

/// Runs `work` on each host in parallel, each thread with its own XAPI session. The result
/// of each is its error text (naming the host) or ().
fn on_each_host<F>(up: &Upgrade, hosts: &[(String, String)], work: F) -> Result<Vec<Result<(), String>>>
where
    F: Fn(&mut crate::xapi::Client, &str, &str) -> Result<()> + Sync,
{
    let settings = up.xapi_settings.clone();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|(reference, name)| {
                let settings = settings.clone();
                let work = &work;
                scope.spawn(move || {
                    let run = || -> Result<()> {
                        let mut xapi = crate::xapi::Client::new(settings)?;
                        xapi.login()?;
                        work(&mut xapi, reference, name)
                    };
                    run().map_err(|e| format!("{name}: {e:#}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("worker thread panicked".to_string()))
            })
            .collect::<Vec<_>>()
    });
    Ok(results)
}

/// LINSTOR's version changes (on a running service or on an installed package of any host):
/// the new packages on every host, the controller package included wherever it is installed,
/// then, in the order Vates documents and Xen Orchestra follows, the controller stopped on
/// every host (drbd-reactor starts it again where its database is, at the new version) and the
/// satellites restarted; then the controller at the new version and every node ONLINE.
fn linstor_step(up: &mut Upgrade) -> Result<()> {
    up.begin_phase("linstor")?;
    if !up.journal.linstor_change {
        return up.end_phase(
            "linstor",
            StepState::Skipped,
            Some(format!(
                "LINSTOR stays at {}, installed and running",
                up.journal.linstor_from
            )),
        );
    }
    let target = up.journal.linstor_to.clone();
    let mut pins: BTreeMap<String, String> = up
        .journal
        .targets
        .iter()
        .filter(|(name, _)| is_linstor_package(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for name in &up.journal.linstor_packages {
        pins.insert(name.clone(), target.clone());
    }
    let mut only: Vec<String> = pins.keys().cloned().collect();
    if up.xostor.is_some() {
        // Upgraded where installed (newest the repository has), as Xen Orchestra does.
        only.insert(0, super::targets::XAPI_PLUGINS.to_string());
    }
    // Every host of the pool runs LINSTOR, not only those chosen with --hosts.
    let pool_hosts = up.xapi.pool_hosts()?;
    let hosts: Vec<(String, String)> = pool_hosts
        .iter()
        .map(|h| (h.reference.clone(), h.name_label.clone()))
        .collect();
    let from = super::linstor_versions::from_summary(&up.journal.linstor_installed, &up.journal.linstor_from);
    up.log(&format!(
        "LINSTOR {from} → {target} on {} hosts: {}",
        hosts.len(),
        only.join(", ")
    ));
    let args = AgentArgs {
        pins: pins.clone(),
        only: only.clone(),
        save_pins: false,
        dry_run: false,
        newest: false,
    };
    let results = on_each_host(up, &hosts, |xapi, reference, name| {
        plugin::agent_done(xapi, reference, name, "install", &args).map(|_| ())
    })?;
    let failures: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
    if !failures.is_empty() {
        return Err(anyhow!(
            "the LINSTOR step could not install {target} everywhere (no service was restarted):\n  - {}",
            failures.join("\n  - ")
        ));
    }
    for (reference, name) in &hosts {
        plugin::service(&mut up.xapi, reference, name, "stop", "linstor-controller")?;
    }
    for (reference, name) in &hosts {
        plugin::service(&mut up.xapi, reference, name, "restart", "linstor-satellite")?;
    }
    wait_linstor_at(up, &target)?;
    up.end_phase(
        "linstor",
        StepState::Done,
        Some(format!("{from} → {target}, every node ONLINE")),
    )
}

/// Waits until the controller runs `target` and every node is ONLINE (see [`wait::until`]).
fn wait_linstor_at(up: &mut Upgrade, target: &str) -> Result<()> {
    let step = wait::Wait {
        step: "phase linstor".into(),
        host: None,
        waits_for: format!("the controller at {target} and every node ONLINE"),
        deadline: up.opts.linstor_timeout,
        stuck_after: up.opts.stuck_after,
        poll: up.opts.poll,
        deadline_hint: "Check `linstor node list` and the controller's log \
                        (`journalctl -u linstor-controller` where it runs)."
            .into(),
        show: !up.opts.quiet,
    };
    let linstor = &up.linstor;
    let xapi = &mut up.xapi;
    wait::until(&step, || {
        let version = linstor.version()?.version;
        if version != target {
            return Ok(vec![wait::Blocker::Stuck {
                state: format!("the controller runs {version}, not {target}"),
                hint: format!(
                    "The host it runs on did not get linstor-controller {target}: install it there \
                     (`linstor-agent install --only linstor-controller --pin linstor-controller={target}`) \
                     and `systemctl stop linstor-controller` (drbd-reactor starts it again)."
                ),
            }]);
        }
        let nodes = linstor.nodes()?;
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let hosts = xapi.pool_hosts().unwrap_or_default();
        let live = |node: &str| {
            hosts
                .iter()
                .find(|h| super::preflight::node_name(h) == node)
                .map(|h| h.live)
        };
        Ok(health::node_blockers(&nodes, &names, &version, target, live))
    })?;
    Ok(())
}

/// VMs back where they were, settings restored, the run closed.
fn finish(up: &mut Upgrade) -> Result<()> {
    up.begin_phase("finish")?;
    let vms = up.xapi.pool_vms()?;
    // Each VM not on its home host goes back; the migrations run at the same time.
    let mut back: Vec<(String, String, String, String)> = Vec::new();
    for h in &up.journal.hosts {
        for vm in &h.vms {
            let Some(now) = vms.iter().find(|v| &v.reference == vm) else {
                continue;
            };
            if now.power_state == "Running" && now.resident_on != h.reference {
                back.push((
                    vm.clone(),
                    now.name_label.clone(),
                    h.reference.clone(),
                    h.name.clone(),
                ));
            }
        }
    }
    let settings = up.xapi_settings.clone();
    let timeout = up.opts.evacuate_timeout;
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = back
            .iter()
            .map(|(vm, name, home, home_name)| {
                let settings = settings.clone();
                scope.spawn(move || {
                    let run = || -> Result<()> {
                        let mut xapi = crate::xapi::Client::new(settings)?;
                        xapi.login()?;
                        xapi.vm_pool_migrate(vm, home, timeout)
                    };
                    run().map_err(|e| format!("{name} back to {home_name}: {e:#}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("worker thread panicked".to_string()))
            })
            .collect()
    });
    let moved = results.iter().filter(|r| r.is_ok()).count();
    let failed: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
    restore_settings(up)?;
    if !failed.is_empty() {
        return Err(anyhow!(
            "every host is upgraded, but some VMs could not go back to their hosts:\n  - {}",
            failed.join("\n  - ")
        ));
    }
    up.journal.state = RunState::Done;
    up.journal.ended = Some(now());
    up.end_phase(
        "finish",
        StepState::Done,
        Some(format!("{moved} VMs moved back, settings restored")),
    )
}
