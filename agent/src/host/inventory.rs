//! `/etc/xensource-inventory`: where a dom0 says who it is: `PRODUCT_BRAND`,
//! `PRODUCT_VERSION`, `INSTALLATION_UUID`, `MANAGEMENT_INTERFACE`, … as sh assignments.

use crate::host::{Sysroot, rootfs, shell_vars};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

pub const PATH: &str = "/etc/xensource-inventory";

/// The inventory's variables, or `None` when the host is not a XenServer/XCP-ng dom0.
pub fn load(sysroot: &Sysroot) -> Result<Option<BTreeMap<String, String>>> {
    let text = rootfs::read_optional(sysroot, Path::new(PATH))
        .with_context(|| format!("cannot read {}", sysroot.path(PATH).display()))?;
    Ok(text.as_deref().map(shell_vars::parse))
}
