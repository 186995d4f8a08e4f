//! The host step `wait-pbd`: on an XOSTOR pool, the host's PBD of the SR plugged again before
//! the host is given back and before the next host goes down. Vates' guide says it in bold:
//! "do not reboot/upgrade the others until the host's satellite is operational and its PBD is
//! plugged" — and "if not, connect it" (docs/xostor.md §9). xapi plugs PBDs when it starts; a
//! PBD still unplugged once the node is back is plugged here (`PBD.plug`, tried again every
//! few seconds). A PBD that will not plug is a stuck state: the run pauses on it.

use super::Options;
use super::journal::HostEntry;
use super::wait::{self, Blocker, Wait};
use crate::xapi;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Between two `PBD.plug` attempts.
const PLUG_EVERY: Duration = Duration::from_secs(5);

pub fn wait_pbd(
    xapi: &mut xapi::Client,
    sr: Option<&str>,
    entry: &HostEntry,
    opts: &Options,
) -> Result<Option<String>> {
    let Some(sr) = sr else {
        return Ok(Some("no XOSTOR SR in the pool".into()));
    };
    let wait = Wait {
        step: "wait-pbd".into(),
        host: Some(entry.name.clone()),
        waits_for: format!("{}'s PBD of the XOSTOR SR plugged", entry.name),
        deadline: opts.host_timeout,
        stuck_after: opts.stuck_after,
        poll: opts.poll,
        deadline_hint: format!(
            "Check `xe pbd-list host-name-label={}` and `xe pbd-plug uuid=…` (the SR's driver logs \
             in /var/log/SMlog on that host).",
            entry.name
        ),
        show: !opts.quiet,
    };
    let mut last_plug: Option<Instant> = None;
    let mut plugged_by_us = false;
    let mut last_failure: Option<String> = None;
    wait::until(&wait, || {
        let pbd = xapi
            .pbds()?
            .into_iter()
            .find(|p| p.sr == sr && p.host == entry.reference);
        let Some(pbd) = pbd else {
            return Ok(vec![Blocker::Stuck {
                state: format!("{} has no PBD for the XOSTOR SR", entry.name),
                hint: format!(
                    "Run `linstor-agent provision` on {} (it joins the SR).",
                    entry.name
                ),
            }]);
        };
        if pbd.currently_attached {
            return Ok(Vec::new());
        }
        // Between attempts the last answer stands: a failed plug stays the same stuck state
        // (so its clock keeps running), a plug that went through is still settling.
        if last_plug.is_some_and(|t| t.elapsed() < PLUG_EVERY) {
            return Ok(vec![match &last_failure {
                Some(error) => plug_fails(&entry.name, error),
                None => Blocker::Pending(format!("{}'s PBD is plugging", entry.name)),
            }]);
        }
        last_plug = Some(Instant::now());
        match xapi.pbd_plug(&pbd.reference) {
            Ok(()) => {
                plugged_by_us = true;
                last_failure = None;
                Ok(vec![Blocker::Pending(format!(
                    "{}'s PBD plugged, checking",
                    entry.name
                ))])
            }
            Err(e) => {
                let error = format!("{e:#}");
                let blocker = plug_fails(&entry.name, &error);
                last_failure = Some(error);
                Ok(vec![blocker])
            }
        }
    })?;
    Ok(Some(if plugged_by_us {
        "PBD plugged by the agent (xapi had not)".into()
    } else {
        "PBD plugged".into()
    }))
}

fn plug_fails(host: &str, error: &str) -> Blocker {
    Blocker::Stuck {
        state: format!("{host}'s PBD is not plugged and PBD.plug fails ({error})"),
        hint: format!(
            "Find why the SR does not attach on {host} (/var/log/SMlog there; `linstor node list`), \
             plug it (`xe pbd-plug`)."
        ),
    }
}
