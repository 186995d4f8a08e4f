//! The install step never takes a package to an older version on its own (issue 14).
//!
//! The plan picks the newest version the repository offers; when the host already has a newer
//! one, the repository lost it: a mirror serving an old snapshot (a rollback attack the
//! metadata checks could not see, such as a first run against it), or a repository rebuilt
//! without it. Installing the plan would then take the DRBD module or LINSTOR backwards, so it
//! is refused (exit 3) unless a pin asks for exactly the older version: a pool upgrade writes
//! its targets as pins, and an operator who wants to go back says so the same way. A
//! downgrade a pin asks for is named as such in the plan's reason.
//!
//! A module package is judged kernel by kernel (side-by-side LINBIT kmods for different
//! kernels carry different versions): the module chosen for a kernel must not be older than
//! the newest installed module that fits that kernel.

use super::fit::{Fit, fit};
use super::plan::{Change, InstallPlan};
use super::select::{Origin, Selection, module_order, pin_matches};
use crate::error::Refusal;
use crate::host::rpmdb::RpmPackage;
use crate::host::targets::KernelTarget;
use crate::repo::{RepoPackage, compare_evr};
use anyhow::Result;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One step backwards the plan would take.
struct Downgrade {
    /// The action's package name, and the NEVRA it installs.
    name: String,
    to: RepoPackage,
    /// The newest installed version it replaces (for a module: that fits the kernel).
    from: RepoPackage,
    /// For a module: the kernel.
    kernel: Option<String>,
}

/// Refuses the plan when it would downgrade a package no pin asks for exactly, naming every
/// such package, both versions and the way out; marks each downgrade a pin asks for in its
/// action's reason. `installed_modules` are the host's module packages (`installed`), needed
/// only when the plan serves kernels.
pub fn guard(
    plan: &mut InstallPlan,
    selection: &Selection,
    kmod: &str,
    installed: &[RpmPackage],
    installed_modules: &[RepoPackage],
    pins: &BTreeMap<String, String>,
    origin: &Origin,
) -> Result<()> {
    let mut found = module_downgrades(selection, installed_modules);
    found.extend(userland_downgrades(plan, kmod, installed));
    let mut refused = Vec::new();
    for step in found {
        match pins.get(&step.name) {
            // The pin names the older version, and not the one installed.
            Some(pin) if pin_matches(&step.to, pin) && !pin_matches(&step.from, pin) => {
                let note = format!(
                    "; downgrade from {}: pinned to {pin} by {}",
                    step.from.nevra(),
                    origin.pin_from(&step.name)
                );
                if let Some(action) = plan
                    .actions
                    .iter_mut()
                    .find(|a| a.to.as_deref() == Some(step.to.nevra().as_str()))
                    && !action.reason.contains(&note)
                {
                    action.reason.push_str(&note);
                }
            }
            _ => refused.push(step),
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refused.iter().map(describe).collect();
    let pins: Vec<String> = refused
        .iter()
        .map(|s| {
            format!(
                "{:?} = {:?}",
                s.name,
                format!("{}-{}", s.to.version, s.to.release)
            )
        })
        .collect();
    Err(Refusal(format!(
        "refusing to downgrade:\n  {}\nthe repository {} (metadata revision {}) has nothing newer. The agent \
         never takes an installed package back unless a pin asks for exactly that version. Nothing was \
         changed. If the repository should have the newer versions, check [repo] baseurl (a mirror may be \
         serving an old snapshot); to downgrade on purpose, pin {} in [packages] pin of {} (or pass --pin).",
        lines.join("\n  "),
        origin.baseurl,
        plan.revision,
        pins.join(", "),
        origin.config_files
    ))
    .into())
}

fn describe(step: &Downgrade) -> String {
    match &step.kernel {
        Some(kernel) => format!(
            "{} for kernel {kernel}: {} is installed, the newest the repository has for it is {}",
            step.name,
            step.from.nevra(),
            step.to.nevra()
        ),
        None => format!(
            "{}: {} is installed, the plan would install {}",
            step.name,
            step.from.nevra(),
            step.to.nevra()
        ),
    }
}

/// For every kernel, the module chosen when it is older than the newest installed one that
/// fits the kernel.
fn module_downgrades(selection: &Selection, installed_modules: &[RepoPackage]) -> Vec<Downgrade> {
    let mut found = Vec::new();
    for choice in &selection.modules {
        if let Some(newest) = newest_installed_fit(&choice.kernel, installed_modules)
            && module_order(&choice.package, newest) == Ordering::Less
        {
            found.push(Downgrade {
                name: choice.package.name.clone(),
                to: choice.package.clone(),
                from: newest.clone(),
                kernel: Some(choice.kernel.uname_r.clone()),
            });
        }
    }
    found
}

/// The newest installed module package that fits `kernel`: what the kernel runs with now.
pub(super) fn newest_installed_fit<'a>(
    kernel: &KernelTarget,
    installed_modules: &'a [RepoPackage],
) -> Option<&'a RepoPackage> {
    installed_modules
        .iter()
        .filter(|p| matches!(fit(p, kernel), Fit::Fits(_)))
        .max_by(|a, b| module_order(a, b))
}

