//! The storage step: the LVM volume group LINSTOR uses (and its thin pool), built on the disks
//! `[storage] devices` names, and never on a disk that holds anything unless the operator names
//! it with `--wipe`.
//!
//! discovery (lsblk, blkid, wipefs, sysfs) → safety (why a disk is refused) → lvm (what LVM
//! sees, the commands) → filter (lvm.conf's global_filter) → plan (actions, apply).
//! The result ([`StorageResult`]) is what the register step gives LINSTOR.

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
use discovery::{BootDisks, DevNum, Disk, Found, LsblkDevice, Resolved};
use lvm::{Lvm, LvmState};
use plan::{ActionKind, Chosen, Desired, DiskState, Plan};
use safety::{LvmView, Reason};
use serde::Serialize;
use std::collections::BTreeMap;
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

/// A disk the operator chose, with everything the step learned about it.
struct Candidate {
    given: Vec<String>,
    disk: Disk,
    view: LvmView,
    reasons: Vec<Reason>,
    wipe_requested: bool,
}

impl Candidate {
    fn name(&self) -> String {
        let given = self
            .given
            .first()
            .cloned()
            .unwrap_or_else(|| self.disk.path.clone());
        if given == self.disk.path {
            given
        } else {
            format!("{given} ({})", self.disk.path)
        }
    }
}

/// Runs the storage step (or, with `dry_run`, says what it would do).
pub fn run(ctx: &Context, options: &StorageOptions) -> Result<StorageReport> {
    let config = disk_settings(ctx)?;
    let vg_name = config.volume_group.as_str();
    let thin_pool = config.thin_pool.as_deref();
    let lvm = Lvm::for_sysroot(&ctx.sysroot);
    let lvm_conf = lvm.conf_path().display().to_string();
    let state = lvm.state(vg_name)?;
    let tree = discovery::lsblk()?;
    let boot = BootDisks::find(&ctx.sysroot);
    let auto = config.is_auto();

    let mut refusals: Vec<String> = Vec::new();
    let mut passed_over = Vec::new();
    let mut candidates = if auto {
        auto_candidates(&tree, &boot, &state, vg_name, &mut passed_over)?
    } else {
        explicit_candidates(
            &config.devices,
            &tree,
            &ctx.settings.sources.describe(),
            &mut refusals,
        )?
    };

    for c in &mut candidates {
        c.view = match state.device(c.disk.dev) {
            None => LvmView::NotSeen,
            Some(pv) if !pv.is_pv() => LvmView::Plain,
            Some(pv) => LvmView::Pv {
                vg: pv.vg.clone(),
                mda_count: pv.mda_count,
            },
        };
        if in_group(&c.view, vg_name) || c.reasons.iter().any(|r| matches!(r, Reason::NotWholeDisk { .. })) {
            continue;
        }
        if !c.disk.probed {
            c.disk.probe()?;
        }
        let mut reasons = safety::assess(&c.disk, &boot, &c.view, &lvm_conf);
        c.reasons.append(&mut reasons);
    }

    // --wipe names disks of the config, each explicitly.
    for given in &options.wipe {
        let resolved = discovery::resolve(given).map_err(|msg| {
            UsageError(format!(
                "--wipe {given}: {msg}: name one of the [storage] devices"
            ))
        })?;
        let Some(c) = candidates.iter_mut().find(|c| c.disk.dev == resolved.dev) else {
            return Err(UsageError(format!(
                "--wipe {given}: not one of the disks the storage step uses ({}): --wipe only applies to \
                 [storage] devices",
                if auto {
                    "devices = [\"auto\"] picks empty disks only"
                } else {
                    "check [storage] devices"
                }
            ))
            .into());
        };
        if in_group(&c.view, vg_name) {
            return Err(Refusal(format!(
                "--wipe {given}: {} is already a physical volume of {vg_name}: the agent never wipes a disk of its \
                 own volume group; drop --wipe {given}",
                c.disk.path
            ))
            .into());
        }
        c.wipe_requested = true;
    }

    let mut chosen = Vec::new();
    for c in &mut candidates {
        let wipeable = !c.reasons.is_empty() && c.reasons.iter().all(Reason::wipeable);
        if c.wipe_requested && wipeable {
            c.reasons.clear();
        }
        if !c.reasons.is_empty() {
            let name = c.name();
            for reason in &c.reasons {
                let mut line = format!("{name}: {}", reason.explain(&c.disk.path));
                if c.wipe_requested && reason.wipeable() {
                    line.push_str(
                        " [--wipe was given, but the disk is refused for the other reasons listed]",
                    );
                }
                refusals.push(line);
            }
            continue;
        }
        chosen.push(chosen_disk(c, vg_name));
    }

    if let Some(pool) = thin_pool
        && let Some(lv) = state.lv(vg_name, pool)
        && lv.segtype != "thin-pool"
    {
        refusals.push(format!(
            "{vg_name}/{pool}: exists and is a {} logical volume, not a thin pool: the agent does not convert it; \
             rename it (`lvrename {vg_name} {pool} NEW`) or set [storage] thin_pool to another name",
            lv.segtype
        ));
    }
    if !refusals.is_empty() {
        let mut msg = format!(
            "refusing to build volume group {vg_name}: nothing was changed. {} problem(s):",
            refusals.len()
        );
        for r in &refusals {
            let _ = write!(msg, "\n  {r}");
        }
        return Err(Refusal(msg).into());
    }
    if chosen.is_empty() {
        let mut msg = format!(
            "refusing to build volume group {vg_name}: devices = [\"auto\"] found no empty, fixed disk that is not \
             the boot disk; list the disks in [storage] devices (nothing was changed)"
        );
        for p in &passed_over {
            let _ = write!(msg, "\n  {}: {}", p.device, p.reason);
        }
        return Err(Refusal(msg).into());
    }

    let filter_edit = filter::plan(lvm.conf_path())?;
    let desired = Desired {
        volume_group: vg_name,
        thin_pool,
        chosen: &chosen,
    };
    let mut plan = plan::build(&desired, &state, filter_edit, &lvm)?;
    let creates_thin_pool = plan
        .actions
        .iter()
        .any(|a| a.action == ActionKind::CreateThinPool);
    if creates_thin_pool && let Err(missing) = lvm::kernel_thin_pool_support() {
        let msg = format!(
            "cannot create thin pool {vg_name}/{}: {missing}. Load it (`modprobe dm-thin-pool`) or boot a kernel that \
             has it, or leave out thin_pool in [storage] ({}) for thick LVM",
            thin_pool.unwrap_or_default(),
            ctx.settings.sources.describe()
        );
        if options.dry_run {
            plan.warnings.push(msg);
        } else {
            bail!("{msg}; nothing was changed");
        }
    }
    if !options.dry_run {
        plan::apply(&mut plan, &lvm)?;
        if plan.actions.iter().any(|a| a.done) && plan.drift.is_empty() {
            plan.result = verify(&lvm, vg_name, thin_pool, &chosen)?;
        }
    }
    let Plan {
        actions,
        drift,
        warnings,
        result,
    } = plan;
    Ok(StorageReport {
        core: ReportCore {
            changed: actions.iter().any(|a| a.done),
            ..ReportCore::new("storage", options.dry_run)
        },
        volume_group: vg_name.to_owned(),
        thin_pool: thin_pool.map(String::from),
        selection: if auto { "auto" } else { "explicit" },
        disks: chosen,
        passed_over,
        actions,
        drift,
        warnings,
        result,
    })
}

