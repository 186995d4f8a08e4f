//! From what is (the chosen disks, LVM's view, `lvm.conf`) to the ordered actions that converge
//! the host, and applying them. The commands `--dry-run` shows are the very argv that run.

use super::StorageResult;
use super::discovery::{self, DevNum};
use super::filter::{self, FilterEdit};
use super::lvm::{self, DEFAULT_EXTENT_BYTES, Lvm, LvmState, Vg};
use crate::exec;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::process::Command;

/// Where a chosen disk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskState {
    /// Already a physical volume of the volume group: nothing to do.
    InGroup,
    /// A physical volume in no volume group (e.g. left by an interrupted run): joins as it is.
    ReusePv,
    /// Empty (or wiped first): `pvcreate`, then joins.
    New,
}

/// A disk the step builds on.
#[derive(Debug, Clone, Serialize)]
pub struct Chosen {
    /// How the config names it (more than one way when the config lists it twice).
    pub device: String,
    /// The device node LVM is given.
    pub path: String,
    pub dev: DevNum,
    pub size_bytes: u64,
    pub state: DiskState,
    /// Devices to erase with `wipefs --all` first (its partitions, then the disk): `--wipe`.
    pub wipe: Vec<String>,
    /// What is erased, for the plan: `ext4 at 0x438 on /dev/loop3`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub erases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    EditLvmConf,
    Wipe,
    Pvcreate,
    Vgcreate,
    Vgextend,
    CreateThinPool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub action: ActionKind,
    pub description: String,
    /// The program and its arguments, exactly as run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// The command line to paste into a shell (`LVM_SYSTEM_DIR=…` under a root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvm_conf: Option<FilterEdit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thin_sizing: Option<lvm::ThinSizing>,
    /// Whether it ran (always false with `--dry-run`).
    pub done: bool,
}

impl Action {
    fn edit_lvm_conf(edit: FilterEdit) -> Action {
        Action {
            action: ActionKind::EditLvmConf,
            description: edit.describe(),
            argv: Vec::new(),
            command: None,
            lvm_conf: Some(edit),
            thin_sizing: None,
            done: false,
        }
    }

    fn command(kind: ActionKind, description: String, argv: Vec<String>, lvm: &Lvm) -> Action {
        let command = if kind == ActionKind::Wipe {
            exec::describe(Command::new(&argv[0]).args(&argv[1..]))
        } else {
            lvm.describe(&argv)
        };
        Action {
            action: kind,
            description,
            argv,
            command: Some(command),
            lvm_conf: None,
            thin_sizing: None,
            done: false,
        }
    }
}

/// The converge: actions in order, what is left alone and why, and the expected result.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Differences the agent reports and does not touch.
    pub drift: Vec<String>,
    pub warnings: Vec<String>,
    /// The volume group (and thin pool) as it will be once the actions ran.
    pub result: StorageResult,
}

pub struct Desired<'a> {
    pub volume_group: &'a str,
    pub thin_pool: Option<&'a str>,
    pub chosen: &'a [Chosen],
}

/// The plan that converges the host on `desired`. Phases, in the order the actions run:
/// lvm.conf's filter, then (unless the volume group holds disks the config does not list) the
/// wipes, `pvcreate`, `vgcreate` or `vgextend`, and the thin pool.
pub fn build(
    desired: &Desired,
    state: &LvmState,
    filter_edit: Option<FilterEdit>,
    lvm: &Lvm,
) -> Result<Plan> {
    let vg_name = desired.volume_group;
    let mut actions: Vec<Action> = filter_edit.map(Action::edit_lvm_conf).into_iter().collect();
    let drift = drift(desired, state);
    if !drift.is_empty() {
        return Ok(Plan {
            actions,
            drift,
            warnings: vec![format!(
                "volume group {vg_name} is left alone: it holds disks the config does not list (drift). Add them to \
                 [storage] devices if they belong there, or move them out of {vg_name} by hand"
            )],
            result: StorageResult::from_state(state, vg_name, desired.thin_pool),
        });
    }

    let vg = state.vg(vg_name);
    let joining = Joining::new(desired.chosen, vg);
    actions.extend(joining.wipes(lvm));
    actions.extend(joining.pvcreate(lvm));
    actions.extend(joining.group_action(vg_name, vg.is_some(), lvm)?);

    let mut warnings = Vec::new();
    let vg_size = vg.map_or(0, |g| g.size) + joining.added_bytes;
    let vg_free = vg.map_or(0, |g| g.free) + joining.added_bytes;
    let size_bytes = match desired.thin_pool {
        None => vg_size,
        Some(pool) => match state.lv(vg_name, pool) {
            Some(lv) => {
                warnings.extend(thin_pool_stays(vg_name, pool, joining.added_bytes));
                lv.size
            }
            None => {
                let (action, data) = create_thin_pool(vg_name, pool, vg_free, joining.extent, lvm)?;
                actions.push(action);
                data
            }
        },
    };

    let mut devices: Vec<String> = desired.chosen.iter().map(|c| c.path.clone()).collect();
    devices.sort();
    Ok(Plan {
        actions,
        drift,
        warnings,
        result: StorageResult {
            volume_group: vg_name.to_owned(),
            thin_pool: desired.thin_pool.map(String::from),
            size_bytes,
            devices,
        },
    })
}

