use super::*;
use crate::pool::events::RunEvent;
use crate::pool::journal::{HostEntry, Journal, RunState, Step};
use crate::pool::report_html::render;
use std::collections::BTreeMap;

fn step(state: StepState, started: f64, ended: Option<f64>) -> Step {
    Step {
        state,
        started: Some(started),
        ended,
        note: None,
    }
}

/// A host whose reboot, wait-online and wait-synced take the given (start, end) times.
fn host(name: &str, batch: usize, floor_steps: [(f64, f64); 3]) -> HostEntry {
    let mut steps = BTreeMap::new();
    let first = floor_steps[0].0;
    let last = floor_steps[2].1;
    steps.insert(
        "disable".into(),
        step(StepState::Done, first - 4.0, Some(first - 3.0)),
    );
    steps.insert(
        "evacuate".into(),
        step(StepState::Done, first - 3.0, Some(first - 2.0)),
    );
    steps.insert("install".into(), step(StepState::Done, first - 2.0, Some(first)));
    for (name, (a, b)) in FLOOR_STEPS.iter().zip(floor_steps) {
        steps.insert(name.to_string(), step(StepState::Done, a, Some(b)));
    }
    steps.insert("wait-pbd".into(), step(StepState::Done, last, Some(last + 1.0)));
    steps.insert(
        "enable".into(),
        step(StepState::Done, last + 1.0, Some(last + 2.0)),
    );
    HostEntry {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        reference: format!("OpaqueRef:{name}"),
        node: name.into(),
        batch,
        changes: vec![PackageChange {
            name: "kmod-drbd".into(),
            change: "upgrade".into(),
            from: vec!["kmod-drbd-9.2.11-1.x86_64".into()],
            to: Some("kmod-drbd-9.2.12-1.x86_64".into()),
        }],
        reboot: true,
        vms: vec![],
        boot_time_before: None,
        steps,
    }
}

fn event(at: f64, kind: EventKind) -> RunEvent {
    RunEvent { at, kind }
}

/// Three hosts in two batches, a pause between them: the numbers of the module documentation.
fn sample() -> Journal {
    let mut j = Journal::blank();
    j.started = 0.0;
    j.ended = Some(200.0);
    j.state = RunState::Done;
    j.batches = vec![vec!["a".into()], vec!["b".into(), "c".into()]];
    j.hosts = vec![
        host("a", 1, [(10.0, 40.0), (40.0, 50.0), (50.0, 70.0)]),
        host("b", 2, [(100.0, 120.0), (120.0, 125.0), (125.0, 135.0)]),
        host("c", 2, [(100.0, 130.0), (130.0, 140.0), (140.0, 150.0)]),
    ];
    j.phases
        .insert("preflight".into(), step(StepState::Done, 0.0, Some(2.0)));
    j.phases
        .insert("hosts".into(), step(StepState::Done, 5.0, Some(190.0)));
    j.events = vec![
        event(
            72.0,
            EventKind::Health(PoolHealth {
                after_batch: 1,
                ..Default::default()
            }),
        ),
        event(
            80.0,
            EventKind::Paused {
                reason: "on request".into(),
            },
        ),
        event(95.0, EventKind::Resumed),
    ];
    j
}

#[test]
fn the_floor_is_the_longest_host_of_each_batch_summed_and_overhead_the_rest() {
    let p = picture(&sample());
    assert_eq!(
        p.rows.iter().map(|r| r.floor).collect::<Vec<_>>(),
        vec![60.0, 35.0, 50.0]
    );
    assert_eq!(
        p.batches.iter().map(|b| b.floor).collect::<Vec<_>>(),
        vec![60.0, 50.0]
    );
    assert_eq!(p.batches[1].start, Some(96.0));
    assert_eq!(p.batches[1].end, Some(152.0));
    assert_eq!(p.stopped, vec![(80.0, 95.0)]);
    assert_eq!(
        p.summary,
        Summary {
            total: 200.0,
            stopped: 15.0,
            floor: 110.0,
            overhead: 75.0,
        }
    );
    assert_eq!(p.health.len(), 1);
    assert_eq!(
        p.marks.iter().map(|m| m.kind).collect::<Vec<_>>(),
        vec!["paused", "resumed"]
    );
}

#[test]
fn time_stopped_inside_a_floor_step_is_not_floor() {
    let mut j = sample();
    // c's resync stalled: paused at 145, resumed at 160, its wait ended at 170.
    j.hosts[2]
        .steps
        .insert("wait-synced".into(), step(StepState::Done, 140.0, Some(170.0)));
    j.events.push(event(
        145.0,
        EventKind::Paused {
            reason: "stalled".into(),
        },
    ));
    j.events.push(event(160.0, EventKind::Resumed));
    let p = picture(&j);
    assert_eq!(p.rows[2].floor, 40.0 + 30.0 - 15.0);
    assert_eq!(p.summary.stopped, 30.0);
    assert_eq!(p.summary.floor, 60.0 + 55.0);
}

#[test]
fn a_run_still_stopped_is_stopped_until_the_end_of_its_record() {
    let mut j = sample();
    j.ended = None;
    j.state = RunState::Failed;
    j.phases
        .insert("hosts".into(), step(StepState::Started, 5.0, None));
    j.hosts[2]
        .steps
        .insert("wait-synced".into(), step(StepState::Failed, 140.0, Some(150.0)));
    j.events = vec![event(151.0, EventKind::Failed { error: "boom".into() })];
    let p = picture(&j);
    // The end of the record is the latest time recorded: c's enable, ended at 152.
    assert_eq!(p.end, 152.0);
    assert_eq!(p.stopped, vec![(151.0, 152.0)]);
    // The failed step had no fault event: one is drawn from the step.
    let kinds: Vec<(&str, Option<&str>)> = p.marks.iter().map(|m| (m.kind, m.step.as_deref())).collect();
    assert_eq!(kinds, vec![("fault", Some("wait-synced")), ("failed", None)]);
}

