//! `provision`: the host steps ([`crate::steps::STEPS`]: install → storage → network →
//! register), one plan across all of them shown before anything changes, then each applied in
//! order. The first failing step stops the run; the steps before it stay applied, and the next
//! run picks up from there (every step is a converge, so a step already done changes nothing).
//! What was applied, and when, is kept in `state.json` ([`state`]).

pub mod state;

use crate::context::Context;
use crate::report::ReportCore;
use crate::steps::{HostStep, RunOptions, STEPS, StepName, StepReport};
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use state::{RunState, State, StepState, load_state, now_rfc3339, save_state};
use std::time::Duration;

pub use state::{LOCK_FILE, STATE_DIR, STATE_FILE, lock};

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub skip_peer_check: bool,
    /// The register step's timeout.
    pub timeout: Duration,
}

impl Options {
    fn run(&self) -> RunOptions {
        RunOptions {
            skip_peer_check: self.skip_peer_check,
            timeout: self.timeout,
        }
    }
}

/// One step's plan: what it would do, or why it cannot say yet (e.g. the storage is not built
/// before the storage step runs), or why it does not apply.
#[derive(Debug, Serialize)]
pub struct StepPlan {
    pub step: StepName,
    /// Whether the step would change something (`None` when unknown).
    pub pending: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The plan shows the step converged: it is not applied again.
    #[serde(skip)]
    settled: bool,
}

#[derive(Debug, Serialize)]
pub struct StepResult {
    pub step: StepName,
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProvisionReport {
    #[serde(flatten)]
    pub core: ReportCore,
    pub plan: Vec<StepPlan>,
    pub steps: Vec<StepResult>,
}

/// The plan of one step (its dry run).
fn plan_step(ctx: &Context, step: &dyn HostStep, run: &RunOptions) -> StepPlan {
    // Every event of the step carries its name (journald: STEP=).
    let _span = tracing::info_span!("step", step = step.name().as_str()).entered();
    let mut planned = StepPlan {
        step: step.name(),
        pending: Some(false),
        plan: None,
        skipped: step.not_applicable(ctx),
        error: None,
        settled: false,
    };
    if planned.skipped.is_some() {
        return planned;
    }
    match step.plan(ctx, run) {
        Ok(report) => {
            planned.pending = Some(report.pending());
            planned.settled = report.settled();
            planned.plan = Some(report.to_json());
        }
        Err(e) => {
            planned.pending = None;
            planned.error = Some(format!("{e:#}"));
        }
    }
    planned
}

/// The plans of the steps after `install` (whose plan is `plan`'s own document). A step that
/// cannot be planned before the ones before it are applied says so.
pub fn plan_after_install(ctx: &Context, options: &Options) -> Vec<StepPlan> {
    let run = options.run();
    STEPS
        .iter()
        .filter(|s| s.name() != StepName::Install)
        .map(|step| plan_step(ctx, *step, &run))
        .collect()
}

/// Runs `provision`.
pub fn run(ctx: &Context, options: &Options) -> Result<ProvisionReport> {
    let _lock = if options.dry_run {
        None
    } else {
        Some(lock(&ctx.sysroot)?)
    };
    let run = options.run();
    let shown = crate::progress::spinner("provision: planning every step");
    let plan: Vec<StepPlan> = STEPS.iter().map(|step| plan_step(ctx, *step, &run)).collect();
    shown.done("planned");
    for p in &plan {
        tracing::info!(step = p.step.as_str(), pending = ?p.pending, "planned");
    }
    let mut report = ProvisionReport {
        core: ReportCore::new("provision", options.dry_run),
        plan,
        steps: Vec::new(),
    };
    if options.dry_run {
        return Ok(report);
    }
    let sysroot = &ctx.sysroot;
    let mut state = load_state(sysroot);
    state.last_run = Some(RunState {
        started_at: now_rfc3339(),
        finished_at: None,
        result: "running".into(),
        failed_step: None,
        error: None,
    });
    save_state(sysroot, &state)?;
    for (step, planned) in STEPS.iter().zip(std::mem::take(&mut report.plan)) {
        let name = step.name().as_str();
        let shown = crate::progress::spinner(format!("provision: {name}"));
        let result =
            tracing::info_span!("step", step = name).in_scope(|| apply_step(ctx, *step, &planned, &run));
        report.plan.push(planned);
        match result {
            Ok(done) => {
                shown.done(match (&done.skipped, done.changed) {
                    (Some(_), _) => "skipped",
                    (None, true) => "changed",
                    (None, false) => "unchanged",
                });
                report.core.changed |= done.changed;
                if done.skipped.is_none() {
                    ctx.observed.step_converged(name, true);
                    record(&mut state, step.name(), done.changed);
                    save_state(sysroot, &state)?;
                }
                report.steps.push(done);
            }
            Err(e) => {
                ctx.observed.step_converged(name, false);
                return Err(stopped(sysroot, &mut state, &report, step.name(), e));
            }
        }
    }
    if let Some(last) = state.last_run.as_mut() {
        last.finished_at = Some(now_rfc3339());
        last.result = "ok".into();
    }
    save_state(sysroot, &state)?;
    Ok(report)
}

/// Applies one step, unless it does not apply or its plan shows it converged.
fn apply_step(
    ctx: &Context,
    step: &dyn HostStep,
    planned: &StepPlan,
    run: &RunOptions,
) -> Result<StepResult> {
    let name = step.name();
    if let Some(why) = &planned.skipped {
        return Ok(StepResult {
            step: name,
            changed: false,
            report: None,
            skipped: Some(why.clone()),
        });
    }
    if planned.settled && planned.error.is_none() {
        return Ok(StepResult {
            step: name,
            changed: false,
            report: planned.plan.clone(),
            skipped: None,
        });
    }
    let report: Box<dyn StepReport> = step.apply(ctx, run)?;
    Ok(StepResult {
        step: name,
        changed: report.core().changed,
        report: Some(report.to_json()),
        skipped: None,
    })
}

fn record(state: &mut State, step: StepName, changed: bool) {
    state.steps.insert(
        step.as_str().to_string(),
        StepState {
            applied_at: now_rfc3339(),
            changed,
        },
    );
}

/// The run stopped at `step`: the state says so, the error says what stays applied.
fn stopped(
    sysroot: &crate::host::Sysroot,
    state: &mut State,
    report: &ProvisionReport,
    step: StepName,
    e: anyhow::Error,
) -> anyhow::Error {
    let done: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    if let Some(last) = state.last_run.as_mut() {
        last.finished_at = Some(now_rfc3339());
        last.result = "failed".into();
        last.failed_step = Some(step.as_str().to_string());
        last.error = Some(format!("{e:#}"));
    }
    if let Err(save) = save_state(sysroot, state) {
        tracing::warn!(
            "cannot record the failed run in {}: {save:#}",
            sysroot.path(STATE_FILE).display()
        );
    }
    let kept = if done.is_empty() {
        "nothing was applied before it".to_string()
    } else {
        format!("{} applied and left in place", done.join(", "))
    };
    e.context(format!(
        "provision stopped at the {} step ({kept}; the next run picks up from there)",
        step.as_str()
    ))
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
        out.push_str(&format!("  {}: {what}\n", p.step.as_str()));
    }
    out
}

