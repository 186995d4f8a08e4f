//! The picture as one HTML document: inline CSS, absolutely positioned boxes for the timeline,
//! `title` tooltips; no script, no URL. Every text that comes from the journal (host names,
//! notes, errors, log lines) goes through [`esc`].
//!
//! The elements a reader (or a test) can find: `.row.host[data-host]` per host;
//! `.bar.step[data-host][data-step][data-state][data-start][data-end]` per recorded host step
//! (`data-end` absent when it has not ended); `.bar.phase[data-phase]` per phase;
//! `.row.batch[data-batch]`; `.mark[data-event]` per pause, resume, abort, failure and fault;
//! `.mark.health[data-batch]` per health check. Times are seconds since the epoch, as in the
//! journal, to the millisecond.

use super::super::clock::{utc_clock, utc_datetime};
use super::super::journal::{Journal, StepState};
use super::format::{Scale, duration, esc, state_word, step_word};
use super::model::{Bar, FLOOR_STEPS, Mark, Picture};
use super::tables::{events, health, health_text, versions};
use std::fmt::Write;

const STYLE: &str = include_str!("style.css");

pub fn document(journal: &Journal, p: &Picture) -> String {
    // A journal is a file anyone may have edited: times far apart must not make the span
    // infinite (and the axis loop endless).
    let span = p.end - p.start;
    let scale = Scale {
        start: p.start,
        span: if span.is_finite() { span.max(1.0) } else { f64::MAX },
    };
    let state = state_word(journal.state);
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Pool upgrade {} ({state})</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&utc_datetime(p.start))
    );
    header(&mut out, journal, p, state);
    summary(&mut out, p);
    timeline(&mut out, p, &scale);
    events(&mut out, p, &scale);
    health(&mut out, p, &scale);
    versions(&mut out, journal, p);
    let _ = write!(
        out,
        "<h2>Log</h2>\n<details><summary>{} lines, as `pool status` keeps them</summary>\n<pre>",
        journal.log.len()
    );
    for line in &journal.log {
        let _ = writeln!(out, "{}", esc(line));
    }
    out.push_str("</pre></details>\n</body>\n</html>\n");
    out
}

fn header(out: &mut String, journal: &Journal, p: &Picture, state: &str) {
    let _ = write!(
        out,
        "<h1>Pool upgrade <span class=\"state-{state}\" data-state=\"{state}\">{state}</span></h1>\n\
         <p class=\"sub\">Pool master {} · started {} · {} {} · {} hosts in {} batches (--batch {})</p>\n",
        esc(master_name(journal)),
        esc(&utc_datetime(p.start)),
        if journal.ended.is_some() {
            "ended"
        } else {
            "last record"
        },
        esc(&utc_datetime(p.end)),
        journal.hosts.len(),
        p.batches.len(),
        esc(&journal.batch_mode),
    );
    if let Some(stall) = &journal.stall {
        let _ = writeln!(
            out,
            "<p class=\"notice warn\">Paused: {}</p>",
            esc(&stall.message())
        );
    }
    if let Some(error) = &journal.error {
        let _ = writeln!(out, "<p class=\"notice\">Stopped: {}</p>", esc(error));
    }
    // Folded: preflight may warn once per host (dom0 memory), and the picture comes first.
    if !journal.warnings.is_empty() {
        let _ = write!(
            out,
            "<details class=\"notice warn\"><summary>{} warning{} from preflight (the run went on)</summary><ul>",
            journal.warnings.len(),
            if journal.warnings.len() == 1 { "" } else { "s" }
        );
        for warning in &journal.warnings {
            let _ = write!(out, "<li>{}</li>", esc(warning));
        }
        out.push_str("</ul></details>\n");
    }
}

/// The pool master by its host's name (the journal keeps its XAPI reference).
fn master_name(journal: &Journal) -> &str {
    journal
        .hosts
        .iter()
        .find(|h| h.reference == journal.pool_master)
        .map_or(journal.pool_master.as_str(), |h| h.name.as_str())
}

