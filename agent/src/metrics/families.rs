//! The metric families: the host's (from [`MetricsState`]) and, where a pool upgrade is
//! journaled, the upgrade's (from its [`Journal`]). Every family is a gauge; names follow
//! Prometheus' conventions (the `linstor_agent_` prefix, base units in the name, `_info` for
//! label-carrying constants, one series per state of an enum with 1 for the current one);
//! `promtool check metrics` lints them in `agent/tests/metrics.rs`. README "Metrics" lists them.

use super::exposition::{Exposition, Sample, bool_value};
use super::state::MetricsState;
use crate::pool::journal::{Journal, PHASES, RunState, StepState};

/// The exposition of the host's state and, when there is one, the pool upgrade's journal.
pub fn render(state: &MetricsState, journal: Option<&Journal>) -> String {
    let mut out = Exposition::default();
    steps(&mut out, state);
    versions(&mut out, state);
    runs(&mut out, state);
    if let Some(journal) = journal {
        pool_upgrade(&mut out, journal);
    }
    out.finish()
}

fn steps(out: &mut Exposition, state: &MetricsState) {
    out.gauge(
        "linstor_agent_step_converged",
        "Whether the host step was converged when last checked or applied (1) or not (0).",
        state
            .steps
            .iter()
            .map(|(step, r)| Sample::new(bool_value(r.converged)).label("step", step)),
    );
    out.gauge(
        "linstor_agent_check_ok",
        "Whether a check of `linstor-agent status` held (1) or failed (0), as the last status found.",
        state.steps.iter().flat_map(|(step, r)| {
            r.checks.iter().map(move |(check, ok)| {
                Sample::new(bool_value(*ok))
                    .label("step", step)
                    .label("check", check)
            })
        }),
    );
}

fn versions(out: &mut Exposition, state: &MetricsState) {
    let installed = |v: &Option<String>| v.clone().unwrap_or_default();
    out.gauge(
        "linstor_agent_module_info",
        "The DRBD module package of each served kernel: installed version (empty: none fits) and the newest the plan chose (the pin, else the newest that fits).",
        state.modules.iter().map(|(kernel, v)| {
            Sample::new(1.0)
                .label("kernel", kernel)
                .label("package", &v.package)
                .label("installed", installed(&v.installed))
                .label("newest", &v.newest)
        }),
    );
    out.gauge(
        "linstor_agent_module_current",
        "Whether the kernel's installed DRBD module is the newest the plan chose (1) or not (0).",
        state
            .modules
            .iter()
            .map(|(kernel, v)| Sample::new(bool_value(v.is_current())).label("kernel", kernel)),
    );
    out.gauge(
        "linstor_agent_package_info",
        "A userland package: installed version (empty: not installed) and the newest the plan chose (the pin, else the newest that fits).",
        state.packages.iter().map(|(name, v)| {
            Sample::new(1.0)
                .label("package", name)
                .label("installed", installed(&v.installed))
                .label("newest", &v.newest)
        }),
    );
    out.gauge(
        "linstor_agent_package_current",
        "Whether the installed package is the newest the plan chose (1) or not (0).",
        state
            .packages
            .iter()
            .map(|(name, v)| Sample::new(bool_value(v.is_current())).label("package", name)),
    );
    out.gauge(
        "linstor_agent_versions_timestamp_seconds",
        "When a plan last compared the installed versions with the repository (seconds since the epoch).",
        state.versions_at.map(Sample::new),
    );
}

fn runs(out: &mut Exposition, state: &MetricsState) {
    let each = |f: fn(&super::state::RunRecord) -> f64| {
        state
            .runs
            .iter()
            .map(move |(command, r)| Sample::new(f(r)).label("command", command))
    };
    out.gauge(
        "linstor_agent_last_run_timestamp_seconds",
        "When the last run of the command ended (seconds since the epoch).",
        each(|r| r.finished),
    );
    out.gauge(
        "linstor_agent_last_run_success",
        "Whether the last run of the command exited 0 (1) or not (0).",
        each(|r| bool_value(r.exit_code == 0)),
    );
    out.gauge(
        "linstor_agent_last_run_exit_code",
        "The exit code of the last run of the command (1 failed, 2 bad usage or config, 3 refused).",
        each(|r| f64::from(r.exit_code)),
    );
    out.gauge(
        "linstor_agent_last_run_duration_seconds",
        "How long the last run of the command took.",
        each(|r| r.duration_seconds),
    );
}

/// The run's state words, as the journal and `pool status` spell them.
const RUN_STATES: [(RunState, &str); 5] = [
    (RunState::Running, "running"),
    (RunState::Paused, "paused"),
    (RunState::Failed, "failed"),
    (RunState::Aborted, "aborted"),
    (RunState::Done, "done"),
];

