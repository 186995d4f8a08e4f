//! drbd-reactor's promoter config for the controller's database, as linstor-manager writes it
//! (docs/xostor.md §1.2 `update_drbd_reactor_service`, §3.1): the world keeps whether each
//! host has it and runs drbd-reactor (`Host::reactor_config`, `Host::reactor_enabled`), and
//! the file itself is written into (or removed from) the host's sysroot, so an agent reading
//! `/etc/drbd-reactor.d/sm-linstor.toml` finds what a real host has.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::model::Host;

/// Where the promoter's config lives, relative to a host's root.
pub const CONFIG_PATH: &str = "etc/drbd-reactor.d/sm-linstor.toml";

/// `DRBD_REACTOR_CONF_CONTENT` of linstor-manager, exactly (§3.1).
pub const CONFIG: &str = "[[promoter]]\n\n[promoter.resources.xcp-persistent-database]\nstart = [ \"var-lib-linstor.service\", \"linstor-controller.service\" ]\n";

/// `update_drbd_reactor_service(start)` on the host's state: with `start`, the toml in place
/// and drbd-reactor enabled; without, the toml removed and drbd-reactor stopped and disabled.
pub fn set(host: &mut Host, start: bool) {
    host.reactor_config = start;
    host.reactor_enabled = start;
}

/// Writes the toml into the sysroot (mode 0600, as the driver's mkstemp-and-rename leaves
/// it) or removes it, to match `present`.
pub fn sync_file(root: &Path, present: bool) -> Result<()> {
    let path = root.join(CONFIG_PATH);
    if present {
        crate::fsutil::write(&path, CONFIG)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", path.display()))
    } else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// [`sync_file`] for a host as the state has it; a failure is logged (the driver only logs a
/// failed write too, §1.2).
pub fn sync_host(host: &Host) {
    if let Err(e) = sync_file(&host.root, host.reactor_config) {
        tracing::warn!(host = %host.name, "drbd-reactor config: {e:#}");
    }
}
