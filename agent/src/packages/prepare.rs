//! The plan phase of the install step: the host's kernels and installed packages, the
//! repository's metadata, the packages selected for them (`--pin`, `--only`), and the plan.

use super::Options;
use super::plan::InstallPlan;
use super::{downgrade, installed, select};
use crate::context::Context;
use crate::error::{Refusal, UsageError};
use crate::host::facts::{self, Facts};
use crate::host::rpmdb::{self, RpmPackage};
use crate::host::targets::{self, KernelTarget};
use crate::observed::{PlanVersions, Versions};
use crate::repo::{Files, RepoMetadata, RepoPackage, Repository, compare_evr};
use crate::settings::PackagesSettings;
use anyhow::Result;
use std::collections::BTreeMap;

/// Everything the step knows once it has looked at the host and the repository.
pub struct Prepared {
    pub facts: Facts,
    pub repository: Repository,
    pub plan: InstallPlan,
    /// `[packages]` with this run's `--pin`s over the config's pins.
    pub packages: PackagesSettings,
}

/// Reads the host and the repository and computes the plan; changes nothing on the host
/// (metadata is cached under `<root>/var/cache/linstor-agent`).
pub fn prepare(ctx: &Context) -> Result<Prepared> {
    prepare_with(ctx, &Options::default())
}

/// Where the pins and package names come from, for messages: the config files, and the
/// command line when it pins too.
pub fn sources(ctx: &Context, options: &Options) -> String {
    if options.pins.is_empty() {
        ctx.settings.sources.describe()
    } else {
        format!(
            "{} (or --pin on the command line)",
            ctx.settings.sources.describe()
        )
    }
}

/// Package → where its pin comes from, for messages: `--pin` when the command line pins it,
/// else the config file that sets it.
pub fn pin_sources(
    ctx: &Context,
    options: &Options,
    packages: &PackagesSettings,
) -> BTreeMap<String, String> {
    packages
        .pin
        .keys()
        .map(|name| {
            let from = if options.pins.contains_key(name) {
                "--pin on the command line".to_string()
            } else {
                ctx.settings.sources.pin_file(name)
            };
            (name.clone(), from)
        })
        .collect()
}

/// A pin must be on a package the plan can use it for: the module, the userland, a `--only`
/// name, a package installed on the host (the pool upgrade pins `linstor-controller` and
/// `linstor-common` where they are), or one a managed package requires (a pin there decides
/// which version of the managed package is chosen). Anything else is a typo that would be
/// ignored silently: a usage error naming it and the managed packages.
fn check_pins_are_used(
    ctx: &Context,
    metadata: &RepoMetadata,
    packages: &PackagesSettings,
    options: &Options,
    origin: &select::Origin,
) -> Result<()> {
    let managed = managed_names(packages);
    let required = |name: &str| {
        managed
            .iter()
            .flat_map(|m| metadata.named(m))
            .any(|p| p.requires.iter().any(|d| d.name == name))
    };
    let candidates: Vec<&str> = packages
        .pin
        .keys()
        .map(String::as_str)
        .filter(|n| !managed.contains(n) && !options.only.iter().any(|o| o == n) && !required(n))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let installed = rpmdb::installed_named(&ctx.sysroot, &candidates)?;
    let unused: Vec<&str> = candidates
        .into_iter()
        .filter(|n| !installed.iter().any(|p| p.name == *n))
        .collect();
    let Some(first) = unused.first() else {
        return Ok(());
    };
    Err(UsageError(format!(
        "the pin on {first} (in {}) names a package this host's plan does not manage: it is not the module \
         package, not in the userland, not installed, and no managed package requires it{}. The managed \
         packages are {}. Fix the name, or remove the pin.",
        origin.pin_from(first),
        if unused.len() > 1 {
            format!(" (nor are {})", unused[1..].join(", "))
        } else {
            String::new()
        },
        managed.join(", ")
    ))
    .into())
}

