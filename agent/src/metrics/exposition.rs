//! The Prometheus text exposition format (version 0.0.4), for gauges: what node_exporter's
//! textfile collector and `promtool check metrics` read. Each family is a `# HELP` line, a
//! `# TYPE` line and its samples; label values escape `\`, `"` and newlines, help texts `\`
//! and newlines, as the format says.
//!
//! Written here rather than with a client library (docs/design-notes.md, "Metrics"): the agent
//! has no long-lived registry to instrument, only a snapshot to print once, in the format the
//! textfile collector parses; `prometheus-client` writes OpenMetrics (`# EOF`, its `info` type,
//! which that parser refuses) and brings a lock crate and a derive macro for what is string
//! formatting.

use std::fmt::Write as _;

/// One sample: its labels, in the order given, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub fn new(value: f64) -> Sample {
        Sample {
            labels: Vec::new(),
            value,
        }
    }

    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Sample {
        debug_assert!(is_name(name) && !name.starts_with("__"), "label name {name}");
        self.labels.push((name, value.into()));
        self
    }
}

/// A boolean as a gauge value.
pub fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// An exposition being written, family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// A gauge family; nothing is written for one without samples (no empty HELP/TYPE pair).
    pub fn gauge(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = Sample>) {
        debug_assert!(is_name(name), "metric name {name}");
        let samples: Vec<Sample> = samples.into_iter().collect();
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for sample in samples {
            self.text.push_str(name);
            if !sample.labels.is_empty() {
                let labels: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(self.text, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(self.text, " {}", value(sample.value));
        }
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the metric name rule (label names are the same without `:`,
/// and the agent's have none).
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A value as the format spells it: Go's float syntax, with `+Inf`, `-Inf` and `NaN`.
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust prints the shortest form that reads back to the same f64 (`1`, `0.5`,
        // `1700000000.25`), which Go's ParseFloat reads.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_type_and_samples() {
        let mut e = Exposition::default();
        e.gauge(
            "linstor_agent_step_converged",
            "Whether the step is converged.",
            [
                Sample::new(1.0).label("step", "install"),
                Sample::new(0.0).label("step", "storage"),
            ],
        );
        e.gauge("linstor_agent_pool_upgrade_hosts", "Hosts.", [Sample::new(3.0)]);
        assert_eq!(
            e.finish(),
            "# HELP linstor_agent_step_converged Whether the step is converged.\n\
             # TYPE linstor_agent_step_converged gauge\n\
             linstor_agent_step_converged{step=\"install\"} 1\n\
             linstor_agent_step_converged{step=\"storage\"} 0\n\
             # HELP linstor_agent_pool_upgrade_hosts Hosts.\n\
             # TYPE linstor_agent_pool_upgrade_hosts gauge\n\
             linstor_agent_pool_upgrade_hosts 3\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::default();
        e.gauge(
            "m",
            "a \\ back\nslash",
            [Sample::new(1.0)
                .label("check", "node \"a\"\nb\\c")
                .label("kernel", "4.19.0+1")],
        );
        assert_eq!(
            e.finish(),
            "# HELP m a \\\\ back\\nslash\n# TYPE m gauge\n\
             m{check=\"node \\\"a\\\"\\nb\\\\c\",kernel=\"4.19.0+1\"} 1\n"
        );
    }

    #[test]
    fn a_family_without_samples_writes_nothing() {
        let mut e = Exposition::default();
        e.gauge("m", "help", Vec::new());
        assert_eq!(e.finish(), "");
    }

    #[test]
    fn values_are_spelled_as_the_format_reads_them() {
        assert_eq!(value(1.0), "1");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(1_700_000_000.5), "1700000000.5");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(bool_value(true), 1.0);
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(is_name("linstor_agent_check_ok"));
        assert!(is_name("_x:y"));
        assert!(!is_name("9lives"));
        assert!(!is_name("a-b"));
        assert!(!is_name(""));
    }
}
