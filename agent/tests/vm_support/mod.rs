//! The VM tier's launcher: each test boots the Debian kernel in QEMU (software emulation: KVM
//! is not usable on the CI machines) with virtme-ng, on a copy-on-write view of this machine's
//! own filesystem, and runs *itself* inside: the same test binary, asked for the same test,
//! with [`GUEST_ENV`] naming it. [`vm_test`] is the switch: on the machine it boots the VM and
//! asserts the guest's exit status; in the guest it runs the body.
//!
//! The guest sees the machine's filesystem read-only through 9p, with tmpfs overlays (virtme-ng's
//! default on `/etc`, `/usr`, `/var`, `/tmp`…, ours on `/root` and `/boot`): whatever a test
//! installs or breaks there is gone when the VM stops. The one directory it writes through to the
//! machine is the test's output directory (`target/vm-tier/<test>/`: console log, exit status,
//! the guest's own files), passed with `--rwdir`. Virtual disks are sparse files there.
//!
//! Why virtme-ng: it is the maintained launcher for exactly this (booting a kernel on a
//! snapshot of the live system, used by kernel CI), it builds the initramfs from the kernel's
//! own modules, and it runs a command and passes its exit status back; see
//! docs/vm-tier.md.

pub mod guest;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testbed::fixture::vm_kernel::{RealKernel, VmKernelFixture};

/// Set in the guest to the name of the test to run there.
pub const GUEST_ENV: &str = "LINSTOR_AGENT_VM_TEST";
/// The fixture repository's directory, for the guest (which only reads it).
pub const FIXTURE_ENV: &str = "LINSTOR_AGENT_VM_FIXTURE";
/// The test's output directory, shared read-write with the machine.
pub const OUT_ENV: &str = "LINSTOR_AGENT_VM_OUT";
/// The virtme-ng launcher (`vng`); default `target/vm-venv/bin/vng`, which
/// `scripts/test-vm.sh` installs.
pub const VNG_ENV: &str = "LINSTOR_AGENT_VNG";

/// How to boot the VM for one test.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Sizes of the virtual disks (`/dev/vda`, `/dev/vdb`, …), sparse files.
    pub disks: Vec<u64>,
    /// systemd as PID 1 (virtme-ng's `--systemd`), for the firstboot unit.
    pub systemd: bool,
    /// The whole run, boot included; the VM is killed after it.
    pub timeout: Duration,
}

impl Default for Boot {
    fn default() -> Self {
        Boot {
            disks: Vec::new(),
            systemd: false,
            timeout: Duration::from_secs(300),
        }
    }
}

/// What the guest side gets: the fixture, its kernel, the output directory.
pub struct Guest {
    pub fixture: VmKernelFixture,
    pub out: PathBuf,
}

/// Runs `body` in a VM booted as `boot` says. `name` must be the test function's name.
pub fn vm_test(name: &str, boot: Boot, body: impl FnOnce(&Guest)) {
    if std::env::var(GUEST_ENV).as_deref() == Ok(name) {
        let kernel = RealKernel::find().expect("the guest's kernel");
        let dir = std::env::var_os(FIXTURE_ENV).expect("the fixture directory in the guest");
        let fixture = VmKernelFixture::open(Path::new(&dir), kernel).expect("the VM fixture");
        let out = PathBuf::from(std::env::var_os(OUT_ENV).expect("the output directory in the guest"));
        body(&Guest { fixture, out });
    } else {
        boot_and_run(name, &boot);
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn vng() -> PathBuf {
    let path = std::env::var_os(VNG_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("vm-venv/bin/vng"));
    assert!(
        path.is_file(),
        "no virtme-ng launcher at {} (set {VNG_ENV}); `make test-vm` installs it",
        path.display()
    );
    path
}

fn boot_and_run(name: &str, boot: &Boot) {
    let kernel = RealKernel::find().unwrap_or_else(|e| panic!("{e:#}"));
    let fixture = VmKernelFixture::shared(&kernel).unwrap_or_else(|e| panic!("VM fixture: {e:#}"));
    let out = target_dir().join("vm-tier").join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let out = out.canonicalize().unwrap();

    let vng = vng();
    let mut cmd = Command::new(&vng);
    cmd.arg("--run")
        .arg(&kernel.image)
        .args([
            "--disable-kvm",
            "--cpus",
            "1",
            "--memory",
            "1536M",
            "--name",
            "xcp-vm-1",
        ])
        .args(["--overlay-rwdir", "/root", "--overlay-rwdir", "/boot"])
        .arg("--rwdir")
        .arg(&out);
    if boot.systemd {
        cmd.arg("--systemd");
    }
    for (i, size) in boot.disks.iter().enumerate() {
        let disk = out.join(format!("disk{i}.img"));
        std::fs::File::create(&disk)
            .and_then(|f| f.set_len(*size))
            .unwrap();
        cmd.arg("--disk").arg(&disk);
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "export {GUEST_ENV}={name} {FIXTURE_ENV}='{fixture}' {OUT_ENV}='{out}' HOME=/root RUST_BACKTRACE=1 \
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; \
         cut -d' ' -f1 /proc/uptime > '{out}/boot-seconds'; \
         '{exe}' --exact {name} --include-ignored --nocapture --test-threads 1; \
         echo $? > '{out}/guest-rc'",
        fixture = fixture.repo.dir.display(),
        out = out.display(),
        exe = exe.display(),
    );
    cmd.arg("--exec").arg(script);
    // vng runs virtme-run and qemu by name, from beside itself.
    let mut path = std::ffi::OsString::from(vng.parent().unwrap());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    cmd.env("PATH", path).env_remove(GUEST_ENV);

    // Through pipes, not the file itself: qemu reopens its stdio by path, truncating a file.
    let console = out.join("console.log");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", vng.display()));
    let log = std::sync::Arc::new(std::sync::Mutex::new(std::fs::File::create(&console).unwrap()));
    let copiers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = log.lock().unwrap().write_all(&buf[..n]);
            }
        })
    })
    .collect();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > boot.timeout {
            // The whole group: vng, virtme-run and qemu.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for copier in copiers {
        let _ = copier.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let boot_seconds = std::fs::read_to_string(out.join("boot-seconds")).unwrap_or_default();
    let guest_rc = std::fs::read_to_string(out.join("guest-rc")).unwrap_or_default();
    let summary = format!(
        "vm-tier {name}: kernel {}, boot {}s (guest uptime when the test started), whole run {elapsed:.1}s\n",
        kernel.uname,
        boot_seconds.trim(),
    );
    print!("{summary}");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(target_dir().join("vm-tier/timings.txt"))
        .and_then(|mut f| f.write_all(summary.as_bytes()));
    let console_text = std::fs::read_to_string(&console).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = console_text.lines().collect();
        lines[lines.len().saturating_sub(150)..].join("\n")
    };
    match status {
        None => panic!(
            "vm-tier {name}: no result after {}s: the VM was killed\n--- console (last lines) ---\n{tail}",
            boot.timeout.as_secs()
        ),
        Some(_) if guest_rc.trim() == "0" => {}
        Some(status) => panic!(
            "vm-tier {name}: the test failed in the guest (guest exit {:?}, vng {status})\n--- console (last lines) ---\n{tail}",
            guest_rc.trim()
        ),
    }
}
