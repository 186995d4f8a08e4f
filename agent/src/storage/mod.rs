//! The storage step: the LVM volume group LINSTOR uses (and its thin pool), built on the disks
//! `[storage] devices` names, and never on a disk that holds anything unless the operator names
//! it with `--wipe`.
//!
//! discovery (lsblk, blkid, wipefs, sysfs) → safety (why a disk is refused) → lvm (what LVM
//! sees, the commands) → filter (lvm.conf's global_filter) → plan (actions, apply).
//! The result ([`StorageResult`]) is what the register step gives LINSTOR.

mod candidates;
pub mod discovery;
pub mod filter;
pub mod lvm;
pub mod plan;
pub mod safety;

use crate::context::Context;
use crate::error::{Refusal, UsageError};
use crate::report::ReportCore;
use crate::settings::{DiskSettings, StorageSettings};
use anyhow::{Result, bail};
use discovery::{BootDisks, DevNum};
use lvm::{Lvm, LvmState};
use plan::{ActionKind, Chosen, Desired, DiskState, Plan};
use serde::Serialize;
use std::fmt::Write as _;

/// What the later steps need to know about the storage: the register step creates the LINSTOR
/// storage pool from it (`LVM_THIN` on `volume_group/thin_pool`, or `LVM` on `volume_group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageResult {
    pub volume_group: String,
    /// `None` for thick LVM.
    pub thin_pool: Option<String>,
    /// What LINSTOR can allocate: the thin pool's size, else the volume group's.
    pub size_bytes: u64,
    /// The physical volumes of the volume group.
    pub devices: Vec<String>,
}

impl StorageResult {
    pub fn from_state(state: &LvmState, vg: &str, thin_pool: Option<&str>) -> StorageResult {
        let vg_size = state.vg(vg).map_or(0, |g| g.size);
        let size_bytes = match thin_pool {
            Some(pool) => state.lv(vg, pool).map_or(0, |lv| lv.size),
            None => vg_size,
        };
        let mut devices: Vec<String> = state.pvs_of(vg).iter().map(|p| p.name.clone()).collect();
        devices.sort();
        StorageResult {
            volume_group: vg.to_owned(),
            thin_pool: thin_pool.map(String::from),
            size_bytes,
            devices,
        }
    }
}

/// The storage as it is now, for the register step: `None` when the volume group (or the
/// configured thin pool) does not exist yet.
pub fn inspect(ctx: &Context) -> Result<Option<StorageResult>> {
    let config = disk_settings(ctx)?;
    let lvm = Lvm::for_sysroot(&ctx.sysroot);
    let state = lvm.state(&config.volume_group)?;
    if state.vg(&config.volume_group).is_none() {
        return Ok(None);
    }
    if let Some(pool) = &config.thin_pool
        && state
            .lv(&config.volume_group, pool)
            .is_none_or(|lv| lv.segtype != "thin-pool")
    {
        return Ok(None);
    }
    Ok(Some(StorageResult::from_state(
        &state,
        &config.volume_group,
        config.thin_pool.as_deref(),
    )))
}

#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    pub dry_run: bool,
    /// Disks (as the operator names them) whose signatures may be erased.
    pub wipe: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct StorageReport {
    #[serde(flatten)]
    pub core: ReportCore,
    pub volume_group: String,
    pub thin_pool: Option<String>,
    /// `explicit` (the listed disks) or `auto`.
    pub selection: &'static str,
    pub disks: Vec<Chosen>,
    /// With `auto`: the disks passed over, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<PassedOver>,
    pub actions: Vec<plan::Action>,
    pub drift: Vec<String>,
    pub warnings: Vec<String>,
    pub result: StorageResult,
}

#[derive(Debug, Serialize)]
pub struct PassedOver {
    pub device: String,
    pub reason: String,
}

/// The volume group's settings: the storage step needs disks (a diskless host has none to
/// build on).
fn disk_settings(ctx: &Context) -> Result<&DiskSettings> {
    match &ctx.settings.storage {
        StorageSettings::Disks(disks) => Ok(disks),
        StorageSettings::Diskless => Err(UsageError(format!(
            "[storage] is not set in {} (or lists no devices): add it with devices = [\"/dev/sdb\"] \
             (or [\"auto\"]) (see README \"Config reference\"); a host without storage devices \
             joins LINSTOR diskless and needs no storage step",
            ctx.settings.sources.describe()
        ))
        .into()),
    }
}

