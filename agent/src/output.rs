//! What a command prints: human text, or one JSON document that always carries `"changed"`.

use crate::error::ExitCode;
use serde::Serialize;

/// `--output`: human text, or one JSON document on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

/// What every command returns: a typed report that serializes to its JSON document (with
/// `changed`), renders as human text, and says the exit code it ends with.
pub trait Render: Serialize {
    fn human(&self) -> String;
    fn exit(&self) -> ExitCode {
        ExitCode::Ok
    }
}

/// A finished command: its JSON document (which includes `changed`) and its human rendering.
pub struct Outcome {
    pub document: serde_json::Value,
    pub human: String,
    /// The exit code once printed (`status` exits 1 when a check fails, with its document).
    pub exit: ExitCode,
}

impl Outcome {
    /// `report` must serialize to a JSON object with a `changed` field.
    pub fn new(report: &impl Serialize, human: String) -> anyhow::Result<Outcome> {
        let document = serde_json::to_value(report)?;
        debug_assert!(
            document.get("changed").is_some(),
            "every JSON document carries `changed`"
        );
        Ok(Outcome {
            document,
            human,
            exit: ExitCode::Ok,
        })
    }

    /// The outcome of a command's report.
    pub fn of(report: &impl Render) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::new(report, report.human())?;
        outcome.exit = report.exit();
        Ok(outcome)
    }

    pub fn print(&self, format: OutputFormat) {
        match format {
            OutputFormat::Human => write_stdout(&self.human),
            OutputFormat::Json => write_stdout(&format!("{}\n", pretty(&self.document))),
        }
    }
}

/// Prints a failure: to stderr as text, or as the one JSON document on stdout.
pub fn print_error(format: OutputFormat, err: &anyhow::Error, code: ExitCode) {
    match format {
        OutputFormat::Human => eprintln!("error: {err:#}"),
        OutputFormat::Json => {
            let document = serde_json::json!({
                "changed": false,
                "error": { "message": format!("{err:#}"), "exit_code": code as i32 },
            });
            write_stdout(&format!("{}\n", pretty(&document)));
        }
    }
}

/// Writes to stdout; a reader that went away (`linstor-agent … | head`) is not an error worth a
/// panic, which is what `print!` does on a broken pipe.
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn pretty(document: &serde_json::Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_else(|_| document.to_string())
}
