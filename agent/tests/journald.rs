//! Logs to journald (issue 15, point 5), through the binary: the agent runs as systemd runs a
//! unit whose output goes to the journal (`JOURNAL_STREAM` naming its stderr), and this test is
//! the journal. tracing-journald always sends to `/run/systemd/journal/socket`, so the agent
//! runs in a mount namespace of its own (`unshare`, as root like the other root tests) where
//! that directory is the test's, and the test reads the datagrams of journald's native
//! protocol from its own socket there.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;
use testbed::fixture::catalog::*;
use testbed::sysroot::HostRoot;

/// One journal entry: each field's values (a field may repeat, e.g. one per enclosing span).
type Entry = BTreeMap<String, Vec<String>>;

/// Decodes one datagram of the native protocol: `NAME=value\n`, or `NAME\n`, a little-endian
/// 64-bit length, the value, `\n` (for values that may hold newlines).
fn parse_entry(mut data: &[u8]) -> Entry {
    let mut entry = Entry::new();
    while !data.is_empty() {
        let end = data
            .iter()
            .position(|&b| b == b'\n' || b == b'=')
            .expect("a field name");
        let name = String::from_utf8(data[..end].to_vec()).unwrap();
        let value;
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .expect("a field ends with a newline");
            value = rest[..nl].to_vec();
            data = &rest[nl + 1..];
        } else {
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            value = rest[8..8 + len].to_vec();
            assert_eq!(rest[8 + len], b'\n', "a binary field ends with a newline");
            data = &rest[8 + len + 1..];
        }
        entry
            .entry(name)
            .or_default()
            .push(String::from_utf8_lossy(&value).into_owned());
    }
    entry
}

/// What the agent logged, and what it wrote to its stderr.
struct Logged {
    code: i32,
    entries: Vec<Entry>,
    stderr: String,
}

/// Runs the agent on `host` with `args` as a journal-connected unit would run it: stderr a
/// stream whose device and inode `JOURNAL_STREAM` names (unless `stream_matches` is false: a
/// variable inherited by a process whose stderr is elsewhere), `env` added.
fn run_logged(host: &HostRoot, args: &[&str], stream_matches: bool, env: &[(&str, &str)]) -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let socket = UnixDatagram::bind(journal.join("socket")).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    // Read while the agent runs: a full socket buffer would block its sends.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut entries = Vec::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) if n > 0 => entries.push(parse_entry(&buf[..n])),
                    Ok(_) => {}
                    Err(_) if done.load(Ordering::SeqCst) => return entries,
                    Err(_) => {}
                }
            }
        })
    };
    let stderr_path = dir.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let ino = if stream_matches {
        meta.ino()
    } else {
        meta.ino() + 1
    };

    // Only the agent's namespace sees the test's directory at /run/systemd/journal (a tmpfs
    // over /run/systemd first, so nothing is created on the machine's own /run).
    let script = r#"
        set -e
        if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; fi
        mkdir -p /run/systemd/journal
        mount --bind "$0" /run/systemd/journal
        exec "$@"
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(&journal)
        .arg(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(&host.root)
        .arg("--config")
        .arg(&host.config)
        .args(args)
        .env("JOURNAL_STREAM", format!("{}:{ino}", meta.dev()))
        .env_remove("LINSTOR_AGENT_LOG_TARGET")
        .env_remove("LINSTOR_AGENT_LOG")
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("unshare runs (util-linux; the test runs as root)");
    done.store(true, Ordering::SeqCst);
    Logged {
        code: out.status.code().unwrap_or(-1),
        entries: reader.join().unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    }
}

fn field<'a>(entry: &'a Entry, name: &str) -> Vec<&'a str> {
    entry
        .get(name)
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn hostname(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/hostname"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn an_install_under_systemd_logs_to_the_journal_with_step_host_and_package() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);

    let logged = run_logged(&host, &["install"], true, &[]);
    assert_eq!(logged.code, 0, "{}", logged.stderr);
    let name = hostname(&host.root);
    for package in ["kmod-drbd", "drbd-utils", "linstor-satellite"] {
        let entry = logged
            .entries
            .iter()
            .find(|e| field(e, "PACKAGE") == [package])
            .unwrap_or_else(|| panic!("no entry with PACKAGE={package} in {:#?}", logged.entries));
        assert_eq!(field(entry, "STEP"), ["install"], "{entry:#?}");
        assert_eq!(field(entry, "HOST"), [name.as_str()], "{entry:#?}");
        assert_eq!(field(entry, "COMMAND"), ["install"], "{entry:#?}");
        assert_eq!(field(entry, "SYSLOG_IDENTIFIER"), ["linstor-agent"], "{entry:#?}");
        assert_eq!(field(entry, "PRIORITY"), ["5"], "info is notice: {entry:#?}");
        assert!(
            field(entry, "MESSAGE")[0].starts_with(&format!("{package}: install")),
            "{entry:#?}"
        );
    }
    // The log went to the journal, not into the stream as text.
    assert!(!logged.stderr.contains("drbd-utils"), "{}", logged.stderr);
}

#[test]
fn provision_names_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    let logged = run_logged(&host, &["provision", "--skip-peer-check"], true, &[]);
    let planned: Vec<&str> = logged
        .entries
        .iter()
        .filter(|e| field(e, "MESSAGE") == ["planned"])
        .flat_map(|e| field(e, "STEP"))
        .collect();
    assert!(
        ["install", "storage", "network", "register"]
            .iter()
            .all(|s| planned.contains(s)),
        "every step's plan is logged with its STEP: {planned:?}\n{}",
        logged.stderr
    );
    let installed = logged
        .entries
        .iter()
        .find(|e| field(e, "PACKAGE") == ["drbd-utils"])
        .unwrap_or_else(|| panic!("no PACKAGE=drbd-utils: {:#?}\n{}", logged.entries, logged.stderr));
    assert_eq!(field(installed, "STEP"), ["install"], "{installed:#?}");
    assert_eq!(field(installed, "COMMAND"), ["provision"], "{installed:#?}");
}

#[test]
fn elsewhere_the_log_stays_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "h1", &shared_repo(), &[KERNEL_XCPNG_38.nevra]);
    // JOURNAL_STREAM inherited, but stderr is another file: not the journal's stream.
    let logged = run_logged(&host, &["-v", "install"], false, &[]);
    assert_eq!(logged.code, 0, "{}", logged.stderr);
    assert!(logged.entries.is_empty(), "{:#?}", logged.entries);
    assert!(logged.stderr.contains("drbd-utils: install"), "{}", logged.stderr);

    // Chosen explicitly (systemd 219 sets no JOURNAL_STREAM), and a wrong value refused.
    let explicit = run_logged(
        &host,
        &["provision", "--dry-run", "--skip-peer-check"],
        false,
        &[("LINSTOR_AGENT_LOG_TARGET", "journald")],
    );
    assert_eq!(explicit.code, 0, "{}", explicit.stderr);
    assert!(
        explicit
            .entries
            .iter()
            .any(|e| field(e, "MESSAGE") == ["planned"]),
        "{:#?}\n{}",
        explicit.entries,
        explicit.stderr
    );
    let wrong = run_logged(
        &host,
        &["status"],
        true,
        &[("LINSTOR_AGENT_LOG_TARGET", "syslog")],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("LINSTOR_AGENT_LOG_TARGET"),
        "{}",
        wrong.stderr
    );
}
