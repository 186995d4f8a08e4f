//! filelists.xml, plain, under each way the agent keeps files; `Files::Named` puts the
//! byte-level package filter in front of the parser (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::repo::{Files, metadata_from_bytes};
use linstor_agent_fuzz::agent_run;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        // The first byte chooses what is kept, the rest is the file.
        let Some((&mode, xml)) = data.split_first() else {
            return;
        };
        let _ = metadata_from_bytes::filelists(xml, &files(mode));
    });
});

fn files(mode: u8) -> Files {
    let names = || vec!["kmod-drbd".to_string(), "drbd-utils".to_string()];
    match mode % 4 {
        0 => Files::All,
        1 => Files::Under(vec!["/lib/modules/".into()]),
        2 => Files::Named {
            names: names(),
            under: Vec::new(),
        },
        _ => Files::Named {
            names: names(),
            under: vec!["/lib/modules/".into()],
        },
    }
}