fn in_group(view: &LvmView, vg: &str) -> bool {
    matches!(view, LvmView::Pv { vg: v, .. } if v == vg)
}

fn chosen_disk(c: &Candidate, vg: &str) -> Chosen {
    let state = match &c.view {
        LvmView::Pv { vg: v, .. } if v == vg => DiskState::InGroup,
        LvmView::Pv { mda_count, .. } if *mda_count > 0 && !c.wipe_requested => DiskState::ReusePv,
        _ => DiskState::New,
    };
    let mut wipe = Vec::new();
    let mut erases = Vec::new();
    if c.wipe_requested {
        for p in &c.disk.partitions {
            if let Some(fs) = &p.fstype {
                wipe.push(p.path.clone());
                erases.push(format!("{fs} on {}", p.path));
            }
        }
        if !c.disk.signatures.is_empty() {
            wipe.push(c.disk.path.clone());
            erases.extend(c.disk.signatures.iter().map(|s| match &s.offset {
                Some(o) => format!("{} at {o}", s.kind),
                None => s.kind.clone(),
            }));
        }
    }
    Chosen {
        device: c.given.join(", "),
        path: c.disk.path.clone(),
        dev: c.disk.dev,
        size_bytes: c.disk.size_bytes,
        state,
        wipe,
        erases,
    }
}

