//! XCP-ng's `service.py` XAPI plugin (package `xcp-ng-xapi-plugins`, in every host's
//! `/etc/xapi.d/plugins/`), built in: the testbed runs no systemd, so instead of running
//! `systemctl <cmd> <service>` the world does what the unit would (`world::services`).
//!
//! As on XCP-ng: functions `start_service`, `stop_service`, `restart_service` and
//! `try_restart_service` take `{service}`, one of `linstor-controller` and `linstor-satellite`,
//! and return `json.dumps(True)`, i.e. `"true"` (whatever systemctl said: the real plugin does
//! not check its exit status). Errors are as `XenAPIPlugin.dispatch` prints them:
//!
//! | call | `ErrorDescription` |
//! |---|---|
//! | unknown function | `["UNKNOWN_XENAPI_PLUGIN_FUNCTION", fn]` |
//! | `service` missing or empty | `["-1", "Missing or empty argument `service`", "", traceback]` |
//! | any other service | `["-1", "This service is not whitelisted", "", traceback]` |
//!
//! (`xcpngutils.error_wrapped` turns the exception into `XenAPIPlugin.Failure("-1", [str(e),
//! "", traceback])`, whose params `dispatch` prints with the code first.)

use std::collections::BTreeMap;

use super::error::Failure;
use crate::world::World;
use crate::world::services::{Service, ServiceCommand};

/// The plugin's name, as `host.call_plugin` takes it.
pub const NAME: &str = "service.py";

/// Runs `function` of `service.py` on the host.
pub fn call(
    world: &World,
    host_uuid: &str,
    function: &str,
    args: &BTreeMap<String, String>,
) -> Result<String, Failure> {
    let command = match function {
        "start_service" => ServiceCommand::Start,
        "stop_service" => ServiceCommand::Stop,
        "restart_service" => ServiceCommand::Restart,
        "try_restart_service" => ServiceCommand::TryRestart,
        _ => return Err(Failure::new("UNKNOWN_XENAPI_PLUGIN_FUNCTION", [function])),
    };
    let requested = args.get("service").map(String::as_str).unwrap_or("");
    if requested.is_empty() {
        return Err(wrapped("Exception", "Missing or empty argument `service`"));
    }
    let Some(service) = Service::from_unit(requested) else {
        return Err(wrapped("ValueError", "This service is not whitelisted"));
    };
    world.systemctl(host_uuid, command, service)?;
    Ok("true".to_string())
}

/// What `error_wrapped` makes of a Python exception raised in `run_service_command`.
fn wrapped(exception: &str, message: &str) -> Failure {
    let traceback = format!(
        "Traceback (most recent call last):\n  File \"/etc/xapi.d/plugins/xcpngutils/__init__.py\", in wrapper\n    \
         return func(*args, **kwds)\n  File \"/etc/xapi.d/plugins/service.py\", in run_service_command\n    \
         raise {exception}('{message}')\n{exception}: {message}\n"
    );
    Failure::new("-1", [message.to_string(), String::new(), traceback])
}
