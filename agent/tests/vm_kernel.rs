//! The VM tier: what only a kernel of its own can prove, in a VM booting Debian's kernel under
//! QEMU (software emulation), on a copy-on-write view of this machine (`vm_support`). Each test
//! boots its own VM and runs its body there, on the live guest (no `--root`):
//!
//! - `storage` builds the volume group and the dm-thin pool on two virtual disks, with the
//!   metadata and chunk size the README promises; a second run changes nothing;
//! - `install` of a real module package: `depmod`, `modprobe`, and the loaded version checked —
//!   and a package whose module is not the DRBD version it claims is refused, clearly;
//! - `network` sets its sysctl keys with `sysctl -w` (read back from `/proc/sys`);
//! - kernel-guard, through the real hook run by a kernel package's %posttrans under dnf, reports
//!   a kernel no module fits;
//! - the firstboot unit under systemd runs `provision` once and then never again.
//!
//! `make test-vm` runs them (`cargo test --test vm_kernel -- --ignored`); a plain `cargo test`
//! lists them as ignored. Times: bench/RESULTS.md ("VM tier").

mod vm_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vm_support::guest::{agent, agent_json, become_xcpng_host, run, write_config};
use vm_support::{Boot, vm_test};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// `lvs`/`vgs` report fields as numbers of bytes.
fn lvm_report(command: &str, fields: &str, what: &str) -> Vec<Value> {
    let out = run(Command::new(command).args([
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-a",
        "-o",
        fields,
        what,
    ]));
    eprintln!("{command} {what}:\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let key = if command == "lvs" { "lv" } else { "vg" };
    report["report"][0][key].as_array().unwrap().clone()
}

fn bytes(row: &Value, field: &str) -> u64 {
    row[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {row}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{field} in {row}: {e}"))
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn storage_builds_the_volume_group_and_thin_pool() {
    let boot = Boot {
        disks: vec![2 * GIB, 2 * GIB],
        ..Boot::default()
    };
    vm_test("storage_builds_the_volume_group_and_thin_pool", boot, |guest| {
        become_xcpng_host(guest);
        write_config(
            guest,
            "[storage]\ndevices = [\"/dev/vda\", \"/dev/vdb\"]\nthin_pool = \"thin_device\"\n",
        );

        let plan = agent_json(&["storage", "--dry-run"], 0);
        assert_eq!(plan["changed"], false, "{plan}");
        let vgs = Command::new("vgs").arg("linstor_group").output().unwrap();
        assert!(!vgs.status.success(), "the dry run made the volume group");

        let first = agent_json(&["storage"], 0);
        assert_eq!(first["changed"], true, "{first}");

        let vg = &lvm_report("vgs", "vg_name,vg_size,vg_extent_size,pv_count", "linstor_group")[0];
        assert_eq!(vg["pv_count"], "2", "{vg}");
        let vg_size = bytes(vg, "vg_size");
        let extent = bytes(vg, "vg_extent_size");
        // The README's promise: twice dm-thin's 64 bytes per 64 KiB chunk (1/512 of the pool),
        // in whole extents, 4 MiB at least; 64 KiB chunks for a pool this small.
        let chunk = 64 * 1024;
        let promised_metadata = (vg_size.div_ceil(chunk) * 128).max(4 * MIB).div_ceil(extent) * extent;

        let lvs = lvm_report(
            "lvs",
            "lv_name,lv_attr,lv_size,lv_metadata_size,chunk_size,segtype",
            "linstor_group",
        );
        let pool = lvs
            .iter()
            .find(|lv| lv["lv_name"] == "thin_device")
            .unwrap_or_else(|| panic!("no thin_device in {lvs:?}"));
        assert_eq!(pool["segtype"], "thin-pool", "{pool}");
        assert!(
            pool["lv_attr"].as_str().unwrap().starts_with("twi-a"),
            "not an active thin pool: {pool}"
        );
        assert_eq!(bytes(pool, "lv_metadata_size"), promised_metadata, "{pool}");
        assert_eq!(bytes(pool, "chunk_size"), chunk, "{pool}");
        // 100%FREE: all of the group but the metadata and its spare.
        assert_eq!(bytes(pool, "lv_size"), vg_size - 2 * promised_metadata, "{pool}");
        // dm-thin really runs it: the kernel holds a thin-pool target for the group.
        let table = run(Command::new("dmsetup").args(["table"]));
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("linstor_group-thin_device") && l.contains(" thin-pool ")),
            "{table}"
        );

        let second = agent_json(&["storage"], 0);
        assert_eq!(second["changed"], false, "{second}");
    });
}

/// The module package's install: returns the JSON report.
fn install_module(pin: &str, code: i32) -> Value {
    let pin = format!("kmod-drbd={pin}");
    agent_json(&["install", "--pin", &pin], code)
}

fn module_config(guest: &vm_support::Guest) {
    write_config(guest, "[packages]\nuserland = []\n");
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn install_loads_the_module_it_installed() {
    vm_test(
        "install_loads_the_module_it_installed",
        Boot::default(),
        |guest| {
            become_xcpng_host(guest);
            module_config(guest);
            let fixture = &guest.fixture;
            assert!(
                !Path::new("/sys/module/drbd").exists(),
                "drbd loaded before the install"
            );

            let report = install_module(&fixture.module.pin, 0);
            let drbd = &fixture.kernel.drbd_version;
            assert_eq!(report["module"]["loaded_version"], drbd.as_str(), "{report}");
            assert_eq!(report["module"]["current"], true, "{report}");

            let loaded = std::fs::read_to_string("/sys/module/drbd/version").unwrap();
            assert_eq!(loaded.trim(), drbd);
            let uname = &fixture.kernel.uname;
            let file = run(Command::new("modinfo").args(["-n", "drbd"]));
            assert_eq!(file.trim(), format!("/lib/modules/{uname}/extra/drbd/drbd.ko"));
            // depmod ran: the package's module is in the dependency list modprobe reads.
            let deps = std::fs::read_to_string(format!("/lib/modules/{uname}/modules.dep")).unwrap();
            assert!(
                deps.lines().any(|l| l.starts_with("extra/drbd/drbd.ko:")),
                "modules.dep"
            );
            run(Command::new("rpm").args(["-q", &fixture.module.nevra]));
        },
    );
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn install_refuses_a_module_that_is_not_the_version_it_claims() {
    vm_test(
        "install_refuses_a_module_that_is_not_the_version_it_claims",
        Boot::default(),
        |guest| {
            become_xcpng_host(guest);
            module_config(guest);
            let fixture = &guest.fixture;

            let report = install_module(&fixture.mislabelled_module.pin, 1);
            let message = report["error"]["message"].as_str().unwrap_or_default();
            let claimed = testbed::fixture::vm_kernel::MISLABELLED_DRBD_VERSION;
            for part in [
                format!("loaded DRBD {}", fixture.kernel.drbd_version),
                format!("carries DRBD {claimed}"),
                format!("/lib/modules/{}/extra/drbd/drbd.ko", fixture.kernel.uname),
                "modinfo -n drbd".to_owned(),
            ] {
                assert!(message.contains(&part), "{part:?} missing from: {message}");
            }
            assert!(
                !Path::new("/sys/module/drbd").exists(),
                "the wrong module was left loaded"
            );
        },
    );
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn network_sets_its_sysctl_keys_live() {
    vm_test("network_sets_its_sysctl_keys_live", Boot::default(), |guest| {
        become_xcpng_host(guest);
        write_config(guest, "[network.sysctl]\n\"net.core.somaxconn\" = \"2048\"\n");
        // The README's profile, and the override.
        let wanted = [
            ("net.core.rmem_max", "16777216"),
            ("net.core.wmem_max", "16777216"),
            ("net.ipv4.tcp_rmem", "131072 1048576 16777216"),
            ("net.ipv4.tcp_wmem", "131072 1048576 16777216"),
            ("net.core.netdev_max_backlog", "250000"),
            ("net.core.somaxconn", "2048"),
        ];
        let read = |key: &str| {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            let text = std::fs::read_to_string(&path).unwrap();
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        for (key, value) in wanted {
            assert_ne!(
                read(key),
                value,
                "{key} already holds the value: the test would prove nothing"
            );
        }

        let first = agent_json(&["network"], 0);
        assert_eq!(first["changed"], true, "{first}");
        for (key, value) in wanted {
            assert_eq!(read(key), value, "{key} after the network step");
            let shown = run(Command::new("sysctl").args(["-n", key]));
            assert_eq!(shown.split_whitespace().collect::<Vec<_>>().join(" "), value);
        }
        let second = agent_json(&["network"], 0);
        assert_eq!(second["changed"], false, "{second}");
    });
}

/// Waits up to `limit` for `path` to hold a line with every one of `parts`.
fn wait_for_line(path: &str, parts: &[&str], limit: Duration) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return Some(line.to_owned());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn kernel_guard_reports_a_kernel_no_module_fits() {
    // Two package transactions and the guard under software emulation: the slowest test.
    let boot = Boot {
        timeout: Duration::from_secs(600),
        ..Boot::default()
    };
    vm_test("kernel_guard_reports_a_kernel_no_module_fits", boot, |guest| {
        become_xcpng_host(guest);
        module_config(guest);
        let fixture = &guest.fixture;
        // What the agent's RPM installs: the binary and the postinst.d hook. (Not dnf's action
        // file: Debian 12's post-transaction-actions plugin calls a libdnf function Debian's
        // libdnf lacks, and dies with a traceback; see docs/vm-tier.md.)
        let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/files/hooks");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_linstor-agent"),
            "/usr/local/bin/linstor-agent",
        )
        .unwrap();
        std::fs::create_dir_all("/etc/kernel/postinst.d").unwrap();
        std::fs::copy(
            hooks.join("90-linstor-agent-kernel-guard"),
            "/etc/kernel/postinst.d/90-linstor-agent-kernel-guard",
        )
        .unwrap();
        // A syslog for the guard's `logger` lines, as the host's journal or rsyslog would be.
        run(Command::new("busybox").args(["syslogd", "-O", "/var/log/messages"]));

        // The running kernel is guarded: its module is installed.
        install_module(&fixture.module.pin, 0);
        let guard = agent_json(&["kernel-guard", "--dry-run"], 0);
        assert_eq!(guard["kernels"][0]["status"], "ok", "{guard}");

        // A new kernel, installed the way an operator would: dnf, from the host's
        // repositories; the kernel's %posttrans runs the hook, inside dnf's run.
        std::fs::create_dir_all("/etc/yum.repos.d").unwrap();
        let repo_file = testbed::sysroot::dnf::repo_file(&fixture.repo);
        std::fs::write("/etc/yum.repos.d/testbed.repo", repo_file).unwrap();
        let unguarded = &fixture.unguarded_uname;
        let nevra = &fixture.unguarded_kernel_package.nevra;
        // Its output to a file: the hook's guard outlives dnf, and must not hold a pipe open.
        let dnf_log = guest.out.join("dnf.log");
        let status = Command::new("timeout")
            .args(["180", "dnf", "-y", "--releasever", "8.3", "install", nevra])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&dnf_log).unwrap())
            .stderr(std::fs::File::create(guest.out.join("dnf.err")).unwrap())
            .status()
            .unwrap();
        let dnf_text = std::fs::read_to_string(&dnf_log).unwrap_or_default();
        assert!(status.success(), "dnf install {nevra}: {status}\n{dnf_text}");
        assert!(Path::new(&format!("/lib/modules/{unguarded}")).is_dir());

        // The hook logs at once that it starts; the guard's verdict comes after dnf has exited.
        let refusal = wait_for_line(
            "/var/log/messages",
            &["linstor-agent-kernel-guard", ".err", unguarded.as_str()],
            Duration::from_secs(240),
        );
        let messages = std::fs::read_to_string("/var/log/messages").unwrap_or_default();
        eprintln!("syslog:\n{messages}");
        let refusal = refusal.unwrap_or_else(|| {
            panic!("no refusal naming {unguarded} at priority err from the guard:\n{messages}")
        });
        eprintln!("the guard's refusal: {refusal}");
        // And the guard itself, asked directly, refuses (exit 3) naming the kernel.
        let refused = agent(&["kernel-guard"]);
        assert_eq!(refused.status.code(), Some(3));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&refused.stdout),
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(said.contains(&format!("MISSING       {unguarded}")), "{said}");
    });
}

