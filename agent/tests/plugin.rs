//! The XAPI plugin `specs/files/xapi-plugin/linstor-agent`, called the way XAPI's
//! `host.call_plugin` runs it (the testbed's implementation of that: one argv, an XML-RPC
//! methodCall; stdout read as a methodResponse), on a testbed host root with the real agent and
//! the signed fixture repository: success, refusal, rejected arguments, unknown functions. And the
//! same protocol under every Python this machine has (2.7 and 3.6 when pyenv provides them).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;
use testbed::fixture::catalog::*;
use testbed::sysroot::HostRoot;
use testbed::sysroot::dnf::DnfConfig;
use testbed::xapi_face::plugin;

const SESSION: &str = "OpaqueRef:00000000-0000-0000-0000-000000000001";

fn plugin_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/files/xapi-plugin/linstor-agent")
}

fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linstor-agent"))
}

/// A host root as a pool host has it: the plugin in /etc/xapi.d/plugins, the agent's config in
/// /etc/linstor-agent/agent.toml.
fn plugin_host(dir: &Path, kernels: &[&str]) -> HostRoot {
    let repo = shared_repo();
    let host = host(dir, "h1", &repo, kernels);
    let plugins = host.root.join(plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(plugin_source(), plugins.join("linstor-agent")).unwrap();
    let etc = host.root.join("etc/linstor-agent");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::copy(&host.config, etc.join("agent.toml")).unwrap();
    host
}

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn call(
    host: &HostRoot,
    function: &str,
    pairs: &[(&str, &str)],
    bin: &Path,
) -> Result<serde_json::Value, (String, Vec<String>)> {
    plugin::call(
        &host.root,
        SESSION,
        "linstor-agent",
        function,
        &args(pairs),
        Some(bin),
    )
    .map(|value| serde_json::from_str(&value).unwrap_or_else(|e| panic!("Value is not JSON ({e}): {value}")))
    .map_err(|f| (f.code, f.params))
}

#[test]
fn plugin_runs_the_agent_on_the_host_and_answers_as_xapi_expects() {
    let dir = tempfile::tempdir().unwrap();
    let host = plugin_host(dir.path(), &[KERNEL_XCPNG_38.nevra]);
    let bin = agent_bin();

    let facts = call(&host, "facts", &[], &bin).expect("facts");
    assert_eq!(
        facts["hostname"], "h1",
        "the agent ran on LINSTOR_AGENT_ROOT: {facts}"
    );
    assert_eq!(facts["changed"], false);

    let plan = call(
        &host,
        "plan",
        &[
            ("pins", "kmod-drbd=9.2.11,linstor-satellite=1.29.0"),
            ("only", "kmod-drbd,linstor-satellite"),
        ],
        &bin,
    )
    .expect("plan");
    assert_eq!(plan["pending"], true);
    assert_eq!(
        plan["only"],
        serde_json::json!(["kmod-drbd", "linstor-satellite"])
    );
    assert_eq!(plan["pins"]["kmod-drbd"], "9.2.11");

    let guard = call(&host, "kernel_guard", &[("dry_run", "true")], &bin).expect("kernel_guard");
    assert_eq!(guard["command"], "kernel-guard");
    assert_eq!(guard["kernels"][0]["status"], "would-install");

    let prefetch = call(&host, "prefetch", &[("pins", "kmod-drbd=9.2.11")], &bin).expect("prefetch");
    assert_eq!(prefetch["download_only"], true);
    assert_eq!(prefetch["changed"], false);
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());

    let install = call(
        &host,
        "install",
        &[("pins", "kmod-drbd=9.2.11"), ("save_pins", "true")],
        &bin,
    )
    .expect("install");
    assert_eq!(install["changed"], true);
    assert!(installed_besides_kernels(&host).contains(&KMOD_XCPNG_9_2_11.nevra.to_owned()));
    let fragment = host.root.join("etc/linstor-agent/agent.d/90-pool-upgrade.toml");
    assert_eq!(install["saved_pins"]["path"], fragment.display().to_string());
    assert!(fragment.is_file());

    let guard = call(&host, "kernel_guard", &[], &bin).expect("kernel_guard");
    assert_eq!(guard["changed"], false);
    assert_eq!(guard["kernels"][0]["status"], "ok");

    // status exits 1 on a host that is not converged (no storage, no controller here): that is
    // the agent failing, with its JSON document as the last parameter.
    match call(&host, "status", &[], &bin) {
        Ok(doc) => assert_eq!(doc["converged"], true),
        Err((code, params)) => {
            assert_eq!(code, "LINSTOR_AGENT_FAILED", "{params:?}");
            assert_eq!(params[0], "1");
            let doc: serde_json::Value = serde_json::from_str(&params[2]).expect("the agent's document");
            assert_eq!(doc["changed"], false);
        }
    }

    // A kernel no module fits: the agent refuses (exit 3); the plugin says so with its message
    // and its document.
    let dnf = host.host_dir().join("dnf");
    DnfConfig {
        conf: dnf.join("dnf.conf"),
        reposdir: dnf.join("yum.repos.d"),
    }
    .install(&host.root, &[KERNEL_EL9_503.nevra])
    .unwrap();
    let (code, params) = call(&host, "kernel_guard", &[], &bin).expect_err("refused");
    assert_eq!(code, "LINSTOR_AGENT_REFUSED", "{params:?}");
    assert!(params[0].contains("kernel 5.14.0-503.el9.x86_64"), "{params:?}");
    let doc: serde_json::Value = serde_json::from_str(&params[1]).expect("the agent's document");
    assert_eq!(doc["error"]["exit_code"], 3);
    assert_eq!(doc["changed"], false);

    // A failing agent: its exit code, its message, its document.
    let (code, params) = call(
        &host,
        "install",
        &[("pins", "drbd-utils=0.1"), ("only", "drbd-utils")],
        &bin,
    )
    .expect_err("bad pin");
    assert_eq!(code, "LINSTOR_AGENT_FAILED", "{params:?}");
    assert_eq!(params[0], "2");
    assert!(params[1].contains("drbd-utils is pinned to 0.1"), "{params:?}");

    // No agent at all.
    let (code, params) =
        call(&host, "facts", &[], Path::new("/nonexistent/linstor-agent")).expect_err("no agent");
    assert_eq!(code, "LINSTOR_AGENT_FAILED");
    assert_eq!(params[0], "127");
    assert!(params[1].contains("/nonexistent/linstor-agent"), "{params:?}");
}

