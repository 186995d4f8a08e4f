//! LVM: what it sees (`pvs`, `vgs`, `lvs` as JSON), the commands the step runs (`pvcreate`,
//! `vgcreate`, `vgextend`, `lvcreate -T`), and errors a person can act on.
//!
//! With `--root DIR` every LVM command gets `LVM_SYSTEM_DIR=DIR/etc/lvm`: the root's `lvm.conf`
//! (its filters decide which disks LVM sees, so testbed hosts sharing one machine each see only
//! their own disks), and its `backup/` and `archive/` directories.
//!
//! Parts: `report` (what LVM sees), `commands` (sizes and argv), `errors` (failures explained).

mod commands;
mod errors;
mod report;

pub use commands::{
    DEFAULT_EXTENT_BYTES, DEFAULT_PE_START, MIB, THIN_CHUNK_BYTES, THIN_MAX_METADATA_BYTES,
    THIN_MIN_METADATA_BYTES, ThinSizing, lvcreate_thin, pv_capacity, pvcreate, thin_sizing, vgcreate,
    vgextend, wipefs_all,
};
pub use errors::{explain_failure, kernel_thin_pool_support, missing_kernel_target};
pub use report::{Lv, LvmState, Pv, Vg};

use crate::exec;
use crate::host::{Sysroot, rootfs};
use anyhow::{Context, Result, bail};
use report::{LV_COLUMNS, LvRow, PV_COLUMNS, PvRow, ReportDoc, VG_COLUMNS, VgRow};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs LVM commands against one host's LVM configuration.
#[derive(Debug, Clone)]
pub struct Lvm {
    /// `Some(DIR/etc/lvm)` under `--root`; `None` on the live system (LVM's own default).
    system_dir: Option<PathBuf>,
    conf: PathBuf,
    sysroot: Sysroot,
}

/// The host path of LVM's configuration file.
pub const CONF: &str = "/etc/lvm/lvm.conf";

impl Lvm {
    pub fn for_sysroot(sysroot: &Sysroot) -> Lvm {
        // Links on the way resolved inside the root, so that LVM reads (and keeps its backups
        // in) the directory the agent edits, never one outside the root.
        let dir =
            rootfs::real_path(sysroot, Path::new("/etc/lvm")).unwrap_or_else(|_| sysroot.path("/etc/lvm"));
        Lvm {
            conf: dir.join("lvm.conf"),
            system_dir: (!sysroot.is_live()).then_some(dir),
            sysroot: sysroot.clone(),
        }
    }

    /// The root whose `lvm.conf` this is (where edits of it are written).
    pub fn sysroot(&self) -> &Sysroot {
        &self.sysroot
    }

    /// The `lvm.conf` these commands read.
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    pub fn system_dir(&self) -> Option<&Path> {
        self.system_dir.as_deref()
    }

    pub fn command(&self, argv: &[String]) -> Command {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if let Some(dir) = &self.system_dir {
            cmd.env("LVM_SYSTEM_DIR", dir);
        }
        // LVM warns about every inherited descriptor; the warnings say nothing about the disks.
        cmd.env("LVM_SUPPRESS_FD_WARNINGS", "1");
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// The command line as an operator would type it, `LVM_SYSTEM_DIR=…` included under a root.
    pub fn describe(&self, argv: &[String]) -> String {
        let line = exec::describe(&self.command(argv));
        match &self.system_dir {
            Some(dir) => format!("LVM_SYSTEM_DIR={} {line}", dir.display()),
            None => line,
        }
    }

    /// Runs an LVM command; a failure is explained (see [`explain_failure`]).
    pub fn run(&self, argv: &[String]) -> Result<Output> {
        let mut cmd = self.command(argv);
        let output = exec::run_unchecked(&mut cmd)?;
        if !output.status.success() {
            bail!(
                "{}",
                explain_failure(
                    &self.describe(argv),
                    output.status.code(),
                    &String::from_utf8_lossy(&output.stderr)
                )
            );
        }
        Ok(output)
    }

    /// `COMMAND --reportformat json --units b --nosuffix -o COLUMNS [VG]`: the rows of LVM's
    /// JSON report, sizes in bytes.
    fn report<T: for<'de> Deserialize<'de>>(
        &self,
        command: &[&str],
        columns: &str,
        vg: Option<&str>,
    ) -> Result<Vec<T>> {
        let options = [
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            columns,
        ];
        let argv: Vec<String> = command
            .iter()
            .chain(&options)
            .chain(&vg)
            .map(|s| s.to_string())
            .collect();
        let output = self.run(&argv)?;
        let text = String::from_utf8_lossy(&output.stdout);
        let report: ReportDoc<T> = serde_json::from_str(&text)
            .with_context(|| format!("cannot read the JSON report of `{}`", self.describe(&argv)))?;
        Ok(report.report.into_iter().flat_map(|s| s.rows).collect())
    }

    /// What LVM sees: every device its filters accept (`pvs -a`), the volume groups, and the
    /// logical volumes of `vg`.
    pub fn state(&self, vg: &str) -> Result<LvmState> {
        let mut pvs: Vec<Pv> = self
            .report::<PvRow>(&["pvs", "-a"], PV_COLUMNS, None)?
            .into_iter()
            .map(Pv::from)
            .collect();
        pvs.sort_by(|a, b| a.name.cmp(&b.name));
        let vgs: Vec<Vg> = self
            .report::<VgRow>(&["vgs"], VG_COLUMNS, None)?
            .into_iter()
            .map(Vg::from)
            .collect();
        let lvs = if vgs.iter().any(|g| g.name == vg) {
            self.report::<LvRow>(&["lvs"], LV_COLUMNS, Some(vg))?
                .into_iter()
                .map(Lv::from)
                .collect()
        } else {
            Vec::new()
        };
        Ok(LvmState { pvs, vgs, lvs })
    }
}
