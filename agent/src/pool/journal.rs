//! The upgrade's journal: every phase and every host step, recorded before it starts and
//! after it ends, in one JSON file written atomically (temp file, fsync, rename). `--resume`
//! reads it and continues from the first step not recorded as done; `pool status` shows it.
//!
//! `pool pause` and `pool abort` do not write the journal (the running command owns it):
//! they drop a request file beside it, which the run picks up at the next safe point.

pub use super::clock::now;
pub use super::events::{EventKind, RunEvent};
pub use super::targets::PackageChange;
use crate::host::{FileMode, Sysroot, rootfs};
use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const JOURNAL_FILE: &str = "/var/lib/linstor-agent/pool-upgrade.json";

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    #[default]
    Pending,
    Started,
    Done,
    Skipped,
    Failed,
}

impl StepState {
    /// Nothing left to do for it: done, or skipped (a host already at the targets, a LINSTOR
    /// step not needed).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }
}

/// Where the whole run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    Running,
    Paused,
    Failed,
    Aborted,
    Done,
}

/// One recorded step: its state and when it started and ended (seconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The phases of the rolling upgrade, in order.
pub const PHASES: &[&str] = &["preflight", "settings", "prefetch", "linstor", "hosts", "finish"];

/// The steps of one host, in order.
pub const HOST_STEPS: &[&str] = &[
    "disable",
    "evacuate",
    "install",
    "reboot",
    "wait-online",
    "wait-synced",
    "wait-pbd",
    "enable",
];

/// A host's part in the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub uuid: String,
    pub reference: String,
    /// The LINSTOR node (the hostname).
    pub node: String,
    /// Batch number, from 1.
    pub batch: usize,
    pub changes: Vec<PackageChange>,
    /// The kernel or its DRBD module changes: the host reboots; else its services restart.
    pub reboot: bool,
    /// VMs running here at the start (references), to bring back at the end.
    pub vms: Vec<String>,
    /// `boot_time` before the reboot was asked for (a different one proves it happened).
    #[serde(default)]
    pub boot_time_before: Option<String>,
    pub steps: BTreeMap<String, Step>,
}

impl HostEntry {
    pub fn step(&self, name: &str) -> StepState {
        self.steps.get(name).map(|s| s.state).unwrap_or_default()
    }

    pub fn is_done(&self) -> bool {
        HOST_STEPS.iter().all(|s| self.step(s).is_finished())
    }

    /// Disabled → enabled, in seconds, once both ends are recorded.
    pub fn maintenance_window(&self) -> Option<f64> {
        let start = self.steps.get("disable")?.started?;
        let end = self.steps.get("enable")?.ended?;
        Some(end - start)
    }
}

