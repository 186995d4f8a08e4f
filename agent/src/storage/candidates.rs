//! The disks the storage step may build on: the ones `[storage] devices` lists (`explicit`) or
//! the ones `"auto"` picks, each looked at by LVM and by [`safety`](super::safety), marked for
//! `--wipe` where the operator named it, then chosen or refused with every reason.

use super::PassedOver;
use super::discovery::{self, BootDisks, DevNum, Disk, Found, LsblkDevice, Resolved};
use super::lvm::LvmState;
use super::plan::{Chosen, DiskState};
use super::safety::{self, LvmView, Reason};
use crate::error::{Refusal, UsageError};
use crate::settings::DiskSettings;
use anyhow::{Result, anyhow};
use std::collections::BTreeMap;

/// A disk the operator chose, with everything the step learned about it.
pub(super) struct Candidate {
    given: Vec<String>,
    disk: Disk,
    view: LvmView,
    reasons: Vec<Reason>,
    wipe_requested: bool,
}

impl Candidate {
    /// A candidate not yet looked at by LVM, with the reasons found while locating it.
    fn new(given: Vec<String>, disk: Disk, reasons: Vec<Reason>) -> Candidate {
        Candidate {
            given,
            disk,
            view: LvmView::NotSeen,
            reasons,
            wipe_requested: false,
        }
    }

    /// How refusals name it: as the operator did, with the device node when that differs.
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

/// The candidates, with what selecting them found: the refusals so far (listed disks lsblk
/// does not show) and, with `"auto"`, the disks passed over and why.
#[derive(Default)]
pub(super) struct Selection {
    pub candidates: Vec<Candidate>,
    pub refusals: Vec<String>,
    pub passed_over: Vec<PassedOver>,
}

/// The candidates of `config`: `"auto"`'s picks, or the listed disks (`sources` names the
/// config files in messages).
pub(super) fn select(
    config: &DiskSettings,
    tree: &[LsblkDevice],
    boot: &BootDisks,
    state: &LvmState,
    sources: &str,
) -> Result<Selection> {
    let mut selection = Selection::default();
    selection.candidates = if config.is_auto() {
        auto_candidates(
            tree,
            boot,
            state,
            &config.volume_group,
            &mut selection.passed_over,
        )?
    } else {
        explicit_candidates(&config.devices, tree, sources, &mut selection.refusals)?
    };
    Ok(selection)
}

/// Whether LVM sees `view` as a physical volume of `vg`.
pub(super) fn in_group(view: &LvmView, vg: &str) -> bool {
    matches!(view, LvmView::Pv { vg: v, .. } if v == vg)
}

/// What LVM says about the device `dev`.
fn lvm_view(state: &LvmState, dev: DevNum) -> LvmView {
    match state.device(dev) {
        None => LvmView::NotSeen,
        Some(pv) if !pv.is_pv() => LvmView::Plain,
        Some(pv) => LvmView::Pv {
            vg: pv.vg.clone(),
            mda_count: pv.mda_count,
        },
    }
}

/// Each candidate's LVM view and, unless it is already in `vg` or not a whole disk, every
/// reason it cannot be written to (probing it first when only lsblk's view was there).
pub(super) fn assess(
    candidates: &mut [Candidate],
    state: &LvmState,
    boot: &BootDisks,
    vg: &str,
    lvm_conf: &str,
) -> Result<()> {
    for c in candidates {
        c.view = lvm_view(state, c.disk.dev);
        if in_group(&c.view, vg) || c.reasons.iter().any(|r| matches!(r, Reason::NotWholeDisk { .. })) {
            continue;
        }
        if !c.disk.probed {
            c.disk.probe()?;
        }
        let mut reasons = safety::assess(&c.disk, boot, &c.view, lvm_conf);
        c.reasons.append(&mut reasons);
    }
    Ok(())
}

/// `--wipe` names disks of the config, each explicitly: marks them, and refuses a name that
/// is not a candidate or is already a physical volume of `vg`.
pub(super) fn mark_wipes(candidates: &mut [Candidate], wipe: &[String], auto: bool, vg: &str) -> Result<()> {
    for given in wipe {
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
        if in_group(&c.view, vg) {
            return Err(Refusal(format!(
                "--wipe {given}: {} is already a physical volume of {vg}: the agent never wipes a disk of its \
                 own volume group; drop --wipe {given}",
                c.disk.path
            ))
            .into());
        }
        c.wipe_requested = true;
    }
    Ok(())
}

/// The candidates left without a reason (a requested wipe lifts the wipeable ones), as disks
/// to build `vg` on; every reason of the others goes to `refusals`.
pub(super) fn choose(candidates: &mut [Candidate], vg: &str, refusals: &mut Vec<String>) -> Vec<Chosen> {
    let mut chosen = Vec::new();
    for c in candidates {
        let wipeable = !c.reasons.is_empty() && c.reasons.iter().all(Reason::wipeable);
        if c.wipe_requested && wipeable {
            c.reasons.clear();
        }
        if c.reasons.is_empty() {
            chosen.push(chosen_disk(c, vg));
        } else {
            refusals.extend(refusal_lines(c));
        }
    }
    chosen
}

/// One line per reason the candidate is refused, naming it.
fn refusal_lines(c: &Candidate) -> Vec<String> {
    let name = c.name();
    c.reasons
        .iter()
        .map(|reason| {
            let mut line = format!("{name}: {}", reason.explain(&c.disk.path));
            if c.wipe_requested && reason.wipeable() {
                line.push_str(" [--wipe was given, but the disk is refused for the other reasons listed]");
            }
            line
        })
        .collect()
}

/// A chosen candidate as the plan takes it: in the group, a PV to reuse, or new (after the
/// wipe the operator asked for, with what it erases).
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
    let mut candidates = Vec::new();
    for (dev, names) in resolve_listed(devices, sources)? {
        let given: Vec<String> = names.iter().map(|r| r.given.clone()).collect();
        let path = names[0].path.display().to_string();
        let Some((mut disk, mut reasons)) = locate(tree, dev, &path)? else {
            refusals.push(format!(
                "{}: lsblk does not list it (device {dev}): check the name, and that the disk is attached",
                given.join(", ")
            ));
            continue;
        };
        // lsblk was asked with --paths, but name the node the operator's path leads to.
        disk.path = path;
        if given.len() > 1 {
            reasons.push(Reason::Duplicate {
                also_as: given[1..].join(", "),
            });
        }
        candidates.push(Candidate::new(given, disk, reasons));
    }
    Ok(candidates)
}

