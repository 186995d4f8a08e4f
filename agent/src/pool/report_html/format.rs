//! The report's text forms: escaping (every string from the journal goes through [`esc`]),
//! durations, state words, and positions on the timeline. A leaf of `report_html`: `html` and
//! `tables` both use it.

use super::super::journal::{RunState, StepState};

/// Text for HTML content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1 h 02 min`, `4 min 05 s`, `12.3 s`.
pub fn duration(secs: f64) -> String {
    // Not `max(0.0)`, which keeps a -0.0 (shown as "-0.0 s").
    let secs = if secs.is_finite() && secs > 0.0 { secs } else { 0.0 };
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        return format!("{} min {:02} s", whole / 60, whole % 60);
    }
    format!("{} h {:02} min", whole / 3600, (whole / 60) % 60)
}

pub fn state_word(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running",
        RunState::Paused => "paused",
        RunState::Failed => "failed",
        RunState::Aborted => "aborted",
        RunState::Done => "done",
    }
}

pub fn step_word(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "pending",
        StepState::Started => "started",
        StepState::Done => "done",
        StepState::Skipped => "skipped",
        StepState::Failed => "failed",
    }
}

/// Positions on the timeline, in % of a lane.
pub struct Scale {
    pub start: f64,
    pub span: f64,
}

impl Scale {
    pub fn x(&self, t: f64) -> f64 {
        ((t - self.start) / self.span * 100.0).clamp(0.0, 100.0)
    }
    pub fn box_style(&self, from: f64, to: f64) -> String {
        let left = self.x(from);
        format!("left:{left:.3}%;width:{:.3}%", (self.x(to) - left).max(0.0))
    }
    pub fn offset(&self, t: f64) -> String {
        let s = (t - self.start).max(0.0).round() as u64;
        if s >= 3600 {
            format!("+{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
        } else {
            format!("+{}:{:02}", s / 60, s % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(duration(-0.0), "0.0 s");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(duration(f64::NAN), "0.0 s");
    }

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