/// The physical volumes of the volume group that `[storage] devices` does not list.
fn drift(desired: &Desired, state: &LvmState) -> Vec<String> {
    let vg_name = desired.volume_group;
    let chosen_devs: Vec<DevNum> = desired.chosen.iter().map(|c| c.dev).collect();
    state
        .pvs_of(vg_name)
        .into_iter()
        .filter(|pv| !pv.dev.is_some_and(|d| chosen_devs.contains(&d)))
        .map(|pv| {
            let what = if pv.dev.is_none() {
                format!("a missing physical volume (uuid {})", pv.uuid)
            } else {
                pv.name.clone()
            };
            format!("volume group {vg_name} holds {what}, which is not in [storage] devices")
        })
        .collect()
}

/// The chosen disks that are not in the volume group yet, and what they add to it.
struct Joining<'a> {
    disks: Vec<&'a Chosen>,
    /// The group's extent size (LVM's default for a new group).
    extent: u64,
    /// What the joining disks add to the group, in whole extents.
    added_bytes: u64,
}

impl<'a> Joining<'a> {
    fn new(chosen: &'a [Chosen], vg: Option<&Vg>) -> Joining<'a> {
        let extent = vg
            .map(|g| g.extent_size)
            .filter(|&e| e > 0)
            .unwrap_or(DEFAULT_EXTENT_BYTES);
        let disks: Vec<&Chosen> = chosen.iter().filter(|c| c.state != DiskState::InGroup).collect();
        let added_bytes = disks.iter().map(|c| lvm::pv_capacity(c.size_bytes, extent)).sum();
        Joining {
            disks,
            extent,
            added_bytes,
        }
    }

    /// `wipefs --all` on every device `--wipe` erases, partitions before their disk.
    fn wipes(&self, lvm: &Lvm) -> Vec<Action> {
        let mut actions = Vec::new();
        for c in &self.disks {
            for target in &c.wipe {
                let erases = if c.erases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.erases.join(", "))
                };
                actions.push(Action::command(
                    ActionKind::Wipe,
                    format!("erase every signature on {target}{erases}: --wipe {}", c.device),
                    lvm::wipefs_all(target),
                    lvm,
                ));
            }
        }
        actions
    }

    /// One `pvcreate` for the disks that are no physical volume yet.
    fn pvcreate(&self, lvm: &Lvm) -> Option<Action> {
        let new: Vec<String> = self
            .disks
            .iter()
            .filter(|c| c.state == DiskState::New)
            .map(|c| c.path.clone())
            .collect();
        (!new.is_empty()).then(|| {
            Action::command(
                ActionKind::Pvcreate,
                format!("make {} LVM physical volume(s)", new.join(", ")),
                lvm::pvcreate(&new),
                lvm,
            )
        })
    }

    /// `vgcreate` when the group does not `exist`, else `vgextend` when disks join it.
    fn group_action(&self, vg_name: &str, exists: bool, lvm: &Lvm) -> Result<Option<Action>> {
        let paths: Vec<String> = self.disks.iter().map(|c| c.path.clone()).collect();
        if !exists {
            if paths.is_empty() {
                bail!("no disk to build volume group {vg_name} on");
            }
            return Ok(Some(Action::command(
                ActionKind::Vgcreate,
                format!("create volume group {vg_name} on {}", paths.join(", ")),
                lvm::vgcreate(vg_name, &paths),
                lvm,
            )));
        }
        Ok((!paths.is_empty()).then(|| {
            Action::command(
                ActionKind::Vgextend,
                format!("add {} to volume group {vg_name}", paths.join(", ")),
                lvm::vgextend(vg_name, &paths),
                lvm,
            )
        }))
    }
}

