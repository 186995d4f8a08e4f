//! The xostor step: this host in the pool's XOSTOR SR (drbd-reactor, its PBD plugged), as
//! Vates' `addHost` leaves a host; nothing on a pool without an XOSTOR SR.

use super::{Check, HostStep, RunOptions, StepName, StepReport, json};
use crate::context::Context;
use crate::report::ReportCore;
use crate::xapi::{self, Client};
use crate::xostor::{join, reactor, sr};
use anyhow::Result;

pub struct Xostor;

impl StepReport for join::JoinReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        !self.actions.is_empty()
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

impl HostStep for Xostor {
    fn name(&self) -> StepName {
        StepName::Xostor
    }

    fn not_applicable(&self, ctx: &Context) -> Option<String> {
        (!ctx.settings.xapi().is_ok_and(|x| x.is_some()))
            .then(|| "no [xapi] in the config: the pool's XOSTOR SR is not looked for".to_string())
    }

    fn plan(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(join::run(ctx, true)?))
    }

    fn apply(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(join::run(ctx, false)?))
    }

    /// In an XOSTOR pool: drbd-reactor's promoter configured, this host's PBD plugged.
    fn checks(&self, ctx: &Context) -> Vec<Check> {
        let Ok(Some(settings)) = ctx.settings.xapi() else {
            return Vec::new();
        };
        let found = xapi::Settings::from_settings(settings)
            .and_then(Client::new)
            .and_then(|mut c| Ok((sr::find(&mut c)?, c.this_host(&ctx.sysroot)?)));
        let (xostor, host) = match found {
            Ok((Some(x), host)) => (x, host),
            Ok((None, _)) => return vec![Check::new("xostor", true, "no XOSTOR SR in the pool yet")],
            Err(e) => return vec![Check::new("xostor", false, format!("{e:#}"))],
        };
        let configured = reactor::configured(&ctx.sysroot);
        let reactor_detail = if configured {
            format!("{} in place", reactor::CONFIG)
        } else {
            format!("no {}: run `linstor-agent provision`", reactor::CONFIG)
        };
        let plugged = xostor
            .pbd_of(&host.reference)
            .is_some_and(|p| p.currently_attached);
        let pbd_detail = match xostor.pbd_of(&host.reference) {
            Some(p) if p.currently_attached => format!("SR {} plugged", xostor.sr.uuid),
            Some(_) => format!("SR {} not plugged: `xe pbd-plug`", xostor.sr.uuid),
            None => format!("no PBD for SR {}: run `linstor-agent provision`", xostor.sr.uuid),
        };
        vec![
            Check::new("drbd-reactor", configured, reactor_detail),
            Check::new("PBD", plugged, pbd_detail),
        ]
    }
}
