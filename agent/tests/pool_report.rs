//! `pool report` and the HTML picture every `pool upgrade` run leaves beside its journal:
//! its rows, bars and marks against the journal (a crafted one, and one from a real run on a
//! testbed pool with a fault, a pause and a resume), and the file rendered in headless
//! Chromium (the layout: every bar where its times put it).

mod pool_support;
mod report_support;

use linstor_agent::pool::journal::Journal;
use pool_support::*;
use report_support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `linstor-agent [--output json] <args>` with no config and the given root.
fn agent(root: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("LINSTOR_AGENT_ROOT")
        .output()
        .expect("linstor-agent runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_journal(path: &Path, journal: &Journal) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("journal dir");
    std::fs::write(path, serde_json::to_string(journal).expect("journal JSON")).expect("journal");
}

#[test]
fn a_crafted_journal_with_a_pause_a_resume_and_a_fault_is_drawn_as_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = crafted();
    let file = dir.path().join("copies/journal.json");
    write_journal(&file, &journal);
    let out = dir.path().join("out/picture.html");

    let (file_arg, out_arg) = (file.display().to_string(), out.display().to_string());
    let (code, stdout, stderr) = agent(
        dir.path(),
        &[
            "--output",
            "json",
            "pool",
            "report",
            "--journal",
            &file_arg,
            "-o",
            &out_arg,
        ],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["html"], out.display().to_string(), "{doc}");
    assert_eq!(doc["changed"], false, "{doc}");
    // The numbers of the crafted run (`crafted`): the floor is batch 1's 45 s and batch 2's 60 s.
    assert_eq!(doc["total_secs"], 400.0, "{doc}");
    assert_eq!(doc["stopped_secs"], 87.0, "{doc}");
    assert_eq!(doc["floor_secs"], 105.0, "{doc}");
    assert_eq!(doc["overhead_secs"], 208.0, "{doc}");

    let html = std::fs::read_to_string(&out).expect("the report");
    assert_matches_journal(&html, &journal);
    let summary = with_class(&html, &["card"]);
    let floor = summary
        .iter()
        .find(|c| c["data-summary"] == "floor")
        .expect("floor card");
    assert_eq!(secs(floor, "data-seconds"), Some(105.0));
    // Batches marked, the master named, the versions before and after.
    let batches: Vec<String> = with_class(&html, &["row", "batch"])
        .iter()
        .map(|b| b["data-batch"].clone())
        .collect();
    assert_eq!(batches, vec!["1", "2"]);
    assert!(html.contains("Pool master xcp-ng-1"), "the master by its name");
    let cells: Vec<_> = tags(&html)
        .into_iter()
        .filter(|(_, a)| a.get("data-package").is_some_and(|p| p == "kmod-drbd"))
        .map(|(_, a)| (a["data-before"].clone(), a["data-after"].clone()))
        .collect();
    assert_eq!(cells, vec![("9.2.11".to_string(), "9.2.12".to_string()); 3]);
    // The hostile note is text: in a tooltip and in the table, never markup.
    assert!(!html.contains("<script"), "journal text escaped");
    let events_table = html
        .split("<table class=\"events\">")
        .nth(1)
        .expect("events table");
    assert!(
        events_table.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;")
    );
    let install = with_class(&html, &["bar", "step"])
        .into_iter()
        .find(|b| b["data-host"] == "xcp-ng-3" && b["data-step"] == "install")
        .expect("the install bar");
    assert!(install["title"].contains(HOSTILE_NOTE), "{install:?}");
    // Nothing is fetched: no attribute names a resource, no URL anywhere.
    for (name, attrs) in tags(&html) {
        assert!(
            !["script", "link", "img", "iframe", "object"].contains(&name.as_str()),
            "<{name}>"
        );
        for key in ["src", "href", "srcset", "action", "data"] {
            assert!(!attrs.contains_key(key), "<{name} {key}=…>");
        }
    }
    for needle in ["http://", "https://", "url(", "@import"] {
        assert!(!html.contains(needle), "{needle} in the report");
    }
}

