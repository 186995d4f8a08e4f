//! `linstor-agent kernel-guard`: every kernel the host may boot has a DRBD module that fits it.
//!
//! The kernels are the ones the install step serves (the default boot kernel, the running one
//! when live, every installed one; under `--root`, the root's). A kernel is guarded when an
//! *installed* module package fits it by the fit rules of `packages::fit` (kABI, then
//! `kernel-uname-r`, then the module path). For a kernel that is not, the newest module in the
//! repository that fits it (and the pin, if the module is pinned) is installed next to the
//! modules already there. When the repository has none for some kernel, nothing is installed
//! and the run is refused (exit 3), naming the kernel and the module versions the repository
//! has: booting that kernel would leave the host without DRBD. Under Secure Boot the module
//! chosen must be signed by a key that kernel trusts (`secure_boot`), else the run is refused
//! the same way and nothing is installed.
//!
//! The kernel package hooks in `specs/files/hooks/` run this after every kernel install.

use crate::context::Context;
use crate::error::{ExitCode, Refusal, exit_code_for};
use crate::host::facts;
use crate::host::targets::{self, KernelTarget};
use crate::packages::fit::{Evidence, Fit, fit};
use crate::packages::select::ModuleChoice;
use crate::packages::{self, backend, installed, live, module_trust, select};
use crate::repo::{RepoPackage, Repository};
use crate::report::ReportCore;
use crate::settings::PackagesSettings;
use anyhow::{Context as _, Result, bail};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show what would be installed, and change nothing.
    pub dry_run: bool,
    /// `--pin` over the config's pins (only the module's pin matters here).
    pub packages: packages::Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// An installed module package fits this kernel.
    Ok,
    /// This run installed `module` for it.
    Installed,
    /// `--dry-run`: `module` would be installed for it.
    WouldInstall,
    /// No installed module fits it, and nothing was installed: `module` is what the repository
    /// could give it (`null`: nothing fits, the reason for the refusal).
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelState {
    pub uname_r: String,
    /// The kernel package (NEVRA), when a package owns it.
    pub package: Option<String>,
    /// Why it is served: running, default boot, installed.
    pub reasons: Vec<&'static str>,
    pub status: Status,
    /// Installed module packages that fit it (after this run).
    pub modules: Vec<String>,
    /// The module package from the repository installed (or to install) for it.
    pub module: Option<String>,
    /// How the module fits it (strongest evidence).
    pub evidence: Option<Evidence>,
}

pub use crate::error::ErrorDoc;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `changed`: a module package was installed.
    #[serde(flatten)]
    pub core: ReportCore,
    /// The module package's name (`[packages] kmod`).
    pub kmod: String,
    pub kernels: Vec<KernelState>,
    /// Module packages (NEVRAs) to install: installed by this run, or that would be with
    /// `--dry-run`.
    pub to_install: Vec<String>,
    /// Module packages this run installed.
    pub installed: Vec<String>,
    /// The repository consulted (only when some kernel lacked a module).
    pub repo: Option<String>,
    pub package_manager: Option<&'static str>,
    /// Secure Boot and the signers of the modules to install (only when some kernel lacked one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<crate::secure_boot::Report>,
    /// Set when the run was refused (exit 3): a kernel has no module and the repository none,
    /// or under Secure Boot the kernel would reject the module to install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
}

/// Runs the guard and returns its document; a refusal is an outcome with exit 3 whose document
/// still lists every kernel.
pub fn run(ctx: &Context, options: &Options) -> Result<Report> {
    let facts = facts::gather(&ctx.sysroot)?;
    let kernels = kernels_to_guard(ctx, &facts)?;
    let packages = options.packages.packages_config(&ctx.settings.packages);
    let on_host = installed::module_packages(&ctx.sysroot, &packages.kmod)?;
    let mut report = Report {
        core: ReportCore::new("kernel-guard", options.dry_run),
        kmod: packages.kmod.clone(),
        kernels: kernels.iter().map(|k| state(k, &on_host)).collect(),
        to_install: Vec::new(),
        installed: Vec::new(),
        repo: None,
        package_manager: None,
        secure_boot: None,
        error: None,
    };
    let missing: Vec<KernelTarget> = kernels
        .iter()
        .zip(&report.kernels)
        .filter(|(_, s)| s.status == Status::Missing)
        .map(|(k, _)| k.clone())
        .collect();
    if missing.is_empty() {
        return Ok(report);
    }

    // Some kernel has no module: ask the repository.
    let repository = Repository::open(ctx.settings.repo()?, &ctx.sysroot)?;
    report.repo = Some(repository.baseurl().to_owned());
    let Some(choices) = choose_modules(ctx, options, &repository, &packages, &missing, &mut report)? else {
        return Ok(report);
    };
    let to_fetch = record_choices(&choices, options.dry_run, &mut report);
    if refused_by_secure_boot(ctx, &repository, &choices, &to_fetch, &mut report)? || options.dry_run {
        return Ok(report);
    }
    let manager = install_modules(ctx, &facts, &repository, &to_fetch, &mut report)?;
    check_guarded(ctx, &kernels, &packages.kmod, manager, &mut report)?;
    for choice in &choices {
        let kernel = &choice.kernel.uname_r;
        if report
            .kernels
            .iter()
            .any(|k| &k.uname_r == kernel && k.status == Status::Installed)
        {
            ctx.observed
                .module_installed(kernel, &choice.package.name, &choice.package.evr());
            tracing::info!(
                package = %choice.package.name,
                kernel = %kernel,
                "installed {} for kernel {kernel}",
                choice.package.nevra()
            );
        }
    }
    let unames: Vec<String> = report
        .kernels
        .iter()
        .filter(|k| k.status == Status::Installed)
        .map(|k| k.uname_r.clone())
        .collect();
    live::depmod_or_skip(&ctx.sysroot, &unames, &mut report.core)?;
    Ok(report)
}

