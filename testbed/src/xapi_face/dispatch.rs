//! The one dispatcher behind both wire formats: a method name and positional parameters in,
//! a value or an XAPI error out. Checks happen in XAPI's order: unknown method, parameter
//! count (counts include the session reference), session, then the method itself.
//!
//! `Async.<M>` (xapi's `Server_helpers.do_dispatch`): the same checks for `M` (errors name
//! `M`, without the prefix), then, for a message the datamodel gives an asynchronous mode,
//! a task (`name_label` the wire name) whose reference comes back at once while `M` runs in
//! a thread of its own. A message without one (getters, setters, `session.*`, `event.*`,
//! `task.destroy`, `host.get_servertime`) fails with xapi's
//! `["Fault", "No async mode for this operation (rpc: M)"]`.

use super::args::Args;
use super::error::Failure;
use super::face::Xapi;
use super::methods;
use super::records::{Class, opaque_ref};
use super::storage_calls;
use super::value::Value;

/// The wire prefix of xapi's asynchronous calls.
const ASYNC_PREFIX: &str = "Async.";

pub(super) type Handler = fn(&Xapi, &Args<'_>) -> Result<Value, Failure>;

pub(super) enum Route {
    Fixed(Handler),
    GetAll(Class),
    GetAllRecords(Class),
    GetRecord(Class),
    GetByUuid(Class),
    GetByNameLabel(Class),
    GetField(Class, String),
}

pub(super) struct Spec {
    /// Parameter names, the session first when `session` is set.
    pub params: &'static [&'static str],
    /// How many trailing parameters have defaults and may be left out.
    pub optional: usize,
    pub session: bool,
    /// Whether `Async.<method>` exists (the datamodel's `Async` flag).
    pub has_async: bool,
    pub route: Route,
}

/// A message with the datamodel's default flags: a session, and an asynchronous mode.
const fn fixed(params: &'static [&'static str], optional: usize, run: Handler) -> Spec {
    Spec {
        params,
        optional,
        session: true,
        has_async: true,
        route: Route::Fixed(run),
    }
}

/// A message flagged `[`Session]` only: no `Async.` form.
const fn sync_only(params: &'static [&'static str], optional: usize, run: Handler) -> Spec {
    Spec {
        params,
        optional,
        session: true,
        has_async: false,
        route: Route::Fixed(run),
    }
}

