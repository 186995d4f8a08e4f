//! Download bars (one per file, and a total over a set of packages) and step spinners. Each
//! handle is empty when progress is off. A finished bar leaves one plain line above the others
//! (what was downloaded, how much, how fast) and goes, so the drawn region stays a few lines.

use super::{draw, duration};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The total bar of the set of packages being fetched ([`downloads`]), which every file's bar
/// adds its bytes to.
static TOTAL: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn total() -> Option<ProgressBar> {
    TOTAL.lock().ok().and_then(|t| t.clone())
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants: a mistake in one shows in the first test that draws it.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

const FILE_TEMPLATE: &str =
    "  {wide_msg} [{bar:25}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} ETA {eta:>3}";
const UNSIZED_TEMPLATE: &str = "  {spinner} {wide_msg} {bytes:>10} {bytes_per_sec:>12}";
const TOTAL_TEMPLATE: &str =
    "{wide_msg} [{bar:25}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} ETA {eta:>3}";
const SPINNER_TEMPLATE: &str = "{spinner} {wide_msg} {elapsed:>4}";

fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return String::new();
    }
    format!(", {}/s", indicatif::HumanBytes((bytes as f64 / secs) as u64))
}

/// The bar of one file being downloaded.
pub struct Transfer {
    bar: Option<ProgressBar>,
    total: Option<ProgressBar>,
    label: String,
    started: Instant,
    finished: bool,
}

/// A bar for downloading `label` (`size` bytes when the metadata says), under the total bar
/// when a set of packages is being fetched.
pub fn transfer(label: &str, size: Option<u64>) -> Transfer {
    let total = total();
    let bar = draw().map(|multi| {
        let bar = match size {
            Some(size) => ProgressBar::new(size).with_style(style(FILE_TEMPLATE)),
            None => ProgressBar::no_length().with_style(style(UNSIZED_TEMPLATE)),
        };
        let bar = bar.with_message(label.to_string());
        match &total {
            Some(total) => multi.insert_before(total, bar),
            None => multi.add(bar),
        }
    });
    Transfer {
        bar,
        total,
        label: label.to_string(),
        started: Instant::now(),
        finished: false,
    }
}

impl Transfer {
    /// `bytes` more arrived.
    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            if let Some(total) = &self.total {
                total.inc(bytes);
            }
        }
    }

    /// Whether anything is drawn for it (progress is on).
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// The download completed and was verified: one line says so above the bars.
    pub fn done(mut self) {
        self.finished = true;
        if let (Some(bar), Some(multi)) = (&self.bar, draw()) {
            let bytes = bar.position();
            let secs = self.started.elapsed().as_secs_f64();
            let line = format!(
                "  downloaded {} ({} in {}{})",
                self.label,
                indicatif::HumanBytes(bytes),
                duration(secs),
                rate(bytes, secs)
            );
            retire(bar, multi, Some(line));
        }
    }
}

impl Drop for Transfer {
    /// A download that failed goes without a line: its error says what happened.
    fn drop(&mut self) {
        if !self.finished {
            retire_silently(&self.bar);
        }
    }
}

/// The total bar over `count` packages of `bytes` in all, while the value lives.
pub struct Downloads {
    bar: Option<ProgressBar>,
    count: usize,
    started: Instant,
}

/// Starts the total bar of a set of packages (sizes from the signed metadata); each file's
/// [`transfer`] adds to it, and [`cached`] counts a package the cache already had.
pub fn downloads(count: usize, bytes: u64) -> Downloads {
    let bar = draw().map(|multi| {
        let bar = ProgressBar::new(bytes)
            .with_style(style(TOTAL_TEMPLATE))
            .with_message(format!("{count} package{}", if count == 1 { "" } else { "s" }));
        multi.add(bar)
    });
    if let (Some(bar), Ok(mut slot)) = (&bar, TOTAL.lock()) {
        *slot = Some(bar.clone());
    }
    Downloads {
        bar,
        count,
        started: Instant::now(),
    }
}

/// A package of `bytes` was already in the cache (verified): the total counts it as ready.
pub fn cached(bytes: u64) {
    if let Some(total) = total() {
        total.inc(bytes);
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        let Some(bar) = &self.bar else { return };
        if let Ok(mut slot) = TOTAL.lock() {
            *slot = None;
        }
        let Some(multi) = draw() else { return };
        let ready = bar.position();
        let complete = bar.length().is_some_and(|l| l == ready);
        let secs = self.started.elapsed().as_secs_f64();
        retire(bar, multi, None);
        if complete {
            let _ = multi.println(format!(
                "  {} package{} ready ({} in {})",
                self.count,
                if self.count == 1 { "" } else { "s" },
                indicatif::HumanBytes(ready),
                duration(secs)
            ));
        }
    }
}

/// A spinner for a step that runs for a while without a measure of its own (a `provision`
/// step, an LVM command).
pub struct Spinner {
    bar: Option<ProgressBar>,
    started: Instant,
    finished: bool,
}

/// A spinner saying `message` until [`Spinner::done`] (or dropped, on an error).
pub fn spinner(message: impl Into<String>) -> Spinner {
    let bar = draw().map(|multi| {
        let bar = multi.add(
            ProgressBar::new_spinner()
                .with_style(style(SPINNER_TEMPLATE))
                .with_message(message.into()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    Spinner {
        bar,
        started: Instant::now(),
        finished: false,
    }
}

impl Spinner {
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// The step ended: one line `<message>: <outcome> (<time>)` stays above the bars.
    pub fn done(mut self, outcome: &str) {
        self.finished = true;
        if let (Some(bar), Some(multi)) = (&self.bar, draw()) {
            let line = format!(
                "{}: {outcome} ({})",
                bar.message(),
                duration(self.started.elapsed().as_secs_f64())
            );
            retire(bar, multi, Some(line));
        }
    }
}

impl Drop for Spinner {
    /// A step that failed goes without a line: its error says what happened.
    fn drop(&mut self) {
        if !self.finished {
            retire_silently(&self.bar);
        }
    }
}

/// Takes `bar` off the screen, leaving `line` (if any) printed above the bars that stay.
fn retire(bar: &ProgressBar, multi: &MultiProgress, line: Option<String>) {
    bar.finish_and_clear();
    multi.remove(bar);
    if let Some(line) = line {
        let _ = multi.println(line);
    }
}

/// Takes a bar that ended without success off the screen, with no line: the error that follows
/// says what happened.
fn retire_silently(bar: &Option<ProgressBar>) {
    if let (Some(bar), Some(multi)) = (bar, draw()) {
        retire(bar, multi, None);
    }
}