#[test]
fn bad_arguments_and_unknown_functions_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = plugin_host(dir.path(), &[KERNEL_XCPNG_38.nevra]);
    // An "agent" that leaves a mark if it is ever run.
    let marker = dir.path().join("agent-ran");
    let fake = dir.path().join("fake-agent");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"changed\": false}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // (function, arguments, the Failure code, the argument it names)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            "install",
            &[("pins", "kmod-drbd=9.2.12;rm -rf /")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "install",
            &[("pins", "kmod-drbd=$(reboot)")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "install",
            &[("pins", "kmod-drbd=`id`")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "install",
            &[("pins", "kmod-drbd=9.2.12 --root /")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "install",
            &[("pins", "--config=/tmp/x=1")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "plan",
            &[("pins", "a=1\n")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "plan",
            &[("pins", "a=1,a=2")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "plan",
            &[("pins", "kmod-drbd")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "pins",
        ),
        (
            "plan",
            &[("only", "linstor-satellite;rm -rf /")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "only",
        ),
        (
            "plan",
            &[("only", "-rf")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "only",
        ),
        (
            "plan",
            &[("only", "a,,b")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "only",
        ),
        (
            "plan",
            &[("only", "a b")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "only",
        ),
        (
            "install",
            &[("save_pins", "yes")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "save_pins",
        ),
        (
            "kernel_guard",
            &[("dry_run", "1")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "dry_run",
        ),
        (
            "install",
            &[("dry_run", "true")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "dry_run",
        ),
        (
            "prefetch",
            &[("save_pins", "true")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "save_pins",
        ),
        (
            "facts",
            &[("only", "x")],
            "LINSTOR_AGENT_INVALID_ARGUMENT",
            "only",
        ),
        (
            "install",
            &[("command", "rm -rf /")],
            "LINSTOR_AGENT_UNKNOWN_ARGUMENT",
            "command",
        ),
    ];
    for (function, pairs, code, named) in cases {
        let (got, params) = call(&host, function, pairs, &fake).expect_err("refused");
        assert_eq!(&got, code, "{function} {pairs:?}: {params:?}");
        assert_eq!(params[0], *named, "{function} {pairs:?}: {params:?}");
        assert!(!marker.exists(), "{function} {pairs:?}: the agent must not run");
    }

    for function in ["reboot", "install;id", "", "facts "] {
        let (got, params) = call(&host, function, &[], &fake).expect_err("unknown");
        assert_eq!(got, "UNKNOWN_XENAPI_PLUGIN_FUNCTION");
        assert_eq!(params, [function.to_owned()]);
    }
    assert!(!marker.exists());

    // Good arguments reach the (fake) agent.
    let ok = call(
        &host,
        "install",
        &[("pins", "kmod-drbd=9.2.12-1.xcpng8.3"), ("only", "kmod-drbd")],
        &fake,
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert!(marker.exists());
}

/// Python interpreters to check the plugin under: python3, and the 2.7 and 3.6 of XCP-ng 8.x
/// dom0 when this machine has them (pyenv).
fn interpreters() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("python3")];
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(versions) = pyenv.map(|p| p.join("versions"))
        && let Ok(entries) = std::fs::read_dir(versions)
    {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for (prefix, exe) in [("2.7", "python2.7"), ("3.6", "python3.6")] {
                let exe = dir.join("bin").join(exe);
                if name.starts_with(prefix) && exe.is_file() {
                    found.push(exe);
                }
            }
        }
    }
    for name in ["python2.7", "python2"] {
        if let Ok(out) = Command::new(name)
            .arg("-c")
            .arg("import sys; print(sys.executable)")
            .output()
            && out.status.success()
        {
            found.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    found.dedup();
    found
}

/// The methodCall XAPI passes in argv[1].
fn method_call(function: &str, pairs: &[(&str, &str)]) -> String {
    let members: String = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "<member><name>{k}</name><value><string>{}</string></value></member>",
                v.replace('&', "&amp;").replace('<', "&lt;")
            )
        })
        .collect();
    format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>{function}</methodName>\n<params>\n\
         <param><value><string>{SESSION}</string></value></param>\n\
         <param><value><struct>{members}</struct></value></param>\n</params>\n</methodCall>\n"
    )
}

#[test]
fn the_plugin_speaks_the_protocol_under_every_python_here() {
    let dir = tempfile::tempdir().unwrap();
    let host = plugin_host(dir.path(), &[KERNEL_XCPNG_38.nevra]);
    let source = plugin_source();
    let mut checked = Vec::new();
    for python in interpreters() {
        // The file compiles (python 2 syntax included) without writing a .pyc beside it.
        let compiled = Command::new(&python)
            .arg("-c")
            .arg("import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')")
            .arg(&source)
            .output();
        let Ok(compiled) = compiled else { continue };
        assert!(
            compiled.status.success(),
            "{} cannot compile the plugin: {}",
            python.display(),
            String::from_utf8_lossy(&compiled.stderr)
        );
        let run = |function: &str, pairs: &[(&str, &str)]| {
            let out = Command::new(&python)
                .arg(&source)
                .arg(method_call(function, pairs))
                .env("LINSTOR_AGENT_ROOT", &host.root)
                .env("LINSTOR_AGENT_BIN", agent_bin())
                .env("LC_ALL", "C")
                .env("LANG", "C")
                .current_dir("/")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            plugin::interpret(&String::from_utf8_lossy(&out.stdout)).map_err(|f| (f.code, f.params))
        };
        let facts = run("facts", &[]).unwrap_or_else(|e| panic!("{}: {e:?}", python.display()));
        let facts: serde_json::Value = serde_json::from_str(&facts).unwrap();
        assert_eq!(facts["hostname"], "h1", "{}", python.display());
        let (code, params) = run("plan", &[("pins", "a=1;b")]).unwrap_err();
        assert_eq!(
            (code.as_str(), params[0].as_str()),
            ("LINSTOR_AGENT_INVALID_ARGUMENT", "pins")
        );
        assert_eq!(
            params[1],
            "\"1;b\" is not a version (for a)",
            "{}",
            python.display()
        );
        let (code, _) = run("nope", &[]).unwrap_err();
        assert_eq!(code, "UNKNOWN_XENAPI_PLUGIN_FUNCTION");
        checked.push(python.display().to_string());
    }
    assert!(!checked.is_empty(), "no python to run the plugin with");
    eprintln!("plugin checked under: {}", checked.join(", "));
}
