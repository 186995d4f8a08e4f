//! The one place that runs external programs: every call is logged with its full command line
//! and duration, and a failure names the program, its exit status and what it printed on stderr.

use anyhow::{Context, Result, bail};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// The command line as a user could paste it into a shell (for logs and error messages).
pub fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
            line.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    line
}

/// Runs the command to completion, capturing stdout and stderr, and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let output = run_unchecked(cmd)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// Runs the command and returns its stdout as text; fails unless it exits 0.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    let output = run(cmd)?;
    String::from_utf8(output.stdout).with_context(|| format!("`{}` printed non-UTF-8 output", describe(cmd)))
}

/// Runs the command and returns its output whatever the exit status (for tools such as
/// `rpm -q` whose non-zero exit is an answer, not a failure).
pub fn run_unchecked(cmd: &mut Command) -> Result<Output> {
    let line = describe(cmd);
    tracing::debug!(command = %line, "running");
    let started = Instant::now();
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{line}` (is it installed and on PATH?)"))?;
    tracing::debug!(
        command = %line,
        status = %output.status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "finished"
    );
    Ok(output)
}

/// Runs the command with `input` on its stdin (`iptables-restore < FILE`); fails unless it exits 0.
pub fn run_with_stdin_file(cmd: &mut Command, input: &std::path::Path) -> Result<Output> {
    let line = format!("{} < {}", describe(cmd), input.display());
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    tracing::debug!(command = %line, "running");
    let started = Instant::now();
    let output = cmd
        .stdin(Stdio::from(file))
        .output()
        .with_context(|| format!("cannot run `{line}` (is it installed and on PATH?)"))?;
    tracing::debug!(
        command = %line,
        status = %output.status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "finished"
    );
    if !output.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command_and_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo broken >&2; exit 4"])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sh -c 'echo broken >&2; exit 4'"), "{msg}");
        assert!(msg.contains("broken"), "{msg}");
    }

    #[test]
    fn missing_program_is_named() {
        let err = run(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tool"));
    }

    #[test]
    fn stdout_is_returned() {
        assert_eq!(stdout(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }
}
