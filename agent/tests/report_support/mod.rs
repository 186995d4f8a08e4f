//! For `pool_report.rs`: a crafted journal with a pause, a resume and a fault; reading the
//! report's elements back (from the file, or from the DOM headless Chromium rendered); and
//! checking them against the journal.

#![allow(dead_code)]

use linstor_agent::pool::events::{EventKind, PoolHealth, RunEvent};
use linstor_agent::pool::journal::{
    HOST_STEPS, HostEntry, Journal, PackageChange, RunState, Step, StepState,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub const T0: f64 = 1_700_000_000.25;
/// The note of the failed install: journal text must come out as text.
pub const HOSTILE_NOTE: &str = "<script>alert('x')</script> & \"quoted\"";

fn step(state: StepState, from: f64, to: Option<f64>, note: Option<&str>) -> Step {
    Step {
        state,
        started: Some(T0 + from),
        ended: to.map(|t| T0 + t),
        note: note.map(str::to_string),
    }
}

/// A host whose steps ran at `times` (offsets from T0, in HOST_STEPS order).
fn host(name: &str, batch: usize, times: [(f64, f64); 8]) -> HostEntry {
    let steps = HOST_STEPS
        .iter()
        .zip(times)
        .map(|(s, (a, b))| (s.to_string(), step(StepState::Done, a, Some(b), None)))
        .collect();
    HostEntry {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        reference: format!("OpaqueRef:{name}"),
        node: name.into(),
        batch,
        changes: vec![PackageChange {
            name: "kmod-drbd".into(),
            change: "upgrade".into(),
            from: vec!["kmod-drbd-9.2.11-1.xcpng8.3.x86_64".into()],
            to: Some("kmod-drbd-9.2.12-1.xcpng8.3.x86_64".into()),
        }],
        reboot: true,
        vms: vec![],
        boot_time_before: None,
        steps,
    }
}

fn at(offset: f64, kind: EventKind) -> RunEvent {
    RunEvent {
        at: T0 + offset,
        kind,
    }
}

fn healthy(after_batch: usize) -> EventKind {
    EventKind::Health(PoolHealth {
        after_batch,
        nodes_online: 3,
        nodes: 3,
        volumes_uptodate: 6,
        volumes: 6,
        problems: vec![],
    })
}

/// Three hosts, the master alone then two together. After batch 1 the run is paused on
/// request and resumed; in batch 2 the install of `xcp-ng-3` fails (its note is hostile),
/// the run fails, and is resumed to the end. Times in seconds from T0:
///
/// - batch 1, xcp-ng-1: 20–100, its reboot, wait-online and wait-synced 50–95 (floor 45);
/// - paused 102–140 (38 s stopped);
/// - batch 2 from 150: installs 170–200, xcp-ng-3's fails at 200; failed 201–250 (49 s
///   stopped); its install again until 270; both hosts reboot … resync 270–330 (floor 60);
/// - ended at 400: total 400, stopped 87, floor 105, overhead 208.
pub fn crafted() -> Journal {
    let mut j = Journal::blank();
    j.started = T0;
    j.ended = Some(T0 + 400.0);
    j.state = RunState::Done;
    j.pool_master = "OpaqueRef:xcp-ng-1".into();
    j.batch_mode = "auto".into();
    j.batches = vec![
        vec!["xcp-ng-1".into()],
        vec!["xcp-ng-2".into(), "xcp-ng-3".into()],
    ];
    let first = [
        (20.0, 25.0),
        (25.0, 35.0),
        (35.0, 50.0),
        (50.0, 80.0),
        (80.0, 85.0),
        (85.0, 95.0),
        (95.0, 97.0),
        (97.0, 100.0),
    ];
    let second = [
        (150.0, 155.0),
        (155.0, 170.0),
        (170.0, 200.0),
        (270.0, 300.0),
        (300.0, 310.0),
        (310.0, 330.0),
        (330.0, 335.0),
        (335.0, 340.0),
    ];
    j.hosts = vec![
        host("xcp-ng-1", 1, first),
        host("xcp-ng-2", 2, second),
        host("xcp-ng-3", 2, second),
    ];
    // xcp-ng-3's install failed at +200, and was done after the resume, at +270.
    let install = j.hosts[2].steps.get_mut("install").expect("install");
    install.ended = Some(T0 + 270.0);
    install.note = Some(HOSTILE_NOTE.into());
    for (i, phase) in ["preflight", "settings", "prefetch", "linstor"]
        .iter()
        .enumerate()
    {
        let a = i as f64 * 5.0;
        j.phases
            .insert(phase.to_string(), step(StepState::Done, a, Some(a + 5.0), None));
    }
    j.phases
        .insert("hosts".into(), step(StepState::Done, 20.0, Some(341.0), None));
    j.phases
        .insert("finish".into(), step(StepState::Done, 341.0, Some(400.0), None));
    j.events = vec![
        at(101.0, healthy(1)),
        at(
            102.0,
            EventKind::Paused {
                reason: "on request (`pool pause`)".into(),
            },
        ),
        at(140.0, EventKind::Resumed),
        at(
            200.0,
            EventKind::Fault {
                host: "xcp-ng-3".into(),
                step: "install".into(),
                detail: HOSTILE_NOTE.into(),
                stalled: false,
            },
        ),
        at(
            201.0,
            EventKind::Failed {
                error: "xcp-ng-3: step install failed".into(),
            },
        ),
        at(250.0, EventKind::Resumed),
        at(340.5, healthy(2)),
    ];
    j.log = vec![format!("{:.3} paused on request", T0 + 102.0)];
    j
}

/// Start tags of an HTML text, each as (tag name, attributes with entities decoded). Values
/// are read quote to quote, as Chromium serializes them (`<` and `>` left raw inside).
pub fn tags(html: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let name_end = html[i..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(html.len(), |e| i + e);
        let name = html[i..name_end].to_ascii_lowercase();
        i = name_end;
        let mut attrs = BTreeMap::new();
        loop {
            while bytes
                .get(i)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
            {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] == b'>' {
                break;
            }
            let key_end = html[i..]
                .find(|c: char| c.is_whitespace() || c == '=' || c == '>')
                .map_or(html.len(), |e| i + e);
            let key = html[i..key_end].to_ascii_lowercase();
            i = key_end;
            let mut value = String::new();
            if bytes.get(i) == Some(&b'=') {
                i += 1;
                let quote = bytes[i];
                if quote == b'"' || quote == b'\'' {
                    let end = html[i + 1..]
                        .find(quote as char)
                        .map_or(html.len(), |e| i + 1 + e);
                    value = html[i + 1..end].to_string();
                    i = end + 1;
                } else {
                    let end = html[i..]
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .map_or(html.len(), |e| i + e);
                    value = html[i..end].to_string();
                    i = end;
                }
            }
            attrs.insert(key, unescape(&value));
        }
        out.push((name, attrs));
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attributes of every element whose `class` has all of `classes`.
pub fn with_class(html: &str, classes: &[&str]) -> Vec<BTreeMap<String, String>> {
    tags(html)
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| {
            let class = a.get("class").map_or("", String::as_str);
            classes.iter().all(|c| class.split_whitespace().any(|x| x == *c))
        })
        .collect()
}

pub fn secs(attrs: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    attrs.get(key).map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v:?} is not a number"))
    })
}

