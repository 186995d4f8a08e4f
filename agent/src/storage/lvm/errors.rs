//! LVM failures as an operator can act on them: LVM's own lines without the device-mapper
//! noise, and a missing kernel feature said in plain words (also checked before a thin pool
//! is planned).

use std::path::{Path, PathBuf};

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
}
