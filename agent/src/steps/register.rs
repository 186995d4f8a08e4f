//! The register step: the node, its interfaces and storage pool on the controller, ONLINE.

use super::{Check, HostStep, RunOptions, StepName, StepReport, json};
use crate::context::Context;
use crate::linstor::Client;
use crate::register::{self, Options, RegisterReport};
use crate::report::ReportCore;
use anyhow::Result;

pub struct Register;

impl StepReport for RegisterReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        !self.actions.is_empty()
    }
    /// Applying waits for the node to be ONLINE, which a plan only sees when it already is.
    fn settled(&self) -> bool {
        !self.pending() && self.connection_status.as_deref() == Some("ONLINE")
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

impl HostStep for Register {
    fn name(&self) -> StepName {
        StepName::Register
    }

    /// Without `[controller]` or `[xapi]` there is no controller to find; with `[xapi]` the
    /// step finds the XOSTOR SR's controller (or says there is none yet).
    fn not_applicable(&self, ctx: &Context) -> Option<String> {
        let none = ctx.settings.controller.is_none() && !ctx.settings.xapi().is_ok_and(|x| x.is_some());
        none.then(|| "no [controller] and no [xapi] in the config: not registered with LINSTOR".to_string())
    }

    fn plan(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>> {
        let options = Options {
            dry_run: true,
            timeout: run.timeout,
        };
        Ok(Box::new(register::run(ctx, &options)?))
    }

    fn apply(&self, ctx: &Context, run: &RunOptions) -> Result<Box<dyn StepReport>> {
        let options = Options {
            dry_run: false,
            timeout: run.timeout,
        };
        Ok(Box::new(register::run(ctx, &options)?))
    }

    /// The node ONLINE, and its storage pool (a diskless node has none of its own).
    fn checks(&self, ctx: &Context) -> Vec<Check> {
        let resolved = match crate::xostor::controller::resolve(ctx) {
            Ok(Some(r)) => r,
            Ok(None) => {
                return vec![Check::new(
                    "node",
                    true,
                    "no controller yet: not registered with LINSTOR",
                )];
            }
            Err(e) => return vec![Check::new("node", false, format!("{e:#}"))],
        };
        let group = resolved.xostor.as_ref().map(|x| x.group_name.clone());
        let found = register::desired(ctx, &resolved.settings, group.as_deref())
            .and_then(|d| Ok((d, Client::new(&resolved.settings)?)));
        let (desired, client) = match found {
            Ok(pair) => pair,
            Err(e) => return vec![Check::new("node", false, format!("{e:#}"))],
        };
        let node_check = format!("node {}", desired.name);
        match client.node(&desired.name) {
            Ok(Some(node)) => {
                let online = node.connection_status == "ONLINE";
                let detail = format!("{} {}", node.node_type, node.connection_status);
                vec![
                    Check::new(node_check, online, detail),
                    pool_check(&client, &desired),
                ]
            }
            Ok(None) => vec![Check::new(
                node_check,
                false,
                "not registered: run `linstor-agent register`",
            )],
            Err(e) => vec![Check::new(node_check, false, e.to_string())],
        }
    }
}

fn pool_check(client: &Client, desired: &register::Desired) -> Check {
    let Some(pool) = &desired.storage_pool else {
        return Check::new("storage pool", true, "diskless node: none of its own");
    };
    let name = format!("storage pool {}", pool.name);
    match client.storage_pools(&desired.name) {
        Ok(pools) => {
            let found = pools.iter().any(|p| {
                p.storage_pool_name.eq_ignore_ascii_case(&pool.name) && p.provider_kind == pool.provider_kind
            });
            let detail = if found {
                format!("{} on {}", pool.provider_kind, pool.stor_pool_name)
            } else {
                "missing: run `linstor-agent register`".to_string()
            };
            Check::new(name, found, detail)
        }
        Err(e) => Check::new(name, false, e.to_string()),
    }
}
