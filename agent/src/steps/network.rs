//! The network step: sysctl, DRBD transport, firewall, storage NIC, peer check.

use super::{Check, HostStep, RunOptions, StepName, StepReport, json};
use crate::context::Context;
use crate::network::{self, NetworkReport, Options};
use crate::report::ReportCore;
use anyhow::Result;

pub struct Network;

impl StepReport for NetworkReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        !self.changes.is_empty()
    }
    /// Applying runs the peer check that a plan on a live host with peers does not prove.
    fn settled(&self) -> bool {
        !self.pending() && !self.peer_check_due
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

fn options(dry_run: bool, run: &RunOptions) -> Options {
    Options {
        dry_run,
        skip_peer_check: run.skip_peer_check,
    }
}

impl HostStep for Network {
    fn name(&self) -> StepName {
        StepName::Network
    }

    fn plan(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(network::run(ctx, options(true, run))?))
    }

    fn apply(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(network::run(ctx, options(false, run))?))
    }

    fn checks(&self, ctx: &Context) -> Vec<Check> {
        let plan = Options {
            dry_run: true,
            skip_peer_check: true,
        };
        let check = match network::run(ctx, plan) {
            Ok(r) if r.changes.is_empty() => Check::new("network", true, "settings applied"),
            Ok(r) => Check::new(
                "network",
                false,
                format!(
                    "{} change(s) pending: run `linstor-agent network`",
                    r.changes.len()
                ),
            ),
            Err(e) => Check::new("network", false, format!("{e:#}")),
        };
        vec![check]
    }
}
