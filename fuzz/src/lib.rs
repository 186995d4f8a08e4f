//! What the fuzz targets share (docs/fuzzing.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, Once};

/// The last panic's message and place, kept by [`agent_run`]'s hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Runs one input through the agent's code with the agent's own panic handling.
///
/// libfuzzer-sys's panic hook aborts on every panic, even one the agent catches: the metadata
/// parsers run `rpmrepo_metadata` under `catch_unwind`, which turns its panics on malformed
/// files into errors (`repo/metadata/guard.rs`). Here the hook only records the panic; a panic
/// that escapes the agent's code is still a finding: its message is printed and the process
/// aborts, which libFuzzer reports as a crash with the input.
pub fn agent_run(body: impl FnOnce()) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = info.to_string();
            }
        }));
    });
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
        eprintln!("thread panicked outside the agent's handling: {message}");
        std::process::abort();
    }
}
