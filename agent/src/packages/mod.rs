//! The install step: the DRBD kernel module for every kernel that may run it, and the
//! LINSTOR/DRBD userland, from the signed repository, verified before anything is installed.

pub mod backend;
pub mod fit;
pub mod installed;
pub mod live;
pub mod options;
pub mod plan;
pub mod select;

use crate::context::Context;
use crate::error::{Refusal, UsageError};
use crate::host::facts::{self, Facts};
use crate::host::rpmdb::{self, RpmPackage};
use crate::repo::{Files, Repository};
use crate::report::ReportCore;
use crate::settings::{self, PackagesSettings, SavedPins};
use anyhow::{Context as _, Result};
pub use options::Options;
use plan::{Change, InstallPlan};
use serde::Serialize;

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

/// [`prepare`] with `--pin` over the config's pins and, with `--only`, a plan that touches only
/// the named packages: the others are shown `untouched`, as installed. A named package outside
/// `[packages]` is upgraded (or pinned) when the host has it installed (linstor-controller,
/// linstor-common), and left alone when it does not: `--only` never adds a package.
pub fn prepare_with(ctx: &Context, options: &Options) -> Result<Prepared> {
    let facts = facts::gather(&ctx.sysroot)?;
    let packages = options.packages_config(&ctx.settings.packages);
    let want_kmod = options.includes(&packages.kmod);
    let kernels = if want_kmod {
        facts::kernels_to_serve(&facts, &ctx.sysroot)?
    } else {
        Vec::new()
    };
    if want_kmod && kernels.is_empty() {
        return Err(Refusal(format!(
            "no kernel is installed in {}: there is nothing for the DRBD module to serve. \
             Install the kernel first (or check --root).",
            ctx.sysroot.root().display()
        ))
        .into());
    }
    let repo_config = ctx.settings.repo()?;
    let repository = Repository::open(repo_config, &ctx.sysroot)?;
    // Module matching needs only the module package's files under /lib/modules: the rest of a
    // large repository's filelists is skipped without being parsed or kept.
    let files = if want_kmod {
        Files::Named {
            names: vec![packages.kmod.clone()],
            under: vec!["/lib/modules/".into()],
        }
    } else {
        Files::Skip
    };
    let metadata = repository.metadata_with(&files)?;
    let config_files = sources(ctx, options);
    let origin = select::Origin {
        config_files: &config_files,
        baseurl: repository.baseurl(),
    };

    // `--only` names outside [packages]: managed when installed.
    let extra: Vec<&str> = options
        .only
        .iter()
        .map(String::as_str)
        .filter(|n| *n != packages.kmod && !packages.userland.iter().any(|u| u == n))
        .collect();
    let mut names: Vec<&str> = vec![packages.kmod.as_str()];
    names.extend(packages.userland.iter().map(String::as_str));
    names.extend(extra.iter().copied());
    let installed = rpmdb::installed_named(&ctx.sysroot, &names)?;
    let is_installed = |name: &str| installed.iter().any(|i| i.name == name);

    let modules = if want_kmod {
        select::select_modules(&metadata, &packages, &kernels, &origin)?
    } else {
        Vec::new()
    };
    let mut userland = Vec::new();
    for name in packages.userland.iter().filter(|n| options.includes(n)) {
        userland.push(select::select_userland(
            &metadata,
            name,
            packages.pin.get(name),
            &origin,
        )?);
    }
    let mut left_alone: Vec<(&str, &str)> = Vec::new();
    for name in &extra {
        let in_repo = metadata.named(name).next().is_some();
        match (is_installed(name), in_repo) {
            (true, true) => userland.push(select::select_userland(
                &metadata,
                name,
                packages.pin.get(*name),
                &origin,
            )?),
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
                    repository.baseurl(),
                    ctx.settings.sources.describe()
                ))
                .into());
            }
        }
    }
    let selection = select::Selection { modules, userland };
    // Without the module in scope, installed modules are not the plan's to replace.
    let considered: Vec<RpmPackage> = installed
        .iter()
        .filter(|p| want_kmod || p.name != packages.kmod)
        .cloned()
        .collect();
    let mut plan = InstallPlan::new(
        repository.baseurl(),
        &metadata.revision,
        &packages.kmod,
        &selection,
        &considered,
    );
    if options.is_scoped() {
        let mut managed: Vec<&str> = vec![packages.kmod.as_str()];
        managed.extend(packages.userland.iter().map(String::as_str));
        for name in managed.into_iter().filter(|n| !options.includes(n)) {
            plan.untouched(name, &installed, "not named by --only: left as installed");
        }
        for (name, reason) in left_alone {
            plan.untouched(name, &installed, reason);
        }
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

#[derive(Debug, Serialize)]
pub struct PlanReport {
    /// `plan` never changes the host.
    #[serde(flatten)]
    pub core: ReportCore,
    /// True when `install` would change something.
    pub pending: bool,
    #[serde(flatten)]
    pub plan: InstallPlan,
}

pub fn plan_report(ctx: &Context) -> Result<PlanReport> {
    plan_report_with(ctx, &Options::default())
}

pub fn plan_report_with(ctx: &Context, options: &Options) -> Result<PlanReport> {
    let prepared = prepare_with(ctx, options)?;
    Ok(PlanReport {
        core: ReportCore::new("plan", true),
        pending: !prepared.plan.is_converged(),
        plan: prepared.plan,
    })
}

pub fn render_plan(report: &PlanReport) -> String {
    let mut out = plan::render(&report.plan);
    out.push_str(if report.pending {
        "Run `linstor-agent install` to apply.\n"
    } else {
        "Nothing to do: every package is installed at the planned version.\n"
    });
    out
}

#[derive(Debug, Serialize)]
pub struct InstallReport {
    /// `skipped`: live-only actions not performed (under `--root`, or with `--download-only`).
    #[serde(flatten)]
    pub core: ReportCore,
    pub download_only: bool,
    pub package_manager: Option<&'static str>,
    #[serde(flatten)]
    pub plan: InstallPlan,
    /// Verified package files in the cache.
    pub downloaded: Vec<String>,
    pub module: Option<live::ModuleCheck>,
    pub warnings: Vec<String>,
    /// With `--save-pins`: the fragment written after the install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_pins: Option<SavedPins>,
}

/// How `install` runs: `--pin`/`--only`, `--download-only`, `--save-pins`.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    pub plan: Options,
    pub download_only: bool,
    /// After a successful install, write the pins in effect to `agent.d/90-pool-upgrade.toml`.
    pub save_pins: bool,
}

