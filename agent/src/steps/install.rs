//! The install step: the DRBD module for every kernel that may run it, and the userland.

use super::{Check, HostStep, RunOptions, StepName, StepReport, json};
use crate::context::Context;
use crate::packages::{self, InstallReport, PlanReport, plan::Change};
use crate::report::ReportCore;
use anyhow::Result;

pub struct Install;

impl StepReport for PlanReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        self.pending
    }
    /// Installing also checks the loaded module on a live host: never skipped on a plan.
    fn settled(&self) -> bool {
        false
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

impl StepReport for InstallReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        false
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

impl HostStep for Install {
    fn name(&self) -> StepName {
        StepName::Install
    }

    fn plan(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(packages::plan_report(ctx)?))
    }

    fn apply(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(packages::install(ctx, false)?))
    }

    /// One check per served kernel (its module installed), and one for the userland.
    fn checks(&self, ctx: &Context) -> Vec<Check> {
        let report = match packages::plan_report(ctx) {
            Ok(r) => r,
            Err(e) => return vec![Check::new("packages", false, format!("{e:#}"))],
        };
        let plan = &report.plan;
        let mut checks: Vec<Check> = plan
            .kernels
            .iter()
            .map(|kernel| {
                let missing = plan
                    .actions
                    .iter()
                    .any(|a| a.change != Change::Keep && a.to.as_deref() == Some(kernel.module.as_str()));
                let detail = if missing {
                    format!("{} not installed: run `linstor-agent install`", kernel.module)
                } else {
                    kernel.module.clone()
                };
                Check::new(format!("module {}", kernel.uname_r), !missing, detail)
            })
            .collect();
        let kmod = &ctx.settings.packages.kmod;
        let pending: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.change != Change::Keep && &a.name != kmod)
            .map(|a| format!("{} ({})", a.name, a.change.label()))
            .collect();
        let detail = if pending.is_empty() {
            "userland installed as planned".to_string()
        } else {
            format!("pending: {}: run `linstor-agent install`", pending.join(", "))
        };
        checks.push(Check::new("packages", pending.is_empty(), detail));
        checks
    }
}
