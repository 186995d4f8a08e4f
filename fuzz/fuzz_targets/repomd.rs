//! repomd.xml once its signature is checked: the primary and filelists records
//! (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::repo::metadata_from_bytes;
use linstor_agent_fuzz::agent_run;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        let _ = metadata_from_bytes::repomd(data);
    });
});