/// An existing thin pool is left as it is: the warning says how to grow it when disks joined.
fn thin_pool_stays(vg_name: &str, pool: &str, added_bytes: u64) -> Option<String> {
    (added_bytes > 0).then(|| {
        format!(
            "thin pool {vg_name}/{pool} does not grow by itself: the new {} MiB stay free in {vg_name}; \
             grow it with `lvextend -l +100%FREE {vg_name}/{pool}` (and its metadata with \
             `lvextend --poolmetadatasize +SIZE {vg_name}/{pool}`)",
            added_bytes / lvm::MIB
        )
    })
}

/// The thin pool on all of the group's `vg_free` bytes, and the size of its data.
fn create_thin_pool(
    vg_name: &str,
    pool: &str,
    vg_free: u64,
    extent: u64,
    lvm: &Lvm,
) -> Result<(Action, u64)> {
    let sizing = lvm::thin_sizing(vg_free, extent);
    // 100%FREE less the metadata LV and its spare.
    let data = vg_free.saturating_sub(2 * sizing.metadata_bytes);
    if data < extent {
        bail!(
            "volume group {vg_name} has {} MiB free, too little for thin pool {pool} and its {} MiB of \
             metadata (twice, with the spare): add a disk to [storage] devices, or leave out thin_pool",
            vg_free / lvm::MIB,
            sizing.metadata_bytes / lvm::MIB
        );
    }
    let mut action = Action::command(
        ActionKind::CreateThinPool,
        format!(
            "create thin pool {vg_name}/{pool} on all free space (about {} MiB), {} MiB of metadata, {} KiB chunks",
            data / lvm::MIB,
            sizing.metadata_bytes / lvm::MIB,
            sizing.chunk_bytes / 1024
        ),
        lvm::lvcreate_thin(vg_name, pool, sizing),
        lvm,
    );
    action.thin_sizing = Some(sizing);
    Ok((action, data))
}

/// Runs the actions in order. On a failure the error says what had been done already.
pub fn apply(plan: &mut Plan, lvm: &Lvm) -> Result<()> {
    for i in 0..plan.actions.len() {
        let shown = crate::progress::spinner(format!("storage: {}", plan.actions[i].description));
        let result = run_one(&plan.actions[i], lvm);
        if let Err(e) = result {
            let done: Vec<String> = plan
                .actions
                .iter()
                .filter(|a| a.done)
                .map(|a| a.description.clone())
                .collect();
            let so_far = if done.is_empty() {
                "nothing was changed before it".to_owned()
            } else {
                format!(
                    "already done: {}; running `linstor-agent storage` again continues from there",
                    done.join("; ")
                )
            };
            return Err(e.context(format!("{} failed ({so_far})", plan.actions[i].description)));
        }
        plan.actions[i].done = true;
        shown.done("done");
    }
    Ok(())
}

fn run_one(action: &Action, lvm: &Lvm) -> Result<()> {
    match action.action {
        ActionKind::EditLvmConf => {
            let edit = action
                .lvm_conf
                .as_ref()
                .context("an lvm.conf action without its edit")?;
            filter::apply(edit, lvm)
        }
        ActionKind::Wipe => {
            let target = action.argv.last().context("wipefs without a device")?;
            exec::run(Command::new(&action.argv[0]).args(&action.argv[1..]))?;
            let left = discovery::wipefs_signatures(target)?;
            if !left.is_empty() {
                bail!(
                    "{target} still has signatures after wipefs --all: {}",
                    left.iter()
                        .map(|s| format!("{} at {}", s.kind, s.offset))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
        _ => lvm.run(&action.argv).map(|_| ()),
    }
}
