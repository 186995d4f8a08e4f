//! Choosing packages: for every kernel to serve, the kernel-module package that fits it; for
//! every userland package, the pinned or newest version. Dependencies are left to yum/dnf.

use super::fit::{Evidence, Fit, fit};
use crate::error::{Refusal, UsageError};
use crate::host::targets::KernelTarget;
use crate::repo::{RepoMetadata, RepoPackage, compare_evr, compare_versions};
use crate::settings::PackagesSettings;
use anyhow::{Result, anyhow};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The module package chosen for one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleChoice {
    pub kernel: KernelTarget,
    pub package: RepoPackage,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    pub modules: Vec<ModuleChoice>,
    pub userland: Vec<RepoPackage>,
}

impl Selection {
    /// Every package to have installed, each once (one module package may serve several kernels).
    pub fn packages(&self) -> Vec<&RepoPackage> {
        let mut out: Vec<&RepoPackage> = Vec::new();
        for pkg in self.modules.iter().map(|m| &m.package).chain(&self.userland) {
            if !out.iter().any(|p| p.nevra() == pkg.nevra()) {
                out.push(pkg);
            }
        }
        out
    }
}

/// Where the settings came from and where the packages come from, for messages.
pub struct Origin<'a> {
    pub config_files: &'a str,
    pub baseurl: &'a str,
    /// Package → where its pin comes from (a config file, or `--pin`); see [`pin_sources`].
    ///
    /// [`pin_sources`]: super::prepare::pin_sources
    pub pins_from: &'a BTreeMap<String, String>,
}

impl Origin<'_> {
    /// Where the pin of `name` comes from: its file or `--pin`, else the config files.
    pub fn pin_from(&self, name: &str) -> &str {
        self.pins_from.get(name).map_or(self.config_files, String::as_str)
    }
}

pub fn select(
    metadata: &RepoMetadata,
    config: &PackagesSettings,
    kernels: &[KernelTarget],
    origin: &Origin,
) -> Result<Selection> {
    let modules = select_modules(metadata, config, kernels, origin)?;
    let mut userland = Vec::new();
    for name in &config.userland {
        userland.push(select_userland(metadata, name, &config.pin, origin)?);
    }
    Ok(Selection { modules, userland })
}

/// For every kernel, the newest module package that fits it (and the pin, if the module is
/// pinned). A kernel nothing fits is a refusal (exit 3) that names the kernel, why, and the
/// module versions the repository has.
pub fn select_modules(
    metadata: &RepoMetadata,
    config: &PackagesSettings,
    kernels: &[KernelTarget],
    origin: &Origin,
) -> Result<Vec<ModuleChoice>> {
    let kmods: Vec<&RepoPackage> = metadata
        .named(&config.kmod)
        .filter(|p| installable_arch(p))
        .collect();
    if kmods.is_empty() {
        return Err(anyhow!(
            "the repository {} has no package named {:?}: check [packages] kmod in {}",
            origin.baseurl,
            config.kmod,
            origin.config_files
        ));
    }
    let pin = config.pin.get(&config.kmod);

    let mut modules = Vec::new();
    let mut unserved = Vec::new();
    // Kernels a module fits, but not at the pinned version: the pin is what is wrong there.
    let mut excluded_by_pin = 0;
    for kernel in kernels {
        let fitting: Vec<(&RepoPackage, Evidence)> = kmods
            .iter()
            .filter_map(|p| match fit(p, kernel) {
                Fit::Fits(evidence) => Some((*p, evidence)),
                Fit::DoesNotFit(_) => None,
            })
            .collect();
        let allowed: Vec<(&RepoPackage, Evidence)> = fitting
            .iter()
            .copied()
            .filter(|(p, _)| pin.is_none_or(|pin| pin_matches(p, pin)))
            .collect();
        match allowed.into_iter().max_by(newer_module) {
            Some((package, evidence)) => modules.push(ModuleChoice {
                kernel: kernel.clone(),
                package: package.clone(),
                evidence,
            }),
            None => {
                if pin.is_some() && !fitting.is_empty() {
                    excluded_by_pin += 1;
                }
                unserved.push(unserved_reason(kernel, &fitting, pin, &config.kmod));
            }
        }
    }
    if let Some(pin) = pin
        && !unserved.is_empty()
        && excluded_by_pin == unserved.len()
    {
        // Every kernel has a module; the pin rules them out: a config error (README "Exit
        // codes": a pin the repository cannot satisfy is exit 2), naming where the pin is.
        return Err(UsageError(format!(
            "{kmod} is pinned to {pin} in {}, but no {kmod} of that version fits {}:\n  {}\nthe repository {} \
             has {kmod} {}. Nothing was installed. Change the pin to a version that fits (listed above), \
             or remove it to get the newest that fits.",
            origin.pin_from(&config.kmod),
            if unserved.len() == 1 {
                "this kernel".to_string()
            } else {
                format!("these {} kernels", unserved.len())
            },
            unserved.join("\n  "),
            origin.baseurl,
            available(&kmods),
            kmod = config.kmod,
        ))
        .into());
    }
    if !unserved.is_empty() {
        return Err(Refusal(format!(
            "no {kmod} package fits {}:\n  {}\nthe repository {} has {kmod} {}.\n\
             Nothing was installed. Add a {kmod} built for that kernel to the repository, change the \
             [packages] pin in {}, or remove the kernel from the host.",
            if unserved.len() == 1 {
                "this kernel".to_string()
            } else {
                format!("{} kernels", unserved.len())
            },
            unserved.join("\n  "),
            origin.baseurl,
            available(&kmods),
            origin.pin_from(&config.kmod),
            kmod = config.kmod,
        ))
        .into());
    }
    Ok(modules)
}

