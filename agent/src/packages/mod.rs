//! The install step: the DRBD kernel module for every kernel that may run it, and the
//! LINSTOR/DRBD userland, from the signed repository, verified before anything is installed.

pub mod backend;
mod downgrade;
pub mod fit;
pub mod installed;
pub mod live;
pub mod module_trust;
pub mod options;
pub mod plan;
mod prepare;
pub mod profile;
pub mod select;
pub mod toolstack;

use crate::context::Context;
use crate::error::UsageError;
use crate::host::facts::Facts;
use crate::host::rpmdb;
use crate::repo::Repository;
use crate::report::ReportCore;
use crate::settings::{self, SavedPins};
use anyhow::{Context as _, Result};
pub use options::Options;
use plan::{Change, InstallPlan};
pub use prepare::{Prepared, module_files, pin_sources, prepare, prepare_with, sources};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct PlanReport {
    /// `plan` never changes the host.
    #[serde(flatten)]
    pub core: ReportCore,
    /// True when `install` would change something.
    pub pending: bool,
    #[serde(flatten)]
    pub plan: InstallPlan,
    /// Set when Secure Boot is enforced and the kernel would reject a module the plan installs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ErrorDoc>,
}

pub fn plan_report(ctx: &Context) -> Result<PlanReport> {
    plan_report_with(ctx, &Options::default())
}

/// The plan; with Secure Boot enforced, the module packages it would install are downloaded and
/// verified into the cache so that their signers can be reported (`module_trust`).
pub fn plan_report_with(ctx: &Context, options: &Options) -> Result<PlanReport> {
    let mut prepared = prepare_with(ctx, options)?;
    prepared.plan.secure_boot = module_trust::assess(&ctx.sysroot, &prepared.repository, &prepared.plan)?;
    let error = prepared
        .plan
        .secure_boot
        .as_ref()
        .and_then(|sb| sb.refusal())
        .map(|refusal| crate::error::ErrorDoc::refused(&refusal));
    Ok(PlanReport {
        core: ReportCore::new("plan", true),
        pending: !prepared.plan.is_converged(),
        plan: prepared.plan,
        error,
    })
}

impl PlanReport {
    /// Set when Secure Boot is enforced and the kernel would reject a module the plan installs:
    /// `plan` then exits 3 (and `install` refuses).
    pub fn refusal(&self) -> Option<crate::error::Refusal> {
        self.plan.secure_boot.as_ref().and_then(|sb| sb.refusal())
    }
}

/// The plan as a person reads it, with the Secure Boot lines when the module is in scope.
fn render_plan_lines(plan: &InstallPlan) -> String {
    let mut out = plan::render(plan);
    if let Some(secure_boot) = &plan.secure_boot {
        out.push_str(&module_trust::render(secure_boot));
    }
    out
}

pub fn render_plan(report: &PlanReport) -> String {
    let mut out = render_plan_lines(&report.plan);
    if report.refusal().is_some() {
        // The refusal itself is printed last, after the other steps' plans (`provision`).
        out.push_str("Refused under Secure Boot: `linstor-agent install` would install nothing.\n");
        return out;
    }
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
    /// `restarted` or `skipped` when the install changed the SM driver configuration
    /// (`toolstack`); absent when no restart was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolstack: Option<String>,
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
        let saved = settings::write_pin_fragment(&ctx.sysroot, &path, &pins, &why)
            .context("the packages are installed, but the pins were not saved")?;
        report.core.changed |= saved.changed;
        report.saved_pins = Some(saved);
    }
    Ok(report)
}

