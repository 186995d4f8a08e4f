//! agent.toml as the agent loads it: one file's text → its own schema check (file:line
//! errors) → the merged input → validated `Settings` (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::settings::Settings;
use linstor_agent_fuzz::agent_run;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        // The loader reads the file as UTF-8 and refuses anything else before parsing.
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(settings) = Settings::from_text(text, Path::new("/etc/linstor-agent/agent.toml")) {
            // What the commands ask of valid settings: the sections, or the error naming them.
            let _ = settings.repo();
            let _ = settings.require_controller("fuzz");
            let _ = settings.xapi();
            let _ = settings.sources.pin_fragment_path();
        }
    });
});