/// [`prepare`] with `--pin` over the config's pins and, with `--only`, a plan that touches only
/// the named packages: the others are shown `untouched`, as installed. A named package outside
/// `[packages]` is upgraded (or pinned) when the host has it installed (linstor-controller,
/// linstor-common), and left alone when it does not: `--only` never adds a package.
pub fn prepare_with(ctx: &Context, options: &Options) -> Result<Prepared> {
    let facts = facts::gather(&ctx.sysroot)?;
    let packages = options.packages_config(&ctx.settings.packages);
    let want_kmod = options.includes(&packages.kmod);
    let kernels = if want_kmod {
        kernels_to_serve(ctx, &facts)?
    } else {
        Vec::new()
    };
    let repository = Repository::open(ctx.settings.repo()?, &ctx.sysroot)?;
    // Module matching needs only the module package's files under /lib/modules: the rest of a
    // large repository's filelists is skipped without being parsed or kept.
    let files = if want_kmod {
        module_files(&packages.kmod)
    } else {
        Files::Skip
    };
    let metadata = repository.metadata_with(&files)?;
    let packages = super::profile::apply(&facts, &metadata, packages);
    let config_files = sources(ctx, options);
    let pins_from = pin_sources(ctx, options, &packages);
    let origin = select::Origin {
        config_files: &config_files,
        baseurl: repository.baseurl(),
        pins_from: &pins_from,
    };

    let extra = extra_names(options, &packages);
    let mut names: Vec<&str> = managed_names(&packages);
    names.extend(extra.iter().copied());
    let installed = rpmdb::installed_named(&ctx.sysroot, &names)?;
    check_pins_are_used(ctx, &metadata, &packages, options, &origin)?;

    let modules = if want_kmod {
        select::select_modules(&metadata, &packages, &kernels, &origin)?
    } else {
        Vec::new()
    };
    let mut userland = select_userland(&metadata, &packages, options, &origin)?;
    let (extra_userland, left_alone) = select_extra(ctx, &metadata, &packages, &extra, &installed, &origin)?;
    userland.extend(extra_userland);
    let selection = select::Selection { modules, userland };
    // What the host has decides, kernel by kernel for modules: the plan's changes, and never
    // backwards unless pinned.
    let installed_modules = if selection.modules.is_empty() {
        Vec::new()
    } else {
        installed::module_packages(&ctx.sysroot, &packages.kmod)?
    };
    let mut plan = new_plan(
        &metadata,
        &packages,
        &selection,
        &installed,
        &installed_modules,
        want_kmod,
        &origin,
    );
    downgrade::guard(
        &mut plan,
        &selection,
        &packages.kmod,
        &installed,
        &installed_modules,
        &packages.pin,
        &origin,
    )?;
    if options.is_scoped() {
        mark_untouched(&mut plan, options, &packages, &installed, &left_alone);
    }
    // `plan --newest` leaves the config's pins out: not what this host is meant to run.
    if !options.newest {
        ctx.observed.plan(plan_versions(
            &selection,
            &packages.kmod,
            &installed,
            &installed_modules,
            Whole {
                kernels: want_kmod,
                packages: !options.is_scoped(),
            },
        ));
    }
    plan.pins = packages.pin.clone();
    plan.only = options.only.clone();
    Ok(Prepared {
        facts,
        repository,
        plan,
        packages,
    })
}

/// Whether a plan covers every served kernel (the module is in scope) and every managed
/// package (no `--only`).
struct Whole {
    kernels: bool,
    packages: bool,
}

/// Installed against chosen, per served kernel and per selected package, for the metrics.
fn plan_versions(
    selection: &select::Selection,
    kmod: &str,
    installed: &[RpmPackage],
    installed_modules: &[RepoPackage],
    whole: Whole,
) -> PlanVersions {
    let modules = selection
        .modules
        .iter()
        .map(|choice| {
            let now = downgrade::newest_installed_fit(&choice.kernel, installed_modules);
            let versions = Versions {
                package: kmod.to_owned(),
                installed: now.map(RepoPackage::evr),
                newest: choice.package.evr(),
            };
            (choice.kernel.uname_r.clone(), versions)
        })
        .collect();
    let packages = selection
        .userland
        .iter()
        .map(|pkg| {
            let now = installed
                .iter()
                .filter(|i| i.name == pkg.name)
                .map(RpmPackage::evr)
                .max_by(|a, b| compare_evr(a, b));
            let versions = Versions {
                package: pkg.name.clone(),
                installed: now,
                newest: pkg.evr(),
            };
            (pkg.name.clone(), versions)
        })
        .collect();
    PlanVersions {
        modules,
        packages,
        all_kernels: whole.kernels,
        all_packages: whole.packages,
    }
}