#[test]
fn by_default_the_report_goes_beside_the_journal_and_prints_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal_path = dir.path().join("var/lib/linstor-agent/pool-upgrade.json");
    // Nothing journaled: nothing to draw (exit 2, naming the journal).
    let (code, _, stderr) = agent(dir.path(), &["pool", "report"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("pool-upgrade.json"), "{stderr}");

    write_journal(&journal_path, &crafted());
    let (code, stdout, stderr) = agent(dir.path(), &["pool", "report"]);
    assert_eq!(code, Some(0), "{stderr}");
    // 1_700_000_000 is 2023-11-14 22:13:20 UTC.
    let expected = journal_path.with_file_name("pool-upgrade-20231114T221320Z.html");
    assert_eq!(stdout.trim_end(), expected.display().to_string());
    let first = std::fs::read(&expected).expect("written beside the journal");
    let (code, _, _) = agent(dir.path(), &["pool", "report"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        std::fs::read(&expected).expect("again"),
        first,
        "the same journal, the same bytes"
    );
}

#[test]
fn the_report_renders_in_headless_chromium_with_every_bar_where_its_times_put_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = crafted();
    let journal_path = dir.path().join("var/lib/linstor-agent/pool-upgrade.json");
    write_journal(&journal_path, &journal);
    let (code, stdout, stderr) = agent(dir.path(), &["pool", "report"]);
    assert_eq!(code, Some(0), "{stderr}");
    let html_path = PathBuf::from(stdout.trim_end());
    let html = std::fs::read_to_string(&html_path).expect("report");
    // A copy that measures the layout Chromium computed into attributes (the report itself
    // has no script): every row, lane and bar gets its box.
    let measured = dir.path().join("measured.html");
    let probe = "<script>for (const e of document.querySelectorAll('.row, .lane, .bar, .mark')) {\
                 const r = e.getBoundingClientRect();\
                 e.setAttribute('data-box', [r.left, r.top, r.width, r.height].join(' ')); }</script>";
    std::fs::write(&measured, html.replace("</body>", &format!("{probe}</body>"))).expect("copy");
    let profile = dir.path().join("chromium-profile");
    let dom = chromium(&["--window-size=1280,1000", "--dump-dom"], &measured, &profile);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();

    let bars = assert_matches_journal(&dom, &journal);
    let rect = |a: &std::collections::BTreeMap<String, String>| -> [f64; 4] {
        let v: Vec<f64> = a["data-box"]
            .split(' ')
            .map(|x| x.parse().expect("box"))
            .collect();
        [v[0], v[1], v[2], v[3]]
    };
    let lanes = with_class(&dom, &["lane"]);
    let lane = rect(&lanes[0]);
    assert!(lane[2] > 500.0, "the timeline is drawn wide: {lane:?}");
    // Each bar: inside its host's row, at the x its start gives on the run's span, as wide
    // as its duration (2 px at least), and tall enough to see.
    let (t0, t1) = (journal.started, journal.ended.expect("ended"));
    let rows = with_class(&dom, &["row", "host"]);
    for b in &bars {
        let [x, y, w, h] = rect(b);
        let row = rows
            .iter()
            .find(|r| r["data-host"] == b["data-host"])
            .expect("its row");
        let [_, ry, _, rh] = rect(row);
        assert!(
            y >= ry && y + h <= ry + rh + 0.5 && h >= 10.0,
            "bar {b:?} in row {row:?}"
        );
        let start = secs(b, "data-start").expect("start");
        let end = secs(b, "data-end").expect("end");
        let want_x = lane[0] + (start - t0) / (t1 - t0) * lane[2];
        let want_w = ((end - start) / (t1 - t0) * lane[2]).max(2.0);
        assert!((x - want_x).abs() < 1.5, "bar {b:?}: x {x}, expected {want_x}");
        assert!(
            (w - want_w).abs() < 1.5,
            "bar {b:?}: width {w}, expected {want_w}"
        );
    }
    // The rows one under the other, in batch order.
    let ys: Vec<f64> = rows.iter().map(|r| rect(r)[1]).collect();
    assert!(ys.windows(2).all(|w| w[1] > w[0]), "rows stacked: {ys:?}");
    // The hostile note stayed text through the browser: no script element came of it.
    assert_eq!(
        tags(&dom).iter().filter(|(n, _)| n == "script").count(),
        1,
        "only the probe"
    );

    let png = dir.path().join("report.png");
    let shot = format!("--screenshot={}", png.display());
    chromium(&["--window-size=1280,1000", &shot], &html_path, &profile);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}