/// The plan's downgrades of packages other than the module.
fn userland_downgrades(plan: &InstallPlan, kmod: &str, installed: &[RpmPackage]) -> Vec<Downgrade> {
    plan.actions
        .iter()
        .filter(|a| a.change == Change::Downgrade && a.name != kmod)
        .filter_map(|a| {
            let to = a.package.clone()?;
            let from = installed
                .iter()
                .filter(|i| i.name == a.name)
                .map(as_repo_package)
                .max_by(|x, y| compare_evr(&x.evr(), &y.evr()))?;
            Some(Downgrade {
                name: a.name.clone(),
                to,
                from,
                kernel: None,
            })
        })
        .collect()
}

/// An installed package as a [`RepoPackage`], to compare and match against pins.
fn as_repo_package(rpm: &RpmPackage) -> RepoPackage {
    RepoPackage {
        name: rpm.name.clone(),
        epoch: rpm.epoch.as_deref().and_then(|e| e.parse().ok()).unwrap_or(0),
        version: rpm.version.clone(),
        release: rpm.release.clone(),
        arch: rpm.arch.clone(),
        location: String::new(),
        sha256: String::new(),
        size: 0,
        provides: Vec::new(),
        requires: Vec::new(),
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};
    use crate::host::targets::KernelTarget;
    use crate::packages::select::ModuleChoice;
    use std::path::PathBuf;

    fn pkg(name: &str, version: &str, files: &[&str]) -> RepoPackage {
        RepoPackage {
            name: name.into(),
            epoch: 0,
            version: version.into(),
            release: "1".into(),
            arch: "x86_64".into(),
            location: String::new(),
            sha256: String::new(),
            size: 0,
            provides: vec![],
            requires: vec![],
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn rpm(name: &str, version: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: "1".into(),
            arch: "x86_64".into(),
            provides: vec![],
            dirs: vec![],
        }
    }

    const DRBD_KO: &str = "/lib/modules/4.19.0+1/extra/drbd/drbd.ko";

    fn selection(module: &str, userland: &str) -> Selection {
        Selection {
            modules: vec![ModuleChoice {
                kernel: KernelTarget {
                    uname_r: "4.19.0+1".into(),
                    package: None,
                    kabi: BTreeMap::new(),
                    reasons: vec!["installed"],
                    module_dir: PathBuf::from("/lib/modules/4.19.0+1"),
                },
                package: pkg("kmod-drbd", module, &[DRBD_KO]),
                evidence: crate::packages::fit::Evidence::ModulePath,
            }],
            userland: vec![pkg("drbd-utils", userland, &[])],
        }
    }

    fn run(module: &str, userland: &str, pins: &[(&str, &str)]) -> (Result<()>, InstallPlan) {
        let installed = [rpm("kmod-drbd", "9.2.12"), rpm("drbd-utils", "9.29.0")];
        let modules = [pkg("kmod-drbd", "9.2.12", &[DRBD_KO])];
        let selection = selection(module, userland);
        let mut plan = InstallPlan::new("file:///r/", "REV", "kmod-drbd", &selection, &installed, &modules);
        let pins = pins.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let pins_from = BTreeMap::from([("kmod-drbd".to_owned(), "agent.d/50-back.toml".to_owned())]);
        let origin = Origin {
            config_files: "agent.toml",
            baseurl: "file:///r/",
            pins_from: &pins_from,
        };
        let result = guard(
            &mut plan,
            &selection,
            "kmod-drbd",
            &installed,
            &modules,
            &pins,
            &origin,
        );
        (result, plan)
    }

    #[test]
    fn upgrades_pass_and_downgrades_are_refused_naming_both_versions() {
        assert!(run("9.2.12", "9.29.0", &[]).0.is_ok());
        assert!(run("9.2.13", "9.30.0", &[]).0.is_ok());
        let err = run("9.2.11", "9.28.0", &[]).0.unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::Refused);
        let msg = err.to_string();
        assert!(
            msg.contains(
                "kmod-drbd for kernel 4.19.0+1: kmod-drbd-9.2.12-1.x86_64 is installed, the newest the \
                 repository has for it is kmod-drbd-9.2.11-1.x86_64"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("drbd-utils: drbd-utils-9.29.0-1.x86_64 is installed"),
            "{msg}"
        );
        assert!(msg.contains("metadata revision REV"), "{msg}");
        assert!(
            msg.contains("\"kmod-drbd\" = \"9.2.11-1\", \"drbd-utils\" = \"9.28.0-1\""),
            "{msg}"
        );
    }

    #[test]
    fn a_pin_on_exactly_the_older_version_allows_it_and_says_so() {
        let (result, plan) = run(
            "9.2.11",
            "9.28.0",
            &[("kmod-drbd", "9.2.11"), ("drbd-utils", "9.28.0-1")],
        );
        result.unwrap();
        let reasons: Vec<&str> = plan.actions.iter().map(|a| a.reason.as_str()).collect();
        assert!(
            reasons.contains(
                &"DRBD module for kernel 4.19.0+1; downgrade from kmod-drbd-9.2.12-1.x86_64: pinned to 9.2.11 by \
                  agent.d/50-back.toml"
            ),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(
                &"userland; downgrade from drbd-utils-9.29.0-1.x86_64: pinned to 9.28.0-1 by agent.toml"
            ),
            "{reasons:?}"
        );
        // A pin on one package allows only that one.
        let err = run("9.2.11", "9.28.0", &[("kmod-drbd", "9.2.11")]).0.unwrap_err();
        assert!(!err.to_string().contains("kmod-drbd for kernel"), "{err}");
        assert!(err.to_string().contains("drbd-utils:"), "{err}");
    }
}