/// `KEY=VALUE` settings of a unit file's `[Service]` (and `[Unit]`) lines named `key`.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_owned())
        .collect()
}

#[test]
#[ignore = "VM tier: make test-vm"]
fn firstboot_provisions_once() {
    // virtme-ng's `--systemd` did not bring systemd up under software emulation here (nothing
    // on the console in 300 s), so the unit's ExecStart runs as systemd would run it: under the
    // unit's condition and with its environment (docs/vm-tier.md).
    let boot = Boot {
        disks: vec![2 * GIB],
        timeout: Duration::from_secs(600),
        ..Boot::default()
    };
    vm_test("firstboot_provisions_once", boot, |guest| {
        become_xcpng_host(guest);
        let pin = &guest.fixture.module.pin;
        write_config(
            guest,
            &format!(
                "[packages]\nuserland = []\npin = {{ \"kmod-drbd\" = \"{pin}\" }}\n\n\
                 [storage]\ndevices = [\"/dev/vda\"]\nthin_pool = \"thin_device\"\n"
            ),
        );
        // Where the agent's RPM puts the binary, the unit and its script.
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/files/systemd");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_linstor-agent"), "/usr/bin/linstor-agent").unwrap();
        let unit = std::fs::read_to_string(specs.join("linstor-agent-firstboot.service")).unwrap();
        let exec_start = unit_values(&unit, "ExecStart");
        assert_eq!(exec_start.len(), 1, "{exec_start:?}");
        let script = Path::new(&exec_start[0]);
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::copy(specs.join("linstor-agent-firstboot"), script).unwrap();
        let condition = unit_values(&unit, "ConditionPathExists");
        let done = condition[0]
            .strip_prefix('!')
            .expect("a negated ConditionPathExists");
        let environment: Vec<(String, String)> = unit_values(&unit, "Environment")
            .iter()
            .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let start_unit = || {
            // systemd skips the unit when its condition fails; else runs ExecStart.
            if Path::new(done).exists() {
                return None;
            }
            let output = Command::new(script)
                .envs(environment.iter().cloned())
                .output()
                .unwrap();
            eprintln!(
                "--- {} → {:?}\n{}{}",
                script.display(),
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            Some(output)
        };

        let first = start_unit().expect("the first boot runs the unit");
        assert!(first.status.success());
        let log = String::from_utf8_lossy(&first.stdout);
        assert!(log.contains("provisioned on attempt 1"), "{log}");
        assert!(Path::new(done).is_file(), "{done} not written");
        // What provision did, on the real kernel: the module loaded, the thin pool built.
        let loaded = std::fs::read_to_string("/sys/module/drbd/version").unwrap();
        assert_eq!(loaded.trim(), guest.fixture.kernel.drbd_version);
        let pool = lvm_report("lvs", "lv_name,segtype", "linstor_group/thin_device");
        assert_eq!(pool[0]["segtype"], "thin-pool");

        // The next boot: the condition keeps the unit from running; and the script itself,
        // started by hand, provisions nothing again.
        assert!(start_unit().is_none(), "the unit ran a second time");
        let again = Command::new(script)
            .envs(environment.iter().cloned())
            .output()
            .unwrap();
        assert!(again.status.success());
        let text = String::from_utf8_lossy(&again.stdout);
        assert!(text.contains("already provisioned"), "{text}");
        assert!(!text.contains("attempt"), "{text}");
    });
}
