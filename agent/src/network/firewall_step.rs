//! The firewall part of the network step: the LINSTOR and DRBD ports open, the way XCP-ng and
//! Vates' driver open them where that is possible, else in the rules file.
//!
//! - **Through xapi's `firewall-port` plugin** — on a live host that has it, with no source
//!   restriction: what `linstor-manager` does (docs/xostor.md §2): `firewall-port open <port>
//!   tcp` for each LINSTOR port not already open to all, and DRBD's range as one rule at the
//!   top of `INPUT` (`iptables -I INPUT 1 -p tcp --dport 7000:8000 -j ACCEPT`), then the rules
//!   saved (`iptables-save` into `/etc/sysconfig/iptables`, what `service iptables save` does).
//! - **In `/etc/sysconfig/iptables`** — under `--root` (nothing runs), with
//!   `[network] firewall_sources` (the plugin opens to everyone), or without the plugin: the
//!   rules inserted before the chain's REJECT, then (live) loaded with `iptables-restore` unless
//!   the running rules already hold them.

use super::{Change, NetworkReport, firewall, read_optional, write_file};
use crate::context::Context;
use crate::exec;
use anyhow::{Context as _, Result};
use std::process::Command;

pub fn firewall_step(
    ctx: &Context,
    sources: &[String],
    apply: bool,
    report: &mut NetworkReport,
) -> Result<()> {
    let tls = ctx.settings.controller.as_ref().is_some_and(|c| c.uses_tls());
    let plugin = ctx.sysroot.path(firewall::PLUGIN);
    if ctx.sysroot.is_live() && sources.is_empty() && plugin.is_file() {
        return through_plugin(ctx, &plugin, tls, apply, report);
    }
    through_file(ctx, sources, tls, apply, report)
}

fn through_plugin(
    ctx: &Context,
    plugin: &std::path::Path,
    tls: bool,
    apply: bool,
    report: &mut NetworkReport,
) -> Result<()> {
    let save = exec::stdout(Command::new("iptables-save").args(["-t", "filter"]))?;
    for port in firewall::linstor_ports(tls) {
        if firewall::open_to_all(&save, &port) {
            continue;
        }
        report.changes.push(Change {
            what: "firewall port".into(),
            target: format!("tcp {port}"),
            from: "closed".into(),
            to: format!("{} open {port} tcp", firewall::PLUGIN),
        });
        if apply {
            exec::run(Command::new(plugin).args(["open", &port, "tcp"]))
                .with_context(|| format!("opening TCP port {port} with {}", firewall::PLUGIN))?;
        }
    }
    let drbd = [
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        firewall::DRBD_RANGE,
        "-j",
        "ACCEPT",
    ];
    let present = exec::run_unchecked(Command::new("iptables").arg("-C").args(drbd))?
        .status
        .success();
    if !present {
        report.changes.push(Change {
            what: "firewall port".into(),
            target: format!("tcp {}", firewall::DRBD_RANGE),
            from: "closed".into(),
            to: format!(
                "iptables -I INPUT 1 -p tcp --dport {} -j ACCEPT",
                firewall::DRBD_RANGE
            ),
        });
        if apply {
            exec::run(
                Command::new("iptables")
                    .args(["-I", "INPUT", "1"])
                    .args(&drbd[1..]),
            )?;
            save_rules(ctx)?;
        }
    }
    Ok(())
}

/// What `service iptables save` does: the running rules into `/etc/sysconfig/iptables`.
fn save_rules(ctx: &Context) -> Result<()> {
    let text = exec::stdout(&mut Command::new("iptables-save"))?;
    write_file(&ctx.sysroot, firewall::PATH, &text)
}

fn through_file(
    ctx: &Context,
    sources: &[String],
    tls: bool,
    apply: bool,
    report: &mut NetworkReport,
) -> Result<()> {
    let sysroot = &ctx.sysroot;
    let path = sysroot.path(firewall::PATH);
    let Some(text) = read_optional(sysroot, firewall::PATH)? else {
        report.core.note(format!(
            "no {} (where XCP-ng keeps its rules): firewall left alone; open TCP {} and {} yourself",
            firewall::PATH,
            firewall::linstor_ports(tls).join(", "),
            firewall::DRBD_RANGE
        ));
        return Ok(());
    };
    if sources.is_empty() {
        report
            .core
            .note("the LINSTOR and DRBD ports are open to every source, as Vates' driver opens them ([network] firewall_sources restricts them)");
    }
    let rules = firewall::wanted_rules(sources, &firewall::ports(tls));
    let (new_text, added) = firewall::insert(&text, &rules).with_context(|| path.display().to_string())?;
    for rule in &added {
        report.changes.push(Change {
            what: "firewall rule".into(),
            target: firewall::PATH.into(),
            from: "absent".into(),
            to: rule.clone(),
        });
    }
    if apply && !added.is_empty() {
        write_file(sysroot, firewall::PATH, &new_text)?;
    }
    if !sysroot.is_live() {
        report
            .core
            .skip("iptables-restore (live-only, skipped under --root)");
        return Ok(());
    }
    let save = exec::stdout(Command::new("iptables-save").args(["-t", "filter"]))?;
    if !firewall::all_live(&save, &rules) {
        report.changes.push(Change {
            what: "firewall live".into(),
            target: "iptables".into(),
            from: "rules missing".into(),
            to: format!("iptables-restore {}", firewall::PATH),
        });
        if apply {
            exec::run_with_stdin_file(&mut Command::new("iptables-restore"), &path)?;
        }
    }
    Ok(())
}