/// The pinned version of package `name`, else its newest; a pin the repository cannot meet is
/// a config error naming the versions it has.
pub fn select_userland(
    metadata: &RepoMetadata,
    name: &str,
    pins: &std::collections::BTreeMap<String, String>,
    origin: &Origin,
) -> Result<RepoPackage> {
    let pin = pins.get(name);
    let candidates: Vec<&RepoPackage> = metadata.named(name).filter(|p| installable_arch(p)).collect();
    if candidates.is_empty() {
        return Err(anyhow!(
            "package {name} is not in the repository {}: check [packages] userland in {}",
            origin.baseurl,
            origin.config_files
        ));
    }
    // Unpinned, the newest whose versioned requirements the other pins allow (Vates'
    // `xcp-ng-linstor` 1.2-4 requires `linstor-satellite >= 1.29.2`: a host pinned at 1.29.0
    // gets the meta-package that allows it).
    let chosen = candidates
        .iter()
        .filter(|p| pin.is_none_or(|pin| pin_matches(p, pin)))
        .filter(|p| pin.is_some() || allows_pins(p, pins))
        .max_by(|a, b| compare_evr(&a.evr(), &b.evr()))
        .or_else(|| {
            candidates
                .iter()
                .filter(|p| pin.is_none_or(|pin| pin_matches(p, pin)))
                .max_by(|a, b| compare_evr(&a.evr(), &b.evr()))
        });
    match (chosen, pin) {
        (Some(pkg), _) => Ok((*pkg).clone()),
        (None, pin) => Err(UsageError(format!(
            "{name} is pinned to {} in {}, but the repository {} has only {}: change the pin",
            pin.map(String::as_str).unwrap_or_default(),
            origin.pin_from(name),
            origin.baseurl,
            available(&candidates)
        ))
        .into()),
    }
}

/// Whether every versioned requirement of `pkg` on a pinned package holds at the pinned
/// version (the version part of the pin; unpinned or unversioned requirements always do).
fn allows_pins(pkg: &RepoPackage, pins: &std::collections::BTreeMap<String, String>) -> bool {
    pkg.requires.iter().all(|dep| {
        let (Some(flags), Some(wanted), Some(pin)) = (&dep.flags, &dep.version, pins.get(&dep.name)) else {
            return true;
        };
        let pinned = pin.split_once(':').map_or(pin.as_str(), |(_, v)| v);
        let pinned = pinned.split_once('-').map_or(pinned, |(v, _)| v);
        let order = compare_versions(pinned, wanted);
        match flags.as_str() {
            "EQ" => order == Ordering::Equal,
            "LT" => order == Ordering::Less,
            "LE" => order != Ordering::Greater,
            "GT" => order == Ordering::Greater,
            "GE" => order != Ordering::Less,
            _ => true,
        }
    })
}

/// x86_64 is the only architecture XCP-ng dom0 runs.
fn installable_arch(pkg: &RepoPackage) -> bool {
    matches!(pkg.arch.as_str(), "x86_64" | "noarch")
}

/// The DRBD version of a kmod package: LINBIT puts the kernel after an underscore
/// (`9.2.11_4.18.0_553`), Vates does not (`9.2.11`).
pub fn drbd_version(pkg: &RepoPackage) -> &str {
    pkg.version.split('_').next().unwrap_or(&pkg.version)
}

