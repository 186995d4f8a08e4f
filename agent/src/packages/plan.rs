//! The install plan: for each selected package, what the host has and what it will get.

use super::fit::Evidence;
use super::select::Selection;
use crate::host::rpmdb::RpmPackage;
use crate::repo::{RepoPackage, compare_evr};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Install,
    Upgrade,
    Downgrade,
    /// An installed module package that no served kernel is given any more: superseded by
    /// the one chosen for its kernel (same files), or left from a kernel that is gone.
    Remove,
    /// Already installed at exactly the chosen NEVRA.
    Keep,
    /// Not named by `--only`: left as installed (`from`), whatever the repository has.
    Untouched,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Install => "install",
            Change::Upgrade => "upgrade",
            Change::Downgrade => "downgrade",
            Change::Remove => "remove",
            Change::Keep => "keep",
            Change::Untouched => "untouched",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageAction {
    pub name: String,
    pub change: Change,
    /// What the host has of this name now (several for side-by-side kernel modules).
    pub from: Vec<String>,
    /// The NEVRA the host will have; `None` for a removal.
    pub to: Option<String>,
    pub reason: String,
    /// The repository package to fetch; `None` for a removal.
    #[serde(skip)]
    pub package: Option<RepoPackage>,
}

/// One served kernel and the module chosen for it.
#[derive(Debug, Clone, Serialize)]
pub struct KernelLine {
    pub uname_r: String,
    pub package: Option<String>,
    pub reasons: Vec<&'static str>,
    pub module: String,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallPlan {
    pub repo: String,
    /// sha256 of the signed repomd.xml the plan was made from.
    pub revision: String,
    pub kernels: Vec<KernelLine>,
    pub actions: Vec<PackageAction>,
    /// The pins this plan was made with (config and `--pin`), package → version.
    pub pins: BTreeMap<String, String>,
    /// `--only`: the packages the plan may touch (absent: all it manages).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
}

impl InstallPlan {
    /// `kmod` is the module package's name: installed ones that serve no kernel are removed.
    pub fn new(
        repo: &str,
        revision: &str,
        kmod: &str,
        selection: &Selection,
        installed: &[RpmPackage],
    ) -> InstallPlan {
        let kernels = selection
            .modules
            .iter()
            .map(|m| KernelLine {
                uname_r: m.kernel.uname_r.clone(),
                package: m.kernel.package.clone(),
                reasons: m.kernel.reasons.clone(),
                module: m.package.nevra(),
                evidence: m.evidence,
            })
            .collect();
        let mut actions: Vec<PackageAction> = selection
            .packages()
            .into_iter()
            .map(|pkg| {
                let reason = reason_for(selection, pkg);
                action_for(pkg, installed, reason)
            })
            .collect();
        let chosen: Vec<String> = selection.modules.iter().map(|m| m.package.nevra()).collect();
        for old in installed
            .iter()
            .filter(|i| i.name == kmod && !chosen.contains(&i.nevra()))
        {
            actions.push(PackageAction {
                name: old.name.clone(),
                change: Change::Remove,
                from: vec![old.nevra()],
                to: None,
                reason: "superseded: no served kernel is given this module".into(),
                package: None,
            });
        }
        InstallPlan {
            repo: repo.into(),
            revision: revision.into(),
            kernels,
            actions,
            pins: BTreeMap::new(),
            only: Vec::new(),
        }
    }

    /// Adds a package `--only` leaves alone, as it is installed (`from`; empty when it is not).
    pub fn untouched(&mut self, name: &str, installed: &[RpmPackage], reason: &str) {
        if self.actions.iter().any(|a| a.name == name) {
            return;
        }
        self.actions.push(PackageAction {
            name: name.to_owned(),
            change: Change::Untouched,
            from: installed
                .iter()
                .filter(|i| i.name == name)
                .map(|i| i.nevra())
                .collect(),
            to: None,
            reason: reason.to_owned(),
            package: None,
        });
    }

