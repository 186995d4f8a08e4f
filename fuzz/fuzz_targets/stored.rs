//! A stored metadata file as the client opens a cached one: decompression told by the magic
//! bytes (gzip, zstd, xz, bzip2, plain), then primary and filelists on the same content
//! (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::repo::{Files, metadata_from_bytes};
use linstor_agent_fuzz::agent_run;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        let Some((&mode, stored)) = data.split_first() else {
            return;
        };
        let files = match mode % 3 {
            0 => Files::Skip,
            1 => Files::All,
            _ => Files::Named {
                names: vec!["kmod-drbd".into()],
                under: Vec::new(),
            },
        };
        let _ = metadata_from_bytes::stored(stored, &files);
    });
});