/// The explicitly served methods. Field getters, `get_all`, `get_all_records`, `get_record`,
/// `get_by_uuid` and `get_by_name_label` of every class come from [`generic`].
fn explicit(method: &str) -> Option<Spec> {
    Some(match method {
        "session.login_with_password" => Spec {
            params: &["uname", "pwd", "version", "originator"],
            optional: 2,
            session: false,
            has_async: false,
            route: Route::Fixed(methods::login_with_password),
        },
        "session.logout" => sync_only(&["session_id"], 0, methods::logout),
        "session.get_this_host" => sync_only(&["session_id", "self"], 0, methods::session_get_this_host),
        "host.disable" => fixed(&["session_id", "host", "auto_enable"], 1, methods::host_disable),
        "host.enable" => fixed(&["session_id", "host"], 0, methods::host_enable),
        "host.evacuate" => fixed(
            &["session_id", "host", "network", "evacuate_batch_size"],
            2,
            methods::host_evacuate,
        ),
        "host.assert_can_evacuate" => fixed(&["session_id", "host"], 0, methods::host_assert_can_evacuate),
        "host.get_vms_which_prevent_evacuation" => fixed(
            &["session_id", "self"],
            0,
            methods::host_get_vms_which_prevent_evacuation,
        ),
        "host.reboot" => fixed(&["session_id", "host"], 0, methods::host_reboot),
        "host.call_plugin" => fixed(
            &["session_id", "host", "plugin", "fn", "args"],
            0,
            methods::host_call_plugin,
        ),
        "host.get_servertime" => sync_only(&["session_id", "host"], 0, methods::host_get_servertime),
        // Pool-wide calls without a pool reference, as in the datamodel.
        "pool.enable_ha" => fixed(
            &["session_id", "heartbeat_srs", "configuration"],
            0,
            methods::pool_enable_ha,
        ),
        "pool.disable_ha" => fixed(&["session_id"], 0, methods::pool_disable_ha),
        "VM.pool_migrate" => fixed(
            &["session_id", "vm", "host", "options"],
            0,
            methods::vm_pool_migrate,
        ),
        "PIF.reconfigure_ip" => fixed(
            &["session_id", "self", "mode", "IP", "netmask", "gateway", "DNS"],
            0,
            methods::pif_reconfigure_ip,
        ),
        // A field setter: no asynchronous mode.
        "network.set_MTU" => sync_only(&["session_id", "self", "value"], 0, methods::network_set_mtu),
        "SR.create" => fixed(
            &[
                "session_id",
                "host",
                "device_config",
                "physical_size",
                "name_label",
                "name_description",
                "type",
                "content_type",
                "shared",
                "sm_config",
            ],
            1,
            storage_calls::sr_create,
        ),
        "PBD.create" => fixed(&["session_id", "args"], 0, storage_calls::pbd_create),
        "PBD.plug" => fixed(&["session_id", "self"], 0, storage_calls::pbd_plug),
        "PBD.unplug" => fixed(&["session_id", "self"], 0, storage_calls::pbd_unplug),
        "PBD.destroy" => fixed(&["session_id", "self"], 0, storage_calls::pbd_destroy),
        "VDI.create" => fixed(&["session_id", "args"], 0, storage_calls::vdi_create),
        "VDI.destroy" => fixed(&["session_id", "self"], 0, storage_calls::vdi_destroy),
        "VBD.create" => fixed(&["session_id", "args"], 0, storage_calls::vbd_create),
        "task.destroy" => sync_only(&["session_id", "self"], 0, methods::task_destroy),
        "task.cancel" => fixed(&["session_id", "task"], 0, methods::task_cancel),
        "event.from" => sync_only(
            &["session_id", "classes", "token", "timeout"],
            0,
            methods::event_from,
        ),
        _ => return None,
    })
}

/// `Class.get_all`, `Class.get_record`, `Class.get_<field>` and friends.
fn generic(xapi: &Xapi, method: &str) -> Option<Spec> {
    let (class, message) = method.split_once('.')?;
    let class = Class::from_api_name(class)?;
    // Getters have no asynchronous mode.
    let one = |route| Spec {
        params: &["session_id", "self"],
        optional: 0,
        session: true,
        has_async: false,
        route,
    };
    Some(match message {
        "get_all" => Spec {
            params: &["session_id"],
            ..one(Route::GetAll(class))
        },
        "get_all_records" => Spec {
            params: &["session_id"],
            ..one(Route::GetAllRecords(class))
        },
        "get_record" => one(Route::GetRecord(class)),
        "get_by_uuid" => Spec {
            params: &["session_id", "uuid"],
            ..one(Route::GetByUuid(class))
        },
        "get_by_name_label" if class.has_name_label() => Spec {
            params: &["session_id", "label"],
            ..one(Route::GetByNameLabel(class))
        },
        _ => {
            let field = message.strip_prefix("get_")?;
            xapi.has_field(class, field)
                .then(|| one(Route::GetField(class, field.to_string())))?
        }
    })
}

impl Xapi {
    /// Runs one call; `Async.<method>` starts it as a task (see the module documentation).
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, Failure> {
        let result = match method.strip_prefix(ASYNC_PREFIX) {
            Some(sync_name) => self.call_async(method, sync_name, params),
            None => self.call_sync(method, params),
        };
        tracing::debug!(method, ok = result.is_ok(), "xapi call");
        result
    }