/// The kernels the host may boot; none installed is a refusal.
fn kernels_to_guard(ctx: &Context, facts: &facts::Facts) -> Result<Vec<KernelTarget>> {
    let kernels = targets::kernels_to_serve(facts, &ctx.sysroot)?;
    if kernels.is_empty() {
        return Err(Refusal(format!(
            "no kernel is installed in {}: there is nothing to guard. Check --root.",
            ctx.sysroot.root().display()
        ))
        .into());
    }
    Ok(kernels)
}

/// The repository's module for every kernel in `missing`. When it has none for some kernel,
/// `None`: the report says, kernel by kernel, what the repository could give, and carries the
/// refusal.
fn choose_modules(
    ctx: &Context,
    options: &Options,
    repository: &Repository,
    packages: &PackagesSettings,
    missing: &[KernelTarget],
    report: &mut Report,
) -> Result<Option<Vec<ModuleChoice>>> {
    let metadata = repository.metadata_with(&packages::module_files(&packages.kmod))?;
    let sources = packages::sources(ctx, &options.packages);
    let pins_from = packages::pin_sources(ctx, &options.packages, packages);
    let origin = select::Origin {
        config_files: &sources,
        baseurl: repository.baseurl(),
        pins_from: &pins_from,
    };
    match select::select_modules(&metadata, packages, missing, &origin) {
        Ok(choices) => Ok(Some(choices)),
        Err(err) if exit_code_for(&err) == ExitCode::Refused => {
            // Say, kernel by kernel, what the repository could give; install nothing.
            for kernel in missing {
                if let Ok(choice) =
                    select::select_modules(&metadata, packages, std::slice::from_ref(kernel), &origin)
                    && let Some(line) = report.kernels.iter_mut().find(|s| s.uname_r == kernel.uname_r)
                {
                    line.module = choice.first().map(|c| c.package.nevra());
                }
            }
            report.error = Some(ErrorDoc {
                message: format!("{err:#}"),
                exit_code: ExitCode::Refused as i32,
            });
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Each kernel's chosen module in the report (`would-install` with `dry_run`); returns the
/// packages to fetch, each once, and lists them in `to_install`.
fn record_choices<'a>(
    choices: &'a [ModuleChoice],
    dry_run: bool,
    report: &mut Report,
) -> Vec<&'a RepoPackage> {
    let mut to_fetch: Vec<&RepoPackage> = Vec::new();
    for choice in choices {
        if let Some(line) = report
            .kernels
            .iter_mut()
            .find(|s| s.uname_r == choice.kernel.uname_r)
        {
            line.module = Some(choice.package.nevra());
            line.evidence = Some(choice.evidence);
            line.status = if dry_run {
                Status::WouldInstall
            } else {
                Status::Missing
            };
        }
        if !to_fetch.iter().any(|p| p.nevra() == choice.package.nevra()) {
            to_fetch.push(&choice.package);
        }
    }
    report.to_install = to_fetch.iter().map(|p| p.nevra()).collect();
    to_fetch
}

/// Secure Boot: the modules chosen must be ones their kernels will load (each kernel's built-in
/// keys, db, MOK), as for `install`. When they are not, the report carries the refusal, every
/// kernel stays `missing`, and nothing is installed. With Secure Boot off nothing is downloaded.
fn refused_by_secure_boot(
    ctx: &Context,
    repository: &Repository,
    choices: &[ModuleChoice],
    to_fetch: &[&RepoPackage],
    report: &mut Report,
) -> Result<bool> {
    let packages: Vec<(&RepoPackage, Vec<String>)> = to_fetch
        .iter()
        .map(|package| {
            let kernels = choices
                .iter()
                .filter(|c| c.package.nevra() == package.nevra())
                .map(|c| c.kernel.uname_r.clone())
                .collect();
            (*package, kernels)
        })
        .collect();
    let secure_boot = module_trust::assess_packages(&ctx.sysroot, repository, &packages)?;
    let refusal = secure_boot.refusal();
    report.secure_boot = Some(secure_boot);
    let Some(refusal) = refusal else {
        return Ok(false);
    };
    for line in report
        .kernels
        .iter_mut()
        .filter(|k| k.status == Status::WouldInstall)
    {
        line.status = Status::Missing;
    }
    report.error = Some(ErrorDoc::refused(&refusal));
    Ok(true)
}

/// Downloads and verifies every package before installing any, then installs them next to
/// the modules already there; returns the package manager's name.
fn install_modules(
    ctx: &Context,
    facts: &facts::Facts,
    repository: &Repository,
    to_fetch: &[&RepoPackage],
    report: &mut Report,
) -> Result<&'static str> {
    let mut changes = backend::Changes::default();
    for package in to_fetch {
        changes.install.push(repository.fetch_package(package)?);
    }
    // The module package is install-only in this transaction: the new kernel's module goes in
    // beside the others, whichever version is higher.
    let installer = backend::Installer::new(ctx, facts, repository, &report.kmod)?;
    installer.apply(&ctx.sysroot, changes).with_context(|| {
        format!(
            "installing {} for the unguarded kernel(s)",
            report.to_install.join(", ")
        )
    })?;
    report.package_manager = Some(installer.name());
    report.core.changed = true;
    Ok(installer.name())
}