/// Downloads and verifies every package of the plan, then (unless `download_only`) installs
/// them in one transaction and checks the host against the plan.
fn install_prepared(ctx: &Context, prepared: Prepared, download_only: bool) -> Result<InstallReport> {
    let Prepared {
        facts,
        repository,
        plan,
        packages,
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
        toolstack: None,
    };
    if report.plan.is_converged() {
        return Ok(report);
    }
    // Secure Boot: every module must be one the kernel will load, before anything else is
    // downloaded or installed.
    report.plan.secure_boot = module_trust::assess(&ctx.sysroot, &repository, &report.plan)?;
    if let Some(refusal) = report.plan.secure_boot.as_ref().and_then(|sb| sb.refusal()) {
        return Err(refusal.into());
    }
    let changes = download(&repository, &report.plan, &packages.kmod, &mut report.downloaded)?;
    if download_only {
        report.core.skip("install (--download-only)");
        return Ok(report);
    }
    let installer = backend::Installer::new(ctx, &facts, &repository, &packages.kmod)?;
    let sm_driver_before = toolstack::snapshot(&ctx.sysroot);
    let shown = crate::progress::spinner(format!(
        "install: {} transaction ({} package file(s))",
        installer.name(),
        changes.install.len() + changes.downgrade.len()
    ));
    installer.apply(&ctx.sysroot, changes)?;
    shown.done("done");
    report.package_manager = Some(installer.name());
    report.core.changed = true;
    verify_installed(ctx, &report.plan)?;
    ctx.observed.installed_as_planned();
    for action in report.plan.changes() {
        // One event per package, with the package as a field of its own (journald: PACKAGE=).
        tracing::info!(
            package = %action.name,
            from = %action.from.join(" "),
            to = action.to.as_deref().unwrap_or("(removed)"),
            "{}: {}",
            action.name,
            action.change.label()
        );
    }
    report.toolstack =
        toolstack::restart_if_needed(&ctx.sysroot, sm_driver_before.as_deref(), &mut report.core)?;
    settle_module(ctx, &facts, &mut report)?;
    Ok(report)
}

/// Every package is downloaded and verified before any is installed: one bad package and
/// nothing is installed. Returns the transaction's changes; `downloaded` gets each file.
/// Module packages (`kmod`) are always installs: install-only in the transaction, an older
/// one goes in beside the newer (which the plan removes when no kernel keeps it), where
/// yum's `downgrade` would skip it.
fn download(
    repository: &Repository,
    plan: &InstallPlan,
    kmod: &str,
    downloaded: &mut Vec<String>,
) -> Result<backend::Changes> {
    let mut changes = backend::Changes::default();
    let fetched: Vec<&crate::repo::RepoPackage> = plan.changes().filter_map(|a| a.package.as_ref()).collect();
    let _total = crate::progress::downloads(fetched.len(), fetched.iter().map(|p| p.size).sum());
    for action in plan.changes() {
        let Some(package) = &action.package else {
            changes.remove.extend(action.from.iter().cloned());
            continue;
        };
        let path = repository.fetch_package(package)?;
        downloaded.push(path.display().to_string());
        if action.change == Change::Downgrade && action.name != kmod {
            changes.downgrade.push(path);
        } else {
            changes.install.push(path);
        }
    }
    Ok(changes)
}

/// After the install: `depmod` for every served kernel and, on a live host, DRBD loaded and
/// compared with the module installed (a warning when an older one stays loaded); under
/// `--root` both are reported as skipped.
fn settle_module(ctx: &Context, facts: &Facts, report: &mut InstallReport) -> Result<()> {
    let kernels: Vec<String> = report.plan.kernels.iter().map(|k| k.uname_r.clone()).collect();
    live::depmod_or_skip(&ctx.sysroot, &kernels, &mut report.core)?;
    if !ctx.sysroot.is_live() {
        report.core.skip("modprobe drbd (--root: not the running system)");
        return Ok(());
    }
    if let Some(check) = running_module_check(ctx, facts, &report.plan)? {
        if !check.current {
            report.warnings.push(format!(
                "drbd {} is loaded, {} is installed: the new module is used after the next reboot \
                 (the agent never unloads DRBD under running resources)",
                check.loaded_version, check.installed_version
            ));
        }
        report.module = Some(check);
    }
    Ok(())
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
    let mut out = render_plan_lines(&report.plan);
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
    for note in &report.core.notes {
        out.push_str(&format!("note: {note}\n"));
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