#[test]
fn a_journal_without_events_takes_its_moments_from_the_log() {
    let mut j = sample();
    j.events.clear();
    j.log = vec![
        "79.500 batch 2/2: b, c".into(),
        "80.000 paused on request: `pool upgrade --resume` continues".into(),
        "95.000 resuming from the journal".into(),
        "not a stamp paused".into(),
    ];
    let text = serde_json::to_string(&j).unwrap();
    assert!(!text.contains("\"events\""), "old journals keep their shape");
    let p = picture(&serde_json::from_str(&text).unwrap());
    assert_eq!(p.marks.iter().map(|m| m.at).collect::<Vec<_>>(), vec![80.0, 95.0]);
    assert_eq!(p.summary.stopped, 15.0);
}

#[test]
fn steps_without_times_are_listed_not_drawn_and_a_step_ending_before_it_starts_is_clamped() {
    let mut j = sample();
    j.hosts[0].steps.insert(
        "wait-pbd".into(),
        Step {
            state: StepState::Skipped,
            ..Step::default()
        },
    );
    j.hosts[0]
        .steps
        .insert("enable".into(), step(StepState::Done, 75.0, Some(74.0)));
    let p = picture(&j);
    assert_eq!(p.rows[0].untimed, vec!["wait-pbd".to_string()]);
    let enable = p.rows[0].bars.iter().find(|b| b.name == "enable").unwrap();
    assert_eq!(enable.end, Some(75.0));
    let order: Vec<&str> = p.rows[1].bars.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, HOST_STEPS.to_vec(), "bars in the steps' order");
}

#[test]
fn versions_show_before_and_after_and_the_release_when_only_it_changes() {
    let changes = vec![
        PackageChange {
            name: "kmod-drbd".into(),
            change: "install".into(),
            from: vec![],
            to: Some("kmod-drbd-9.2.12-1.x86_64".into()),
        },
        // The old module package the new one replaces: shown as nothing of its own.
        PackageChange {
            name: "kmod-drbd".into(),
            change: "remove".into(),
            from: vec!["kmod-drbd-9.2.11-1.x86_64".into()],
            to: None,
        },
        PackageChange {
            name: "xcp-ng-linstor".into(),
            change: "upgrade".into(),
            from: vec!["xcp-ng-linstor-1.2-3.noarch".into()],
            to: Some("xcp-ng-linstor-1.2-4.noarch".into()),
        },
        PackageChange {
            name: "drbd-utils".into(),
            change: "keep".into(),
            from: vec!["drbd-utils-9.28.0-1.x86_64".into()],
            to: Some("drbd-utils-9.28.0-1.x86_64".into()),
        },
    ];
    let v = versions(&changes);
    let shown: Vec<(&str, &str, &str)> = v
        .iter()
        .map(|c| (c.package.as_str(), c.before.as_str(), c.after.as_str()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("kmod-drbd", "none", "9.2.12"),
            ("xcp-ng-linstor", "1.2-3", "1.2-4")
        ]
    );
}

#[test]
fn journal_text_is_escaped_and_the_document_fetches_nothing() {
    let mut j = sample();
    j.hosts[1].name = "b<i>\"'&".into();
    j.batches[1][0] = j.hosts[1].name.clone();
    j.hosts[1].steps.get_mut("install").unwrap().note = Some("<script>alert(1)</script>".into());
    j.log.push("1.000 <img src=x onerror=alert(1)>".into());
    let html = render(&j);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("data-host=\"b&lt;i&gt;&quot;&#39;&amp;\""));
    // Escaped text never holds a `<`: every `<…>` is markup.
    for tag in html
        .split('<')
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .map(|(t, _)| t.to_lowercase())
    {
        for fetch in [" src=", " href=", " srcset=", " action="] {
            assert!(!tag.contains(fetch), "{fetch} in <{tag}>");
        }
        assert!(
            !tag.starts_with("link") && !tag.starts_with("script") && !tag.starts_with("img"),
            "<{tag}>"
        );
    }
    for fetch in ["url(", "@import", "http://", "https://"] {
        assert!(!html.to_lowercase().contains(fetch), "{fetch} in the report");
    }
    assert_eq!(render(&j), html, "the same journal gives the same bytes");
}

#[test]
fn every_recorded_step_is_one_bar_with_its_times() {
    let j = sample();
    let html = render(&j);
    assert_eq!(html.matches("class=\"row host\"").count(), 3);
    assert_eq!(html.matches("class=\"bar step ").count(), 3 * HOST_STEPS.len());
    assert!(html.contains(
        "data-host=\"c\" data-step=\"wait-synced\" data-state=\"done\" data-start=\"140.000\" data-end=\"150.000\""
    ));
    assert_eq!(html.matches("class=\"bar phase ").count(), 2);
    assert_eq!(
        html.matches("data-event=\"paused\"").count(),
        2,
        "the mark and its table row"
    );
    assert!(html.contains("data-summary=\"floor\" data-seconds=\"110.000\""));
}

#[test]
fn times_far_apart_or_absurd_still_render() {
    // A journal is a file: anything JSON holds may be in it.
    let mut j = sample();
    j.started = -1e308;
    j.ended = Some(1e308);
    j.hosts[0]
        .steps
        .insert("install".into(), step(StepState::Done, 1e308, Some(-1e308)));
    let html = render(&j);
    assert!(html.ends_with("</html>\n"));
    assert!(html.matches("class=\"tick\"").count() <= 12);
    let p = picture(&j);
    assert!(p.summary.total.is_infinite() || p.summary.total > 0.0);
}