/// The report's host rows and step bars are the journal's hosts and recorded steps, with
/// their times; its events marks are the journal's events. Returns the bars, for more checks.
pub fn assert_matches_journal(html: &str, j: &Journal) -> Vec<BTreeMap<String, String>> {
    let rows: Vec<String> = with_class(html, &["row", "host"])
        .iter()
        .map(|a| a["data-host"].clone())
        .collect();
    let mut names: Vec<String> = j.hosts.iter().map(|h| h.name.clone()).collect();
    let mut sorted_rows = rows.clone();
    sorted_rows.sort();
    names.sort();
    assert_eq!(sorted_rows, names, "one row per host");
    let bars = with_class(html, &["bar", "step"]);
    let recorded: usize = j
        .hosts
        .iter()
        .map(|h| h.steps.values().filter(|s| s.started.is_some()).count())
        .sum();
    assert_eq!(bars.len(), recorded, "one bar per recorded step");
    for h in &j.hosts {
        for (name, s) in h.steps.iter().filter(|(_, s)| s.started.is_some()) {
            let found: Vec<_> = bars
                .iter()
                .filter(|b| b["data-host"] == h.name && b["data-step"] == *name)
                .collect();
            assert_eq!(found.len(), 1, "{} {name}: one bar", h.name);
            let b = found[0];
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 0.001,
                (None, None) => true,
                _ => false,
            };
            assert!(
                close(secs(b, "data-start"), s.started),
                "{} {name} start: {b:?} vs {s:?}",
                h.name
            );
            assert!(
                close(secs(b, "data-end"), s.ended),
                "{} {name} end: {b:?} vs {s:?}",
                h.name
            );
            let state = format!("{:?}", s.state).to_lowercase();
            assert_eq!(b["data-state"], state, "{} {name}", h.name);
        }
    }
    let phases = with_class(html, &["bar", "phase"]);
    assert_eq!(
        phases.len(),
        j.phases.values().filter(|s| s.started.is_some()).count()
    );
    let kind = |k: &EventKind| match k {
        EventKind::Paused { .. } => Some("paused"),
        EventKind::Resumed => Some("resumed"),
        EventKind::Aborted { .. } => Some("aborted"),
        EventKind::Failed { .. } => Some("failed"),
        EventKind::Fault { .. } => Some("fault"),
        EventKind::Health(_) => None,
    };
    let mut expected: Vec<(String, String)> = j
        .events
        .iter()
        .filter_map(|e| kind(&e.kind).map(|k| (k.to_string(), format!("{:.3}", e.at))))
        .collect();
    let mut marks: Vec<(String, String)> = with_class(html, &["mark"])
        .iter()
        .filter(|m| m.contains_key("data-event"))
        .map(|m| (m["data-event"].clone(), m["data-at"].clone()))
        .collect();
    expected.sort();
    marks.sort();
    assert_eq!(
        marks, expected,
        "a mark per pause, resume, abort, failure and fault"
    );
    let checks = j
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Health(_)))
        .count();
    assert_eq!(
        with_class(html, &["mark", "health"]).len(),
        checks,
        "a mark per health check"
    );
    bars
}

/// Headless Chromium, as `make test` installs it (Debian's `chromium`): `args` then the file.
/// Missing, the test fails saying how to get it: a render test that skips proves nothing.
pub fn chromium(args: &[&str], file: &Path, profile: &Path) -> std::process::Output {
    let found = Command::new("chromium").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        panic!(
            "headless Chromium is needed to render the report: `make test` installs it \
             (scripts/install-deps.sh: Debian's `chromium` package); or `apt-get install chromium`"
        );
    }
    let out = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        // As root (the test suite's user) Chromium runs only without its sandbox.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