/// A pin names a DRBD/package version (`9.2.11`), a full version (`9.2.11_4.18.0_553`), or a
/// version-release (`9.2.11-1.xcpng8.3`), optionally with an epoch.
pub fn pin_matches(pkg: &RepoPackage, pin: &str) -> bool {
    let pin = pin.trim();
    pin == pkg.version
        || pin == drbd_version(pkg)
        || pin == format!("{}-{}", pkg.version, pkg.release)
        || pin == pkg.evr()
        || pin == format!("{}:{}-{}", pkg.epoch, pkg.version, pkg.release)
}

/// How two module packages order for one kernel: DRBD version first (LINBIT's versions carry
/// the kernel after it), then the whole EVR. The plan and the downgrade guard both judge by it.
pub fn module_order(a: &RepoPackage, b: &RepoPackage) -> Ordering {
    compare_versions(drbd_version(a), drbd_version(b)).then_with(|| compare_evr(&a.evr(), &b.evr()))
}

/// Newest DRBD version first; then stronger fit evidence; then the full EVR.
fn newer_module(a: &(&RepoPackage, Evidence), b: &(&RepoPackage, Evidence)) -> Ordering {
    compare_versions(drbd_version(a.0), drbd_version(b.0))
        .then(a.1.cmp(&b.1))
        .then_with(|| compare_evr(&a.0.evr(), &b.0.evr()))
}

