//! Progress on a terminal (issue 15): download bars ([`transfer`], [`downloads`]), step
//! spinners ([`spinner`]) and live multi-line views ([`board`], the pool upgrade's and
//! `pool status --watch`'s).
//!
//! It is decided once, at start ([`init`]): on only when stdout and stderr are terminals, the
//! output is human text and `--quiet` is not given ([`wanted`]). Off, every handle here is an
//! empty shell and [`eprintln`] is the standard library's: the bytes a run writes on a pipe, a
//! file or under `--output json` are those it wrote before progress existed. On, everything is
//! drawn on stderr (stdout keeps only the report), and the lines the run logs are printed above
//! the bars, never through them.
//!
//! Progress only shows what the code does; nothing here is read back by the code it watches.

mod bars;
mod board;

pub use bars::{Downloads, Spinner, Transfer, cached, downloads, spinner, transfer};
pub use board::{Board, board};

use indicatif::{MultiProgress, ProgressDrawTarget};
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

/// The one set of bars of this process, when progress is on.
static DRAW: OnceLock<Option<MultiProgress>> = OnceLock::new();

/// Whether progress should be drawn: only for a person watching a terminal. `stdout` and
/// `stderr` say whether each is a terminal: a redirected stdout means a script reads the
/// report (issue 15: off), and the bars go to stderr, so it must be one too.
pub fn wanted(stdout: bool, stderr: bool, json: bool, quiet: bool) -> bool {
    stdout && stderr && !json && !quiet
}

/// Sets progress on or off for the whole process, once (later calls change nothing).
/// `on` comes from [`wanted`] with the process's own terminals.
pub fn init(on: bool) {
    DRAW.get_or_init(|| on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())));
}

/// [`wanted`] for this process: its stdout and stderr.
pub fn wanted_here(json: bool, quiet: bool) -> bool {
    wanted(
        io::stdout().is_terminal(),
        io::stderr().is_terminal(),
        json,
        quiet,
    )
}

/// The bars, when progress is on.
fn draw() -> Option<&'static MultiProgress> {
    DRAW.get().and_then(Option::as_ref)
}

/// Whether progress is drawn in this process.
pub fn is_on() -> bool {
    draw().is_some()
}

/// A line of the run's log on stderr: above the bars when they are drawn, else as
/// `eprintln!` writes it.
pub fn eprintln(line: &str) {
    match draw() {
        Some(multi) => multi.suspend(|| write_stderr(format!("{line}\n").as_bytes())),
        None => write_stderr(format!("{line}\n").as_bytes()),
    }
}

fn write_stderr(bytes: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|()| err.flush());
}

/// stderr for the log (`tracing`): each event is written with the bars out of the way, so a
/// warning never lands in the middle of a bar. Without progress it is plain stderr.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// See [`log_writer`].
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing's formatter writes one whole event per call.
        match draw() {
            Some(multi) => multi.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// `1h02m`, `3m05s`, `42s`: a duration as the views show it.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_only_for_a_person_at_a_terminal() {
        assert!(wanted(true, true, false, false));
        assert!(
            !wanted(false, true, false, false),
            "stdout piped: a script reads it"
        );
        assert!(
            !wanted(true, false, false, false),
            "stderr, where bars go, redirected"
        );
        assert!(!wanted(true, true, true, false), "--output json");
        assert!(!wanted(true, true, false, true), "--quiet");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0.4), "0s");
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
        assert_eq!(duration(-3.0), "0s");
    }

    #[test]
    fn off_handles_do_nothing_and_say_so() {
        // The test process never calls `init(true)`: every handle is the empty shell.
        let t = transfer("kmod-drbd", Some(10));
        t.inc(5);
        assert!(!t.is_drawn());
        let s = spinner("storage: pvcreate /dev/sdb");
        s.set_message("storage: vgcreate");
        s.done("done");
        assert!(!board(|| vec!["line".to_string()], std::time::Duration::from_millis(10)).is_drawn());
    }
}
