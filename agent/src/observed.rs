//! What a command saw of the host while it ran, kept for the metrics (`metrics/`): the versions
//! the install plan compared (installed against newest, per served kernel and per package), and
//! which host steps this run found converged. Commands note here what they already know; the
//! dispatcher hands it to `metrics` once the command is over, so nothing is read twice (no
//! second plan, no network fetch for the metrics alone).
//!
//! It lives in the [`crate::context::Context`] because the facts are found deep inside the
//! steps (the install step's plan inside `status`'s checks, the steps `provision` applies),
//! whose reports do not carry them in typed form.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Installed and newest `[epoch:]version-release` of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub package: String,
    /// None: not installed.
    pub installed: Option<String>,
    /// What the plan chose: the pinned version, else the newest the repository has that fits.
    pub newest: String,
}

/// The versions one install plan compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanVersions {
    /// Kernel (`uname -r`) → its DRBD module package.
    pub modules: BTreeMap<String, Versions>,
    /// Package name → its versions (the userland, and `--only` names).
    pub packages: BTreeMap<String, Versions>,
    /// The plan covered every kernel the module serves (not scoped by `--only`): kernels
    /// absent from `modules` are no longer served.
    pub all_kernels: bool,
    /// The plan covered every managed package: packages absent from `packages` are no longer
    /// managed.
    pub all_packages: bool,
}

/// A host step's state as this run found it: its checks (`status`), or only whether it
/// converged (a run of the step).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSeen {
    pub converged: bool,
    /// Check → whether it holds; empty when the run did not check one by one.
    pub checks: BTreeMap<String, bool>,
}

/// Everything the run noted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    pub plan: Option<PlanVersions>,
    /// Step name (`install`, `storage`, …) → what this run found; None: the step has nothing
    /// to check on this host (it does not apply), so what was known of it is dropped.
    pub steps: BTreeMap<String, Option<StepSeen>>,
}

/// The notes of one run; shared by the threads of a command, hence the lock.
#[derive(Debug, Default)]
pub struct Observed {
    inner: Mutex<Observations>,
}

impl Observed {
    fn with<T>(&self, f: impl FnOnce(&mut Observations) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain data: still usable.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// The versions of the last plan made (a later plan of the run replaces an earlier one).
    pub fn plan(&self, plan: PlanVersions) {
        self.with(|o| o.plan = Some(plan));
    }

    /// The install of the last plan succeeded: what it planned is now installed.
    pub fn installed_as_planned(&self) {
        self.with(|o| {
            if let Some(plan) = o.plan.as_mut() {
                for v in plan.modules.values_mut().chain(plan.packages.values_mut()) {
                    v.installed = Some(v.newest.clone());
                }
            }
        });
    }

    /// A module this run installed for `kernel` (kernel-guard): installed and newest both.
    pub fn module_installed(&self, kernel: &str, package: &str, version: &str) {
        self.with(|o| {
            let plan = o.plan.get_or_insert_with(PlanVersions::default);
            plan.modules.insert(
                kernel.to_owned(),
                Versions {
                    package: package.to_owned(),
                    installed: Some(version.to_owned()),
                    newest: version.to_owned(),
                },
            );
        });
    }

    /// A step's checks, one by one (`status`).
    pub fn step_checks(&self, step: &str, checks: impl IntoIterator<Item = (String, bool)>) {
        let checks: BTreeMap<String, bool> = checks.into_iter().collect();
        let converged = checks.values().all(|ok| *ok);
        self.with(|o| {
            o.steps
                .insert(step.to_owned(), Some(StepSeen { converged, checks }))
        });
    }

    /// A step with nothing to check on this host.
    pub fn step_not_applicable(&self, step: &str) {
        self.with(|o| o.steps.insert(step.to_owned(), None));
    }

    /// A step applied (converged) or failed, without checks.
    pub fn step_converged(&self, step: &str, converged: bool) {
        self.with(|o| {
            o.steps.insert(
                step.to_owned(),
                Some(StepSeen {
                    converged,
                    checks: BTreeMap::new(),
                }),
            )
        });
    }

    /// Whether the run noted anything of `step`.
    pub fn has_step(&self, step: &str) -> bool {
        self.with(|o| o.steps.contains_key(step))
    }

    pub fn take(&self) -> Observations {
        self.with(std::mem::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(installed: Option<&str>, newest: &str) -> Versions {
        Versions {
            package: "kmod-drbd".into(),
            installed: installed.map(String::from),
            newest: newest.into(),
        }
    }

    #[test]
    fn an_install_makes_the_plan_installed() {
        let observed = Observed::default();
        let mut plan = PlanVersions::default();
        plan.modules.insert("4.19.0+1".into(), versions(None, "9.2.12-1"));
        plan.packages
            .insert("drbd-utils".into(), versions(Some("9.28.0-1"), "9.29.0-1"));
        observed.plan(plan);
        observed.installed_as_planned();
        let seen = observed.take().plan.unwrap();
        assert_eq!(seen.modules["4.19.0+1"].installed.as_deref(), Some("9.2.12-1"));
        assert_eq!(seen.packages["drbd-utils"].installed.as_deref(), Some("9.29.0-1"));
    }

    #[test]
    fn a_step_converges_when_every_check_holds() {
        let observed = Observed::default();
        observed.step_checks(
            "install",
            [("module a".to_string(), true), ("packages".to_string(), false)],
        );
        observed.step_checks("storage", [("volume group".to_string(), true)]);
        let seen = observed.take();
        let install = seen.steps["install"].as_ref().unwrap();
        assert!(!install.converged);
        assert_eq!(install.checks.len(), 2);
        assert!(seen.steps["storage"].as_ref().unwrap().converged);
    }
}