    /// The actions that change the host.
    pub fn changes(&self) -> impl Iterator<Item = &PackageAction> {
        self.actions
            .iter()
            .filter(|a| !matches!(a.change, Change::Keep | Change::Untouched))
    }

    pub fn is_converged(&self) -> bool {
        self.changes().next().is_none()
    }
}

fn reason_for(selection: &Selection, pkg: &RepoPackage) -> String {
    let kernels: Vec<&str> = selection
        .modules
        .iter()
        .filter(|m| m.package.nevra() == pkg.nevra())
        .map(|m| m.kernel.uname_r.as_str())
        .collect();
    if kernels.is_empty() {
        "userland".into()
    } else {
        format!("DRBD module for kernel {}", kernels.join(", "))
    }
}

fn action_for(pkg: &RepoPackage, installed: &[RpmPackage], reason: String) -> PackageAction {
    let same_name: Vec<&RpmPackage> = installed.iter().filter(|i| i.name == pkg.name).collect();
    let from: Vec<String> = same_name.iter().map(|i| i.nevra()).collect();
    let change = if from.contains(&pkg.nevra()) {
        Change::Keep
    } else {
        let newest = same_name.iter().map(|i| i.evr()).max_by(|a, b| compare_evr(a, b));
        match newest.map(|evr| compare_evr(&pkg.evr(), &evr)) {
            None => Change::Install,
            Some(Ordering::Less) => Change::Downgrade,
            Some(_) => Change::Upgrade,
        }
    };
    PackageAction {
        name: pkg.name.clone(),
        change,
        from,
        to: Some(pkg.nevra()),
        reason,
        package: Some(pkg.clone()),
    }
}

/// The plan as a person reads it.
pub fn render(plan: &InstallPlan) -> String {
    let mut out = format!("Repository {}\n", plan.repo);
    if !plan.only.is_empty() {
        out.push_str(&format!("Only: {}\n", plan.only.join(", ")));
    }
    if !plan.pins.is_empty() {
        let pins: Vec<String> = plan.pins.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!("Pins: {}\n", pins.join(", ")));
    }
    if !plan.kernels.is_empty() {
        out.push_str("Kernels served:\n");
    }
    for k in &plan.kernels {
        out.push_str(&format!(
            "  {} ({}) -> {} [{}]\n",
            k.uname_r,
            k.reasons.join(", "),
            k.module,
            k.evidence.describe()
        ));
    }
    out.push_str("Packages:\n");
    for a in &plan.actions {
        let line = match (&a.to, a.from.is_empty()) {
            (Some(to), true) => to.clone(),
            (Some(to), false) => format!("{} -> {to}", a.from.join(", ")),
            (None, true) => format!("{} (not installed)", a.name),
            (None, false) => a.from.join(", "),
        };
        out.push_str(&format!("  {:<9} {line}  ({})\n", a.change.label(), a.reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_pkg(name: &str, version: &str) -> RepoPackage {
        RepoPackage {
            name: name.into(),
            epoch: 0,
            version: version.into(),
            release: "1".into(),
            arch: "noarch".into(),
            location: String::new(),
            sha256: String::new(),
            size: 0,
            provides: vec![],
            requires: vec![],
            files: vec![],
        }
    }

    fn rpm_pkg(name: &str, version: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: "1".into(),
            arch: "noarch".into(),
            provides: vec![],
            dirs: vec![],
        }
    }

    #[test]
    fn change_follows_what_is_installed() {
        let want = repo_pkg("drbd-utils", "9.29.0");
        let cases = [
            (vec![], Change::Install),
            (vec![rpm_pkg("drbd-utils", "9.29.0")], Change::Keep),
            (vec![rpm_pkg("drbd-utils", "9.28.0")], Change::Upgrade),
            (vec![rpm_pkg("drbd-utils", "9.30.0")], Change::Downgrade),
            (vec![rpm_pkg("drbd-reactor", "9.29.0")], Change::Install),
        ];
        for (installed, expected) in cases {
            let action = action_for(&want, &installed, "userland".into());
            assert_eq!(action.change, expected, "{installed:?}");
        }
    }
}
