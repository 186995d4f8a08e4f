//! LVM: what it sees (`pvs`, `vgs`, `lvs` as JSON), the commands the step runs (`pvcreate`,
//! `vgcreate`, `vgextend`, `lvcreate -T`), and errors a person can act on.
//!
//! With `--root DIR` every LVM command gets `LVM_SYSTEM_DIR=DIR/etc/lvm`: the root's `lvm.conf`
//! (its filters decide which disks LVM sees, so testbed hosts sharing one machine each see only
//! their own disks), and its `backup/` and `archive/` directories.

use super::discovery::{DevNum, resolve};
use crate::exec;
use crate::host::Sysroot;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const MIB: u64 = 1024 * 1024;
/// LVM's default physical extent size for a new volume group.
pub const DEFAULT_EXTENT_BYTES: u64 = 4 * MIB;
/// Where LVM puts the first extent on a new PV by default (1 MiB alignment).
pub const DEFAULT_PE_START: u64 = MIB;

/// Runs LVM commands against one host's LVM configuration.
#[derive(Debug, Clone)]
pub struct Lvm {
    /// `Some(DIR/etc/lvm)` under `--root`; `None` on the live system (LVM's own default).
    system_dir: Option<PathBuf>,
    conf: PathBuf,
}

impl Lvm {
    pub fn for_sysroot(sysroot: &Sysroot) -> Lvm {
        let dir = sysroot.path("/etc/lvm");
        Lvm {
            conf: dir.join("lvm.conf"),
            system_dir: (!sysroot.is_live()).then_some(dir),
        }
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

    fn report<T: for<'de> Deserialize<'de>>(&self, argv: &[&str]) -> Result<Vec<T>> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
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
            .report::<PvRow>(&[
                "pvs",
                "-a",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                "pv_name,vg_name,pv_uuid,dev_size,pv_size,pv_mda_count",
            ])?
            .into_iter()
            .map(Pv::from)
            .collect();
        pvs.sort_by(|a, b| a.name.cmp(&b.name));
        let vgs: Vec<Vg> = self
            .report::<VgRow>(&[
                "vgs",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                "vg_name,vg_size,vg_free,vg_extent_size,pv_count,lv_count",
            ])?
            .into_iter()
            .map(Vg::from)
            .collect();
        let lvs = if vgs.iter().any(|g| g.name == vg) {
            self.report::<LvRow>(&[
                "lvs",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                "lv_name,vg_name,lv_attr,segtype,lv_size",
                vg,
            ])?
            .into_iter()
            .map(Lv::from)
            .collect()
        } else {
            Vec::new()
        };
        Ok(LvmState { pvs, vgs, lvs })
    }
}

// ---------------------------------------------------------------------------------------------
// Reports

#[derive(Deserialize)]
struct ReportDoc<T> {
    report: Vec<Section<T>>,
}

#[derive(Deserialize)]
struct Section<T> {
    #[serde(alias = "pv", alias = "vg", alias = "lv", default = "Vec::new")]
    rows: Vec<T>,
}

fn de_num<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    })
}

#[derive(Deserialize)]
struct PvRow {
    pv_name: String,
    #[serde(default)]
    vg_name: String,
    #[serde(default)]
    pv_uuid: String,
    #[serde(default, deserialize_with = "de_num")]
    dev_size: u64,
    #[serde(default, deserialize_with = "de_num")]
    pv_size: u64,
    #[serde(default, deserialize_with = "de_num")]
    pv_mda_count: u64,
}

#[derive(Deserialize)]
struct VgRow {
    vg_name: String,
    #[serde(default, deserialize_with = "de_num")]
    vg_size: u64,
    #[serde(default, deserialize_with = "de_num")]
    vg_free: u64,
    #[serde(default, deserialize_with = "de_num")]
    vg_extent_size: u64,
    #[serde(default, deserialize_with = "de_num")]
    pv_count: u64,
    #[serde(default, deserialize_with = "de_num")]
    lv_count: u64,
}

