//! The toolstack restart after an install that changed the SM driver configuration: xapi reads
//! `/etc/xapi.conf.d/*.conf` when it starts, so the `linstor` SM driver that
//! `xcp-ng-linstor` enables (`profile::SM_DRIVER_CONF`) exists for xapi only after a restart.
//! Xen Orchestra restarts the toolstack after installing the XOSTOR packages (docs/xostor.md
//! §8.1); the XCP-ng documentation says `xe-toolstack-restart` (§9). The agent restarts it only
//! when that file changed, and says so; under `--root` it reports the restart as skipped.

use super::profile::SM_DRIVER_CONF;
use crate::exec;
use crate::host::Sysroot;
use crate::report::ReportCore;
use anyhow::{Context as _, Result};
use std::process::Command;

/// The command that restarts xapi and its companions on a dom0.
pub const RESTART: &str = "xe-toolstack-restart";

/// The SM driver configuration as it is now (None: absent).
pub fn snapshot(sysroot: &Sysroot) -> Option<Vec<u8>> {
    std::fs::read(sysroot.path(SM_DRIVER_CONF)).ok()
}

/// After a transaction: restarts the toolstack when the SM driver configuration changed.
/// Returns what was done, for the report (None: nothing needed).
pub fn restart_if_needed(
    sysroot: &Sysroot,
    before: Option<&[u8]>,
    core: &mut ReportCore,
) -> Result<Option<String>> {
    let after = snapshot(sysroot);
    if after.as_deref() == before {
        return Ok(None);
    }
    let why = format!("{SM_DRIVER_CONF} changed: xapi loads the linstor SM driver when it restarts");
    if !sysroot.is_live() {
        core.skip(format!("{RESTART} (live only; {why})"));
        return Ok(Some("skipped".to_string()));
    }
    exec::run(&mut Command::new(RESTART)).with_context(|| format!("{RESTART} ({why})"))?;
    core.note(format!("toolstack restarted ({why})"));
    Ok(Some("restarted".to_string()))
}
