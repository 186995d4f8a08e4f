//! A live view of a few lines, redrawn in place: the pool upgrade's and `pool status
//! --watch`'s. The lines come from a function (the caller's view of its state, a pure function
//! of it), called on a thread of the board's own every `every` and whenever [`Board::refresh`]
//! says the state changed, so elapsed times tick while nothing else moves.
//!
//! Each line is a bar of the shared set whose whole text is its message: indicatif cuts it to
//! the terminal's width, so a long line never wraps and breaks the redraw.

use super::draw;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lines of text redrawn in place, while the value lives (empty when progress is off).
pub struct Board {
    live: Option<Live>,
}

struct Live {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    /// (stop, dirty): the thread ends on `stop`, redraws at once on `dirty`.
    flags: Mutex<(bool, bool)>,
    wake: Condvar,
    bars: Mutex<Vec<ProgressBar>>,
}

/// Draws `lines()` every `every`, and on [`Board::refresh`].
pub fn board(lines: impl Fn() -> Vec<String> + Send + 'static, every: Duration) -> Board {
    if draw().is_none() {
        return Board { live: None };
    }
    let shared = Arc::new(Shared {
        flags: Mutex::new((false, false)),
        wake: Condvar::new(),
        bars: Mutex::new(Vec::new()),
    });
    let on_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("progress-board".into())
        .spawn(move || run(&on_thread, lines, every))
        .ok();
    Board {
        live: Some(Live { shared, thread }),
    }
}

fn run(shared: &Shared, lines: impl Fn() -> Vec<String>, every: Duration) {
    loop {
        shared.show(&lines());
        let Ok(mut flags) = shared.flags.lock() else {
            return;
        };
        if !flags.0 && !flags.1 {
            flags = match shared.wake.wait_timeout(flags, every) {
                Ok((flags, _)) => flags,
                Err(_) => return,
            };
        }
        if flags.0 {
            drop(flags);
            // The last state, so the view ends on what happened last.
            shared.show(&lines());
            return;
        }
        flags.1 = false;
    }
}

impl Shared {
    /// Makes the drawn lines `lines`: as many bars as lines, each saying its line.
    fn show(&self, lines: &[String]) {
        let (Some(multi), Ok(mut bars)) = (draw(), self.bars.lock()) else {
            return;
        };
        while bars.len() < lines.len() {
            let style =
                ProgressStyle::with_template("{wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
            bars.push(multi.add(ProgressBar::new_spinner().with_style(style)));
        }
        while bars.len() > lines.len() {
            if let Some(bar) = bars.pop() {
                bar.finish_and_clear();
                multi.remove(&bar);
            }
        }
        for (bar, line) in bars.iter().zip(lines) {
            if bar.message() != *line {
                bar.set_message(line.clone());
            }
        }
    }

    fn clear(&self) {
        let (Some(multi), Ok(mut bars)) = (draw(), self.bars.lock()) else {
            return;
        };
        for bar in bars.drain(..) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}

impl Board {
    /// Whether anything is drawn (progress is on).
    pub fn is_drawn(&self) -> bool {
        self.live.is_some()
    }

    /// The state changed: redraw now rather than at the next tick.
    pub fn refresh(&self) {
        if let Some(live) = &self.live
            && let Ok(mut flags) = live.shared.flags.lock()
        {
            flags.1 = true;
            live.shared.wake.notify_all();
        }
    }
}

impl Drop for Board {
    /// The view goes: what follows (the command's report) says how things ended.
    fn drop(&mut self) {
        let Some(live) = &mut self.live else { return };
        if let Ok(mut flags) = live.shared.flags.lock() {
            flags.0 = true;
            live.shared.wake.notify_all();
        }
        if let Some(thread) = live.thread.take() {
            let _ = thread.join();
        }
        live.shared.clear();
    }
}
