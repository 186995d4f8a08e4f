//! The simulated pool ("world") behind the LINSTOR and XAPI faces. One `World` per pool,
//! shared by both servers: every request locks it, lets the clock catch up (reboots finish,
//! resyncs complete, violations are recorded), then reads or changes the state.

pub mod model;

pub use model::*;

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Simulated time: `time_scale` simulated seconds pass per real second.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    time_scale: f64,
}

impl Clock {
    pub fn new(time_scale: f64) -> Clock {
        Clock { started: Instant::now(), time_scale }
    }

    pub fn now(&self) -> SimTime {
        self.started.elapsed().as_secs_f64() * self.time_scale
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
}

impl World {
    pub fn new(state: State, clock: Clock) -> World {
        World { state: Mutex::new(state), changed: Condvar::new(), clock }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one request handler must not take the whole simulation down with it.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.clock.now();
        advance(&mut state, now);
        state
    }

    /// Reads the state as of now.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state: the generation is bumped and `event.from` waiters wake up.
    pub fn change<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        state.generation += 1;
        self.changed.notify_all();
        result
    }

    /// Waits (real time, at most `timeout`) until the generation passes `since`; returns the
    /// generation then.
    pub fn wait_change(&self, since: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.generation <= since {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            // Wake up at least every 50 ms so timed transitions (a reboot ending) are seen.
            let wait = (deadline - now).min(Duration::from_millis(50));
            state = self.changed.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
            let now = self.clock.now();
            advance(&mut state, now);
        }
        state.generation
    }
}

/// Lets the simulation catch up to `now`: the dynamics (reboots, migrations, resync, quorum
/// and violation bookkeeping) are applied here, and bump `generation` when they change anything.
fn advance(state: &mut State, now: SimTime) {
    state.now = now;
}
