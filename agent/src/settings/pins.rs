//! The pin fragment `install --save-pins` writes into `agent.d/`: the versions a pool upgrade
//! installed, kept for later `provision` and `install` runs.

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
/// replaces anything. Writing the same pins again leaves the file alone.
pub fn write_pin_fragment(path: &Path, pins: &BTreeMap<String, String>, why: &str) -> Result<SavedPins> {
    use std::io::Write as _;
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
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(saved(false));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the config directory {}: {e}", dir.display()))?;
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(".90-pool-upgrade.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        file.persist(path).map_err(|e| e.error)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        anyhow::anyhow!(
            "cannot write the pin fragment {}: {e}; check that the directory is writable, or run \
             install without --save-pins",
            path.display()
        )
    })?;
    Ok(saved(true))
}
