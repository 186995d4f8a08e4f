//! Real disks for the storage tests: loop devices over sparse files, and a host root whose
//! `lvm.conf` lets LVM see exactly those loop devices.
//!
//! How LVM works here (a kernel without device-mapper, no udev daemon, tests running in
//! parallel on one machine):
//! - Each test host is a `--root` with its own `etc/lvm/lvm.conf`; the agent runs LVM with
//!   `LVM_SYSTEM_DIR=<root>/etc/lvm`, and so do these helpers.
//! - `devices/global_filter` accepts only the test's own loop devices and rejects everything
//!   else: LVM never sees the machine's disks, nor another test's loop devices and volume
//!   groups, so every test can call its group `linstor_group`. (LVM accepts loop devices by
//!   default; nothing else is needed for them.)
//! - `use_devicesfile = 0`: the filter alone decides (newer LVMs default to a devices file that
//!   would list nothing here).
//! - `obtain_device_list_from_udev = 0`: no udev database in a container; LVM scans /dev.
//! - `hints = "none"`: `/run/lvm/hints` is shared by every LVM command on the machine whatever
//!   `LVM_SYSTEM_DIR` says; with a different filter per test it would be rewritten constantly.
//! - `activation/udev_sync = 0`, `udev_rules = 0`: never wait for a udev that is not there.
//! - `pvcreate`, `vgcreate`, `vgextend`, `pvs`, `vgs` need no device-mapper. `lvcreate` does
//!   (thick LVs only with `--driverloaded n`; thin pools not at all), which is why the thin
//!   pool is checked by its planned command line and the error on this kernel.
//!
//! Every loop device is detached by a Drop guard, so also when a test panics; a mount is
//! unmounted by its own guard (declared after the disk, so dropped before it).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

pub const MIB: u64 = 1024 * 1024;

/// The storage tests need root (loop devices, LVM, mount). Say so plainly rather than fail
/// somewhere inside losetup.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { nix::libc::geteuid() };
    assert!(
        euid == 0,
        "the storage tests need root: they attach loop devices and run LVM (run `make test` as root)"
    );
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `losetup -f` picks a free device and attaches it; two threads (or another test binary)
/// can race for the same one, so attach under a lock and retry.
static ATTACH: Mutex<()> = Mutex::new(());

/// A loop device over a sparse file in its own temporary directory; detached on drop.
pub struct Loop {
    pub device: String,
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Loop {
    pub fn new(size: u64) -> Loop {
        Loop::attach(size, false)
    }

    /// `losetup -r`: the kernel refuses every write.
    pub fn read_only(size: u64) -> Loop {
        Loop::attach(size, true)
    }

    fn attach(size: u64, read_only: bool) -> Loop {
        require_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("disk.img");
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(size))
            .expect("sparse file");
        let _guard = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = String::new();
        for _ in 0..5 {
            let mut cmd = Command::new("losetup");
            if read_only {
                cmd.arg("-r");
            }
            let output = cmd
                .args(["-f", "--show"])
                .arg(&file)
                .stdin(Stdio::null())
                .output()
                .expect("losetup runs");
            if output.status.success() {
                let device = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                return Loop {
                    device,
                    file,
                    _dir: dir,
                };
            }
            last = String::from_utf8_lossy(&output.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("cannot attach a loop device: {last}");
    }

    pub fn path(&self) -> &str {
        &self.device
    }

    /// sha256 of everything on the device, read through the device node (`sha256sum`: the
    /// test binaries are built without optimisation, and hashing in them is slow).
    pub fn checksum(&self) -> String {
        let output = run(Command::new("sha256sum").arg(&self.device));
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .next()
            .expect("sha256sum prints a sum")
            .to_owned()
    }

    /// ext4 without lazy initialisation, so the kernel writes nothing later behind the test's back.
    pub fn mkfs_ext4(&self) {
        run(Command::new("mkfs.ext4").args([
            "-q",
            "-F",
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
            &self.device,
        ]));
    }

    pub fn mkswap(&self) {
        run(Command::new("mkswap").arg(&self.device));
    }

    /// A dos partition table with one partition.
    pub fn partition(&self) {
        let mut child = Command::new("sfdisk")
            .args(["--quiet", "--no-reread", &self.device])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sfdisk runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"label: dos\n,16M,L\n")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "sfdisk: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .args(["-d", &self.device])
            .stdin(Stdio::null())
            .output();
    }
}

/// The device mounted (read-only: nothing changes on it while mounted) on a temporary
/// directory; unmounted on drop.
pub struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    pub fn new(disk: &Loop) -> Mount {
        let dir = tempfile::tempdir().expect("mount point");
        run(Command::new("mount")
            .args(["-o", "ro", &disk.device])
            .arg(dir.path()));
        Mount { dir }
    }