fn unserved_reason(
    kernel: &KernelTarget,
    fitting: &[(&RepoPackage, Evidence)],
    pin: Option<&String>,
    kmod: &str,
) -> String {
    let who = match &kernel.package {
        Some(package) => format!(
            "kernel {} ({package}; {})",
            kernel.uname_r,
            kernel.reasons.join(", ")
        ),
        None => format!("kernel {} ({})", kernel.uname_r, kernel.reasons.join(", ")),
    };
    match (pin, fitting.is_empty()) {
        (Some(pin), false) => format!(
            "{who}: {kmod} is pinned to {pin}, but the versions that fit this kernel are {}",
            fitting
                .iter()
                .map(|(p, _)| format!("{}-{}", p.version, p.release))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("{who}: none of the repository's {kmod} packages is built for it"),
    }
}

fn available(packages: &[&RepoPackage]) -> String {
    let mut versions: Vec<String> = packages
        .iter()
        .map(|p| format!("{}-{}", p.version, p.release))
        .collect();
    versions.sort_by(|a, b| compare_evr(a, b));
    versions.dedup();
    versions.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::Dependency;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn pkg(
        name: &str,
        version: &str,
        release: &str,
        files: &[&str],
        requires: Vec<Dependency>,
    ) -> RepoPackage {
        RepoPackage {
            name: name.into(),
            epoch: 0,
            version: version.into(),
            release: release.into(),
            arch: "x86_64".into(),
            location: format!("Packages/{name}-{version}-{release}.x86_64.rpm"),
            sha256: String::new(),
            size: 0,
            provides: vec![],
            requires,
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn kernel(uname: &str) -> KernelTarget {
        KernelTarget {
            uname_r: uname.into(),
            package: Some(format!("kernel-{uname}")),
            kabi: BTreeMap::new(),
            reasons: vec!["default boot", "installed"],
            module_dir: PathBuf::from(format!("/lib/modules/{uname}")),
        }
    }

    fn metadata() -> RepoMetadata {
        let xcp = ["/lib/modules/4.19.0+1/extra/drbd/drbd.ko"];
        RepoMetadata {
            revision: "r".into(),
            packages: vec![
                pkg("kmod-drbd", "9.2.11", "1.xcpng8.3", &xcp, vec![]),
                pkg("kmod-drbd", "9.2.12", "1.xcpng8.3", &xcp, vec![]),
                pkg("drbd-utils", "9.28.0", "1", &[], vec![]),
                pkg("drbd-utils", "9.29.0", "1", &[], vec![]),
            ],
        }
    }

    fn config(pin: &[(&str, &str)]) -> PackagesSettings {
        PackagesSettings {
            kmod: "kmod-drbd".into(),
            userland: vec!["drbd-utils".into()],
            userland_explicit: true,
            pin: pin.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    const ORIGIN: Origin = Origin {
        pins_from: &BTreeMap::new(),
        config_files: "agent.toml",
        baseurl: "file:///repo/",
    };

    #[test]
    fn newest_fitting_versions_are_chosen() {
        let sel = select(&metadata(), &config(&[]), &[kernel("4.19.0+1")], &ORIGIN).unwrap();
        assert_eq!(
            sel.modules[0].package.nevra(),
            "kmod-drbd-9.2.12-1.xcpng8.3.x86_64"
        );
        assert_eq!(sel.userland[0].version, "9.29.0");
    }

    #[test]
    fn pins_are_honoured() {
        let cfg = config(&[("kmod-drbd", "9.2.11"), ("drbd-utils", "9.28.0-1")]);
        let sel = select(&metadata(), &cfg, &[kernel("4.19.0+1")], &ORIGIN).unwrap();
        assert_eq!(sel.modules[0].package.version, "9.2.11");
        assert_eq!(sel.userland[0].version, "9.28.0");
    }

    #[test]
    fn a_kernel_nothing_fits_is_refused_naming_kernel_and_versions() {
        let err = select(
            &metadata(),
            &config(&[]),
            &[kernel("4.19.0+1"), kernel("5.14.0-503.el9.x86_64")],
            &ORIGIN,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Refused);
        let msg = err.to_string();
        assert!(msg.contains("kernel 5.14.0-503.el9.x86_64"), "{msg}");
        assert!(msg.contains("9.2.11-1.xcpng8.3, 9.2.12-1.xcpng8.3"), "{msg}");
        assert!(
            !msg.contains("kernel 4.19.0+1"),
            "only the unserved kernel is named: {msg}"
        );
    }

    #[test]
    fn a_pin_that_excludes_every_fitting_module_is_a_config_error() {
        let pins_from = BTreeMap::from([("kmod-drbd".to_string(), "/etc/agent.d/10-pins.toml".to_string())]);
        let origin = Origin {
            pins_from: &pins_from,
            ..ORIGIN
        };
        let err = select(
            &metadata(),
            &config(&[("kmod-drbd", "9.2.99")]),
            &[kernel("4.19.0+1")],
            &origin,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Usage);
        let err = err.to_string();
        assert!(
            err.contains("pinned to 9.2.99 in /etc/agent.d/10-pins.toml"),
            "{err}"
        );
        assert!(err.contains("9.2.11-1.xcpng8.3, 9.2.12-1.xcpng8.3"), "{err}");

        // A kernel nothing fits at all stays a refusal, pin or no pin.
        let err = select(
            &metadata(),
            &config(&[("kmod-drbd", "9.2.99")]),
            &[kernel("4.19.0+1"), kernel("5.14.0-503.el9.x86_64")],
            &origin,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Refused);
    }

    #[test]
    fn a_userland_pin_the_repo_lacks_is_a_config_error() {
        let err = select(
            &metadata(),
            &config(&[("drbd-utils", "1.0")]),
            &[kernel("4.19.0+1")],
            &ORIGIN,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Usage);
        assert!(err.to_string().contains("9.28.0-1, 9.29.0-1"), "{err}");
    }

    #[test]
    fn linbit_pins_match_the_drbd_version() {
        let p = pkg("kmod-drbd", "9.2.11_4.18.0_553", "1", &[], vec![]);
        assert!(pin_matches(&p, "9.2.11"));
        assert!(pin_matches(&p, "9.2.11_4.18.0_553-1"));
        assert!(!pin_matches(&p, "9.2.1"));
        assert_eq!(drbd_version(&p), "9.2.11");
    }

    fn requires(name: &str, flags: &str, version: &str) -> Dependency {
        Dependency {
            name: name.into(),
            flags: Some(flags.into()),
            epoch: None,
            version: Some(version.into()),
            release: None,
        }
    }

    #[test]
    fn an_unpinned_package_is_the_newest_whose_requirements_the_pins_allow() {
        let metadata = RepoMetadata {
            revision: "r".into(),
            packages: vec![
                pkg(
                    "xcp-ng-linstor",
                    "1.2",
                    "3",
                    &[],
                    vec![requires("linstor-satellite", "GE", "1.29.0")],
                ),
                pkg(
                    "xcp-ng-linstor",
                    "1.2",
                    "4",
                    &[],
                    vec![requires("linstor-satellite", "GE", "1.29.2")],
                ),
            ],
        };
        let newest = select_userland(&metadata, "xcp-ng-linstor", &BTreeMap::new(), &ORIGIN).unwrap();
        assert_eq!(newest.release, "4");
        let pins = BTreeMap::from([("linstor-satellite".to_string(), "1.29.0".to_string())]);
        let allowed = select_userland(&metadata, "xcp-ng-linstor", &pins, &ORIGIN).unwrap();
        assert_eq!(allowed.release, "3", "1.2-4 needs linstor-satellite >= 1.29.2");
        let pins = BTreeMap::from([("linstor-satellite".to_string(), "1.29.2-1.xcpng8.3".to_string())]);
        assert_eq!(
            select_userland(&metadata, "xcp-ng-linstor", &pins, &ORIGIN)
                .unwrap()
                .release,
            "4"
        );
    }
}
