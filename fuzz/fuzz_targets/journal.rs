//! The pool-upgrade journal as `pool status` and `pool upgrade --resume` read it: the JSON
//! loader, then what is shown of any journal it accepts, the HTML report included
//! (docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_agent::host::Sysroot;
use linstor_agent::pool::journal::{JOURNAL_FILE, JournalFile};
use linstor_agent::pool::render;
use linstor_agent_fuzz::agent_run;

fuzz_target!(|data: &[u8]| {
    agent_run(|| {
        // The loader reads the file as UTF-8 text.
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let file = JournalFile::new(&Sysroot::live(), JOURNAL_FILE);
        let Ok(journal) = file.parse(text) else {
            return;
        };
        let _ = journal.unfinished_hosts();
        let _ = journal.hosts.iter().map(|h| h.maintenance_window()).count();
        let _ = render::status_of(&file, &journal);
        let _ = render::report(&journal);
        let _ = render::dry_run(&journal);
        let _ = linstor_agent::pool::report_html::render(&journal);
    });
});
