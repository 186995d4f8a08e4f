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
    let checks: Vec<Check> = STEPS.iter().flat_map(|step| step.checks(ctx)).collect();
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