    /// The checks every call goes through, in XAPI's order: the method, the parameter
    /// count, the session.
    fn checked<'a>(&self, method: &str, params: &'a [Value]) -> Result<(Spec, Args<'a>), Failure> {
        let spec = explicit(method)
            .or_else(|| generic(self, method))
            .ok_or_else(|| Failure::method_unknown(method))?;
        let (max, min) = (spec.params.len(), spec.params.len() - spec.optional);
        if params.len() < min || params.len() > max {
            return Err(Failure::parameter_count_mismatch(method, max, params.len()));
        }
        let mut args = Args {
            names: spec.params,
            values: params,
            session: String::new(),
        };
        if spec.session {
            let session = args.str(0).map_err(|_| Failure::session_invalid(""))?.to_string();
            if !self.session_valid(&session) {
                return Err(Failure::session_invalid(&session));
            }
            args.session = session;
        }
        Ok((spec, args))
    }

    fn call_sync(&self, method: &str, params: &[Value]) -> Result<Value, Failure> {
        let (spec, args) = self.checked(method, params)?;
        if let Some(fault) = self.injected_fault(method) {
            return Err(fault);
        }
        self.run(spec.route, &args)
    }

    /// `Async.<method>`: checked as `method` is, then a pending task whose reference comes
    /// back now; `method` runs in a thread of its own and ends the task. A fault injected
    /// for `Async.<method>` fails the call itself; one for `method` fails the task.
    fn call_async(&self, wire_name: &str, method: &str, params: &[Value]) -> Result<Value, Failure> {
        let (spec, args) = self.checked(method, params)?;
        let run = match spec.route {
            Route::Fixed(run) if spec.has_async => run,
            _ => {
                return Err(Failure::new(
                    "Fault",
                    [format!("No async mode for this operation (rpc: {method})")],
                ));
            }
        };
        if let Some(fault) = self.injected_fault(wire_name) {
            return Err(fault);
        }
        let task = self.create_task(wire_name);
        let (xapi, names, values, session) =
            (self.clone(), spec.params, params.to_vec(), args.session.clone());
        let (method, uuid) = (method.to_string(), task.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("xapi {wire_name}"))
            .spawn(move || {
                let args = Args {
                    names,
                    values: &values,
                    session,
                };
                let outcome = match xapi.injected_fault(&method) {
                    Some(fault) => Err(fault),
                    None => xapi.run(Route::Fixed(run), &args),
                };
                tracing::debug!(method, ok = outcome.is_ok(), "xapi task done");
                xapi.complete_task(&uuid, &outcome);
            });
        if let Err(e) = spawned {
            self.complete_task(
                &task,
                &Err(Failure::internal(format!("cannot start the task: {e}"))),
            );
        }
        Ok(Value::str(opaque_ref(&task)))
    }

    /// Runs a checked call.
    fn run(&self, route: Route, args: &Args<'_>) -> Result<Value, Failure> {
        match route {
            Route::Fixed(run) => {
                let result = run(self, args);
                // Record what the call changed now, so event.from reports it even if it is
                // undone before the next event.from looks.
                if result.is_ok() {
                    self.observe();
                }
                result
            }
            Route::GetAll(class) => Ok(Value::strings(self.objects(class).iter().map(|o| o.reference()))),
            Route::GetAllRecords(class) => Ok(Value::Struct(
                self.objects(class)
                    .into_iter()
                    .map(|o| (o.reference(), o.record))
                    .collect(),
            )),
            Route::GetRecord(class) => {
                let uuid = args.object(self, 1, class)?;
                self.record(class, &uuid)
                    .ok_or_else(|| Failure::handle_invalid(class.api_name(), &opaque_ref(&uuid)))
            }
            Route::GetByUuid(class) => {
                let uuid = args.str(1)?;
                if self.exists(class, uuid) {
                    Ok(Value::str(opaque_ref(uuid)))
                } else {
                    Err(Failure::new("UUID_INVALID", [class.api_name(), uuid]))
                }
            }
            Route::GetByNameLabel(class) => {
                let label = args.str(1)?;
                Ok(Value::strings(
                    self.objects(class)
                        .iter()
                        .filter(|o| o.record.get("name_label").and_then(Value::as_str) == Some(label))
                        .map(|o| o.reference()),
                ))
            }
            Route::GetField(class, field) => {
                let uuid = args.object(self, 1, class)?;
                self.record(class, &uuid)
                    .and_then(|r| r.get(&field).cloned())
                    .ok_or_else(|| Failure::handle_invalid(class.api_name(), &opaque_ref(&uuid)))
            }
        }
    }
}
