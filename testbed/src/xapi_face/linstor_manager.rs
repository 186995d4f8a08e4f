//! Vates' `linstor-manager` XAPI plugin (package `sm`, `/etc/xapi.d/plugins/linstor-manager`),
//! built in like `service.py`: it answers on a host whose sysroot has that file
//! (`XENAPI_MISSING_PLUGIN` otherwise, as XAPI answers), and the world does what the
//! function would (`world::xostor_host`). Arguments and results are strings, as in
//! docs/xostor.md §1:
//!
//! | function | arguments | returns |
//! |---|---|---|
//! | `addHost` | `groupName` | `"True"` (§1.5) |
//! | `removeHost` | `groupName` | `"True"` (§1.6) |
//! | `healthCheck` | `groupName` | the JSON of §1.8 (`health_check`) |
//! | `hasControllerRunning` | — | `"True"` or `"False"` (§1.9) |
//! | `updateDrbdReactor` | `enabled` | `"True"`, or `"False"` when it fails (§1.4) |
//!
//! Errors are as `XenAPIPlugin.dispatch` prints them: a Python exception is
//! `XENAPI_PLUGIN_FAILURE [fn, class, message]` (a missing argument is a `KeyError`), an
//! unknown function `UNKNOWN_XENAPI_PLUGIN_FUNCTION [fn]`. The plugin's other functions (the
//! VHD helpers, `prepareSr`, `createSr`, the DRBD and interface helpers) are not simulated:
//! they fail with `NotImplementedError`.

use std::collections::BTreeMap;

use super::error::Failure;
use super::health_check;
use crate::world::World;
use crate::world::xostor_host::PluginError;

/// The plugin's name, as `host.call_plugin` takes it.
pub const NAME: &str = "linstor-manager";

/// What `testbed up` writes at `/etc/xapi.d/plugins/linstor-manager`: the simulated plugin
/// answers where this file is.
pub const MARKER: &str = "#!/usr/bin/env python3\n# linstor-manager: simulated by the testbed's XAPI (xapi_face::linstor_manager); this file only\n# marks the plugin as installed on this host.\n";

/// The rest of the real plugin's dispatch table (§1.1), not simulated.
const OTHER_FUNCTIONS: [&str; 37] = [
    "prepareSr",
    "releaseSr",
    "attach",
    "detach",
    "destroy",
    "check",
    "getVHDInfo",
    "getInfo",
    "hasParent",
    "getParent",
    "getSizeVirt",
    "getMaxResizeSize",
    "getSizePhys",
    "getAllocatedSize",
    "getDepth",
    "getKeyHash",
    "getBlockBitmap",
    "getDrbdSize",
    "setSizeVirt",
    "setSizeVirtFast",
    "setParent",
    "coalesce",
    "repair",
    "deflate",
    "lockVdi",
    "createSr",
    "listDrbdVolumes",
    "demoteDrbdResource",
    "destroyDrbdVolume",
    "destroyDrbdVolumes",
    "getDrbdOpeners",
    "createNodeInterface",
    "destroyNodeInterface",
    "modifyNodeInterface",
    "listNodeInterfaces",
    "getNodePreferredInterface",
    "setNodePreferredInterface",
];

/// `XENAPI_PLUGIN_FAILURE [fn, class, message]`.
fn exception(function: &str, class: &str, message: &str) -> Failure {
    Failure::new("XENAPI_PLUGIN_FAILURE", [function, class, message])
}

fn from_plugin(function: &str, e: PluginError) -> Failure {
    exception(function, &e.class, &e.message)
}

/// `args['<name>']`: a `KeyError` when it is missing.
fn required<'a>(function: &str, args: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Failure> {
    args.get(name)
        .map(String::as_str)
        .ok_or_else(|| exception(function, "KeyError", &format!("'{name}'")))
}

/// Python's `distutils.util.strtobool`.
fn strtobool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn python_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

/// Runs `function` of linstor-manager on the host (see the module documentation).
pub fn call(
    world: &World,
    host_uuid: &str,
    function: &str,
    args: &BTreeMap<String, String>,
) -> Result<String, Failure> {
    match function {
        "addHost" => {
            let group = required(function, args, "groupName")?;
            world
                .add_host(host_uuid, group)
                .map_err(|e| from_plugin(function, e))
        }
        "removeHost" => {
            let group = required(function, args, "groupName")?;
            world
                .remove_host(host_uuid, group)
                .map_err(|e| from_plugin(function, e))
        }
        "healthCheck" => {
            let group = required(function, args, "groupName")?;
            Ok(health_check::run(world, group))
        }
        "hasControllerRunning" => Ok(python_bool(world.has_controller_running(host_uuid))),
        "updateDrbdReactor" => {
            // Every exception (a missing or bad `enabled`) is logged and answered "False".
            let Some(enabled) = args.get("enabled").and_then(|v| strtobool(v)) else {
                return Ok(python_bool(false));
            };
            world.set_drbd_reactor(host_uuid, enabled);
            Ok(python_bool(true))
        }
        f if OTHER_FUNCTIONS.contains(&f) => Err(exception(
            function,
            "NotImplementedError",
            &format!("linstor-manager {function} is not simulated by the testbed"),
        )),
        _ => Err(Failure::new("UNKNOWN_XENAPI_PLUGIN_FUNCTION", [function])),
    }
}
