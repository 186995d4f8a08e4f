//! primary.xml, plain: the streaming parser and the agent's collector (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::repo::metadata_from_bytes;
use linstor_agent_fuzz::agent_run;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        if let Ok(packages) = metadata_from_bytes::primary(data) {
            // What the package selection reads first of every package.
            for package in &packages {
                let _ = package.nevra();
            }
        }
    });
});
