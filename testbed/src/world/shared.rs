//! The [`World`]: the state both faces share, behind one lock, and the simulated [`Clock`].
//! Every request locks it, lets the clock catch up (reboots finish, resyncs complete,
//! violations are recorded), then reads or changes the state; waiters wake on changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::accounting;
use super::controller;
use super::dynamics;
use super::model::{Power, SimTime, State};

/// Simulated time: `time_scale` simulated seconds pass per real second.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    time_scale: f64,
}

impl Clock {
    pub fn new(time_scale: f64) -> Clock {
        Clock {
            started: Instant::now(),
            time_scale,
        }
    }

    pub fn now(&self) -> SimTime {
        self.started.elapsed().as_secs_f64() * self.time_scale
    }

    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Real time until the simulated time `at`.
    pub fn real_until(&self, at: SimTime) -> Duration {
        Duration::from_secs_f64(((at - self.now()) / self.time_scale).max(0.0))
    }
}

pub struct World {
    state: Mutex<State>,
    changed: Condvar,
    pub clock: Clock,
    /// Simulated seconds added to the clock by [`World::skip`] (f64 bits): tests jump over
    /// a reboot instead of sleeping through it.
    skipped: AtomicU64,
}

impl World {
    pub fn new(state: State, clock: Clock) -> World {
        World {
            state: Mutex::new(state),
            changed: Condvar::new(),
            clock,
            skipped: AtomicU64::new(0),
        }
    }

    /// Simulated now: the clock plus whatever was skipped. Use this (not `clock.now()`).
    pub fn now(&self) -> SimTime {
        self.clock.now() + f64::from_bits(self.skipped.load(Ordering::SeqCst))
    }

    /// Real time until the simulated time `at` (zero if it has passed).
    pub fn real_until(&self, at: SimTime) -> Duration {
        Duration::from_secs_f64(((at - self.now()) / self.clock.time_scale).max(0.0))
    }

    /// Moves simulated time forward by `secs` at once; the timed events in between happen in
    /// order, as if that time had passed.
    pub fn skip(&self, secs: f64) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bits = f64::from_bits(self.skipped.load(Ordering::SeqCst)) + secs.max(0.0);
        self.skipped.store(bits.to_bits(), Ordering::SeqCst);
        self.catch_up(&mut state);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one request handler must not take the whole simulation down with it.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.catch_up(&mut state);
        state
    }

    /// Applies the timed events up to now; wakes `event.from` waiters when any happened.
    fn catch_up(&self, state: &mut State) {
        if dynamics::advance(state, self.now()) {
            state.generation += 1;
            self.changed.notify_all();
        }
    }

    /// Reads the state as of now.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state: the consequences (replica states, quorum, violations) are worked
    /// out at once, the generation is bumped and `event.from` waiters wake up.
    pub fn change<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        dynamics::settle(&mut state);
        state.generation += 1;
        self.changed.notify_all();
        result
    }

    /// Something clients watch changed outside the state (XAPI's tasks): bumps the
    /// generation and wakes `event.from` waiters, without touching the state.
    pub fn touch(&self) {
        let mut state = self.lock();
        state.generation += 1;
        self.changed.notify_all();
    }

    /// Waits (real time, at most `timeout`) until the generation passes `since`; returns the
    /// generation then.
    pub fn wait_change(&self, since: u64, timeout: Duration) -> u64 {
        let (state, _) = self.wait_for(timeout, Duration::from_millis(50), |s| s.generation > since);
        state.generation
    }

    /// Blocks the calling thread (real time) until `done(state)` holds or `timeout` passes;
    /// returns whether it holds. For XAPI's synchronous calls that last simulated time.
    pub fn wait_until(&self, timeout: Duration, done: impl FnMut(&State) -> bool) -> bool {
        self.wait_for(timeout, Duration::from_millis(20), done).1
    }

    /// Waits until `done(state)` holds or `timeout` passes, waking when the next timed
    /// transition (a reboot ending) is due, so waiters see it at once, and at least `every`;
    /// the state then, and whether `done` holds.
    fn wait_for(
        &self,
        timeout: Duration,
        every: Duration,
        mut done: impl FnMut(&State) -> bool,
    ) -> (MutexGuard<'_, State>, bool) {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return (state, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (state, false);
            }
            let wait = self.next_wake(&state, deadline - now, every);
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            self.catch_up(&mut state);
        }
    }

    /// How long a waiter sleeps (real time): until the next timed event is due (a hair
    /// after, so it has come due when the waiter catches up), `left` at most, and at most
    /// `every` (other threads' changes wake it through the condition variable anyway).
    fn next_wake(&self, state: &State, left: Duration, every: Duration) -> Duration {
        let mut wait = left.min(every);
        if let Some(at) = dynamics::next_event(state) {
            wait = wait.min(self.real_until(at) + Duration::from_micros(200));
        }
        wait
    }

    /// Host-side work on `host_uuid` (`what`: plugin and function) starts now; it is
    /// accounted as running until the returned guard is dropped.
    pub fn host_work(&self, host_uuid: &str, what: &str) -> HostWork<'_> {
        let id = accounting::host_work_started(&mut self.lock(), host_uuid, what);
        HostWork { world: self, id }
    }

    /// Whether the LINSTOR controller refuses connections now (not started, its host away,
    /// a fault, or moving to another host): the LINSTOR face drops connections while this
    /// holds.
    pub fn controller_refusing(&self) -> bool {
        !self.read(controller::answering)
    }

    /// Whether the controller answers on `host`'s own address (it runs there and answers).
    pub fn controller_answers_on(&self, host: &str) -> bool {
        self.read(|s| controller::answering_on(s, host))
    }

    /// Whether the pool master is live: a real XAPI does not answer while its host is away.
    pub fn master_live(&self) -> bool {
        self.read(|s| {
            s.hosts
                .iter()
                .any(|h| h.uuid == s.pool.master && h.power == Power::Up)
        })
    }
}

/// Host-side work in progress (see [`World::host_work`]): it ends when this is dropped.
pub struct HostWork<'a> {
    world: &'a World,
    id: u64,
}

impl Drop for HostWork<'_> {
    fn drop(&mut self) {
        accounting::host_work_ended(&mut self.world.lock(), self.id);
    }
}