#[derive(Deserialize)]
struct LvRow {
    lv_name: String,
    vg_name: String,
    #[serde(default)]
    lv_attr: String,
    #[serde(default)]
    segtype: String,
    #[serde(default, deserialize_with = "de_num")]
    lv_size: u64,
}

/// A device LVM sees; `uuid` is empty when it is not a physical volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pv {
    pub name: String,
    /// The device number behind `name` (`None` for a missing PV, `[unknown]`).
    pub dev: Option<DevNum>,
    pub vg: String,
    pub uuid: String,
    pub dev_size: u64,
    pub pv_size: u64,
    pub mda_count: u64,
}

impl Pv {
    pub fn is_pv(&self) -> bool {
        !self.uuid.is_empty()
    }
}

impl From<PvRow> for Pv {
    fn from(r: PvRow) -> Pv {
        Pv {
            dev: resolve(&r.pv_name).ok().map(|d| d.dev),
            name: r.pv_name,
            vg: r.vg_name,
            uuid: r.pv_uuid,
            dev_size: r.dev_size,
            pv_size: r.pv_size,
            mda_count: r.pv_mda_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vg {
    pub name: String,
    pub size: u64,
    pub free: u64,
    pub extent_size: u64,
    pub pv_count: u64,
    pub lv_count: u64,
}

impl From<VgRow> for Vg {
    fn from(r: VgRow) -> Vg {
        Vg {
            name: r.vg_name,
            size: r.vg_size,
            free: r.vg_free,
            extent_size: r.vg_extent_size,
            pv_count: r.pv_count,
            lv_count: r.lv_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lv {
    pub name: String,
    pub vg: String,
    pub attr: String,
    pub segtype: String,
    pub size: u64,
}

impl From<LvRow> for Lv {
    fn from(r: LvRow) -> Lv {
        Lv {
            name: r.lv_name,
            vg: r.vg_name,
            attr: r.lv_attr,
            segtype: r.segtype,
            size: r.lv_size,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LvmState {
    pub pvs: Vec<Pv>,
    pub vgs: Vec<Vg>,
    pub lvs: Vec<Lv>,
}

impl LvmState {
    pub fn vg(&self, name: &str) -> Option<&Vg> {
        self.vgs.iter().find(|g| g.name == name)
    }

    pub fn lv(&self, vg: &str, name: &str) -> Option<&Lv> {
        self.lvs.iter().find(|l| l.vg == vg && l.name == name)
    }

    /// The physical volumes of `vg` (missing ones included, as `[unknown]`).
    pub fn pvs_of(&self, vg: &str) -> Vec<&Pv> {
        self.pvs.iter().filter(|p| p.is_pv() && p.vg == vg).collect()
    }

    /// What LVM sees at this device number.
    pub fn device(&self, dev: DevNum) -> Option<&Pv> {
        self.pvs.iter().find(|p| p.dev == Some(dev))
    }
}

// ---------------------------------------------------------------------------------------------
// Sizes and commands

/// The usable size of a new PV on a disk of `disk_bytes` with LVM's defaults: 1 MiB for the
/// label and metadata, then whole extents.
pub fn pv_capacity(disk_bytes: u64, extent_bytes: u64) -> u64 {
    let usable = disk_bytes.saturating_sub(DEFAULT_PE_START);
    usable / extent_bytes * extent_bytes
}

/// Thin-pool metadata and chunk size for a pool of `pool_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThinSizing {
    pub metadata_bytes: u64,
    pub chunk_bytes: u64,
}

/// Default thin-pool chunk: 64 KiB, LVM's default and the best for snapshots (LINSTOR's).
pub const THIN_CHUNK_BYTES: u64 = 64 * 1024;
/// dm-thin addresses at most 15.81 GiB of metadata; stay clear of the edge.
pub const THIN_MAX_METADATA_BYTES: u64 = 15 * 1024 * MIB;
pub const THIN_MIN_METADATA_BYTES: u64 = 2 * MIB;

/// The metadata LV dm-thin needs is 64 bytes per chunk (lvmthin(7)); twice that leaves room for
/// the snapshots LINSTOR takes, since running out of thin metadata is what breaks a pool. Very
/// large pools get a larger chunk so the metadata stays under dm-thin's limit. Rounded up to
/// whole extents.
pub fn thin_sizing(pool_bytes: u64, extent_bytes: u64) -> ThinSizing {
    let mut chunk = THIN_CHUNK_BYTES;
    let metadata_for = |chunk: u64| pool_bytes.div_ceil(chunk) * 64 * 2;
    while metadata_for(chunk) > THIN_MAX_METADATA_BYTES && chunk < 1024 * MIB {
        chunk *= 2;
    }
    let metadata = metadata_for(chunk).clamp(THIN_MIN_METADATA_BYTES, THIN_MAX_METADATA_BYTES);
    let extent = extent_bytes.max(1);
    ThinSizing {
        metadata_bytes: metadata.div_ceil(extent) * extent,
        chunk_bytes: chunk,
    }
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// `pvcreate DISK…`: no `--yes`, no `--force`: should a signature have appeared since the
/// agent looked, LVM's own prompt (answered "no" without a terminal) stops it.
pub fn pvcreate(disks: &[String]) -> Vec<String> {
    let mut v = argv(&["pvcreate"]);
    v.extend(disks.iter().cloned());
    v
}

pub fn vgcreate(vg: &str, disks: &[String]) -> Vec<String> {
    let mut v = argv(&["vgcreate", vg]);
    v.extend(disks.iter().cloned());
    v
}

pub fn vgextend(vg: &str, disks: &[String]) -> Vec<String> {
    let mut v = argv(&["vgextend", vg]);
    v.extend(disks.iter().cloned());
    v
}

/// `lvcreate --yes -l 100%FREE --poolmetadatasize NM [--chunksize NK] -T VG/POOL`. `100%FREE`
/// leaves room for the metadata LV and its spare. `--yes` lets LVM wipe stale signatures it
/// finds in the space it allocates (the disks were checked before they joined the group).
pub fn lvcreate_thin(vg: &str, pool: &str, sizing: ThinSizing) -> Vec<String> {
    let mut v = argv(&["lvcreate", "--yes", "-l", "100%FREE", "--poolmetadatasize"]);
    v.push(format!("{}m", sizing.metadata_bytes / MIB));
    if sizing.chunk_bytes != THIN_CHUNK_BYTES {
        v.push("--chunksize".into());
        v.push(format!("{}k", sizing.chunk_bytes / 1024));
    }
    v.push("-T".into());
    v.push(format!("{vg}/{pool}"));
    v
}

/// `wipefs --all DEVICE`: erases every signature wipefs lists (it re-reads the partition table
/// of a whole disk afterwards).
pub fn wipefs_all(device: &str) -> Vec<String> {
    argv(&["wipefs", "--all", device])
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Lines LVM prints on a kernel without device-mapper for every command, whatever went wrong.
const NOISE: &[&str] = &[
    "/dev/mapper/control: open failed",
    "Failure to communicate with kernel device-mapper driver",
    "Check that device-mapper is available in the kernel",
    "Incompatible libdevmapper",
    "leaked on lvm invocation",
    "WARNING: Activation disabled",
    "Run `lvcreate --help'",
    "modprobe: execvp failed",
    "modprobe failed",
];

/// The device-mapper target a failure says is missing from the kernel (`thin-pool`), or
/// `device-mapper` when the kernel has no device-mapper at all.
pub fn missing_kernel_target(stderr: &str) -> Option<String> {
    for line in stderr.lines().map(str::trim) {
        if let Some((target, _)) = line.split_once(": Required device-mapper target(s) not detected") {
            return Some(target.trim().to_owned());
        }
        if line.contains("without using device-mapper kernel driver") {
            return Some("device-mapper".into());
        }
    }
    if stderr.contains("Failure to communicate with kernel device-mapper driver") {
        return Some("device-mapper".into());
    }
    None
}

/// A failed LVM command as an operator can act on it: the command, and LVM's own lines without
/// the device-mapper noise; a missing kernel feature is said in plain words.
pub fn explain_failure(line: &str, code: Option<i32>, stderr: &str) -> String {
    let status = code
        .map(|c| format!("exit {c}"))
        .unwrap_or_else(|| "killed".into());
    if let Some(target) = missing_kernel_target(stderr) {
        let what = if target == "device-mapper" {
            "device-mapper support".to_owned()
        } else {
            format!("device-mapper {target} target")
        };
        let module = match target.as_str() {
            "thin-pool" => "dm-thin-pool",
            "device-mapper" => "dm-mod",
            other => other,
        };
        return format!(
            "`{line}` failed ({status}): the running kernel has no {what} (LVM: \"{}\"); load it with \
             `modprobe {module}` or boot a kernel that has it, or leave out thin_pool in [storage] for thick LVM",
            relevant_lines(stderr)
                .into_iter()
                .find(|l| l.contains("device-mapper") || l.contains("target"))
                .unwrap_or_else(|| "device-mapper unavailable".into())
        );
    }
    let lines = relevant_lines(stderr);
    let said = if lines.is_empty() {
        "LVM printed nothing".to_owned()
    } else {
        lines.join("; ")
    };
    format!("`{line}` failed ({status}): {said}")
}

fn relevant_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !NOISE.iter().any(|n| l.contains(n)))
        .take(6)
        .map(String::from)
        .collect()
}

/// Whether the running kernel can hold a thin pool: the `dm-thin-pool` target is loaded, built
/// in, or a module `modprobe` (which LVM runs) can load. `Err` says what is missing. This is the
/// running kernel also under `--root`: LVM works on the machine's disks with it.
pub fn kernel_thin_pool_support() -> std::result::Result<(), String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    if Path::new("/sys/module/dm_thin_pool").exists() {
        return Ok(());
    }
    let modules = PathBuf::from("/lib/modules").join(&release);
    let listed = |file: &str, name: &str| {
        std::fs::read_to_string(modules.join(file)).is_ok_and(|text| text.contains(name))
    };
    if listed("modules.builtin", "dm-thin-pool.ko") || listed("modules.dep", "dm-thin-pool.ko") {
        return Ok(());
    }
    // Not /dev/mapper/control: libdevmapper creates that node itself, kernel support or not.
    let mapper = Path::new("/sys/class/misc/device-mapper").exists()
        || std::fs::read_to_string("/proc/misc").is_ok_and(|m| m.contains("device-mapper"));
    Err(format!(
        "the running kernel {release} has no device-mapper thin-pool target ({}; no /sys/module/dm_thin_pool, \
         no dm-thin-pool module in {})",
        if mapper {
            "device-mapper is there"
        } else {
            "not even device-mapper: it is not in /proc/misc"
        },
        modules.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_capacity_matches_lvm_on_a_200_mib_loop_device() {
        // pvs on this machine: dev_size 209715200, pv_size 205520896.
        assert_eq!(pv_capacity(209_715_200, DEFAULT_EXTENT_BYTES), 205_520_896);
        assert_eq!(pv_capacity(512 * 1024, DEFAULT_EXTENT_BYTES), 0);
    }

    #[test]
    fn thin_metadata_grows_with_the_pool_and_stays_under_the_dm_thin_limit() {
        let gib = 1024 * MIB;
        // Small pools get LVM's minimum, rounded to an extent.
        let small = thin_sizing(120 * MIB, DEFAULT_EXTENT_BYTES);
        assert_eq!(small.metadata_bytes, 4 * MIB);
        assert_eq!(small.chunk_bytes, THIN_CHUNK_BYTES);
        // 4092 MiB (a 4 GiB disk): 1/512 of the pool, rounded up to whole extents.
        assert_eq!(
            thin_sizing(4092 * MIB, DEFAULT_EXTENT_BYTES).metadata_bytes,
            8 * MIB
        );
        // 1 TiB: 2 GiB of metadata at 64 KiB chunks.
        let tib = thin_sizing(1024 * gib, DEFAULT_EXTENT_BYTES);
        assert_eq!(tib.metadata_bytes, 2 * gib);
        assert_eq!(tib.chunk_bytes, 64 * 1024);
        // 20 TiB would need 40 GiB at 64 KiB: the chunk doubles until it fits.
        let huge = thin_sizing(20 * 1024 * gib, DEFAULT_EXTENT_BYTES);
        assert!(huge.metadata_bytes <= THIN_MAX_METADATA_BYTES);
        assert_eq!(huge.chunk_bytes, 256 * 1024);
        assert_eq!(
            lvcreate_thin("linstor_group", "thin_device", huge),
            [
                "lvcreate",
                "--yes",
                "-l",
                "100%FREE",
                "--poolmetadatasize",
                "10240m",
                "--chunksize",
                "256k",
                "-T",
                "linstor_group/thin_device"
            ]
        );
        assert_eq!(
            lvcreate_thin("linstor_group", "thin_device", small),
            [
                "lvcreate",
                "--yes",
                "-l",
                "100%FREE",
                "--poolmetadatasize",
                "4m",
                "-T",
                "linstor_group/thin_device"
            ]
        );
    }

    /// What `lvcreate -T` prints on this CI kernel (no device-mapper), recorded.
    const NO_DM: &str = "  /dev/mapper/control: open failed: No such device
  Failure to communicate with kernel device-mapper driver.
  Check that device-mapper is available in the kernel.
  Incompatible libdevmapper 1.02.185 (2022-05-18) and kernel driver (unknown version).
  /sbin/modprobe: execvp failed: No such file or directory
  /sbin/modprobe failed: 2
  thin-pool: Required device-mapper target(s) not detected in your kernel.
  Run `lvcreate --help' for more information.
";

    #[test]
    fn a_missing_thin_pool_target_is_said_in_plain_words() {
        assert_eq!(missing_kernel_target(NO_DM).as_deref(), Some("thin-pool"));
        let msg = explain_failure("lvcreate -T vg/pool", Some(3), NO_DM);
        assert!(msg.contains("has no device-mapper thin-pool target"), "{msg}");
        assert!(msg.contains("modprobe dm-thin-pool"), "{msg}");
        assert!(msg.contains("thin_pool in [storage]"), "{msg}");
        assert!(!msg.contains("/dev/mapper/control: open failed"), "{msg}");
        assert!(!msg.contains("Incompatible libdevmapper"), "{msg}");
    }

    #[test]
    fn other_failures_keep_lvm_lines_without_the_noise() {
        let stderr = "  /dev/mapper/control: open failed: No such device\n  Cannot use /dev/loop4: device is partitioned\n";
        let msg = explain_failure("pvcreate /dev/loop4", Some(5), stderr);
        assert_eq!(
            msg,
            "`pvcreate /dev/loop4` failed (exit 5): Cannot use /dev/loop4: device is partitioned"
        );
    }

    #[test]
    fn reports_with_strings_for_numbers_are_read() {
        let doc: ReportDoc<PvRow> = serde_json::from_str(
            r#"{"report":[{"pv":[{"pv_name":"/nonexistent/x","vg_name":"","pv_uuid":"","dev_size":"67108864","pv_size":"0","pv_mda_count":"0"}]}]}"#,
        )
        .unwrap();
        let pv = Pv::from(doc.report.into_iter().next().unwrap().rows.remove(0));
        assert!(!pv.is_pv());
        assert_eq!(pv.dev_size, 67_108_864);
        assert_eq!(pv.dev, None);
    }
}
