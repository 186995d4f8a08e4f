//! `provision`: install → storage → network → register, one plan across the four steps shown
//! before anything changes, then each step applied in order. The first failing step stops the
//! run; the steps before it stay applied, and the next run picks up from there (every step is
//! a converge, so a step already done changes nothing).
//!
//! A run holds an exclusive `flock` on `<root>/var/lib/linstor-agent/lock` (holding its pid):
//! a second run started meanwhile does not wait, it exits 1 saying which pid runs. What was
//! applied, and when, is kept in `<root>/var/lib/linstor-agent/state.json`.

use crate::app::Context;
use crate::network;
use crate::packages;
use crate::register;
use crate::storage;
use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const STATE_DIR: &str = "/var/lib/linstor-agent";
pub const STATE_FILE: &str = "/var/lib/linstor-agent/state.json";
pub const LOCK_FILE: &str = "/var/lib/linstor-agent/lock";

/// The four steps, in order.
pub const STEPS: [&str; 4] = ["install", "storage", "network", "register"];

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub skip_peer_check: bool,
    /// The register step's timeout.
    pub timeout: Duration,
}

/// One step's plan: what it would do, or why it cannot say yet (e.g. the storage is not built
/// before the storage step runs), or why it does not apply.
#[derive(Debug, Serialize)]
pub struct StepPlan {
    pub step: &'static str,
    /// Whether the step would change something (`None` when unknown).
    pub pending: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StepResult {
    pub step: &'static str,
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProvisionReport {
    pub command: &'static str,
    pub changed: bool,
    pub dry_run: bool,
    pub plan: Vec<StepPlan>,
    pub steps: Vec<StepResult>,
}

/// `state.json`: per step, when it was last applied and whether that changed anything; the
/// last run's outcome.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub steps: BTreeMap<String, StepState>,
    #[serde(default)]
    pub last_run: Option<RunState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepState {
    pub applied_at: String,
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `"ok"`, or `"failed"`.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The exclusive lock of a provision run, released when dropped.
pub struct RunLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the lock, or says which pid holds it.
pub fn lock(sysroot: &crate::host::Sysroot) -> Result<RunLock> {
    let path = sysroot.path(LOCK_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            lock.flush()?;
            Ok(RunLock { _lock: lock })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            let pid = if pid.is_empty() { "unknown" } else { pid };
            Err(anyhow!(
                "linstor-agent provision is already running (pid {pid}, lock {}): wait for it to finish, \
                 then run again",
                path.display()
            ))
        }
        Err((_, errno)) => Err(anyhow!("cannot lock {}: {errno}", path.display())),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn load_state(path: &Path) -> State {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &State) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(serde_json::to_string_pretty(state)?.as_bytes())?;
    tmp.write_all(b"\n")?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn to_value(report: &impl Serialize) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

fn pending_of(value: &Value) -> Option<bool> {
    value
        .get("pending")
        .and_then(Value::as_bool)
        .or_else(|| {
            value
                .get("actions")
                .and_then(Value::as_array)
                .map(|a| !a.is_empty())
        })
        .or_else(|| {
            value
                .get("changes")
                .and_then(Value::as_array)
                .map(|a| !a.is_empty())
        })
}

/// Why a step does not apply to this host's config, if it does not.
fn not_applicable(ctx: &Context, step: &str) -> Option<String> {
    match step {
        "storage" if register::diskless(ctx) => {
            Some("no [storage] devices: diskless host, no volume group".to_string())
        }
        "register" if ctx.config.config.controller.is_none() => {
            Some("no [controller] in the config: not registered with LINSTOR".to_string())
        }
        _ => None,
    }
}

/// The plan of one step (its dry run).
fn plan_step(ctx: &Context, step: &'static str, options: &Options) -> StepPlan {
    if let Some(why) = not_applicable(ctx, step) {
        return StepPlan {
            step,
            pending: Some(false),
            plan: None,
            skipped: Some(why),
            error: None,
        };
    }
    let planned: Result<Value> = match step {
        "install" => packages::plan_report(ctx).map(|r| to_value(&r)),
        "storage" => storage::run(
            ctx,
            &storage::StorageOptions {
                dry_run: true,
                wipe: Vec::new(),
            },
        )
        .map(|r| to_value(&r)),
        "network" => network::run(
            ctx,
            network::Options {
                dry_run: true,
                skip_peer_check: options.skip_peer_check,
            },
        )
        .map(|r| to_value(&r)),
        _ => register::run(
            ctx,
            &register::Options {
                dry_run: true,
                timeout: options.timeout,
            },
        )
        .map(|r| to_value(&r)),
    };
    match planned {
        Ok(value) => StepPlan {
            step,
            pending: pending_of(&value),
            plan: Some(value),
            skipped: None,
            error: None,
        },
        Err(e) => StepPlan {
            step,
            pending: None,
            plan: None,
            skipped: None,
            error: Some(format!("{e:#}")),
        },
    }
}

/// The plans of the storage, network and register steps (the install step's plan is `plan`'s
/// own document). A step that cannot be planned before the ones before it are applied says so.
pub fn plan_after_install(ctx: &Context, options: &Options) -> Vec<StepPlan> {
    STEPS[1..]
        .iter()
        .map(|step| plan_step(ctx, step, options))
        .collect()
}

/// The plan of a step that has nothing to do, when applying it would only repeat the plan's
/// work: storage with no action; network with no change (and no peer check to fail, live);
/// register with no action and the node already ONLINE. The install step is always applied
/// (on a live host it also checks the loaded module).
fn already_converged(ctx: &Context, step: &str, plan: &[StepPlan], options: &Options) -> Option<Value> {
    let planned = plan.iter().find(|p| p.step == step)?;
    if planned.pending != Some(false) || planned.error.is_some() {
        return None;
    }
    let value = planned.plan.as_ref()?;
    let converged = match step {
        "storage" => true,
        "network" => {
            let peers = ctx
                .config
                .config
                .network
                .as_ref()
                .is_some_and(|n| !n.peers.is_empty());
            !ctx.sysroot.is_live() || options.skip_peer_check || !peers
        }
        "register" => value.get("connection_status").and_then(Value::as_str) == Some("ONLINE"),
        _ => false,
    };
    converged.then(|| value.clone())
}

fn apply_step(ctx: &Context, step: &'static str, options: &Options) -> Result<(bool, Value)> {
    match step {
        "install" => packages::install(ctx, false).map(|r| (r.changed, to_value(&r))),
        "storage" => {
            storage::run(ctx, &storage::StorageOptions::default()).map(|r| (r.changed, to_value(&r)))
        }
        "network" => network::run(
            ctx,
            network::Options {
                dry_run: false,
                skip_peer_check: options.skip_peer_check,
            },
        )
        .map(|r| (r.changed, to_value(&r))),
        _ => register::run(
            ctx,
            &register::Options {
                dry_run: false,
                timeout: options.timeout,
            },
        )
        .map(|r| (r.changed, to_value(&r))),
    }
}

/// Runs `provision`.
pub fn run(ctx: &Context, options: &Options) -> Result<ProvisionReport> {
    let _lock = if options.dry_run {
        None
    } else {
        Some(lock(&ctx.sysroot)?)
    };
    let plan: Vec<StepPlan> = STEPS.iter().map(|step| plan_step(ctx, step, options)).collect();
    for p in &plan {
        tracing::info!(step = p.step, pending = ?p.pending, "planned");
    }
    let mut report = ProvisionReport {
        command: "provision",
        changed: false,
        dry_run: options.dry_run,
        plan,
        steps: Vec::new(),
    };
    if options.dry_run {
        return Ok(report);
    }

    let state_path: PathBuf = ctx.sysroot.path(STATE_FILE);
    let mut state = load_state(&state_path);
    state.last_run = Some(RunState {
        started_at: now_rfc3339(),
        finished_at: None,
        result: "running".into(),
        failed_step: None,
        error: None,
    });
    save_state(&state_path, &state)?;
    for step in STEPS {
        if let Some(why) = not_applicable(ctx, step) {
            report.steps.push(StepResult {
                step,
                changed: false,
                report: None,
                skipped: Some(why),
            });
            continue;
        }
        if let Some(value) = already_converged(ctx, step, &report.plan, options) {
            report.steps.push(StepResult {
                step,
                changed: false,
                report: Some(value),
                skipped: None,
            });
            state.steps.insert(
                step.to_string(),
                StepState {
                    applied_at: now_rfc3339(),
                    changed: false,
                },
            );
            save_state(&state_path, &state)?;
            continue;
        }
        match apply_step(ctx, step, options) {
            Ok((changed, value)) => {
                report.changed |= changed;
                state.steps.insert(
                    step.to_string(),
                    StepState {
                        applied_at: now_rfc3339(),
                        changed,
                    },
                );
                save_state(&state_path, &state)?;
                report.steps.push(StepResult {
                    step,
                    changed,
                    report: Some(value),
                    skipped: None,
                });
            }
            Err(e) => {
                let done: Vec<&str> = report.steps.iter().map(|s| s.step).collect();
                if let Some(run) = state.last_run.as_mut() {
                    run.finished_at = Some(now_rfc3339());
                    run.result = "failed".into();
                    run.failed_step = Some(step.to_string());
                    run.error = Some(format!("{e:#}"));
                }
                save_state(&state_path, &state)?;
                let kept = if done.is_empty() {
                    "nothing was applied before it".to_string()
                } else {
                    format!("{} applied and left in place", done.join(", "))
                };
                return Err(e.context(format!(
                    "provision stopped at the {step} step ({kept}; the next run picks up from there)"
                )));
            }
        }
    }
    if let Some(run) = state.last_run.as_mut() {
        run.finished_at = Some(now_rfc3339());
        run.result = "ok".into();
    }
    save_state(&state_path, &state)?;
    Ok(report)
}

/// The plans, one line per step.
pub fn render_plans(plans: &[StepPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        let what = match (&p.skipped, &p.error, p.pending) {
            (Some(why), _, _) => format!("skipped ({why})"),
            (_, Some(e), _) => format!("not known until the steps before it run ({e})"),
            (_, _, Some(true)) => "changes pending".to_string(),
            (_, _, Some(false)) => "nothing to change".to_string(),
            _ => "unknown".to_string(),
        };
        out.push_str(&format!("  {}: {what}\n", p.step));
    }
    out
}

/// The human rendering: the plan, then what each step did.
pub fn render(report: &ProvisionReport) -> String {
    let mut out = String::from("plan:\n");
    out.push_str(&render_plans(&report.plan));
    if report.dry_run {
        out.push_str("dry run: nothing changed\n");
        return out;
    }
    out.push_str("applied:\n");
    for s in &report.steps {
        let what = match (&s.skipped, s.changed) {
            (Some(why), _) => format!("skipped ({why})"),
            (None, true) => "changed".to_string(),
            (None, false) => "unchanged".to_string(),
        };
        out.push_str(&format!("  {}: {what}\n", s.step));
    }
    out.push_str(if report.changed {
        "provisioned\n"
    } else {
        "converged: nothing changed\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }

    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = crate::host::Sysroot::new(dir.path());
        let first = lock(&root).expect("first");
        let err = lock(&root).err().expect("second refused");
        let text = err.to_string();
        assert!(text.contains("already running"), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        drop(first);
        lock(&root).expect("free again");
    }
}
