//! The low-speed limit of downloads (issue 14), as dnf has it (`minrate`, `timeout` in
//! dnf.conf): a transfer that brings fewer than `minrate × timeout` bytes in any window of
//! `timeout` seconds is aborted, and so is one that sends nothing for `timeout` seconds (the
//! HTTP client's wait for each read). Without it a mirror trickling one byte a second holds a
//! run forever, since every single read succeeds.

use std::time::{Duration, Instant};

/// The limit: `[repo] minrate` (bytes/s, 0 for none) over `[repo] timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Speed {
    pub minrate: u64,
    pub window: Duration,
}

impl Speed {
    /// dnf's defaults, which are `[repo]`'s.
    #[cfg(test)]
    pub(crate) const DEFAULT: Speed = Speed {
        minrate: crate::settings::RepoSettings::DEFAULT_MINRATE,
        window: Duration::from_secs(crate::settings::RepoSettings::DEFAULT_TIMEOUT_SECS),
    };
}

/// Too few bytes in the window that just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slow {
    /// Bytes received in the window.
    pub got: u64,
}

/// Watches one transfer: a window starts when the transfer does and when the previous one
/// ended with enough bytes.
#[derive(Debug)]
pub(crate) struct Pace {
    speed: Speed,
    started: Instant,
    at_start: u64,
}

impl Pace {
    pub(crate) fn new(speed: Speed) -> Pace {
        Pace {
            speed,
            started: Instant::now(),
            at_start: 0,
        }
    }

    /// Called after each read with the bytes received so far; `now` is passed for the tests.
    pub(crate) fn check(&mut self, received: u64, now: Instant) -> Result<(), Slow> {
        if now.duration_since(self.started) < self.speed.window {
            return Ok(());
        }
        let got = received - self.at_start;
        // The window's whole seconds, rounded up: a window that ran over is not held to more.
        let wanted = self
            .speed
            .minrate
            .saturating_mul(self.speed.window.as_secs().max(1));
        if got < wanted {
            return Err(Slow { got });
        }
        self.started = now;
        self.at_start = received;
        Ok(())
    }

    /// The bytes received since the current window started (for a stall's message).
    pub(crate) fn in_window(&self, received: u64) -> u64 {
        received - self.at_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_with_too_few_bytes_is_slow_and_a_good_one_starts_the_next() {
        let speed = Speed {
            minrate: 100,
            window: Duration::from_secs(10),
        };
        let mut pace = Pace::new(speed);
        let t0 = pace.started;
        assert_eq!(pace.check(10, t0 + Duration::from_secs(5)), Ok(()));
        // 1000 bytes in the first 10 s: enough, and the next window starts at 1000.
        assert_eq!(pace.check(1000, t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(pace.in_window(1500), 500);
        assert_eq!(
            pace.check(1500, t0 + Duration::from_secs(21)),
            Err(Slow { got: 500 })
        );
    }

    #[test]
    fn a_zero_minrate_never_calls_a_transfer_slow() {
        let mut pace = Pace::new(Speed {
            minrate: 0,
            window: Duration::from_secs(1),
        });
        let t0 = pace.started;
        assert_eq!(pace.check(0, t0 + Duration::from_secs(100)), Ok(()));
    }
}
