//! A host joining the pool's XOSTOR SR, left the way Vates' `linstor-manager addHost` leaves it
//! (docs/xostor.md §1.5, §10): drbd-reactor's promoter configured and running, the host's PBD
//! created (with the other PBDs' device-config) and plugged. The node and its storage pool are
//! the register step's (it runs before, with the controller found the driver's way, so that
//! `addHost` finds a registered node and the controller through the satellite's connection, as
//! the driver's shipped version needs).
//!
//! Where the host has the `linstor-manager` plugin, `addHost` does it (it also opens the ports
//! and restarts the satellite); elsewhere the agent does the same steps itself. Nothing is done
//! when the host is already a member: a second run changes nothing.

use super::{manager, reactor, sr};
use crate::context::Context;
use crate::report::ReportCore;
use crate::xapi::{self, Client};
use anyhow::{Result, anyhow};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct JoinReport {
    #[serde(flatten)]
    pub core: ReportCore,
    /// The SR joined (None: the pool has no XOSTOR SR yet).
    pub sr: Option<String>,
    pub group_name: Option<String>,
    /// What was done (or, with `--dry-run`, would be).
    pub actions: Vec<String>,
    /// This host's PBD plugged when the step ended.
    pub pbd_plugged: bool,
}

/// What the host lacks to be a member.
#[derive(Debug, Default)]
struct Missing {
    reactor: bool,
    pbd: bool,
    unplugged: bool,
}

impl Missing {
    fn anything(&self) -> bool {
        self.reactor || self.pbd || self.unplugged
    }
}

pub fn run(ctx: &Context, dry_run: bool) -> Result<JoinReport> {
    let mut report = JoinReport {
        core: ReportCore::new("xostor", dry_run),
        sr: None,
        group_name: None,
        actions: Vec::new(),
        pbd_plugged: false,
    };
    let Some(settings) = ctx.settings.xapi()? else {
        report
            .core
            .skip("xostor: no [xapi]: the pool's SR cannot be seen from here");
        return Ok(report);
    };
    let mut xapi = Client::new(xapi::Settings::from_settings(settings)?)?;
    let Some(xostor) = sr::find(&mut xapi)? else {
        report.core.note(
            "no XOSTOR SR in the pool yet: nothing to join (`linstor-agent pool create-sr` creates it)",
        );
        return Ok(report);
    };
    report.sr = Some(xostor.sr.uuid.clone());
    report.group_name = Some(xostor.group_name.clone());
    let host = xapi.this_host(&ctx.sysroot)?;
    let pbd = xostor.pbd_of(&host.reference);
    let missing = Missing {
        reactor: !reactor::configured(&ctx.sysroot),
        pbd: pbd.is_none(),
        unplugged: pbd.is_some_and(|p| !p.currently_attached),
    };
    report.pbd_plugged = !missing.pbd && !missing.unplugged;
    if !missing.anything() {
        return Ok(report);
    }
    plan(&missing, &xostor, &mut report);
    if dry_run {
        return Ok(report);
    }
    report.actions.clear();
    join(ctx, &mut xapi, &host, &xostor, &missing, &mut report)?;
    report.core.changed = true;
    let now = sr::find(&mut xapi)?.ok_or_else(|| anyhow!("the XOSTOR SR went away"))?;
    report.pbd_plugged = now.pbd_of(&host.reference).is_some_and(|p| p.currently_attached);
    if !report.pbd_plugged {
        return Err(anyhow!(
            "{}: joined the XOSTOR SR {}, but its PBD is not plugged: check `xe pbd-list \
             host-name-label={}` and `linstor node list`, then `xe pbd-plug`",
            host.name,
            now.sr.uuid,
            host.name
        ));
    }
    Ok(report)
}

fn plan(missing: &Missing, xostor: &sr::XostorSr, report: &mut JoinReport) {
    if missing.reactor || missing.pbd {
        report.actions.push(format!(
            "join the SR {} as linstor-manager addHost groupName={} does (drbd-reactor, PBD)",
            xostor.sr.uuid, xostor.group_name
        ));
    } else {
        report.actions.push("plug this host's PBD".into());
    }
}

/// `addHost` where the plugin is there, the same steps otherwise; a PBD that only needs
/// plugging is plugged.
fn join(
    ctx: &Context,
    xapi: &mut Client,
    host: &xapi::HostRef,
    xostor: &sr::XostorSr,
    missing: &Missing,
    report: &mut JoinReport,
) -> Result<()> {
    if missing.reactor || missing.pbd {
        if manager::add_host(xapi, &host.reference, &host.name, &xostor.group_name)?.is_some() {
            report
                .actions
                .push(format!("linstor-manager addHost groupName={}", xostor.group_name));
            return Ok(());
        }
        report
            .core
            .note("this host has no linstor-manager plugin: the agent did what addHost does");
        if missing.reactor {
            reactor::configure(&ctx.sysroot, &mut report.core)?;
            report
                .actions
                .push(format!("{} written, drbd-reactor enabled", reactor::CONFIG));
        }
        if missing.pbd {
            let pbd = xapi.pbd_create(&host.reference, &xostor.sr.reference, &xostor.device_config())?;
            report
                .actions
                .push(format!("PBD created for SR {}", xostor.sr.uuid));
            xapi.pbd_plug(&pbd)?;
            report.actions.push("PBD plugged".into());
            return Ok(());
        }
    }
    let pbd = xostor
        .pbd_of(&host.reference)
        .ok_or_else(|| anyhow!("{}: no PBD for the SR {}", host.name, xostor.sr.uuid))?;
    xapi.pbd_plug(&pbd.reference)?;
    report.actions.push("PBD plugged".into());
    Ok(())
}

impl crate::output::Render for JoinReport {
    fn human(&self) -> String {
        let mut out = String::new();
        match &self.sr {
            Some(sr) => out.push_str(&format!(
                "XOSTOR SR {sr} ({}): PBD {}\n",
                self.group_name.as_deref().unwrap_or_default(),
                if self.pbd_plugged {
                    "plugged"
                } else {
                    "not plugged"
                }
            )),
            None => out.push_str("no XOSTOR SR\n"),
        }
        let verb = if self.core.dry_run { "would" } else { "did" };
        for a in &self.actions {
            out.push_str(&format!("  {verb}: {a}\n"));
        }
        for n in &self.core.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}