/// Runs the storage step (or, with `dry_run`, says what it would do).
pub fn run(ctx: &Context, options: &StorageOptions) -> Result<StorageReport> {
    let config = disk_settings(ctx)?;
    let vg_name = config.volume_group.as_str();
    let shown = crate::progress::spinner("storage: reading the disks and LVM");
    let lvm = Lvm::for_sysroot(&ctx.sysroot);
    let lvm_conf = lvm.conf_path().display().to_string();
    let state = lvm.state(vg_name)?;
    let tree = discovery::lsblk()?;
    let boot = BootDisks::find(&ctx.sysroot);
    let sources = ctx.settings.sources.describe();

    let mut selection = candidates::select(config, &tree, &boot, &state, &sources)?;
    candidates::assess(&mut selection.candidates, &state, &boot, vg_name, &lvm_conf)?;
    candidates::mark_wipes(
        &mut selection.candidates,
        &options.wipe,
        config.is_auto(),
        vg_name,
    )?;
    let chosen = candidates::choose(&mut selection.candidates, vg_name, &mut selection.refusals);
    selection
        .refusals
        .extend(thin_pool_conflict(&state, vg_name, config.thin_pool.as_deref()));
    refuse_unless_buildable(vg_name, &selection.refusals, &chosen, &selection.passed_over)?;
    shown.done(&format!("{} disk(s) to use", chosen.len()));

    let desired = Desired {
        volume_group: vg_name,
        thin_pool: config.thin_pool.as_deref(),
        chosen: &chosen,
    };
    let plan = plan_and_apply(&desired, &state, &lvm, options.dry_run, &sources)?;
    Ok(report(
        config,
        options.dry_run,
        chosen,
        selection.passed_over,
        plan,
    ))
}

/// A logical volume that has the thin pool's name and is no thin pool: a refusal.
fn thin_pool_conflict(state: &LvmState, vg_name: &str, thin_pool: Option<&str>) -> Option<String> {
    let pool = thin_pool?;
    let lv = state.lv(vg_name, pool)?;
    (lv.segtype != "thin-pool").then(|| {
        format!(
            "{vg_name}/{pool}: exists and is a {} logical volume, not a thin pool: the agent does not convert it; \
             rename it (`lvrename {vg_name} {pool} NEW`) or set [storage] thin_pool to another name",
            lv.segtype
        )
    })
}

/// Refuses (nothing changed) with every problem found, or when no disk was chosen (only
/// `"auto"` can choose none: it says which disks it passed over).
fn refuse_unless_buildable(
    vg_name: &str,
    refusals: &[String],
    chosen: &[Chosen],
    passed_over: &[PassedOver],
) -> Result<()> {
    if !refusals.is_empty() {
        let mut msg = format!(
            "refusing to build volume group {vg_name}: nothing was changed. {} problem(s):",
            refusals.len()
        );
        for r in refusals {
            let _ = write!(msg, "\n  {r}");
        }
        return Err(Refusal(msg).into());
    }
    if chosen.is_empty() {
        let mut msg = format!(
            "refusing to build volume group {vg_name}: devices = [\"auto\"] found no empty, fixed disk that is not \
             the boot disk; list the disks in [storage] devices (nothing was changed)"
        );
        for p in passed_over {
            let _ = write!(msg, "\n  {}: {}", p.device, p.reason);
        }
        return Err(Refusal(msg).into());
    }
    Ok(())
}

/// The plan from the state to `desired`; unless `dry_run`, applied and then verified. A thin
/// pool the kernel cannot create is a warning of the dry run, an error otherwise.
fn plan_and_apply(
    desired: &Desired,
    state: &LvmState,
    lvm: &Lvm,
    dry_run: bool,
    sources: &str,
) -> Result<Plan> {
    let filter_edit = filter::plan(lvm)?;
    let mut plan = plan::build(desired, state, filter_edit, lvm)?;
    let creates_thin_pool = plan
        .actions
        .iter()
        .any(|a| a.action == ActionKind::CreateThinPool);
    if creates_thin_pool && let Err(missing) = lvm::kernel_thin_pool_support() {
        let msg = format!(
            "cannot create thin pool {}/{}: {missing}. Load it (`modprobe dm-thin-pool`) or boot a kernel that \
             has it, or leave out thin_pool in [storage] ({sources}) for thick LVM",
            desired.volume_group,
            desired.thin_pool.unwrap_or_default(),
        );
        if dry_run {
            plan.warnings.push(msg);
        } else {
            bail!("{msg}; nothing was changed");
        }
    }
    if !dry_run {
        plan::apply(&mut plan, lvm)?;
        if plan.actions.iter().any(|a| a.done) && plan.drift.is_empty() {
            plan.result = verify(lvm, desired.volume_group, desired.thin_pool, desired.chosen)?;
        }
    }
    Ok(plan)
}

