//! XAPI's task objects, as `Async.<class>.<message>` creates them: the call returns the task's
//! reference at once and runs in the background; the task goes from `pending` to `success`
//! (`result`: the call's result as XAPI's task table stores it, one XML-RPC `<value>` — see
//! [`encode_result`]) or `failure` (`error_info`: `[CODE, params…]`), as xapi's
//! `TaskHelper.make` / `complete` / `failed` set them.
//!
//! Tasks are the XAPI face's own, not the world's: xapi keeps them in memory only
//! (`PersistNothing`), so a restarted xapi has none. The XAPI face reports every change to
//! the world (`World::touch`) so `event.from` waiters wake, and reads them into its event
//! log next to the world's objects.

use super::error::Failure;
use super::records::{Class, NULL_REF, Obj, format_datetime, opaque_ref};
use super::value::Value;
use super::xmlrpc;
use crate::xapi_record;
use std::collections::BTreeMap;

/// Finished tasks kept at most; older ones go first (xapi's database GC removes finished
/// tasks too, so a client that never destroys its tasks cannot grow the table forever).
const FINISHED_RETAINED: usize = 1000;

/// What xapi's `Sexplib` writes for an empty backtrace.
const EMPTY_BACKTRACE: &str = "()";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Success,
    Failure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Success => "success",
            Status::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone)]
struct Task {
    /// Creation order, for dropping the oldest finished tasks.
    seq: u64,
    name_label: String,
    /// Unix seconds (simulated clock).
    created: f64,
    /// Unix seconds; 0 (1970) while pending, as xapi leaves it.
    finished: f64,
    status: Status,
    progress: f64,
    /// Host uuid: the pool master, where xapi runs the call.
    resident_on: String,
    result: String,
    error_info: Vec<String>,
    /// `(key, operation)`: `cancel` (keyed by the cancelling call) or `destroy` (key `task`).
    current_operations: Vec<(String, String)>,
}

impl Task {
    /// As xapi's `TaskHelper.make`: pending, progress 0, nothing finished.
    fn new(seq: u64, name_label: &str, resident_on: &str, now: f64) -> Task {
        Task {
            seq,
            name_label: name_label.to_string(),
            created: now,
            finished: 0.0,
            status: Status::Pending,
            progress: 0.0,
            resident_on: resident_on.to_string(),
            result: String::new(),
            error_info: Vec::new(),
            current_operations: Vec::new(),
        }
    }

    fn record(&self, uuid: &str) -> Value {
        xapi_record![
            ("uuid", uuid),
            ("name_label", self.name_label.clone()),
            ("name_description", ""),
            ("allowed_operations", Value::Array(vec![])),
            (
                "current_operations",
                Value::Struct(
                    self.current_operations
                        .iter()
                        .map(|(k, op)| (k.clone(), Value::str(op.clone())))
                        .collect()
                )
            ),
            ("created", Value::DateTime(format_datetime(self.created))),
            ("finished", Value::DateTime(format_datetime(self.finished))),
            ("status", self.status.as_str()),
            ("resident_on", opaque_ref(&self.resident_on)),
            ("progress", Value::Double(self.progress)),
            // xapi sets `type` at creation and never after.
            ("type", "<none/>"),
            ("result", self.result.clone()),
            ("error_info", Value::strings(self.error_info.clone())),
            ("other_config", Value::empty_struct()),
            ("subtask_of", NULL_REF),
            ("subtasks", Value::Array(vec![])),
            ("backtrace", EMPTY_BACKTRACE),
        ]
    }

    fn destroy_requested(&self) -> bool {
        self.current_operations.iter().any(|(_, op)| op == "destroy")
    }
}

/// A task's `result` field: the call's result marshalled as xapi's `Xmlrpc.to_string` does,
/// one XML-RPC `<value>` (`<value></value>` for void, `<value>OpaqueRef:…</value>` for a
/// reference), whichever wire the call came by.
pub fn encode_result(value: &Value) -> String {
    let mut out = String::new();
    xmlrpc::write_value(&mut out, value);
    out
}

/// The task table.
#[derive(Debug, Default)]
pub struct Tasks {
    by_uuid: BTreeMap<String, Task>,
    next_seq: u64,
}

impl Tasks {
    /// A new pending task: progress 0, no result, created `now`.
    pub fn create(&mut self, uuid: &str, name_label: &str, resident_on: &str, now: f64) {
        self.next_seq += 1;
        let task = Task::new(self.next_seq, name_label, resident_on, now);
        self.by_uuid.insert(uuid.to_string(), task);
    }

    /// Ends a pending task with the call's outcome. A task destroyed while pending goes
    /// away now. Returns whether the table changed (the task may be gone: destroyed, or
    /// forgotten by a restart).
    pub fn complete(&mut self, uuid: &str, outcome: &Result<Value, Failure>, now: f64) -> bool {
        let Some(task) = self.by_uuid.get_mut(uuid) else {
            return false;
        };
        if task.status != Status::Pending {
            return false;
        }
        task.finished = now;
        task.progress = 1.0;
        match outcome {
            Ok(value) => {
                task.result = encode_result(value);
                task.status = Status::Success;
            }
            Err(failure) => {
                task.error_info = failure.description();
                task.status = Status::Failure;
            }
        }
        if task.destroy_requested() {
            self.by_uuid.remove(uuid);
        }
        self.trim();
        true
    }

