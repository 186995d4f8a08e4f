//! Inside the guest: turning the booted Debian system into the XCP-ng host the agent expects,
//! on the guest's overlays (nothing reaches the machine), and running the agent there live
//! (no `--root`: every live-only action, `depmod`, `modprobe`, `sysctl -w`, `lvcreate`, runs).

use std::path::Path;
use std::process::{Command, Output};

use testbed::sysroot::dnf::installed_kernels;
use testbed::sysroot::{BootLoader, Identity, bootloader, identity};

use super::Guest;

/// The guest's host name (`vng --name`), which the identity files repeat.
pub const HOST: &str = "xcp-vm-1";

/// XCP-ng's (CentOS's) `/etc/depmod.d/dist.conf`: modules in `extra/` win over in-tree ones,
/// which is how Vates' kmod-drbd gets loaded.
const DEPMOD_DIST_CONF: &str = "search updates extra built-in weak-updates\n";

/// Makes the guest an XCP-ng 8.3 host: identity files, an rpm database holding the repository
/// key and the running kernel's package, a boot entry for it, XCP-ng's depmod search order,
/// no Debian kernel hooks, and no in-tree DRBD (XCP-ng's kernel has none).
pub fn become_xcpng_host(guest: &Guest) {
    let root = Path::new("/");
    let id = Identity::for_host(HOST);
    identity::write(root, HOST, &id).expect("identity files");

    // A fresh database: the machine's own (Debian's rpm keeps it in ~/.rpmdb) is not this host's.
    let _ = std::fs::remove_dir_all("/root/.rpmdb");
    run(Command::new("rpm").arg("--initdb"));
    run(Command::new("rpm")
        .arg("--import")
        .arg(&guest.fixture.repo.key_path));
    let kernel_rpm = guest.fixture.package_path(&guest.fixture.kernel_package).unwrap();
    run(Command::new("rpm")
        .args(["-i", "--justdb", "--nodeps"])
        .arg(kernel_rpm));

    // The package provides `kernel-uname-r` without a version (Debian's uname is no rpm
    // version), so its uname is the one it was built for.
    let mut kernels = installed_kernels(root).expect("kernels in the rpm database");
    for kernel in &mut kernels {
        if kernel.nevra == guest.fixture.kernel_package.nevra {
            kernel.uname = guest.fixture.kernel.uname.clone();
        }
    }
    let loader = BootLoader::Auto.resolve(&kernels);
    bootloader::write(root, loader, &kernels, &guest.fixture.kernel.uname, &id).expect("boot entry");

    // Debian's kernel hooks (initramfs-tools…) are not XCP-ng's: a kernel installed in the
    // guest runs only what the test puts there.
    let _ = std::fs::remove_dir_all("/etc/kernel/postinst.d");
    std::fs::create_dir_all("/etc/depmod.d").unwrap();
    std::fs::write("/etc/depmod.d/dist.conf", DEPMOD_DIST_CONF).unwrap();
    std::fs::remove_file(&guest.fixture.kernel.drbd_ko).expect("removing the in-tree drbd.ko");
    run(Command::new("depmod").args(["-a", &guest.fixture.kernel.uname]));

    // The agent sees what it would on XCP-ng: this kernel, installed, running, booted by default.
    let facts = agent_json(&["facts"], 0);
    let uname = guest.fixture.kernel.uname.as_str();
    assert_eq!(facts["running_kernel"], uname, "{facts}");
    assert_eq!(facts["default_boot_kernel"], uname, "{facts}");
    assert!(
        facts["kernels"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k["uname_r"] == uname)),
        "{facts}"
    );
}

/// Writes `/etc/linstor-agent/agent.toml`: the fixture repository (pinned to its key) and
/// `rest`, the test's own sections.
pub fn write_config(guest: &Guest, rest: &str) {
    let repo = &guest.fixture.repo;
    let text = format!(
        "[repo]\nbaseurl = {:?}\ngpgkey = {:?}\nfingerprint = {:?}\n\n{rest}",
        repo.baseurl(),
        repo.key_path.display().to_string(),
        repo.fingerprint
    );
    std::fs::create_dir_all("/etc/linstor-agent").unwrap();
    std::fs::write("/etc/linstor-agent/agent.toml", text).unwrap();
}

/// `linstor-agent ARGS` on the live guest; its output is echoed for the console log.
pub fn agent(args: &[&str]) -> Output {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running linstor-agent");
    eprintln!(
        "--- linstor-agent {} → {:?} in {:.1}s\n{}{}",
        args.join(" "),
        output.status.code(),
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `agent(args)` with `--output json`, which must exit `code`; its JSON document.
pub fn agent_json(args: &[&str], code: i32) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = agent(&all);
    assert_eq!(
        output.status.code(),
        Some(code),
        "linstor-agent {}",
        all.join(" ")
    );
    serde_json::from_slice(&output.stdout).expect("one JSON document on stdout")
}

/// Runs a command that must succeed; its stdout.
pub fn run(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
