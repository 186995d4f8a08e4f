//! The install step: the DRBD kernel module for every kernel that may run it, and the
//! LINSTOR/DRBD userland, from the signed repository, verified before anything is installed.

pub mod backend;
pub mod fit;
pub mod live;
pub mod plan;
pub mod select;

use crate::app::Context;
use crate::error::Refusal;
use crate::host::facts::{self, Facts};
use crate::host::rpmdb;
use crate::repo::{Files, Repository};
use anyhow::{Context as _, Result};
use plan::{Change, InstallPlan};
use serde::Serialize;

/// Everything the step knows once it has looked at the host and the repository.
pub struct Prepared {
    pub facts: Facts,
    pub repository: Repository,
    pub plan: InstallPlan,
}

/// Reads the host and the repository and computes the plan; changes nothing on the host
/// (metadata is cached under `<root>/var/cache/linstor-agent`).
pub fn prepare(ctx: &Context) -> Result<Prepared> {
    let facts = facts::gather(&ctx.sysroot)?;
    let kernels = facts::kernels_to_serve(&facts, &ctx.sysroot)?;
    if kernels.is_empty() {
        return Err(Refusal(format!(
            "no kernel is installed in {}: there is nothing for the DRBD module to serve. \
             Install the kernel first (or check --root).",
            ctx.sysroot.root().display()
        ))
        .into());
    }
    let repo_config = ctx.config.repo()?;
    let repository = Repository::open(&repo_config, &ctx.sysroot)?;
    let packages = &ctx.config.config.packages;
    // Module matching needs only the module package's files under /lib/modules: the rest of a
    // large repository's filelists is skipped without being parsed or kept.
    let metadata = repository.metadata_with(&Files::Named {
        names: vec![packages.kmod.clone()],
        under: vec!["/lib/modules/".into()],
    })?;
    let origin = select::Origin {
        config_files: &ctx.config.sources(),
        baseurl: repository.baseurl(),
    };
    let selection = select::select(&metadata, packages, &kernels, &origin)?;

    let mut names: Vec<&str> = vec![packages.kmod.as_str()];
    names.extend(packages.userland.iter().map(String::as_str));
    let installed = rpmdb::installed_named(&ctx.sysroot, &names)?;
    let plan = InstallPlan::new(
        repository.baseurl(),
        &metadata.revision,
        &packages.kmod,
        &selection,
        &installed,
    );
    Ok(Prepared {
        facts,
        repository,
        plan,
    })
}

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub command: &'static str,
    /// `plan` never changes the host.
    pub changed: bool,
    /// True when `install` would change something.
    pub pending: bool,
    #[serde(flatten)]
    pub plan: InstallPlan,
}

pub fn plan_report(ctx: &Context) -> Result<PlanReport> {
    let prepared = prepare(ctx)?;
    Ok(PlanReport {
        command: "plan",
        changed: false,
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
    pub command: &'static str,
    pub changed: bool,
    pub download_only: bool,
    pub package_manager: Option<&'static str>,
    #[serde(flatten)]
    pub plan: InstallPlan,
    /// Verified package files in the cache.
    pub downloaded: Vec<String>,
    /// Live-only actions not performed (under `--root`, or with `--download-only`).
    pub skipped: Vec<String>,
    pub module: Option<live::ModuleCheck>,
    pub warnings: Vec<String>,
}

pub fn install(ctx: &Context, download_only: bool) -> Result<InstallReport> {
    let Prepared {
        facts,
        repository,
        plan,
    } = prepare(ctx)?;
    let mut report = InstallReport {
        command: "install",
        changed: false,
        download_only,
        package_manager: None,
        plan,
        downloaded: Vec::new(),
        skipped: Vec::new(),
        module: None,
        warnings: Vec::new(),
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
        report.skipped.push("install (--download-only)".into());
        return Ok(report);
    }

    let manager = backend::detect();
    let repo_config = ctx.config.repo()?;
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
    report.changed = true;
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
        report.skipped.push(format!(
            "depmod -a {} (--root: not the running system)",
            kernels.join(" ")
        ));
        report
            .skipped
            .push("modprobe drbd (--root: not the running system)".into());
    }
    Ok(report)
}

/// After the transaction the rpm database must hold exactly what was planned: every planned
/// NEVRA installed, every planned removal gone.
fn verify_installed(ctx: &Context, plan: &InstallPlan) -> Result<()> {
    let names: Vec<&str> = plan.actions.iter().map(|a| a.name.as_str()).collect();
    let installed: Vec<String> = rpmdb::installed_named(&ctx.sysroot, &names)?
        .iter()
        .map(|p| p.nevra())
        .collect();
    let mut wrong = Vec::new();
    for action in &plan.actions {
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
fn releasever(facts: &Facts) -> Option<String> {
    let parts: Vec<&str> = facts.os.version_id.split('.').collect();
    match parts.as_slice() {
        [major, minor, ..] => Some(format!("{major}.{minor}")),
        [major] if !major.is_empty() => Some((*major).to_owned()),
        _ => None,
    }
}

pub fn render_install(report: &InstallReport) -> String {
    let mut out = plan::render(&report.plan);
    if !report.changed && !report.download_only {
        out.push_str("Nothing to do: the host is converged (changed: false).\n");
    } else if report.download_only {
        out.push_str(&format!(
            "Downloaded and verified {} package(s); installed nothing.\n",
            report.downloaded.len()
        ));
    } else {
        out.push_str(&format!(
            "Installed {} package(s) with {}.\n",
            report.plan.changes().count(),
            report.package_manager.unwrap_or("?")
        ));
    }
    for skipped in &report.skipped {
        out.push_str(&format!("skipped: {skipped}\n"));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}