    pub fn point(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
    }
}

/// The lvm.conf of a test host: LVM sees `disks` and nothing else.
pub fn lvm_conf(disks: &[&str]) -> String {
    testbed::simpool::hosts::lvm_conf("# A test host: LVM sees this test's loop devices only.", disks)
}

/// The agent's result: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}{}", self.stdout, self.stderr))
    }

    pub fn message(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A host root: `etc/lvm/lvm.conf` (LVM sees the given disks only) and
/// `etc/linstor-agent/agent.toml`.
pub struct Host {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: PathBuf,
}

impl Host {
    pub fn new(disks: &[&Loop]) -> Host {
        require_root();
        let dir = tempfile::tempdir().expect("host dir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc/lvm")).unwrap();
        std::fs::create_dir_all(root.join("etc/linstor-agent")).unwrap();
        let paths: Vec<&str> = disks.iter().map(|d| d.path()).collect();
        std::fs::write(root.join("etc/lvm/lvm.conf"), lvm_conf(&paths)).unwrap();
        let config = root.join("etc/linstor-agent/agent.toml");
        Host { dir, root, config }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn lvm_dir(&self) -> PathBuf {
        self.root.join("etc/lvm")
    }

    pub fn lvm_conf_text(&self) -> String {
        std::fs::read_to_string(self.lvm_dir().join("lvm.conf")).unwrap()
    }

    /// Writes agent.toml with `[storage]` over these device paths (and extra lines).
    pub fn storage(&self, devices: &[&str], extra: &str) {
        let list: Vec<String> = devices.iter().map(|d| format!("{d:?}")).collect();
        std::fs::write(
            &self.config,
            format!("[storage]\ndevices = [{}]\n{extra}", list.join(", ")),
        )
        .unwrap();
    }

    pub fn agent(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
            .arg("--root")
            .arg(&self.root)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the agent runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// An LVM command with this host's configuration; stdout.
    pub fn lvm(&self, args: &[&str]) -> String {
        let output = run(Command::new(args[0])
            .args(&args[1..])
            .env("LVM_SYSTEM_DIR", self.lvm_dir())
            .env("LVM_SUPPRESS_FD_WARNINGS", "1"));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Everything LVM says about this host's disks and groups (sequence numbers included, so
    /// any metadata write shows).
    pub fn lvm_snapshot(&self) -> String {
        let pvs = self.lvm(&[
            "pvs",
            "-a",
            "--reportformat",
            "json",
            "--units",
            "b",
            "-o",
            "pv_name,vg_name,pv_uuid,dev_size,pv_size",
        ]);
        let vgs = self.lvm(&[
            "vgs",
            "--reportformat",
            "json",
            "--units",
            "b",
            "-o",
            "vg_name,vg_uuid,vg_seqno,pv_count,vg_size,vg_free",
        ]);
        format!("{pvs}{vgs}")
    }

    /// `(vg_name, [pv names])` of this host's groups.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let text = self.lvm(&["pvs", "--reportformat", "json", "-o", "pv_name,vg_name"]);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for pv in doc["report"][0]["pv"].as_array().unwrap() {
            let vg = pv["vg_name"].as_str().unwrap().to_owned();
            let name = pv["pv_name"].as_str().unwrap().to_owned();
            if vg.is_empty() {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == vg) {
                Some((_, pvs)) => pvs.push(name),
                None => groups.push((vg, vec![name])),
            }
        }
        for (_, pvs) in &mut groups {
            pvs.sort();
        }
        groups.sort();
        groups
    }
}

/// Makes `disk` a PV of volume group `vg` through an LVM configuration of its own, as another
/// system (or an earlier installation) would have left it.
pub fn foreign_group(disk: &Loop, vg: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lvm.conf"), lvm_conf(&[disk.path()])).unwrap();
    run(Command::new("vgcreate")
        .args([vg, disk.path()])
        .env("LVM_SYSTEM_DIR", dir.path())
        .env("LVM_SUPPRESS_FD_WARNINGS", "1"));
    dir
}

/// The planned argv of each action of `kind` in a storage JSON document.
pub fn argvs(doc: &serde_json::Value, kind: &str) -> Vec<Vec<String>> {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == kind)
        .map(|a| {
            a["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

pub fn kinds(doc: &serde_json::Value) -> Vec<String> {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}