/// The plan from the selection, against the packages installed. Without the module in scope,
/// installed modules are not the plan's to replace.
fn new_plan(
    metadata: &RepoMetadata,
    packages: &PackagesSettings,
    selection: &select::Selection,
    installed: &[RpmPackage],
    installed_modules: &[RepoPackage],
    want_kmod: bool,
    origin: &select::Origin,
) -> InstallPlan {
    let considered: Vec<RpmPackage> = installed
        .iter()
        .filter(|p| want_kmod || p.name != packages.kmod)
        .cloned()
        .collect();
    InstallPlan::new(
        origin.baseurl,
        &metadata.revision,
        &packages.kmod,
        selection,
        &considered,
        installed_modules,
    )
}

/// The kernels the module serves; none installed is a refusal.
fn kernels_to_serve(ctx: &Context, facts: &Facts) -> Result<Vec<KernelTarget>> {
    let kernels = targets::kernels_to_serve(facts, &ctx.sysroot)?;
    if kernels.is_empty() {
        return Err(Refusal(format!(
            "no kernel is installed in {}: there is nothing for the DRBD module to serve. \
             Install the kernel first (or check --root).",
            ctx.sysroot.root().display()
        ))
        .into());
    }
    Ok(kernels)
}

/// The repository's file lists module matching needs: the module package's, under
/// `/lib/modules`.
pub fn module_files(kmod: &str) -> Files {
    Files::Named {
        names: vec![kmod.to_owned()],
        under: vec!["/lib/modules/".into()],
    }
}

/// The packages `[packages]` manages: the module, then the userland.
fn managed_names(packages: &PackagesSettings) -> Vec<&str> {
    let mut names: Vec<&str> = vec![packages.kmod.as_str()];
    names.extend(packages.userland.iter().map(String::as_str));
    names
}

/// The `--only` names outside `[packages]`: managed when installed.
fn extra_names<'a>(options: &'a Options, packages: &PackagesSettings) -> Vec<&'a str> {
    options
        .only
        .iter()
        .map(String::as_str)
        .filter(|n| *n != packages.kmod && !packages.userland.iter().any(|u| u == n))
        .collect()
}

/// The newest fit (or the pin) of every userland package of `[packages]` in scope.
fn select_userland(
    metadata: &RepoMetadata,
    packages: &PackagesSettings,
    options: &Options,
    origin: &select::Origin,
) -> Result<Vec<RepoPackage>> {
    packages
        .userland
        .iter()
        .filter(|n| options.includes(n))
        .map(|name| select::select_userland(metadata, name, &packages.pin, origin))
        .collect()
}

/// Names `--only` leaves alone, each with why.
type LeftAlone<'a> = Vec<(&'a str, &'static str)>;

/// The `--only` names outside `[packages]`: selected when installed and in the repository,
/// else left alone with why; a name neither installed nor in the repository is a usage error.
fn select_extra<'a>(
    ctx: &Context,
    metadata: &RepoMetadata,
    packages: &PackagesSettings,
    extra: &[&'a str],
    installed: &[RpmPackage],
    origin: &select::Origin,
) -> Result<(Vec<RepoPackage>, LeftAlone<'a>)> {
    let mut selected = Vec::new();
    let mut left_alone = Vec::new();
    for &name in extra {
        let is_installed = installed.iter().any(|i| i.name == name);
        let in_repo = metadata.named(name).next().is_some();
        match (is_installed, in_repo) {
            (true, true) => selected.push(select::select_userland(metadata, name, &packages.pin, origin)?),
            (true, false) => left_alone.push((
                name,
                "installed, but the repository has no package of this name: left as installed",
            )),
            (false, true) => left_alone.push((
                name,
                "not installed, and not in [packages] userland: --only does not add packages",
            )),
            (false, false) => {
                return Err(UsageError(format!(
                    "--only {name}: no package of that name is installed on the host, in the repository {}, \
                     or in [packages] of {}: check the name",
                    origin.baseurl,
                    ctx.settings.sources.describe()
                ))
                .into());
            }
        }
    }
    Ok((selected, left_alone))
}

/// With `--only`: the managed packages it does not name, and the extra names left alone,
/// shown `untouched`, as installed.
fn mark_untouched(
    plan: &mut InstallPlan,
    options: &Options,
    packages: &PackagesSettings,
    installed: &[RpmPackage],
    left_alone: &[(&str, &str)],
) {
    for name in managed_names(packages)
        .into_iter()
        .filter(|n| !options.includes(n))
    {
        plan.untouched(name, installed, "not named by --only: left as installed");
    }
    for (name, reason) in left_alone {
        plan.untouched(name, installed, reason);
    }
}