pub fn install(ctx: &Context, download_only: bool) -> Result<InstallReport> {
    install_with(
        ctx,
        &InstallOptions {
            download_only,
            ..InstallOptions::default()
        },
    )
}

pub fn install_with(ctx: &Context, options: &InstallOptions) -> Result<InstallReport> {
    if options.save_pins && options.download_only {
        return Err(UsageError(
            "--save-pins saves the versions an install put on the host: it does not go with --download-only"
                .into(),
        )
        .into());
    }
    let prepared = prepare_with(ctx, &options.plan)?;
    let pins = prepared.packages.pin.clone();
    let mut report = install_prepared(ctx, prepared, options.download_only)?;
    if options.save_pins {
        let path = ctx.settings.sources.pin_fragment_path();
        let why = if options.plan.pins.is_empty() {
            "after an install with the pins of the config".to_owned()
        } else {
            let given: Vec<String> = options
                .plan
                .pins
                .iter()
                .map(|(k, v)| format!("--pin {k}={v}"))
                .collect();
            format!("after `install {}`", given.join(" "))
        };
        let saved = settings::write_pin_fragment(&path, &pins, &why)
            .context("the packages are installed, but the pins were not saved")?;
        report.core.changed |= saved.changed;
        report.saved_pins = Some(saved);
    }
    Ok(report)
}

fn install_prepared(ctx: &Context, prepared: Prepared, download_only: bool) -> Result<InstallReport> {
    let Prepared {
        facts,
        repository,
        plan,
        ..
    } = prepared;
    let mut report = InstallReport {
        core: ReportCore::new("install", false),
        download_only,
        package_manager: None,
        plan,
        downloaded: Vec::new(),
        module: None,
        warnings: Vec::new(),
        saved_pins: None,
    };
    if report.plan.is_converged() {
        return Ok(report);
    }

    // Every package is downloaded and verified before any is installed: one bad package and
    // nothing is installed.
    let mut install = Vec::new();
    let mut downgrade = Vec::new();
    let mut remove = Vec::new();
    for action in report.plan.changes() {
        let Some(package) = &action.package else {
            remove.extend(action.from.iter().cloned());
            continue;
        };
        let path = repository.fetch_package(package)?;
        report.downloaded.push(path.display().to_string());
        if action.change == Change::Downgrade {
            downgrade.push(path);
        } else {
            install.push(path);
        }
    }
    if download_only {
        report.core.skip("install (--download-only)");
        return Ok(report);
    }

    let manager = backend::detect();
    let repo_config = ctx.settings.repo()?;
    let repo_dir = ctx.sysroot.cache_dir().join("yum.repos.d");
    backend::write_repo_file(&repo_dir, repository.baseurl(), &repo_config.gpgkey)?;
    let releasever = releasever(&facts);
    let tx = backend::Transaction {
        sysroot: &ctx.sysroot,
        repo_dir: &repo_dir,
        releasever: releasever.as_deref(),
        install,
        downgrade,
        remove,
    };
    manager.apply(&tx)?;
    report.package_manager = Some(manager.name());
    report.core.changed = true;
    verify_installed(ctx, &report.plan)?;

    let kernels: Vec<String> = report.plan.kernels.iter().map(|k| k.uname_r.clone()).collect();
    if ctx.sysroot.is_live() {
        live::depmod(&kernels)?;
        if let Some(check) = running_module_check(ctx, &facts, &report.plan)? {
            if !check.current {
                report.warnings.push(format!(
                    "drbd {} is loaded, {} is installed: the new module is used after the next reboot \
                     (the agent never unloads DRBD under running resources)",
                    check.loaded_version, check.installed_version
                ));
            }
            report.module = Some(check);
        }
    } else {
        report.core.skipped.push(format!(
            "depmod -a {} (--root: not the running system)",
            kernels.join(" ")
        ));
        report
            .core
            .skipped
            .push("modprobe drbd (--root: not the running system)".into());
    }
    Ok(report)
}

