//! `status`: is this host converged? One check per line: the DRBD module for each served
//! kernel, the userland packages, the volume group (and thin pool), the network settings, the
//! node ONLINE on the controller, its storage pool. Exit 0 only when every check holds, else 1.
//! Nothing is changed.

use crate::app::Context;
use crate::linstor::Client;
use crate::network;
use crate::packages::{self, plan::Change};
use crate::register;
use crate::storage;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub command: &'static str,
    pub changed: bool,
    /// Every check holds.
    pub converged: bool,
    pub checks: Vec<Check>,
}

fn check(checks: &mut Vec<Check>, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
    checks.push(Check {
        check: name.into(),
        ok,
        detail: detail.into(),
    });
}

/// Runs every check; an error inside one check fails that check, not the command.
pub fn run(ctx: &Context) -> StatusReport {
    let mut checks = Vec::new();
    let kmod = ctx.config.config.packages.kmod.clone();

    match packages::plan_report(ctx) {
        Ok(report) => {
            for kernel in &report.plan.kernels {
                let missing = report
                    .plan
                    .actions
                    .iter()
                    .any(|a| a.change != Change::Keep && a.to.as_deref() == Some(kernel.module.as_str()));
                check(
                    &mut checks,
                    format!("module {}", kernel.uname_r),
                    !missing,
                    if missing {
                        format!("{} not installed: run `linstor-agent install`", kernel.module)
                    } else {
                        kernel.module.clone()
                    },
                );
            }
            let pending: Vec<String> = report
                .plan
                .actions
                .iter()
                .filter(|a| a.change != Change::Keep && a.name != kmod)
                .map(|a| format!("{} ({})", a.name, a.change.label()))
                .collect();
            check(
                &mut checks,
                "packages",
                pending.is_empty(),
                if pending.is_empty() {
                    "userland installed as planned".to_string()
                } else {
                    format!("pending: {}: run `linstor-agent install`", pending.join(", "))
                },
            );
        }
        Err(e) => check(&mut checks, "packages", false, format!("{e:#}")),
    }

    if register::diskless(ctx) {
        check(
            &mut checks,
            "volume group",
            true,
            "diskless host (no [storage] devices)",
        );
    } else {
        match storage::inspect(ctx) {
            Ok(Some(r)) => check(
                &mut checks,
                "volume group",
                true,
                match &r.thin_pool {
                    Some(t) => format!("{}/{t}, {} bytes", r.volume_group, r.size_bytes),
                    None => format!("{}, {} bytes", r.volume_group, r.size_bytes),
                },
            ),
            Ok(None) => check(
                &mut checks,
                "volume group",
                false,
                "not built: run `linstor-agent storage`",
            ),
            Err(e) => check(&mut checks, "volume group", false, format!("{e:#}")),
        }
    }

    match network::run(
        ctx,
        network::Options {
            dry_run: true,
            skip_peer_check: true,
        },
    ) {
        Ok(r) if r.changes.is_empty() => check(&mut checks, "network", true, "settings applied"),
        Ok(r) => check(
            &mut checks,
            "network",
            false,
            format!(
                "{} change(s) pending: run `linstor-agent network`",
                r.changes.len()
            ),
        ),
        Err(e) => check(&mut checks, "network", false, format!("{e:#}")),
    }

    linstor_checks(ctx, &mut checks);

    let converged = checks.iter().all(|c| c.ok);
    StatusReport {
        command: "status",
        changed: false,
        converged,
        checks,
    }
}

fn linstor_checks(ctx: &Context, checks: &mut Vec<Check>) {
    let Some(controller) = ctx.config.config.controller.as_ref() else {
        check(
            checks,
            "node",
            true,
            "no [controller]: not registered with LINSTOR",
        );
        return;
    };
    let desired = match register::desired(ctx) {
        Ok(d) => d,
        Err(e) => {
            check(checks, "node", false, format!("{e:#}"));
            return;
        }
    };
    let client = match Client::new(controller) {
        Ok(c) => c,
        Err(e) => {
            check(checks, "node", false, format!("{e:#}"));
            return;
        }
    };
    match client.node(&desired.name) {
        Ok(Some(node)) => check(
            checks,
            format!("node {}", desired.name),
            node.connection_status == "ONLINE",
            format!("{} {}", node.node_type, node.connection_status),
        ),
        Ok(None) => {
            check(
                checks,
                format!("node {}", desired.name),
                false,
                "not registered: run `linstor-agent register`",
            );
            return;
        }
        Err(e) => {
            check(checks, format!("node {}", desired.name), false, e.to_string());
            return;
        }
    }
    let Some(pool) = &desired.storage_pool else {
        check(checks, "storage pool", true, "diskless node: none of its own");
        return;
    };
    match client.storage_pools(&desired.name) {
        Ok(pools) => {
            let found = pools.iter().find(|p| {
                p.storage_pool_name.eq_ignore_ascii_case(&pool.name) && p.provider_kind == pool.provider_kind
            });
            check(
                checks,
                format!("storage pool {}", pool.name),
                found.is_some(),
                match found {
                    Some(_) => format!("{} on {}", pool.provider_kind, pool.stor_pool_name),
                    None => "missing: run `linstor-agent register`".to_string(),
                },
            );
        }
        Err(e) => check(
            checks,
            format!("storage pool {}", pool.name),
            false,
            e.to_string(),
        ),
    }
}

pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    for c in &report.checks {
        out.push_str(&format!(
            "{:<4} {}: {}\n",
            if c.ok { "ok" } else { "FAIL" },
            c.check,
            c.detail
        ));
    }
    out.push_str(if report.converged {
        "converged\n"
    } else {
        "not converged\n"
    });
    out
}
