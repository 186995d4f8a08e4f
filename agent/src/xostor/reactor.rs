//! drbd-reactor's promoter for the controller, as the driver configures it (docs/xostor.md
//! §3.1): `/etc/drbd-reactor.d/sm-linstor.toml` starts `var-lib-linstor.service` (the database
//! mount) and `linstor-controller.service` on the host that promotes `xcp-persistent-database`;
//! drbd-reactor itself enabled and running on every host of the SR.

use crate::exec;
use crate::host::{FileMode, Sysroot, rootfs};
use crate::report::ReportCore;
use anyhow::Result;
use std::path::Path;
use std::process::Command;

pub const CONFIG: &str = "/etc/drbd-reactor.d/sm-linstor.toml";
pub const UNIT: &str = "drbd-reactor.service";

/// The file's exact content (`DRBD_REACTOR_CONF_CONTENT` of `linstor-manager`).
pub const CONTENT: &str = "[[promoter]]\n\n[promoter.resources.xcp-persistent-database]\nstart = [ \"var-lib-linstor.service\", \"linstor-controller.service\" ]\n";

/// Whether the promoter configuration is in place, as the driver writes it.
pub fn configured(sysroot: &Sysroot) -> bool {
    rootfs::read_optional(sysroot, Path::new(CONFIG)).is_ok_and(|t| t.as_deref() == Some(CONTENT))
}

/// Writes the promoter configuration (0600, as the driver's write leaves it), then enables
/// drbd-reactor: live, `systemctl daemon-reload` and `enable --now` (a running drbd-reactor is
/// reloaded so it reads the file); under `--root`, the enabling is reported as skipped.
pub fn configure(sysroot: &Sysroot, core: &mut ReportCore) -> Result<()> {
    sysroot.write_file(CONFIG, CONTENT.as_bytes(), FileMode::Set(0o600))?;
    if !sysroot.is_live() {
        core.skip(format!("systemctl enable --now {UNIT} (live only)"));
        return Ok(());
    }
    exec::run(Command::new("systemctl").arg("daemon-reload"))?;
    exec::run(Command::new("systemctl").args(["enable", "--now", UNIT]))?;
    exec::run(Command::new("systemctl").args(["reload-or-restart", UNIT]))?;
    Ok(())
}
