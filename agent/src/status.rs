//! `status`: is this host converged? Each host step ([`crate::steps::STEPS`]) gives its checks:
//! the DRBD module for each served kernel, the userland packages, the volume group (and thin
//! pool), the network settings, the node ONLINE on the controller, its storage pool. Exit 0 only
//! when every check holds, else 1. Nothing is changed.

use crate::context::Context;
use crate::error::ExitCode;
use crate::output::Render;
use crate::report::ReportCore;
use crate::steps::{Check, STEPS};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub core: ReportCore,
    /// Every check holds.
    pub converged: bool,
    pub checks: Vec<Check>,
}

/// Runs every check; an error inside one check fails that check, not the command.
pub fn run(ctx: &Context) -> StatusReport {
    let mut checks: Vec<Check> = Vec::new();
    for step in STEPS {
        let name = step.name().as_str();
        let span = tracing::info_span!("step", step = name);
        let step_checks = span.in_scope(|| step.checks(ctx));
        // A step with no checks does not apply here: it has no convergence to report.
        if step_checks.is_empty() {
            ctx.observed.step_not_applicable(name);
        } else {
            ctx.observed
                .step_checks(name, step_checks.iter().map(|c| (c.check.clone(), c.ok)));
        }
        checks.extend(step_checks);
    }
    StatusReport {
        core: ReportCore::new("status", false),
        converged: checks.iter().all(|c| c.ok),
        checks,
    }
}

impl Render for StatusReport {
    fn human(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{:<4} {}: {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.check,
                c.detail
            ));
        }
        out.push_str(if self.converged {
            "converged\n"
        } else {
            "not converged\n"
        });
        out
    }

    fn exit(&self) -> ExitCode {
        if self.converged {
            ExitCode::Ok
        } else {
            ExitCode::Failed
        }
    }
}