fn summary(out: &mut String, p: &Picture) {
    let s = &p.summary;
    let card = |out: &mut String, id: &str, value: f64, what: &str| {
        let _ = write!(
            out,
            "<div class=\"card\" data-summary=\"{id}\" data-seconds=\"{value:.3}\"><b>{}</b><span>{what}</span></div>",
            duration(value)
        );
    };
    out.push_str("<h2>Where the time went</h2>\n<div class=\"cards\">");
    card(out, "total", s.total, "total, start to end");
    card(out, "floor", s.floor, "floor: reboots, nodes back, resyncs");
    card(out, "overhead", s.overhead, "orchestration overhead");
    card(out, "stopped", s.stopped, "stopped (paused or failed)");
    out.push_str("</div>\n<div class=\"split\">");
    let total = s.total.max(f64::MIN_POSITIVE);
    for (class, value, what) in [
        ("s-floor", s.floor, "floor"),
        ("s-overhead", s.overhead, "overhead"),
        ("s-stopped", s.stopped, "stopped"),
    ] {
        let share = (value / total * 100.0).clamp(0.0, 100.0);
        if share > 0.0 {
            let _ = write!(
                out,
                "<span class=\"{class}\" style=\"width:{share:.3}%\" title=\"{what}: {} ({share:.0}%)\">{what}</span>",
                duration(value)
            );
        }
    }
    let _ = write!(
        out,
        "</div>\n<p class=\"def\">The floor is what no orchestrator can shorten: for each batch, the \
         longest time one of its hosts spent in {} (the reboot or restart, its node back ONLINE, \
         the resync), summed over the batches, which run one after the other. Time the run was \
         stopped (from a pause or a failure to the resume) is counted apart. Overhead is the rest: \
         total − stopped − floor (evacuations, installs, prefetch, the LINSTOR step, finish, waits \
         beyond the floor). Bars underlined dark blue are floor steps.</p>\n",
        FLOOR_STEPS.join(", ")
    );
}

fn timeline(out: &mut String, p: &Picture, scale: &Scale) {
    out.push_str("<h2>Timeline</h2>\n<div class=\"chart\">\n");
    axis(out, p, scale);
    out.push_str(
        "<div class=\"row phases\" data-row=\"phases\"><div class=\"label\">phases</div><div class=\"lane\">",
    );
    for b in &p.phases {
        let class = format!("bar phase ph ph-{}", esc(&b.name));
        bar(out, &class, None, "data-phase", b, p.end, scale);
    }
    out.push_str("</div></div>\n<div class=\"row run\" data-row=\"run\"><div class=\"label\">run: pauses, faults</div><div class=\"lane\">");
    for m in p.marks.iter().filter(|m| m.host.is_none()) {
        mark(out, m, scale);
    }
    out.push_str("</div></div>\n<div class=\"row health\" data-row=\"health\"><div class=\"label\">pool health after each batch</div><div class=\"lane\">");
    for (at, h) in &p.health {
        let (class, sign) = if h.healthy() {
            ("m-ok", "✓")
        } else {
            ("m-bad", "✗")
        };
        let _ = write!(
            out,
            "<span class=\"mark health {class}\" data-batch=\"{}\" data-at=\"{at:.3}\" style=\"left:{:.3}%\" title=\"{}\">{sign}</span>",
            h.after_batch,
            scale.x(*at),
            esc(&health_text(*at, h))
        );
    }
    out.push_str("</div></div>\n");
    for batch in &p.batches {
        let _ = write!(
            out,
            "<div class=\"row batch\" data-batch=\"{n}\"><div class=\"label\">batch {n} <small>({} host{})</small></div><div class=\"lane\">",
            batch.hosts.len(),
            if batch.hosts.len() == 1 { "" } else { "s" },
            n = batch.number
        );
        if let Some(start) = batch.start {
            let end = batch.end.unwrap_or(p.end).max(start);
            let _ = write!(
                out,
                "<div class=\"band\" style=\"{}\" title=\"batch {}: {} · {} → {} · floor {}\">floor {}</div>",
                scale.box_style(start, end),
                batch.number,
                esc(&batch.hosts.join(", ")),
                utc_clock(start),
                utc_clock(end),
                duration(batch.floor),
                duration(batch.floor)
            );
        }
        out.push_str("</div></div>\n");
        for row in p.rows.iter().filter(|r| r.batch == batch.number) {
            let _ = write!(
                out,
                "<div class=\"row host\" data-host=\"{}\" data-batch=\"{}\"><div class=\"label\" title=\"{}\">{} <small>{}</small></div><div class=\"lane\">",
                esc(&row.name),
                row.batch,
                esc(&format!(
                    "{}: {}{}",
                    row.name,
                    if row.reboot { "reboot" } else { "restart" },
                    if row.untimed.is_empty() {
                        String::new()
                    } else {
                        format!("; recorded without a time: {}", row.untimed.join(", "))
                    }
                )),
                esc(&row.name),
                if row.reboot { "reboot" } else { "restart" }
            );
            for b in &row.bars {
                let known = FLOOR_STEPS.contains(&b.name.as_str());
                let colour = if super::super::journal::HOST_STEPS.contains(&b.name.as_str()) {
                    format!("st-{}", esc(&b.name))
                } else {
                    "st-other".into()
                };
                let class = format!("bar step {colour}{}", if known { " floor" } else { "" });
                bar(out, &class, Some(&row.name), "data-step", b, p.end, scale);
            }
            for m in p.marks.iter().filter(|m| m.host.as_ref() == Some(&row.name)) {
                mark(out, m, scale);
            }
            out.push_str("</div></div>\n");
        }
    }
    // Lines across every row: where each batch began, and the bands the run stood still.
    out.push_str("<div class=\"overlay\">");
    for batch in &p.batches {
        if let Some(start) = batch.start {
            let _ = write!(
                out,
                "<div class=\"vline batch-start\" style=\"left:{:.3}%\"></div>",
                scale.x(start)
            );
        }
    }
    for (from, to) in &p.stopped {
        let _ = write!(
            out,
            "<div class=\"stopband\" data-from=\"{from:.3}\" data-to=\"{to:.3}\" style=\"{}\"></div>",
            scale.box_style(*from, *to)
        );
    }
    out.push_str("</div>\n</div>\n");
    legend(out);
}