/// The listed disks: resolved to device numbers (a disk listed twice, under any two names, is
/// one disk and a refusal), located in lsblk's tree.
fn explicit_candidates(
    devices: &[String],
    tree: &[LsblkDevice],
    sources: &str,
    refusals: &mut Vec<String>,
) -> Result<Vec<Candidate>> {
    let mut missing = Vec::new();
    let mut by_dev: BTreeMap<DevNum, Vec<Resolved>> = BTreeMap::new();
    let mut order = Vec::new();
    for given in devices {
        match discovery::resolve(given) {
            Ok(r) => {
                if !by_dev.contains_key(&r.dev) {
                    order.push(r.dev);
                }
                by_dev.entry(r.dev).or_default().push(r);
            }
            Err(msg) => missing.push(msg),
        }
    }
    if !missing.is_empty() {
        return Err(UsageError(format!(
            "[storage] devices in {sources}: {}: list whole disks that exist (\"/dev/sdb\", \"/dev/disk/by-id/…\")",
            missing.join("; ")
        ))
        .into());
    }
    let mut candidates = Vec::new();
    for dev in order {
        let names = &by_dev[&dev];
        let given: Vec<String> = names.iter().map(|r| r.given.clone()).collect();
        let path = names[0].path.display().to_string();
        let (disk, mut reasons) = match discovery::find(tree, dev) {
            Some(Found::Top(device)) => match Disk::from_lsblk(device) {
                Some(disk) if disk.kind == "disk" || disk.kind == "loop" => (disk, Vec::new()),
                Some(disk) => {
                    let kind = disk.kind.clone();
                    (disk, vec![Reason::NotWholeDisk { kind, parent: None }])
                }
                None => bail!("lsblk reports {path} without a device number"),
            },
            Some(Found::Nested { device, parent }) => {
                let disk = Disk::from_lsblk(device)
                    .ok_or_else(|| anyhow::anyhow!("lsblk reports {path} without a device number"))?;
                let kind = if device.kind == "part" {
                    "partition".to_owned()
                } else {
                    device.kind.clone()
                };
                (
                    disk,
                    vec![Reason::NotWholeDisk {
                        kind,
                        parent: Some(parent.path()),
                    }],
                )
            }
            None => {
                refusals.push(format!(
                    "{}: lsblk does not list it (device {dev}): check the name, and that the disk is attached",
                    given.join(", ")
                ));
                continue;
            }
        };
        // lsblk was asked with --paths, but name the node the operator's path leads to.
        let mut disk = disk;
        disk.path = path;
        if given.len() > 1 {
            reasons.push(Reason::Duplicate {
                also_as: given[1..].join(", "),
            });
        }
        candidates.push(Candidate {
            given,
            disk,
            view: LvmView::NotSeen,
            reasons,
            wipe_requested: false,
        });
    }
    Ok(candidates)
}

/// `"auto"`: the volume group's own disks, plus every whole disk that is empty, not removable
/// and not the boot disk (lsblk's view first, then each remaining candidate probed).
fn auto_candidates(
    tree: &[LsblkDevice],
    boot: &BootDisks,
    state: &LvmState,
    vg: &str,
    passed_over: &mut Vec<PassedOver>,
) -> Result<Vec<Candidate>> {
    let members: Vec<DevNum> = state.pvs_of(vg).iter().filter_map(|p| p.dev).collect();
    let mut candidates = Vec::new();
    let mut pool = Vec::new();
    for device in tree {
        let Some(disk) = Disk::from_lsblk(device) else {
            continue;
        };
        if members.contains(&disk.dev) {
            candidates.push(Candidate {
                given: vec![disk.path.clone()],
                disk,
                view: LvmView::NotSeen,
                reasons: Vec::new(),
                wipe_requested: false,
            });
            continue;
        }
        if let Some(why) = safety::auto_exclusion(&disk, boot) {
            passed_over.push(PassedOver {
                device: disk.path.clone(),
                reason: why,
            });
            continue;
        }
        let mut disk = disk;
        disk.probe()?;
        pool.push(disk);
    }
    let (chosen, skipped) = safety::auto_select(&pool, boot);
    for (device, reason) in skipped {
        passed_over.push(PassedOver { device, reason });
    }
    for disk in chosen {
        candidates.push(Candidate {
            given: vec![disk.path.clone()],
            disk: disk.clone(),
            view: LvmView::NotSeen,
            reasons: Vec::new(),
            wipe_requested: false,
        });
    }
    Ok(candidates)
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

pub fn render(report: &StorageReport) -> String {
    let mut out = String::new();
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
    if report.actions.is_empty() {
        let _ = writeln!(out, "Nothing to do: the storage is converged (changed: false).");
    } else {
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