fn pool_upgrade(out: &mut Exposition, journal: &Journal) {
    out.gauge(
        "linstor_agent_pool_upgrade_running",
        "Whether a pool upgrade is running (1) or not (0).",
        [Sample::new(bool_value(journal.state == RunState::Running))],
    );
    out.gauge(
        "linstor_agent_pool_upgrade_state",
        "The state of the last pool upgrade: 1 for the current one.",
        RUN_STATES
            .iter()
            .map(|(s, word)| Sample::new(bool_value(journal.state == *s)).label("state", *word)),
    );
    let current = current_phase(journal);
    out.gauge(
        "linstor_agent_pool_upgrade_phase",
        "The phase the last pool upgrade is in (or ended in): 1 for the current one.",
        PHASES
            .iter()
            .map(|p| Sample::new(bool_value(current == Some(*p))).label("phase", *p)),
    );
    out.gauge(
        "linstor_agent_pool_upgrade_hosts",
        "Hosts the last pool upgrade upgrades.",
        [Sample::new(journal.hosts.len() as f64)],
    );
    out.gauge(
        "linstor_agent_pool_upgrade_hosts_done",
        "Hosts the last pool upgrade has finished.",
        [Sample::new(journal.hosts_done() as f64)],
    );
    out.gauge(
        "linstor_agent_pool_upgrade_host_done",
        "Whether the pool upgrade has finished the host (1) or not (0).",
        journal
            .hosts
            .iter()
            .map(|h| Sample::new(bool_value(h.is_done())).label("host", &h.name)),
    );
    out.gauge(
        "linstor_agent_pool_upgrade_start_timestamp_seconds",
        "When the last pool upgrade started (seconds since the epoch).",
        [Sample::new(journal.started)],
    );
}

/// The phase begun and not finished, else the last one that finished; None before any.
fn current_phase(journal: &Journal) -> Option<&'static str> {
    let started = PHASES
        .iter()
        .rev()
        .find(|p| journal.phase(p) == StepState::Started);
    started
        .or_else(|| {
            PHASES
                .iter()
                .rev()
                .find(|p| journal.phase(p) != StepState::Pending)
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::state::{RunRecord, StepRecord, VersionRecord};
    use crate::pool::journal::Step;

    fn state() -> MetricsState {
        let mut s = MetricsState::default();
        s.steps.insert(
            "install".into(),
            StepRecord {
                converged: false,
                checks: [("module 4.19.0+1".to_string(), false)].into(),
            },
        );
        s.modules.insert(
            "4.19.0+1".into(),
            VersionRecord {
                package: "kmod-drbd".into(),
                installed: None,
                newest: "9.2.12-1".into(),
            },
        );
        s.packages.insert(
            "drbd-utils".into(),
            VersionRecord {
                package: "drbd-utils".into(),
                installed: Some("9.29.0-1".into()),
                newest: "9.29.0-1".into(),
            },
        );
        s.versions_at = Some(100.0);
        s.record_run(
            "status",
            RunRecord {
                finished: 101.5,
                duration_seconds: 0.5,
                exit_code: 1,
            },
        );
        s
    }

    #[test]
    fn the_host_families_carry_the_state() {
        let text = render(&state(), None);
        for line in [
            "linstor_agent_step_converged{step=\"install\"} 0",
            "linstor_agent_check_ok{step=\"install\",check=\"module 4.19.0+1\"} 0",
            "linstor_agent_module_info{kernel=\"4.19.0+1\",package=\"kmod-drbd\",installed=\"\",newest=\"9.2.12-1\"} 1",
            "linstor_agent_module_current{kernel=\"4.19.0+1\"} 0",
            "linstor_agent_package_current{package=\"drbd-utils\"} 1",
            "linstor_agent_versions_timestamp_seconds 100",
            "linstor_agent_last_run_timestamp_seconds{command=\"status\"} 101.5",
            "linstor_agent_last_run_success{command=\"status\"} 0",
            "linstor_agent_last_run_exit_code{command=\"status\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("pool_upgrade"), "no journal, no pool families");
    }

    #[test]
    fn the_pool_families_follow_the_journal() {
        let mut journal = Journal::blank();
        journal.started = 50.0;
        let step = |state| Step {
            state,
            ..Step::default()
        };
        journal.phases.insert("preflight".into(), step(StepState::Done));
        journal.phases.insert("hosts".into(), step(StepState::Started));
        let text = render(&MetricsState::default(), Some(&journal));
        for line in [
            "linstor_agent_pool_upgrade_running 1",
            "linstor_agent_pool_upgrade_state{state=\"running\"} 1",
            "linstor_agent_pool_upgrade_state{state=\"done\"} 0",
            "linstor_agent_pool_upgrade_phase{phase=\"hosts\"} 1",
            "linstor_agent_pool_upgrade_phase{phase=\"preflight\"} 0",
            "linstor_agent_pool_upgrade_hosts 0",
            "linstor_agent_pool_upgrade_start_timestamp_seconds 50",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        journal.phases.insert("hosts".into(), step(StepState::Done));
        journal.state = RunState::Done;
        assert_eq!(current_phase(&journal), Some("hosts"));
        assert_eq!(current_phase(&Journal::blank()), None);
    }
}