/// The rpm database decides: every kernel must now have a fitting installed module (each one
/// this run served is marked `installed`).
fn check_guarded(
    ctx: &Context,
    kernels: &[KernelTarget],
    kmod: &str,
    manager: &str,
    report: &mut Report,
) -> Result<()> {
    let on_host = installed::module_packages(&ctx.sysroot, kmod)?;
    let mut still_missing = Vec::new();
    for (kernel, line) in kernels.iter().zip(report.kernels.iter_mut()) {
        let after = state(kernel, &on_host);
        line.modules = after.modules;
        if after.status == Status::Ok {
            if line.status == Status::Missing {
                line.status = Status::Installed;
            }
        } else {
            still_missing.push(kernel.uname_r.clone());
        }
    }
    report.installed = report
        .to_install
        .iter()
        .filter(|n| on_host.iter().any(|p| &p.nevra() == *n))
        .cloned()
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "{manager} finished, but no installed {kmod} fits kernel {} yet: check `rpm -q {kmod}` and the \
             package manager's log, then run `linstor-agent kernel-guard` again",
            still_missing.join(", ")
        );
    }
    Ok(())
}

/// How `kernel` stands with the module packages installed now.
fn state(kernel: &KernelTarget, on_host: &[RepoPackage]) -> KernelState {
    let fitting: Vec<(&RepoPackage, Evidence)> = on_host
        .iter()
        .filter_map(|p| match fit(p, kernel) {
            Fit::Fits(evidence) => Some((p, evidence)),
            Fit::DoesNotFit(_) => None,
        })
        .collect();
    KernelState {
        uname_r: kernel.uname_r.clone(),
        package: kernel.package.clone(),
        reasons: kernel.reasons.clone(),
        status: if fitting.is_empty() {
            Status::Missing
        } else {
            Status::Ok
        },
        modules: fitting.iter().map(|(p, _)| p.nevra()).collect(),
        module: None,
        evidence: fitting.iter().map(|(_, e)| *e).max(),
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::from("DRBD module per kernel:\n");
    for k in &report.kernels {
        let detail = match k.status {
            Status::Ok => k.modules.join(", "),
            Status::Installed => format!("installed {}", k.module.as_deref().unwrap_or("?")),
            Status::WouldInstall => format!("would install {}", k.module.as_deref().unwrap_or("?")),
            Status::Missing => match &k.module {
                Some(module) => format!("no module installed; the repository has {module}"),
                None => "no module installed, and none in the repository fits".to_owned(),
            },
        };
        let label = match k.status {
            Status::Ok => "ok",
            Status::Installed => "installed",
            Status::WouldInstall => "would-install",
            Status::Missing => "MISSING",
        };
        out.push_str(&format!(
            "  {:<13} {} ({}): {detail}\n",
            label,
            k.uname_r,
            k.reasons.join(", ")
        ));
    }
    if let Some(secure_boot) = &report.secure_boot {
        out.push_str(&module_trust::render(secure_boot));
    }
    for skipped in &report.core.skipped {
        out.push_str(&format!("skipped: {skipped}\n"));
    }
    match (&report.error, report.core.dry_run, report.core.changed) {
        (Some(error), _, _) => out.push_str(&format!("refused: {}\n", error.message)),
        (None, true, _) if !report.to_install.is_empty() => out.push_str(&format!(
            "Dry run: would install {}; changed nothing.\n",
            report.to_install.join(", ")
        )),
        (None, _, true) => out.push_str(&format!(
            "Installed {} with {}.\n",
            report.installed.join(", "),
            report.package_manager.unwrap_or("?")
        )),
        _ => out.push_str("Every kernel has a DRBD module: nothing to do.\n"),
    }
    out
}

impl crate::output::Render for Report {
    fn human(&self) -> String {
        render(self)
    }
    /// A kernel the repository has no module for is a refusal.
    fn exit(&self) -> ExitCode {
        if self.error.is_some() {
            ExitCode::Refused
        } else {
            ExitCode::Ok
        }
    }
}