/// The listed names resolved and grouped by device, in the order the devices are first
/// listed; a name that does not resolve is a usage error naming every such name.
fn resolve_listed(devices: &[String], sources: &str) -> Result<Vec<(DevNum, Vec<Resolved>)>> {
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
    Ok(order
        .into_iter()
        .map(|dev| (dev, by_dev.remove(&dev).unwrap_or_default()))
        .collect())
}

/// The device `dev` (listed as `path`) in lsblk's tree, with a [`Reason::NotWholeDisk`] when
/// it is a partition or another kind of device; `None` when lsblk does not list it.
fn locate(tree: &[LsblkDevice], dev: DevNum, path: &str) -> Result<Option<(Disk, Vec<Reason>)>> {
    let no_number = || anyhow!("lsblk reports {path} without a device number");
    Ok(match discovery::find(tree, dev) {
        Some(Found::Top(device)) => match Disk::from_lsblk(device) {
            Some(disk) if disk.kind == "disk" || disk.kind == "loop" => Some((disk, Vec::new())),
            Some(disk) => {
                let kind = disk.kind.clone();
                Some((disk, vec![Reason::NotWholeDisk { kind, parent: None }]))
            }
            None => return Err(no_number()),
        },
        Some(Found::Nested { device, parent }) => {
            let disk = Disk::from_lsblk(device).ok_or_else(no_number)?;
            let kind = if device.kind == "part" {
                "partition".to_owned()
            } else {
                device.kind.clone()
            };
            let parent = Some(parent.path());
            Some((disk, vec![Reason::NotWholeDisk { kind, parent }]))
        }
        None => None,
    })
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
        let Some(mut disk) = Disk::from_lsblk(device) else {
            continue;
        };
        if members.contains(&disk.dev) {
            candidates.push(Candidate::new(vec![disk.path.clone()], disk, Vec::new()));
            continue;
        }
        if let Some(why) = safety::auto_exclusion(&disk, boot) {
            passed_over.push(PassedOver {
                device: disk.path.clone(),
                reason: why,
            });
            continue;
        }
        disk.probe()?;
        pool.push(disk);
    }
    let (chosen, skipped) = safety::auto_select(&pool, boot);
    for (device, reason) in skipped {
        passed_over.push(PassedOver { device, reason });
    }
    for disk in chosen {
        candidates.push(Candidate::new(vec![disk.path.clone()], disk.clone(), Vec::new()));
    }
    Ok(candidates)
}
