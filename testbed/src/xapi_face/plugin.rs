//! `host.call_plugin`, as XAPI's `xapi_plugins.ml` runs a plugin: only a file listed in the
//! host's `/etc/xapi.d/plugins/` (here, under the host's sysroot), executed with one argument,
//! an XML-RPC `methodCall` of the function name with `[session_ref, args_struct]`, and its
//! stdout read as a `methodResponse` holding `{Status, Value}` (what `XenAPIPlugin.dispatch`
//! prints). The results and failures are XAPI's:
//!
//! | plugin does | caller gets |
//! |---|---|
//! | `{Status: Success, Value: "text"}` | `"text"` |
//! | `{Status: Failure, ErrorDescription: [C, p…]}` | that error, `C [p…]` |
//! | `<fault>` | `XENAPI_PLUGIN_FAILURE ["fault", code, string]` |
//! | exits non-zero | `XENAPI_PLUGIN_FAILURE ["non-zero exit", stdout, stderr]` |
//! | killed by a signal | `XENAPI_PLUGIN_FAILURE ["signal: SIGKILL", stdout, stderr]` |
//! | prints something that is not XML | `XENAPI_PLUGIN_FAILURE ["failed to parse plugin output", stdout, error]` |
//! | prints XML of another shape | `XENAPI_PLUGIN_FAILURE ["unexpected XMLRPC result", stdout]` |
//! | is not there | `XENAPI_MISSING_PLUGIN [name]` |
//!
//! The environment adds `LINSTOR_AGENT_ROOT=<root>`, so the agent a plugin starts works on
//! that host's sysroot, and `LINSTOR_AGENT_BIN=<path>` when the pool knows the agent binary
//! (the `linstor-agent` plugin runs it instead of `/usr/bin/linstor-agent`); the working
//! directory is the sysroot (a real plugin starts in `/`).
//!
//! `service.py` is not a file here but built in (`service_plugin`): the XAPI face runs it
//! before looking in the plugin directory. `linstor-manager` is built in too
//! (`linstor_manager`), but only where its file is in the plugin directory.

use super::error::Failure;
use super::value::Value;
use super::xmlrpc::{self, MethodResponse};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PLUGIN_DIR: &str = "etc/xapi.d/plugins";
/// The agent binary a plugin should run (set when the pool knows it).
pub const AGENT_BIN_ENV: &str = "LINSTOR_AGENT_BIN";

/// The plugin's path, if `name` is an entry of the host's plugin directory. Looking the name
/// up in the directory listing (as XAPI does) is what keeps `/` and `..` out.
pub fn find(root: &Path, name: &str) -> Result<PathBuf, Failure> {
    let dir = root.join(PLUGIN_DIR);
    let listed = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_str() == Some(name)))
        .unwrap_or(false);
    if listed && !name.is_empty() && !name.contains('/') && name != "." && name != ".." {
        Ok(dir.join(name))
    } else {
        Err(Failure::new("XENAPI_MISSING_PLUGIN", [name]))
    }
}

pub fn call(
    root: &Path,
    session: &str,
    plugin: &str,
    function: &str,
    args: &BTreeMap<String, String>,
    agent_bin: Option<&Path>,
) -> Result<String, Failure> {
    let path = find(root, plugin)?;
    let args_struct = Value::string_map(args);
    let call = xmlrpc::write_call(function, &[Value::str(session), args_struct]);
    let mut command = Command::new(&path);
    command
        .arg(&call)
        .env("LINSTOR_AGENT_ROOT", root)
        .current_dir(root);
    if let Some(bin) = agent_bin {
        command.env(AGENT_BIN_ENV, bin);
    }
    let output = command.output().map_err(|e| {
        // XAPI's fork helper reports an exec failure as the child's non-zero exit.
        Failure::new(
            "XENAPI_PLUGIN_FAILURE",
            ["non-zero exit".to_string(), String::new(), e.to_string()],
        )
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(signal) = output.status.signal() {
        return Err(Failure::new(
            "XENAPI_PLUGIN_FAILURE",
            [format!("signal: {}", signal_name(signal)), stdout, stderr],
        ));
    }
    if !output.status.success() {
        return Err(Failure::new(
            "XENAPI_PLUGIN_FAILURE",
            ["non-zero exit".to_string(), stdout, stderr],
        ));
    }
    interpret(&stdout)
}

/// Reads a plugin's stdout as XAPI does.
pub fn interpret(stdout: &str) -> Result<String, Failure> {
    let unexpected = || Failure::new("XENAPI_PLUGIN_FAILURE", ["unexpected XMLRPC result", stdout]);
    let response = xmlrpc::parse_response(stdout).map_err(|e| {
        Failure::new(
            "XENAPI_PLUGIN_FAILURE",
            [
                "failed to parse plugin output".to_string(),
                stdout.to_string(),
                e.0,
            ],
        )
    })?;
    let value = match response {
        MethodResponse::Fault { code, string } => {
            return Err(Failure::new(
                "XENAPI_PLUGIN_FAILURE",
                ["fault".to_string(), code.to_string(), string],
            ));
        }
        MethodResponse::Params(params) => match params.as_slice() {
            [one] => one.clone(),
            _ => return Err(unexpected()),
        },
    };
    match value.get("Status").and_then(Value::as_str) {
        Some("Success") => match value.get("Value") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(unexpected()),
        },
        Some("Failure") => {
            let description = value
                .get("ErrorDescription")
                .and_then(Value::as_strings)
                .ok_or_else(unexpected)?;
            match description.split_first() {
                Some((code, params)) => Err(Failure::new(code, params.iter().cloned())),
                None => Err(unexpected()),
            }
        }
        _ => Err(unexpected()),
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("unknown signal ({signal})"),
    };
    name.to_string()
}