fn axis(out: &mut String, p: &Picture, scale: &Scale) {
    out.push_str("<div class=\"row axis\"><div class=\"label\">since ");
    out.push_str(&esc(&utc_clock(p.start)));
    out.push_str("</div><div class=\"lane\">");
    // About eight ticks, at a step a person reads easily.
    const STEPS: &[f64] = &[
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0,
        21600.0, 43200.0, 86400.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| scale.span / s <= 8.0)
        .unwrap_or(scale.span / 8.0);
    let mut t = 0.0;
    for _ in 0..12 {
        if t > scale.span * 0.97 {
            break;
        }
        let _ = write!(
            out,
            "<span class=\"tick\" style=\"left:{:.3}%\">{}</span>",
            t / scale.span * 100.0,
            scale.offset(p.start + t)
        );
        t += step;
    }
    out.push_str("</div></div>\n");
}

/// One bar; `host` and `attr` (`data-step` or `data-phase`) say what it is.
fn bar(out: &mut String, class: &str, host: Option<&str>, attr: &str, b: &Bar, end: f64, scale: &Scale) {
    let open = b.end.is_none();
    let to = b.end.unwrap_or(end).max(b.start);
    let mut title = format!(
        "{}{} · {} · {} → {}{} ({})",
        host.map_or(String::new(), |h| format!("{h} · ")),
        b.name,
        step_word(b.state),
        utc_clock(b.start),
        if open { "not ended, " } else { "" },
        utc_clock(to),
        duration(to - b.start)
    );
    if let Some(note) = &b.note {
        title.push_str(" · ");
        title.push_str(note);
    }
    let _ = write!(
        out,
        "<div class=\"{class}{}{}\"",
        if open { " open" } else { "" },
        if b.state == StepState::Failed {
            " failed"
        } else {
            ""
        }
    );
    if let Some(h) = host {
        let _ = write!(out, " data-host=\"{}\"", esc(h));
    }
    let _ = write!(
        out,
        " {attr}=\"{}\" data-state=\"{}\" data-start=\"{:.3}\"",
        esc(&b.name),
        step_word(b.state),
        b.start
    );
    if let Some(e) = b.end {
        let _ = write!(out, " data-end=\"{e:.3}\"");
    }
    let _ = write!(
        out,
        " style=\"{}\" title=\"{}\">{}</div>",
        scale.box_style(b.start, to),
        esc(&title),
        esc(&b.name)
    );
}

fn mark(out: &mut String, m: &Mark, scale: &Scale) {
    let sign = match m.kind {
        "paused" => "‖",
        "resumed" => "▶",
        "aborted" => "■",
        _ => "!",
    };
    let what = match (&m.host, &m.step) {
        (Some(h), Some(s)) => format!("{} {h} {s}", m.kind),
        _ => m.kind.to_string(),
    };
    let _ = write!(
        out,
        "<span class=\"mark m-{kind}\" data-event=\"{kind}\"{} data-at=\"{:.3}\" style=\"left:{:.3}%\" title=\"{}\">{sign}</span>",
        m.host
            .as_ref()
            .map_or(String::new(), |h| format!(" data-host=\"{}\"", esc(h))),
        m.at,
        scale.x(m.at),
        esc(&format!("{what} at {}: {}", utc_clock(m.at), m.text)),
        kind = m.kind
    );
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for step in super::super::journal::HOST_STEPS {
        let _ = write!(out, "<span><i class=\"st-{step}\"></i>{step}</span>");
    }
    out.push_str(
        "<span><i class=\"m-paused\"></i>paused</span><span><i class=\"m-resumed\"></i>resumed</span>\
         <span><i class=\"m-fault\"></i>fault, failure, abort</span><span><i class=\"m-ok\"></i>pool healthy</span>\
         <span><i class=\"s-stopband\"></i>stopped</span></div>\n",
    );
}
