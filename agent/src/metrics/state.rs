//! `<root>/var/lib/linstor-agent/metrics.json`: what the metrics last knew, beside `state.json`.
//! Each run updates what it saw (its own outcome, the versions its plan compared, the steps it
//! checked or applied) and keeps the rest, so a run that does not read the repository
//! (`storage`, `network`, …) still shows the versions the last plan saw. A file of its own
//! rather than the previous textfile read back: typed, and there when no textfile is set.

use crate::host::{FileMode, Sysroot, rootfs};
use crate::observed::{Observations, Versions};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const STATE_FILE: &str = "/var/lib/linstor-agent/metrics.json";

/// The last run of one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When it ended, in seconds since the epoch.
    pub finished: f64,
    pub duration_seconds: f64,
    pub exit_code: i32,
}

/// A host step as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub converged: bool,
    /// Check → whether it held (`status`); empty when a run of the step set `converged`.
    #[serde(default)]
    pub checks: BTreeMap<String, bool>,
}

/// Installed and newest versions of a package (`[epoch:]version-release`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub package: String,
    pub installed: Option<String>,
    pub newest: String,
}

impl VersionRecord {
    pub fn is_current(&self) -> bool {
        self.installed.as_deref() == Some(self.newest.as_str())
    }
}

impl From<Versions> for VersionRecord {
    fn from(v: Versions) -> VersionRecord {
        VersionRecord {
            package: v.package,
            installed: v.installed,
            newest: v.newest,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsState {
    /// Command (`install`, `pool upgrade`, …) → its last run.
    #[serde(default)]
    pub runs: BTreeMap<String, RunRecord>,
    #[serde(default)]
    pub steps: BTreeMap<String, StepRecord>,
    /// Kernel → its DRBD module's versions.
    #[serde(default)]
    pub modules: BTreeMap<String, VersionRecord>,
    /// Package → its versions.
    #[serde(default)]
    pub packages: BTreeMap<String, VersionRecord>,
    /// When a plan last compared the versions.
    #[serde(default)]
    pub versions_at: Option<f64>,
}

impl MetricsState {
    /// What one run saw, over what was known. A plan that covered every kernel (or every
    /// package) replaces that map: what it did not list is no longer served (or managed).
    pub fn observe(&mut self, seen: Observations, now: f64) {
        if let Some(plan) = seen.plan {
            if plan.all_kernels {
                self.modules.clear();
            }
            if plan.all_packages {
                self.packages.clear();
            }
            self.modules
                .extend(plan.modules.into_iter().map(|(k, v)| (k, v.into())));
            self.packages
                .extend(plan.packages.into_iter().map(|(k, v)| (k, v.into())));
            self.versions_at = Some(now);
        }
        for (step, seen) in seen.steps {
            match seen {
                Some(seen) => {
                    let record = StepRecord {
                        converged: seen.converged,
                        checks: seen.checks,
                    };
                    self.steps.insert(step, record);
                }
                None => {
                    self.steps.remove(&step);
                }
            }
        }
    }

    pub fn record_run(&mut self, command: &str, run: RunRecord) {
        self.runs.insert(command.to_owned(), run);
    }
}

/// The state, or an empty one when the file is missing or unreadable (the metrics start
/// again; nothing depends on them).
pub fn load(sysroot: &Sysroot) -> MetricsState {
    match rootfs::read_optional(sysroot, Path::new(STATE_FILE)) {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(
                "{} is not readable ({e}): the metrics start again",
                sysroot.path(STATE_FILE).display()
            );
            MetricsState::default()
        }),
        Ok(None) => MetricsState::default(),
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", sysroot.path(STATE_FILE).display());
            MetricsState::default()
        }
    }
}

/// Replaces the file atomically inside the root.
pub fn save(sysroot: &Sysroot, state: &MetricsState) -> Result<()> {
    let mut text = serde_json::to_string_pretty(state)?;
    text.push('\n');
    sysroot.write_file(STATE_FILE, text.as_bytes(), FileMode::Set(0o644))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{PlanVersions, StepSeen};

    fn versions(package: &str, installed: Option<&str>, newest: &str) -> Versions {
        Versions {
            package: package.into(),
            installed: installed.map(String::from),
            newest: newest.into(),
        }
    }

    #[test]
    fn a_whole_plan_replaces_and_a_scoped_one_adds() {
        let mut state = MetricsState::default();
        let mut whole = PlanVersions {
            all_kernels: true,
            all_packages: true,
            ..PlanVersions::default()
        };
        whole
            .modules
            .insert("old".into(), versions("kmod-drbd", Some("9.2.11-1"), "9.2.11-1"));
        whole
            .packages
            .insert("drbd-utils".into(), versions("drbd-utils", None, "9.29.0-1"));
        state.observe(
            Observations {
                plan: Some(whole.clone()),
                ..Observations::default()
            },
            10.0,
        );
        whole.modules.clear();
        whole
            .modules
            .insert("new".into(), versions("kmod-drbd", None, "9.2.12-1"));
        state.observe(
            Observations {
                plan: Some(whole),
                ..Observations::default()
            },
            20.0,
        );
        assert_eq!(state.modules.keys().collect::<Vec<_>>(), ["new"]);
        assert_eq!(state.versions_at, Some(20.0));

        let mut scoped = PlanVersions::default();
        scoped.packages.insert(
            "linstor-satellite".into(),
            versions("linstor-satellite", Some("1.29.2-1"), "1.29.2-1"),
        );
        state.observe(
            Observations {
                plan: Some(scoped),
                ..Observations::default()
            },
            30.0,
        );
        assert_eq!(
            state.packages.keys().collect::<Vec<_>>(),
            ["drbd-utils", "linstor-satellite"]
        );
        assert!(state.packages["linstor-satellite"].is_current());
        assert!(!state.packages["drbd-utils"].is_current());
        assert_eq!(state.modules.len(), 1, "a plan without kernels keeps them");
    }

    #[test]
    fn steps_are_replaced_or_dropped() {
        let mut state = MetricsState::default();
        let mut seen = Observations::default();
        seen.steps.insert(
            "storage".into(),
            Some(StepSeen {
                converged: true,
                checks: [("volume group".to_string(), true)].into(),
            }),
        );
        seen.steps.insert("xostor".into(), Some(StepSeen::default()));
        state.observe(seen, 1.0);
        assert!(state.steps["storage"].converged);
        let mut seen = Observations::default();
        seen.steps.insert("xostor".into(), None);
        state.observe(seen, 2.0);
        assert!(!state.steps.contains_key("xostor"));
        assert!(state.steps.contains_key("storage"), "a step not seen is kept");
    }

    #[test]
    fn a_saved_state_reads_back_and_a_damaged_one_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        assert_eq!(load(&root), MetricsState::default());
        let mut state = MetricsState::default();
        state.record_run(
            "install",
            RunRecord {
                finished: 5.0,
                duration_seconds: 1.5,
                exit_code: 0,
            },
        );
        save(&root, &state).unwrap();
        assert_eq!(load(&root), state);
        std::fs::write(root.path(STATE_FILE), "{").unwrap();
        assert_eq!(load(&root), MetricsState::default());
    }
}