/// The step's document: the disks chosen (and passed over) and the plan's outcome.
fn report(
    config: &DiskSettings,
    dry_run: bool,
    chosen: Vec<Chosen>,
    passed_over: Vec<PassedOver>,
    plan: Plan,
) -> StorageReport {
    let Plan {
        actions,
        drift,
        warnings,
        result,
    } = plan;
    StorageReport {
        core: ReportCore {
            changed: actions.iter().any(|a| a.done),
            ..ReportCore::new("storage", dry_run)
        },
        volume_group: config.volume_group.clone(),
        thin_pool: config.thin_pool.clone(),
        selection: if config.is_auto() { "auto" } else { "explicit" },
        disks: chosen,
        passed_over,
        actions,
        drift,
        warnings,
        result,
    }
}

/// After applying: the volume group holds every chosen disk (and the thin pool exists).
fn verify(lvm: &Lvm, vg: &str, thin_pool: Option<&str>, chosen: &[Chosen]) -> Result<StorageResult> {
    let state = lvm.state(vg)?;
    let members: Vec<DevNum> = state.pvs_of(vg).iter().filter_map(|p| p.dev).collect();
    let absent: Vec<&str> = chosen
        .iter()
        .filter(|c| !members.contains(&c.dev))
        .map(|c| c.path.as_str())
        .collect();
    if state.vg(vg).is_none() || !absent.is_empty() {
        bail!(
            "LVM finished, but volume group {vg} does not hold {}: check `vgs {vg}` and `pvs`",
            if absent.is_empty() {
                "anything".to_owned()
            } else {
                absent.join(", ")
            }
        );
    }
    if let Some(pool) = thin_pool
        && state.lv(vg, pool).is_none_or(|lv| lv.segtype != "thin-pool")
    {
        bail!("LVM finished, but {vg}/{pool} is not a thin pool: check `lvs {vg}`");
    }
    Ok(StorageResult::from_state(&state, vg, thin_pool))
}

/// The human rendering: the disks, the actions, drift and warnings, and the result.
pub fn render(report: &StorageReport) -> String {
    let mut out = String::new();
    render_disks(&mut out, report);
    render_actions(&mut out, report);
    for d in &report.drift {
        let _ = writeln!(out, "drift: {d}");
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let r = &report.result;
    let _ = writeln!(
        out,
        "Result: {}{} = {} on {}",
        r.volume_group,
        r.thin_pool
            .as_deref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default(),
        human_size(r.size_bytes),
        if r.devices.is_empty() {
            "no disk".to_owned()
        } else {
            r.devices.join(", ")
        }
    );
    out
}

/// The target, then each disk chosen (with what happens to it) and each passed over.
fn render_disks(out: &mut String, report: &StorageReport) {
    let target = match &report.thin_pool {
        Some(pool) => format!("volume group {} with thin pool {pool}", report.volume_group),
        None => format!("volume group {} (thick LVM)", report.volume_group),
    };
    let _ = writeln!(out, "Storage: {target}, disks chosen {}:", report.selection);
    for d in &report.disks {
        let state = match d.state {
            DiskState::InGroup => format!("in {}", report.volume_group),
            DiskState::ReusePv => "physical volume in no group: joins as it is".into(),
            DiskState::New if d.wipe.is_empty() => "empty: new physical volume".into(),
            DiskState::New => format!(
                "wiped first ({}), then a new physical volume",
                d.erases.join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "  {:<24} {:>10}  {state}",
            d.device,
            human_size(d.size_bytes)
        );
    }
    for p in &report.passed_over {
        let _ = writeln!(out, "  passed over {}: {}", p.device, p.reason);
    }
}

/// The actions done (or, in a dry run, to do) with their commands, or that none is needed.
fn render_actions(out: &mut String, report: &StorageReport) {
    if report.actions.is_empty() {
        let _ = writeln!(out, "Nothing to do: the storage is converged (changed: false).");
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        if report.core.dry_run {
            "Would do (dry run, nothing changed):"
        } else {
            "Done:"
        }
    );
    for a in &report.actions {
        let _ = writeln!(out, "  - {}", a.description);
        if let Some(cmd) = &a.command {
            let _ = writeln!(out, "      {cmd}");
        }
    }
}

/// Bytes in binary units, one decimal (`1.5 GiB`); plain bytes below 1 KiB.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl crate::output::Render for StorageReport {
    fn human(&self) -> String {
        render(self)
    }
}
