//! The install step's side of Secure Boot (`secure_boot`): which module packages to check, for
//! which kernels, downloaded and verified through the repository first.
//!
//! `plan` downloads the module packages it would install when Secure Boot is enforced (into the
//! cache, verified exactly as `install` verifies them), because the signer can only be read from
//! the package's payload; without Secure Boot it downloads nothing. The packages a plan keeps
//! (already installed) are not checked: nothing new is loaded.

use super::plan::InstallPlan;
use crate::host::Sysroot;
use crate::repo::{RepoPackage, Repository};
use crate::secure_boot::{self, Candidate};
use anyhow::Result;

/// The Secure Boot report for `plan`'s module changes: `None` when the plan installs no module
/// package and serves no kernel (`--only` without the module).
pub fn assess(
    sysroot: &Sysroot,
    repository: &Repository,
    plan: &InstallPlan,
) -> Result<Option<secure_boot::Report>> {
    if plan.kernels.is_empty() {
        return Ok(None);
    }
    let mut packages: Vec<(&RepoPackage, Vec<String>)> = Vec::new();
    for action in plan.changes() {
        let Some(package) = &action.package else {
            continue;
        };
        let nevra = package.nevra();
        let kernels: Vec<String> = plan
            .kernels
            .iter()
            .filter(|k| k.module == nevra)
            .map(|k| k.uname_r.clone())
            .collect();
        if !kernels.is_empty() {
            packages.push((package, kernels));
        }
    }
    assess_packages(sysroot, repository, &packages).map(Some)
}

/// The Secure Boot report for module packages, each with the kernels it is for (kernel-guard's
/// choices, or a plan's). Downloads and verifies them only when Secure Boot is enforced.
pub fn assess_packages(
    sysroot: &Sysroot,
    repository: &Repository,
    packages: &[(&RepoPackage, Vec<String>)],
) -> Result<secure_boot::Report> {
    let state = secure_boot::read_state(sysroot)?;
    if !state.enforced {
        return Ok(secure_boot::Report::not_enforced(&state));
    }
    let mut candidates = Vec::new();
    for (package, kernels) in packages {
        candidates.push(Candidate {
            package: package.nevra(),
            file: repository.fetch_package(package)?,
            kernels: kernels.clone(),
        });
    }
    secure_boot::check(sysroot, &state, &candidates)
}

/// The report's lines in the plan as a person reads it.
pub fn render(report: &secure_boot::Report) -> String {
    let mut out = format!("Secure Boot: {}\n", report.state);
    for m in &report.modules {
        let verdict = if m.trusted {
            format!("trusted ({})", m.trusted_by.as_deref().unwrap_or("?"))
        } else {
            format!("REJECTED: {}", m.reason.as_deref().unwrap_or("not trusted"))
        };
        out.push_str(&format!(
            "  {} {} [{}]: signed by {}: {verdict}\n",
            m.package, m.file, m.kernel, m.signer
        ));
    }
    if report.enforced && report.modules.is_empty() {
        out.push_str("  no module package to install: nothing to check\n");
    }
    for note in &report.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    out
}
