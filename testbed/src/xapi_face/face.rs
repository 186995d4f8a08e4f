//! [`Xapi`], the face's own state: sessions, tasks and the event log (everything else is the
//! world's), and what the calls need of it: views of the world, objects and records of every
//! class (tasks included), the task and session lifecycles.

use super::error::Failure;
use super::events::{self, EventLog};
use super::records::{self, Class, Obj, View, derived_uuid, opaque_ref};
use super::tasks::{self, Tasks};
use super::value::Value;
use crate::world::World;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// The XAPI face's own state: sessions, tasks and the event log (everything else is the
/// world's). A clone shares all of it (an `Async.*` call runs on a clone in its own thread).
#[derive(Clone)]
pub struct Xapi {
    pub(super) world: Arc<World>,
    /// Live session references.
    sessions: Arc<Mutex<HashSet<String>>>,
    session_counter: Arc<AtomicU64>,
    events: Arc<Mutex<EventLog>>,
    tasks: Arc<Mutex<Tasks>>,
    task_counter: Arc<AtomicU64>,
    /// Unix time at simulated time 0: `host.get_servertime` follows the simulated clock.
    pub(super) epoch: f64,
    /// Passed to plugins as `LINSTOR_AGENT_BIN`.
    pub(super) agent_bin: Option<PathBuf>,
}

impl Xapi {
    pub fn new(world: Arc<World>) -> Xapi {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let sim_now = world.now();
        let xapi = Xapi {
            world,
            sessions: Arc::default(),
            session_counter: Arc::default(),
            events: Arc::default(),
            tasks: Arc::default(),
            task_counter: Arc::default(),
            epoch: unix_now - sim_now,
            agent_bin: None,
        };
        // The log's baseline: changes from here on are events.
        xapi.observe();
        xapi
    }

    /// Plugins this face runs get `LINSTOR_AGENT_BIN=<path>` (None: not set).
    pub fn with_agent_bin(mut self, agent_bin: Option<PathBuf>) -> Xapi {
        self.agent_bin = agent_bin;
        self
    }

    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    pub(super) fn view<R>(&self, f: impl FnOnce(&View<'_>) -> R) -> R {
        let epoch = self.epoch;
        self.world.read(|state| f(&View { state, epoch }))
    }

    /// Whether `Class.get_<field>` exists: some object of the class has the field (a class
    /// with no objects accepts any getter; the reference then fails as it would in XAPI).
    pub(super) fn has_field(&self, class: Class, field: &str) -> bool {
        if class == Class::Task {
            return tasks::has_field(field);
        }
        self.view(|v| {
            let objects = v.objects(class);
            objects.is_empty() || objects.iter().any(|o| o.record.get(field).is_some())
        })
    }

    /// Every object of a class: the world's, or this face's tasks.
    pub(super) fn objects(&self, class: Class) -> Vec<Obj> {
        match class {
            Class::Task => self.lock_tasks().objects(),
            _ => self.view(|v| v.objects(class)),
        }
    }

    pub(super) fn record(&self, class: Class, uuid: &str) -> Option<Value> {
        match class {
            Class::Task => self.lock_tasks().record(uuid),
            _ => self.view(|v| v.record(class, uuid)),
        }
    }

    pub(super) fn exists(&self, class: Class, uuid: &str) -> bool {
        match class {
            Class::Task => self.lock_tasks().exists(uuid),
            _ => self.view(|v| v.exists(class, uuid)),
        }
    }

    pub(super) fn lock_tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock_events(&self) -> MutexGuard<'_, EventLog> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock_sessions(&self) -> MutexGuard<'_, HashSet<String>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the event log up to the world's current state and this face's tasks; returns
    /// the world's generation. The tasks are read under the log's lock, so the log never
    /// sees them go back in time; every task change bumps the generation after it is made
    /// (`World::touch`), so a log at that generation has it.
    pub(super) fn observe(&self) -> u64 {
        let (generation, mut objects, now) =
            self.view(|v| (v.state.generation, v.all_objects(), events::timestamp(v)));
        let mut log = self.lock_events();
        objects.extend(self.lock_tasks().objects());
        log.update(generation, objects, &now);
        generation
    }

    /// A task changed: wake `event.from` waiters and log the change at once (so a client
    /// sees a task's end even if it is destroyed before its next `event.from`).
    pub(super) fn tasks_changed(&self) {
        self.world.touch();
        self.observe();
    }

    /// Starts a pending task named after the call (`Async.host.evacuate`), resident on the
    /// master; returns its UUID.
    pub(super) fn create_task(&self, name_label: &str) -> String {
        let n = self.task_counter.fetch_add(1, Ordering::Relaxed);
        let uuid = derived_uuid("task", &format!("{}/{n}", self.epoch));
        let (master, now) = self.view(|v| (v.state.pool.master.clone(), v.now_unix()));
        self.lock_tasks().create(&uuid, name_label, &master, now);
        self.tasks_changed();
        uuid
    }

    /// Ends a task with its call's outcome.
    pub(super) fn complete_task(&self, uuid: &str, outcome: &Result<Value, Failure>) {
        let now = self.view(|v| v.now_unix());
        if self.lock_tasks().complete(uuid, outcome, now) {
            self.tasks_changed();
        }
    }

    /// `task.destroy`.
    pub(super) fn destroy_task(&self, uuid: &str) -> Result<(), Failure> {
        self.lock_tasks().destroy(uuid)?;
        self.tasks_changed();
        Ok(())
    }

    /// `task.cancel`, by the call of `session`.
    pub(super) fn cancel_task(&self, uuid: &str, session: &str) -> Result<(), Failure> {
        let by = opaque_ref(&derived_uuid("task.cancel", &format!("{session}/{uuid}")));
        self.lock_tasks().cancel(uuid, &by)?;
        self.tasks_changed();
        Ok(())
    }

    /// The master came back: xapi restarted, with no sessions and no tasks (it keeps both
    /// in memory only).
    pub(super) fn restarted(&self) {
        self.forget_sessions();
        self.lock_tasks().clear();
        self.tasks_changed();
    }

    pub(super) fn new_session(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        let reference = records::opaque_ref(&derived_uuid("session", &format!("{}/{n}", self.epoch)));
        self.lock_sessions().insert(reference.clone());
        reference
    }

    /// A restarted xapi has forgotten its sessions (XAPI keeps them in memory only): clients
    /// get `SESSION_INVALID` and log in again.
    pub(super) fn forget_sessions(&self) {
        self.lock_sessions().clear();
    }

    pub(super) fn session_valid(&self, reference: &str) -> bool {
        self.lock_sessions().contains(reference)
    }

    pub(super) fn end_session(&self, reference: &str) {
        self.lock_sessions().remove(reference);
    }

    /// An error the world was told to inject into this method (fault injection).
    pub(super) fn injected_fault(&self, method: &str) -> Option<Failure> {
        self.world.take_xapi_fault(method).map(Failure::from)
    }
}
