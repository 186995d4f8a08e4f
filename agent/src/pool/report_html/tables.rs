//! The report's tables: the run's events, the pool's health after each batch, the versions
//! before and after.

use super::super::clock::utc_clock;
use super::super::events::PoolHealth;
use super::super::journal::Journal;
use super::format::{Scale, esc};
use super::model::Picture;
use std::fmt::Write;

pub fn health_text(at: f64, h: &PoolHealth) -> String {
    let mut text = format!(
        "after batch {} at {}: {}/{} nodes ONLINE, {}/{} diskful volumes UpToDate",
        h.after_batch,
        utc_clock(at),
        h.nodes_online,
        h.nodes,
        h.volumes_uptodate,
        h.volumes
    );
    if !h.healthy() {
        text.push_str(&format!("; {}", h.problems.join("; ")));
    }
    text
}

pub fn events(out: &mut String, p: &Picture, scale: &Scale) {
    out.push_str("<h2>Pauses, resumes, aborts and faults</h2>\n");
    if p.marks.is_empty() {
        out.push_str("<p class=\"ok\">None: the run went through without stopping.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"events\"><tr><th>time</th><th></th><th>what</th><th>where</th><th>detail</th></tr>\n",
    );
    for m in &p.marks {
        let place = match (&m.host, &m.step) {
            (Some(h), Some(s)) => format!("{h}: {s}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr data-event=\"{kind}\"><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{kind}</td><td>{}</td><td>{}</td></tr>",
            utc_clock(m.at),
            scale.offset(m.at),
            if m.kind == "resumed" { "ok" } else { "bad" },
            esc(&place),
            esc(&m.text),
            kind = m.kind
        );
    }
    out.push_str("</table>\n");
}

pub fn health(out: &mut String, p: &Picture, scale: &Scale) {
    out.push_str("<h2>The pool's health between batches</h2>\n");
    if p.health.is_empty() {
        out.push_str(
            "<p>No check recorded (no batch finished, or a journal written before they were recorded).</p>\n",
        );
        return;
    }
    out.push_str("<table class=\"health\"><tr><th>after batch</th><th>time</th><th></th><th>nodes ONLINE</th><th>diskful volumes UpToDate</th><th>problems</th></tr>\n");
    for (at, h) in &p.health {
        let _ = writeln!(
            out,
            "<tr data-batch=\"{}\"><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}/{}</td><td class=\"num\">{}/{}</td><td class=\"{}\">{}</td></tr>",
            h.after_batch,
            h.after_batch,
            utc_clock(*at),
            scale.offset(*at),
            h.nodes_online,
            h.nodes,
            h.volumes_uptodate,
            h.volumes,
            if h.healthy() { "ok" } else { "bad" },
            if h.healthy() {
                "none".to_string()
            } else {
                esc(&h.problems.join("; "))
            }
        );
    }
    out.push_str("</table>\n");
}

pub fn versions(out: &mut String, journal: &Journal, p: &Picture) {
    out.push_str("<h2>Versions before and after</h2>\n<p>Targets: ");
    let targets: Vec<String> = journal.targets.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&esc(&targets.join(", ")));
    if journal.linstor_change {
        let _ = write!(
            out,
            ". LINSTOR {} → {} on every host",
            esc(&journal.linstor_from),
            esc(&journal.linstor_to)
        );
    } else if !journal.linstor_from.is_empty() {
        let _ = write!(out, ". LINSTOR stays at {}", esc(&journal.linstor_from));
    }
    out.push_str(".</p>\n");
    // One column per package, in the order the hosts' plans name them.
    let mut packages: Vec<&str> = Vec::new();
    for v in p.rows.iter().flat_map(|r| r.versions.iter()) {
        if !packages.contains(&v.package.as_str()) {
            packages.push(&v.package);
        }
    }
    out.push_str("<table class=\"versions\"><tr><th>host</th><th>batch</th>");
    for package in &packages {
        let _ = write!(out, "<th>{}</th>", esc(package));
    }
    out.push_str("</tr>\n");
    for row in &p.rows {
        // Greyed until the host is through: the planned version, not yet the installed one.
        let class = if row.done { "ok" } else { "planned" };
        let _ = write!(
            out,
            "<tr data-host=\"{}\"><td>{}</td><td class=\"num\">{}</td>",
            esc(&row.name),
            esc(&row.name),
            row.batch
        );
        for package in &packages {
            match row.versions.iter().find(|v| v.package == *package) {
                Some(v) => {
                    let _ = write!(
                        out,
                        "<td data-package=\"{}\" data-before=\"{}\" data-after=\"{}\">{} → <span class=\"{class}\">{}</span></td>",
                        esc(package),
                        esc(&v.before),
                        esc(&v.after),
                        esc(&v.before),
                        esc(&v.after)
                    );
                }
                None => out.push_str("<td class=\"planned\">unchanged</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}