/// Pool settings changed for the run, with what they were, to restore at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedSettings {
    /// `DrbdOptions/AutoEvictAllowEviction` on the controller before the run (None: unset).
    pub auto_evict_allow: Option<String>,
    pub auto_evict_saved: bool,
    pub ha_was_enabled: bool,
    pub ha_heartbeat_srs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub state: RunState,
    pub started: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<f64>,
    pub xapi_url: String,
    pub pool_master: String,
    /// Package → version every host ends on.
    pub targets: BTreeMap<String, String>,
    /// The LINSTOR version the controller ran before, and whether the LINSTOR step is needed.
    pub linstor_from: String,
    /// The LINSTOR version every host ends on (installed and running).
    #[serde(default)]
    pub linstor_to: String,
    pub linstor_change: bool,
    /// The LINSTOR server packages each host had installed before the run.
    #[serde(default)]
    pub linstor_installed: super::linstor_versions::PoolLinstor,
    /// The server packages the LINSTOR step installs on every host that has them.
    #[serde(default)]
    pub linstor_packages: Vec<String>,
    pub batch_mode: String,
    pub batches: Vec<Vec<String>>,
    pub phases: BTreeMap<String, Step>,
    pub hosts: Vec<HostEntry>,
    pub settings: SavedSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What preflight warned about (the upgrade goes on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The wait the run paused on (state `paused`), until `--resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<super::wait::Stall>,
    /// What happened, one line per event, for the report and `pool status`.
    pub log: Vec<String>,
    /// Pauses, resumes, faults and the health checks between batches, for the HTML report
    /// (`pool report`); absent from journals written before it, which still load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<RunEvent>,
}

impl Journal {
    /// A running journal started now, with nothing in it yet.
    pub fn blank() -> Journal {
        Journal {
            format: 1,
            state: RunState::Running,
            started: now(),
            ended: None,
            xapi_url: String::new(),
            pool_master: String::new(),
            targets: BTreeMap::new(),
            linstor_from: String::new(),
            linstor_to: String::new(),
            linstor_change: false,
            linstor_installed: Default::default(),
            linstor_packages: Vec::new(),
            batch_mode: String::new(),
            batches: Vec::new(),
            phases: BTreeMap::new(),
            hosts: Vec::new(),
            settings: SavedSettings::default(),
            error: None,
            stall: None,
            warnings: Vec::new(),
            log: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Records a moment of the run (see [`super::events`]) now.
    pub fn record(&mut self, kind: EventKind) {
        self.events.push(RunEvent { at: now(), kind });
    }

    /// The hosts the run stopped in the middle of: some step begun, not done.
    pub fn unfinished_hosts(&self) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| !h.is_done() && !h.steps.is_empty())
            .map(|h| h.name.clone())
            .collect()
    }

    pub fn phase(&self, name: &str) -> StepState {
        self.phases.get(name).map(|s| s.state).unwrap_or_default()
    }

    pub fn host(&self, name: &str) -> Option<&HostEntry> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn host_mut(&mut self, name: &str) -> Result<&mut HostEntry> {
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .ok_or_else(|| anyhow!("host {name} is not in the journal"))
    }

    pub fn hosts_done(&self) -> usize {
        self.hosts.iter().filter(|h| h.is_done()).count()
    }
}

/// The journal file and the files beside it (requests, lock, saved settings), in the root of
/// the machine running the upgrade; written only inside it (`host::confined`).
#[derive(Debug, Clone)]
pub struct JournalFile {
    /// Where it is, for messages and reports.
    pub path: PathBuf,
    pub(super) sysroot: Sysroot,
    /// The journal's host path (`/var/lib/linstor-agent/pool-upgrade.json`).
    pub(super) host_path: PathBuf,
}

impl JournalFile {
    pub fn new(sysroot: &Sysroot, host_path: impl Into<PathBuf>) -> JournalFile {
        let host_path = host_path.into();
        JournalFile {
            path: sysroot.path(&host_path),
            sysroot: sysroot.clone(),
            host_path,
        }
    }

    pub fn load(&self) -> Result<Option<Journal>> {
        let text = rootfs::read_optional(&self.sysroot, &self.host_path)
            .map_err(|e| anyhow!("cannot read {}: {e}", self.path.display()))?;
        let Some(text) = text else {
            return Ok(None);
        };
        self.parse(&text).map(Some)
    }

    /// The journal in `text`, as [`JournalFile::load`] reads it from this file (which names it
    /// in the error). Apart from the reading, so that the fuzz target `journal` can drive it.
    pub fn parse(&self, text: &str) -> Result<Journal> {
        serde_json::from_str(text).map_err(|e| {
            anyhow!(
                "{} is not a pool-upgrade journal this version reads ({e}): move it away to start over{}",
                self.path.display(),
                self.saved_settings_advice()
            )
        })
    }

    /// Writes the whole journal atomically: a crash leaves the old or the new one, never half.
    /// The data reaches the disk before the rename makes it the journal. The directory is not
    /// synced: after a power loss the journal may be one step behind, and every step is safe to
    /// run again on resume.
    pub fn save(&self, journal: &Journal) -> Result<()> {
        // Compact: the journal is rewritten at every step of every host.
        let mut text = serde_json::to_string(journal)?;
        text.push('\n');
        self.sysroot
            .write_file(&self.host_path, text.as_bytes(), FileMode::Set(0o600))?;
        Ok(())
    }

    /// A file beside the journal: `pool-upgrade.<what>`.
    pub(super) fn beside(&self, what: &str) -> PathBuf {
        self.host_path.with_extension(what)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.sysroot.path(self.beside("lock"))
    }

    pub fn lock_exists(&self) -> bool {
        rootfs::exists(&self.sysroot, &self.beside("lock"))
    }

    /// Opens (creating it) the lock file beside the journal.
    pub fn open_lock(&self) -> Result<std::fs::File> {
        self.sysroot.open_lock(self.beside("lock"))
    }

    /// Asks the running upgrade to pause (`"pause"`) or abort (`"abort"`) at its next safe point.
    pub fn request(&self, what: &str) -> Result<PathBuf> {
        self.sysroot.write_file(
            self.beside(what),
            format!("{}\n", now()).as_bytes(),
            FileMode::Set(0o644),
        )
    }

    pub fn requested(&self, what: &str) -> bool {
        rootfs::exists(&self.sysroot, &self.beside(what))
    }

    pub fn clear_request(&self, what: &str) {
        let _ = self.sysroot.remove_file(self.beside(what));
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn timestamps_read_back_are_the_ones_written() {
        // The run draws its report from the journal in memory, `pool report` from the file: the
        // same picture needs exact float round trips (serde_json's `float_roundtrip`).
        let mut t = 1_796_329_178.376_f64;
        for _ in 0..20_000 {
            let text = serde_json::to_string(&t).unwrap();
            assert_eq!(
                serde_json::from_str::<f64>(&text).unwrap().to_bits(),
                t.to_bits(),
                "{text}"
            );
            t += 0.000_731_9;
        }
    }
    use super::*;

    fn sample() -> Journal {
        Journal {
            format: 1,
            state: RunState::Running,
            started: 1.0,
            ended: None,
            xapi_url: "http://x".into(),
            pool_master: "m".into(),
            targets: BTreeMap::new(),
            linstor_from: "1.29.0".into(),
            linstor_to: "1.29.2".into(),
            linstor_change: true,
            linstor_installed: Default::default(),
            linstor_packages: vec![],
            batch_mode: "1".into(),
            batches: vec![vec!["a".into()]],
            phases: BTreeMap::new(),
            hosts: vec![HostEntry {
                name: "a".into(),
                uuid: "u".into(),
                reference: "r".into(),
                node: "a".into(),
                batch: 1,
                changes: vec![],
                reboot: true,
                vms: vec![],
                boot_time_before: None,
                steps: BTreeMap::new(),
            }],
            settings: SavedSettings::default(),
            error: None,
            stall: None,
            warnings: vec![],
            log: vec![],
            events: vec![],
        }
    }

    #[test]
    fn a_saved_journal_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let file = JournalFile::new(&Sysroot::new(dir.path()), "/j/pool-upgrade.json");
        assert!(file.load().unwrap().is_none());
        let mut j = sample();
        j.host_mut("a").unwrap().steps.insert(
            "disable".into(),
            Step {
                state: StepState::Done,
                started: Some(2.0),
                ended: Some(3.0),
                note: None,
            },
        );
        file.save(&j).unwrap();
        assert_eq!(file.load().unwrap().unwrap(), j);
        assert!(!j.host("a").unwrap().is_done());
    }

    #[test]
    fn requests_are_files_beside_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let file = JournalFile::new(&Sysroot::new(dir.path()), "/pool-upgrade.json");
        assert!(!file.requested("pause"));
        file.request("pause").unwrap();
        assert!(file.requested("pause"));
        file.clear_request("pause");
        assert!(!file.requested("pause"));
    }

    #[test]
    fn parse_reads_what_load_reads() {
        let file = JournalFile::new(&Sysroot::new("/nonexistent"), "/pool-upgrade.json");
        let text = serde_json::to_string(&sample()).unwrap();
        assert_eq!(file.parse(&text).unwrap(), sample());
        let err = file.parse("{").unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/pool-upgrade.json is not a pool-upgrade journal"));
    }

    #[test]
    fn a_corrupt_journal_says_how_to_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool-upgrade.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = JournalFile::new(&Sysroot::new(dir.path()), "/pool-upgrade.json")
            .load()
            .unwrap_err();
        assert!(format!("{err:#}").contains("move it away"), "{err:#}");
    }
}