/// The human rendering: the plan, then what each step did.
pub fn render(report: &ProvisionReport) -> String {
    let mut out = String::from("plan:\n");
    out.push_str(&render_plans(&report.plan));
    if report.core.dry_run {
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
        out.push_str(&format!("  {}: {what}\n", s.step.as_str()));
    }
    out.push_str(if report.core.changed {
        "provisioned\n"
    } else {
        "converged: nothing changed\n"
    });
    out
}

impl crate::output::Render for ProvisionReport {
    fn human(&self) -> String {
        render(self)
    }
}

/// `plan`: the install step's plan (the document's top level) and the other steps' plans.
#[derive(Debug, Serialize)]
pub struct HostPlan {
    #[serde(flatten)]
    pub packages: crate::packages::PlanReport,
    pub steps: Vec<StepPlan>,
}

/// `plan` with the packages options given.
pub fn host_plan(ctx: &Context, packages: &crate::packages::Options) -> Result<HostPlan> {
    let report = crate::packages::plan_report_with(ctx, packages)?;
    let options = Options {
        dry_run: true,
        skip_peer_check: true,
        timeout: Duration::from_secs(10),
    };
    Ok(HostPlan {
        packages: report,
        steps: plan_after_install(ctx, &options),
    })
}

impl crate::output::Render for HostPlan {
    fn human(&self) -> String {
        let mut human = crate::packages::render_plan(&self.packages);
        human.push_str(&render_plans(&self.steps));
        if let Some(refusal) = self.packages.refusal() {
            human.push_str(&format!("refused: {refusal}\n"));
        }
        human
    }
    /// A module the kernel would reject under Secure Boot: the plan is shown, and refused.
    fn exit(&self) -> crate::error::ExitCode {
        if self.packages.refusal().is_some() {
            crate::error::ExitCode::Refused
        } else {
            crate::error::ExitCode::Ok
        }
    }
}
