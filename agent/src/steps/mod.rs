//! The host steps behind one contract: `install`, `storage`, `network`, `register`, `xostor`, in the order
//! [`STEPS`] gives. `provision` plans and applies them in that order, `status` asks each for its
//! checks, and `plan` shows the plans of those after `install`; none of them names a step by
//! string or looks inside a step's report: each report says itself whether work is pending.
//!
//! Each step's own command (`linstor-agent storage`, …) calls the same module functions the
//! step calls, with the operator's options.

mod install;
mod network;
mod register;
mod storage;
mod xostor;

use crate::context::Context;
use crate::report::ReportCore;
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

/// A step's name, as `provision`, `status` and `state.json` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    Install,
    Storage,
    Network,
    Register,
    Xostor,
}

impl StepName {
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Install => "install",
            StepName::Storage => "storage",
            StepName::Network => "network",
            StepName::Register => "register",
            StepName::Xostor => "xostor",
        }
    }
}

/// What `provision` passes every step.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The network step does not fail on an unreachable peer.
    pub skip_peer_check: bool,
    /// The register step's deadline (the controller answering, the node ONLINE).
    pub timeout: Duration,
}

/// A step's report, planned or applied.
pub trait StepReport: std::fmt::Debug {
    fn core(&self) -> &ReportCore;
    /// A plan (dry run) found work to do.
    fn pending(&self) -> bool;
    /// A plan shows the step converged: applying it would only repeat what the plan checked.
    /// Steps that verify something live when applied (the loaded module, the peers, the node
    /// coming ONLINE) say so by answering false where the plan could not see it.
    fn settled(&self) -> bool {
        !self.pending()
    }
    /// The report as the JSON document `--output json` shows.
    fn to_json(&self) -> serde_json::Value;
}

/// One `status` line.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(check: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// The contract every host step keeps.
pub trait HostStep: Sync {
    fn name(&self) -> StepName;
    /// Why the step does not apply to this host's settings (None: it applies).
    fn not_applicable(&self, _ctx: &Context) -> Option<String> {
        None
    }
    /// What the step would do; changes nothing.
    fn plan(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>>;
    /// Does it; a second time changes nothing.
    fn apply(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>>;
    /// `status`: whether the host holds what this step makes, one check per thing; an error
    /// fails its check, not the command.
    fn checks(&self, ctx: &Context) -> Vec<Check>;
}

/// The host steps, in the order they run.
pub const STEPS: [&dyn HostStep; 5] = [
    &install::Install,
    &storage::Storage,
    &network::Network,
    &register::Register,
    &xostor::Xostor,
];

/// Serializes a report for [`StepReport::to_json`].
fn json(report: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or(serde_json::Value::Null)
}