    /// `task.destroy`: a finished task goes at once; a pending one is marked (`destroy` in
    /// `current_operations`, as xapi does) and goes when it finishes.
    pub fn destroy(&mut self, uuid: &str) -> Result<(), Failure> {
        let task = self.by_uuid.get_mut(uuid).ok_or_else(|| handle_invalid(uuid))?;
        if task.status == Status::Pending {
            if !task.destroy_requested() {
                task.current_operations
                    .push(("task".to_string(), "destroy".to_string()));
            }
        } else {
            self.by_uuid.remove(uuid);
        }
        Ok(())
    }

    /// `task.cancel`: recorded in `current_operations` (keyed by the cancelling call), as
    /// xapi does. No operation here polls for it, so the task still ends as it would have.
    pub fn cancel(&mut self, uuid: &str, by: &str) -> Result<(), Failure> {
        let task = self.by_uuid.get_mut(uuid).ok_or_else(|| handle_invalid(uuid))?;
        task.current_operations = vec![(by.to_string(), "cancel".to_string())];
        Ok(())
    }

    /// Forgets every task (a restarted xapi).
    pub fn clear(&mut self) {
        self.by_uuid.clear();
    }

    pub fn exists(&self, uuid: &str) -> bool {
        self.by_uuid.contains_key(uuid)
    }

    pub fn record(&self, uuid: &str) -> Option<Value> {
        self.by_uuid.get(uuid).map(|t| t.record(uuid))
    }

    pub fn objects(&self) -> Vec<Obj> {
        self.by_uuid
            .iter()
            .map(|(uuid, t)| Obj {
                class: Class::Task,
                uuid: uuid.clone(),
                record: t.record(uuid),
            })
            .collect()
    }

    /// Drops the oldest finished tasks beyond [`FINISHED_RETAINED`].
    fn trim(&mut self) {
        let mut finished: Vec<(u64, String)> = self
            .by_uuid
            .iter()
            .filter(|(_, t)| t.status != Status::Pending)
            .map(|(uuid, t)| (t.seq, uuid.clone()))
            .collect();
        if finished.len() <= FINISHED_RETAINED {
            return;
        }
        finished.sort();
        let excess = finished.len() - FINISHED_RETAINED;
        for (_, uuid) in finished.into_iter().take(excess) {
            self.by_uuid.remove(&uuid);
        }
    }
}

/// Whether `name` is a field of the task record (for `task.get_<field>`).
pub fn has_field(name: &str) -> bool {
    Task::new(0, "", "", 0.0).record("").get(name).is_some()
}

fn handle_invalid(uuid: &str) -> Failure {
    Failure::handle_invalid(Class::Task.api_name(), &opaque_ref(uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_xmlrpc_values_as_xapi_stores_them() {
        assert_eq!(encode_result(&Value::str("")), "<value></value>");
        assert_eq!(
            encode_result(&Value::str("OpaqueRef:abc")),
            "<value>OpaqueRef:abc</value>"
        );
        assert_eq!(encode_result(&Value::str("a<b")), "<value>a&lt;b</value>");
    }

    #[test]
    fn a_task_destroyed_while_pending_goes_when_it_ends() {
        let mut tasks = Tasks::default();
        tasks.create("u1", "Async.host.evacuate", "h", 10.0);
        let record = tasks.record("u1").unwrap();
        assert_eq!(record.get("status"), Some(&Value::str("pending")));
        assert_eq!(
            record.get("finished"),
            Some(&Value::DateTime("19700101T00:00:00Z".into()))
        );
        tasks.destroy("u1").unwrap();
        assert!(tasks.exists("u1"));
        assert!(tasks.complete("u1", &Ok(Value::str("")), 11.0));
        assert!(!tasks.exists("u1"));
        assert_eq!(
            tasks.destroy("u1").unwrap_err().description(),
            vec!["HANDLE_INVALID".to_string(), "task".into(), "OpaqueRef:u1".into()]
        );
    }

    #[test]
    fn failures_carry_the_error_and_finished_tasks_are_bounded() {
        let mut tasks = Tasks::default();
        tasks.create("bad", "Async.host.evacuate", "h", 1.0);
        tasks.complete(
            "bad",
            &Err(Failure::new("NO_HOSTS_AVAILABLE", ["OpaqueRef:vm"])),
            2.0,
        );
        let record = tasks.record("bad").unwrap();
        assert_eq!(record.get("status"), Some(&Value::str("failure")));
        assert_eq!(
            record.get("error_info"),
            Some(&Value::strings(["NO_HOSTS_AVAILABLE", "OpaqueRef:vm"]))
        );
        assert_eq!(record.get("progress"), Some(&Value::Double(1.0)));
        for i in 0..FINISHED_RETAINED + 5 {
            let uuid = format!("t{i}");
            tasks.create(&uuid, "Async.host.enable", "h", 3.0);
            tasks.complete(&uuid, &Ok(Value::str("")), 4.0);
        }
        assert_eq!(tasks.objects().len(), FINISHED_RETAINED);
        assert!(!tasks.exists("bad"), "the oldest finished task went first");
        assert!(has_field("error_info") && has_field("backtrace") && !has_field("session"));
    }
}