#[test]
fn a_real_run_paused_on_a_fault_and_resumed_is_drawn_from_its_journal() {
    let pool = Pool::up("upgrade-3.toml", &[]);
    let master = pool.status()["pool"]["master"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let victim = pool
        .host_names()
        .into_iter()
        .find(|n| *n != master)
        .expect("a host that is not the master");
    pool.fault(&["no-return", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--host-timeout", "5"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    // The pause's message names the report, written already.
    let message = run.doc["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, named) = message
        .rsplit_once("The report of the run: ")
        .unwrap_or_else(|| panic!("no report named: {message}"));
    let paused_html = PathBuf::from(named.trim_end_matches('.'));
    let paused = std::fs::read_to_string(&paused_html).expect("the paused run's report");
    assert!(paused.contains("data-state=\"paused\""));

    pool.fault(&["power-on", "--host", &victim]);
    let run = pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.doc["state"], "done", "{}", run.text);
    let html_path = PathBuf::from(run.doc["html"].as_str().expect("html in the report"));
    assert_eq!(html_path, paused_html, "one file per run, rewritten at its end");
    let journal: Journal =
        serde_json::from_str(&std::fs::read_to_string(pool.journal_path()).expect("journal"))
            .expect("parses");
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert_matches_journal(&html, &journal);

    // What the run went through, as recorded and as drawn: the stalled reboot of the victim,
    // the pause, the resume, and a health check after each of the three batches.
    let marks = with_class(&html, &["mark"]);
    let fault = marks
        .iter()
        .find(|m| m.get("data-event").is_some_and(|e| e == "fault"))
        .expect("a fault mark");
    assert_eq!(fault["data-host"], victim);
    assert!(
        fault["title"].contains("reboot") && fault["title"].contains("did not come back"),
        "{fault:?}"
    );
    for event in ["paused", "resumed"] {
        assert!(
            marks
                .iter()
                .any(|m| m.get("data-event").is_some_and(|e| e == event)),
            "{event}"
        );
    }
    let checks = with_class(&html, &["mark", "health", "m-ok"]);
    assert_eq!(checks.len(), 3, "a healthy pool after each batch");
    let floor = with_class(&html, &["card"])
        .into_iter()
        .find(|c| c["data-summary"] == "floor")
        .and_then(|c| secs(&c, "data-seconds"))
        .expect("floor");
    let stopped = with_class(&html, &["card"])
        .into_iter()
        .find(|c| c["data-summary"] == "stopped")
        .and_then(|c| secs(&c, "data-seconds"))
        .expect("stopped");
    assert!(floor > 0.0 && stopped > 0.0, "floor {floor}, stopped {stopped}");

    // `pool report` on demand draws the same journal into the same bytes.
    let shown = pool.pool(&["report"], &[]);
    assert_eq!(shown.code, Some(0), "{}", shown.text);
    assert_eq!(shown.doc["html"], run.doc["html"], "{}", shown.text);
    assert_eq!(std::fs::read_to_string(&html_path).expect("again"), html);
}
