//! The install plan: for each selected package, what the host has and what it will get.

use super::fit::{Evidence, Fit, fit};
use super::select::{Selection, module_order};
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
    /// Secure Boot, and the signer of every module the plan installs (`module_trust`); absent
    /// when the module is not in scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<crate::secure_boot::Report>,
}

impl InstallPlan {
    /// `kmod` is the module package's name: installed ones that serve no kernel are removed.
    /// `installed_modules` are the host's module packages with their files and requires (for
    /// the fit rules; empty when the plan serves no kernel).
    pub fn new(
        repo: &str,
        revision: &str,
        kmod: &str,
        selection: &Selection,
        installed: &[RpmPackage],
        installed_modules: &[RepoPackage],
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
                let mut action = action_for(pkg, installed, reason);
                if let Some(change) = module_change(selection, pkg, installed_modules) {
                    action.change = change;
                }
                action
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
            secure_boot: None,
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

/// For a module package, its change judged kernel by kernel: the module packages are
/// install-only (`backend::installonly`), so a module for a kernel that has none is an
/// install even when another kernel's module has a higher version, and an upgrade or a
/// downgrade is against the newest installed module that fits one of its kernels (as
/// `downgrade::guard` judges). `None` for a package that is not a chosen module.
fn module_change(
    selection: &Selection,
    pkg: &RepoPackage,
    installed_modules: &[RepoPackage],
) -> Option<Change> {
    let kernels: Vec<_> = selection
        .modules
        .iter()
        .filter(|m| m.package.nevra() == pkg.nevra())
        .map(|m| &m.kernel)
        .collect();
    if kernels.is_empty() {
        return None;
    }
    if installed_modules.iter().any(|i| i.nevra() == pkg.nevra()) {
        return Some(Change::Keep);
    }
    let newest = installed_modules
        .iter()
        .filter(|i| kernels.iter().any(|k| matches!(fit(i, k), Fit::Fits(_))))
        .max_by(|a, b| module_order(a, b));
    Some(match newest.map(|n| module_order(pkg, n)) {
        None => Change::Install,
        Some(Ordering::Less) => Change::Downgrade,
        Some(_) => Change::Upgrade,
    })
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

    /// A LINBIT-style module for `uname`: the kernel in its version, its files under
    /// `/lib/modules/<uname>/` (the fit by module path).
    fn linbit(drbd: &str, uname: &str) -> RepoPackage {
        let mut pkg = repo_pkg("kmod-drbd", &format!("{drbd}_{}", uname.replace('-', "_")));
        pkg.files = vec![format!("/lib/modules/{uname}/extra/drbd/drbd.ko")];
        pkg
    }

    fn installed_rpm(pkg: &RepoPackage) -> RpmPackage {
        RpmPackage {
            version: pkg.version.clone(),
            ..rpm_pkg(&pkg.name, &pkg.version)
        }
    }

    fn kernel(uname: &str) -> crate::host::targets::KernelTarget {
        crate::host::targets::KernelTarget {
            uname_r: uname.into(),
            package: None,
            kabi: Default::default(),
            reasons: vec!["installed"],
            module_dir: format!("/lib/modules/{uname}").into(),
        }
    }

    /// The plan for `chosen` (kernel → module) on a host with `on_host` module packages.
    fn module_plan(chosen: &[(&str, &RepoPackage)], on_host: &[&RepoPackage]) -> InstallPlan {
        let selection = Selection {
            modules: chosen
                .iter()
                .map(|(uname, pkg)| super::super::select::ModuleChoice {
                    kernel: kernel(uname),
                    package: (*pkg).clone(),
                    evidence: Evidence::ModulePath,
                })
                .collect(),
            userland: vec![],
        };
        let rpms: Vec<RpmPackage> = on_host.iter().map(|p| installed_rpm(p)).collect();
        let modules: Vec<RepoPackage> = on_host.iter().map(|p| (*p).clone()).collect();
        InstallPlan::new("file:///r/", "REV", "kmod-drbd", &selection, &rpms, &modules)
    }

    fn change_of(plan: &InstallPlan, nevra: &str) -> Change {
        plan.actions
            .iter()
            .find(|a| a.to.as_deref() == Some(nevra) || (a.to.is_none() && a.from == [nevra]))
            .unwrap_or_else(|| panic!("no action for {nevra}: {:?}", plan.actions))
            .change
    }

    const EL8: &str = "4.18.0-553.el8_10.x86_64";
    const EL9: &str = "5.14.0-427.el9.x86_64";

    #[test]
    fn a_module_for_a_kernel_without_one_is_an_install_whatever_the_other_kernels_have() {
        // The el9 module sorts above the el8 one (5.14 > 4.18 in the version): judged by name
        // alone, el8's module would be a downgrade of el9's.
        let el9 = linbit("9.2.12", EL9);
        let el8 = linbit("9.2.12", EL8);
        let plan = module_plan(&[(EL9, &el9), (EL8, &el8)], &[&el9]);
        assert_eq!(change_of(&plan, &el8.nevra()), Change::Install);
        assert_eq!(change_of(&plan, &el9.nevra()), Change::Keep);
        assert!(
            plan.actions.iter().all(|a| a.change != Change::Remove),
            "{plan:?}"
        );
    }

    #[test]
    fn modules_move_kernel_by_kernel_and_only_the_replaced_ones_go() {
        let (old8, old9) = (linbit("9.2.11", EL8), linbit("9.2.11", EL9));
        let (new8, new9) = (linbit("9.2.12", EL8), linbit("9.2.12", EL9));
        let plan = module_plan(&[(EL8, &new8), (EL9, &new9)], &[&old8, &old9]);
        assert_eq!(change_of(&plan, &new8.nevra()), Change::Upgrade);
        assert_eq!(change_of(&plan, &new9.nevra()), Change::Upgrade);
        assert_eq!(change_of(&plan, &old8.nevra()), Change::Remove);
        assert_eq!(change_of(&plan, &old9.nevra()), Change::Remove);

        // A pin back on el9 only: a downgrade for that kernel, an upgrade for the other.
        let plan = module_plan(&[(EL8, &new8), (EL9, &old9)], &[&old8, &new9]);
        assert_eq!(change_of(&plan, &new8.nevra()), Change::Upgrade);
        assert_eq!(change_of(&plan, &old9.nevra()), Change::Downgrade);
        assert_eq!(change_of(&plan, &new9.nevra()), Change::Remove);
    }

    #[test]
    fn the_module_of_a_kernel_that_is_gone_is_removed_and_no_other() {
        let (el8, el9) = (linbit("9.2.12", EL8), linbit("9.2.12", EL9));
        // el8 is no longer installed: only el9 is served.
        let plan = module_plan(&[(EL9, &el9)], &[&el8, &el9]);
        assert_eq!(change_of(&plan, &el9.nevra()), Change::Keep);
        let removed: Vec<&Vec<String>> = plan
            .actions
            .iter()
            .filter(|a| a.change == Change::Remove)
            .map(|a| &a.from)
            .collect();
        assert_eq!(removed, [&vec![el8.nevra()]]);
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