/// After the transaction the rpm database must hold exactly what was planned: every planned
/// NEVRA installed, every planned removal gone.
fn verify_installed(ctx: &Context, plan: &InstallPlan) -> Result<()> {
    let planned = || plan.actions.iter().filter(|a| a.change != Change::Untouched);
    let names: Vec<&str> = planned().map(|a| a.name.as_str()).collect();
    let installed: Vec<String> = rpmdb::installed_named(&ctx.sysroot, &names)?
        .iter()
        .map(|p| p.nevra())
        .collect();
    let mut wrong = Vec::new();
    for action in planned() {
        match &action.to {
            Some(to) if !installed.contains(to) => wrong.push(format!("{to} is not installed")),
            None => wrong.extend(
                action
                    .from
                    .iter()
                    .filter(|f| installed.contains(f))
                    .map(|f| format!("{f} is still installed")),
            ),
            _ => {}
        }
    }
    if !wrong.is_empty() {
        anyhow::bail!(
            "the package manager finished, but the host is not as planned: {}; run `linstor-agent plan` to see \
             what is left, and check the package manager's log",
            wrong.join(", ")
        );
    }
    Ok(())
}

/// On a live host, load DRBD and compare it with the module installed for the running kernel.
fn running_module_check(
    ctx: &Context,
    facts: &Facts,
    plan: &InstallPlan,
) -> Result<Option<live::ModuleCheck>> {
    let Some(running) = &facts.running_kernel else {
        return Ok(None);
    };
    let Some(line) = plan.kernels.iter().find(|k| &k.uname_r == running) else {
        return Ok(None);
    };
    let Some(package) = plan
        .actions
        .iter()
        .find(|a| a.to.as_deref() == Some(line.module.as_str()))
        .and_then(|a| a.package.as_ref())
    else {
        return Ok(None);
    };
    let version = select::drbd_version(package).to_owned();
    live::load_and_check(&ctx.sysroot, &version)
        .with_context(|| format!("checking the DRBD module for the running kernel {running}"))
        .map(Some)
}

/// `8.3.0` → `8.3`: what yum/dnf expect as `$releasever` on XCP-ng.
pub fn releasever(facts: &Facts) -> Option<String> {
    let parts: Vec<&str> = facts.os.version_id.split('.').collect();
    match parts.as_slice() {
        [major, minor, ..] => Some(format!("{major}.{minor}")),
        [major] if !major.is_empty() => Some((*major).to_owned()),
        _ => None,
    }
}

pub fn render_install(report: &InstallReport) -> String {
    let mut out = plan::render(&report.plan);
    if report.download_only {
        out.push_str(&format!(
            "Downloaded and verified {} package(s); installed nothing.\n",
            report.downloaded.len()
        ));
    } else if let Some(manager) = report.package_manager {
        out.push_str(&format!(
            "Installed {} package(s) with {manager}.\n",
            report.plan.changes().count(),
        ));
    } else {
        out.push_str("Nothing to do: every package is installed at the planned version.\n");
    }
    for skipped in &report.core.skipped {
        out.push_str(&format!("skipped: {skipped}\n"));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if let Some(saved) = &report.saved_pins {
        out.push_str(&format!(
            "{} {} pin(s) to {}.\n",
            if saved.changed { "Saved" } else { "Already saved:" },
            saved.pins.len(),
            saved.path
        ));
    }
    out
}

impl crate::output::Render for InstallReport {
    fn human(&self) -> String {
        render_install(self)
    }
}
