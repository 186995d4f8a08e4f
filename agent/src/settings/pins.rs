//! The pin fragment `install --save-pins` writes into `agent.d/`: the versions a pool upgrade
//! installed, kept for later `provision` and `install` runs.

use crate::host::{FileMode, Sysroot, confined, rootfs};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The fragment `install --save-pins` writes into `agent.d/`. It sorts after the operator's own
/// fragments (`10-…`, `50-…`), so the versions a pool upgrade installed win over older pins.
pub const POOL_UPGRADE_FRAGMENT: &str = "90-pool-upgrade.toml";

/// What [`write_pin_fragment`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPins {
    /// The fragment's path.
    pub path: String,
    /// The pins it holds now.
    pub pins: BTreeMap<String, String>,
    /// False when the file already said exactly this.
    pub changed: bool,
}

/// Writes `pins` as a `[packages.pin]` fragment at `path`, atomically (a temporary file in the
/// same directory, flushed, then renamed over the old one), with a header that says who wrote
/// it, why, and how to undo it. The text is checked against the config schema before it
/// replaces anything. Writing the same pins again leaves the file alone. A `path` under the
/// root is written inside it (`host::confined`), like every file the agent writes there.
pub fn write_pin_fragment(
    sysroot: &Sysroot,
    path: &Path,
    pins: &BTreeMap<String, String>,
    why: &str,
) -> Result<SavedPins> {
    let why = why.replace(['\n', '\r'], " ");
    let mut text = format!(
        "# Written by `linstor-agent install --save-pins` ({why}).\n\
         # These are the package versions that install put on this host: later `provision` and\n\
         # `install` runs keep them. Fragments that sort after this file and `--pin` still win.\n\
         # Delete this file to go back to the pins of agent.toml and the other fragments\n\
         # (unpinned packages get the newest version that fits).\n\
         [packages.pin]\n"
    );
    for (name, version) in pins {
        text.push_str(&format!(
            "{} = {}\n",
            toml::Value::String(name.clone()),
            toml::Value::String(version.clone())
        ));
    }
    toml::from_str::<super::input::Config>(&text)
        .map_err(|e| anyhow::anyhow!("the pin fragment for {} would not parse: {e}", path.display()))?;

    let saved = |changed| SavedPins {
        path: path.display().to_string(),
        pins: pins.clone(),
        changed,
    };
    let (root, host_path) = confined::locate(sysroot, path);
    if rootfs::read_optional(&root, &host_path).is_ok_and(|old| old.as_deref() == Some(text.as_str())) {
        return Ok(saved(false));
    }
    let write = || -> Result<()> {
        let dir = root.dir(host_path.parent().unwrap_or(Path::new("/")))?;
        let name = host_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(POOL_UPGRADE_FRAGMENT);
        dir.write(name, text.as_bytes(), FileMode::Set(0o644))?;
        // The rename is durable once the directory is.
        dir.sync()?;
        Ok(())
    };
    write().map_err(|e| {
        anyhow::anyhow!(
            "cannot write the pin fragment {}: {e:#}; check that the directory is writable, or run \
             install without --save-pins",
            path.display()
        )
    })?;
    Ok(saved(true))
}
