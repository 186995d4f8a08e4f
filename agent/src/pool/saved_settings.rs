//! A copy of the pool settings the upgrade turns off, beside the journal
//! (`pool-upgrade.settings.json`), written the moment they are first saved.
//!
//! The journal is the only other place that knows what auto-eviction and HA were before the run.
//! When it is damaged, its message says to move it away; this copy is what keeps that advice
//! from losing the settings: the message prints them and how to put them back by hand. The copy
//! is removed once the run has restored them.

use super::journal::{JournalFile, SavedSettings};
use crate::host::{FileMode, rootfs};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The setting the upgrade turns off on the LINSTOR controller.
pub const AUTO_EVICT: &str = "DrbdOptions/AutoEvictAllowEviction";

#[derive(Debug, Serialize, Deserialize)]
struct SideFile {
    /// The run's start (seconds since the epoch), as in its journal.
    run_started: f64,
    settings: SavedSettings,
}

impl JournalFile {
    fn settings_host_path(&self) -> std::path::PathBuf {
        self.beside("settings.json")
    }

    /// Where the copy is, for messages.
    pub fn settings_path(&self) -> std::path::PathBuf {
        self.sysroot.path(self.settings_host_path())
    }

    /// Writes the copy (before the journal records the same settings, so that whichever of the
    /// two survives has them).
    pub fn save_settings(&self, settings: &SavedSettings, run_started: f64) -> Result<()> {
        let side = SideFile {
            run_started,
            settings: settings.clone(),
        };
        let mut text = serde_json::to_string_pretty(&side)?;
        text.push('\n');
        self.sysroot
            .write_file(self.settings_host_path(), text.as_bytes(), FileMode::Set(0o600))?;
        Ok(())
    }

    /// The settings are back as they were: the copy has nothing left to keep.
    pub fn clear_settings(&self) {
        let _ = self.sysroot.remove_file(self.settings_host_path());
    }

    /// For the damaged-journal message: what the copy holds and how to restore it by hand, or
    /// nothing when there is no copy (no run got as far as changing a setting).
    pub(super) fn saved_settings_advice(&self) -> String {
        let shown = self.settings_path();
        let text = match rootfs::read_optional(&self.sysroot, &self.settings_host_path()) {
            Ok(Some(text)) => text,
            Ok(None) => return String::new(),
            Err(e) => {
                return format!(
                    ". The pool settings the run changed may be in {}, which cannot be read ({e})",
                    shown.display()
                );
            }
        };
        match serde_json::from_str::<SideFile>(&text) {
            Ok(side) => format!(
                ". Keep {} (the pool settings the run changed, saved when it changed them): {}",
                shown.display(),
                describe(&side.settings)
            ),
            Err(e) => format!(
                ". {} should hold the pool settings the run changed, but it does not parse ({e}): \
                 its text is:\n{text}",
                shown.display()
            ),
        }
    }
}

/// The settings as they were before the run, and the commands that put them back.
pub fn describe(settings: &SavedSettings) -> String {
    let mut parts = Vec::new();
    if settings.auto_evict_saved {
        parts.push(match &settings.auto_evict_allow {
            Some(value) => format!(
                "before the run, the LINSTOR controller's {AUTO_EVICT} was {value:?} (the run set it \
                 to \"false\"): `linstor controller set-property {AUTO_EVICT} {value}` puts it back"
            ),
            None => format!(
                "before the run, the LINSTOR controller's {AUTO_EVICT} was unset (the run set it to \
                 \"false\"): `linstor controller set-property {AUTO_EVICT}` (no value) unsets it again"
            ),
        });
    }
    if settings.ha_was_enabled {
        parts.push(format!(
            "XAPI HA was enabled, with heartbeat SRs {} (the run disabled it): `xe pool-ha-enable \
             heartbeat-sr-uuids=<their UUIDs>` enables it again",
            if settings.ha_heartbeat_srs.is_empty() {
                "unknown".to_string()
            } else {
                settings.ha_heartbeat_srs.join(", ")
            }
        ));
    } else if settings.auto_evict_saved {
        parts.push("XAPI HA was off (nothing to restore there)".into());
    }
    if parts.is_empty() {
        return "the run had not changed any setting yet".into();
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Sysroot;

    #[test]
    fn a_damaged_journal_message_carries_the_saved_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = JournalFile::new(
            &Sysroot::new(dir.path()),
            "/var/lib/linstor-agent/pool-upgrade.json",
        );
        let settings = SavedSettings {
            auto_evict_allow: Some("true".into()),
            auto_evict_saved: true,
            ha_was_enabled: true,
            ha_heartbeat_srs: vec!["OpaqueRef:sr1".into()],
        };
        file.save_settings(&settings, 1.0).unwrap();
        assert!(
            dir.path()
                .join("var/lib/linstor-agent/pool-upgrade.settings.json")
                .is_file()
        );
        std::fs::write(&file.path, "{damaged").unwrap();
        let err = format!("{:#}", file.load().unwrap_err());
        assert!(err.contains("move it away"), "{err}");
        assert!(err.contains("pool-upgrade.settings.json"), "{err}");
        assert!(err.contains(&format!("set-property {AUTO_EVICT} true")), "{err}");
        assert!(err.contains("OpaqueRef:sr1"), "{err}");

        file.clear_settings();
        let err = format!("{:#}", file.load().unwrap_err());
        assert!(!err.contains("settings.json"), "no copy, nothing said: {err}");
    }

    #[test]
    fn an_unset_setting_is_said_unset() {
        let text = describe(&SavedSettings {
            auto_evict_allow: None,
            auto_evict_saved: true,
            ..SavedSettings::default()
        });
        assert!(
            text.contains("was unset") && text.contains("HA was off"),
            "{text}"
        );
    }
}
