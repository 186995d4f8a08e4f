//! The one place the testbed runs external programs.
//!
//! Every failure names the command line and carries the tail of its output, so a broken
//! fixture build says which tool refused and why instead of "exit status 1".

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// How much of stdout/stderr goes into an error message: enough to see rpmbuild's or
/// dnf's complaint, not a whole transaction log.
const OUTPUT_TAIL: usize = 4000;

/// An external command, built up then run once.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `--define "<name> <value>"`, the way rpm, rpmbuild and rpmsign take macros.
    pub fn define(self, name: &str, value: impl fmt::Display) -> Self {
        self.arg("--define").arg(format!("{name} {value}"))
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the command to completion; an error unless it exits 0.
    pub fn run(&self) -> Result<Output> {
        let output = self.output()?;
        if !output.status.success() {
            bail!("`{self}` failed ({}){}", output.status, describe_output(&output));
        }
        Ok(output)
    }

    /// Runs the command and returns its stdout as text; an error unless it exits 0.
    pub fn stdout(&self) -> Result<String> {
        let output = self.run()?;
        String::from_utf8(output.stdout).with_context(|| format!("`{self}` printed non-UTF-8"))
    }

    /// Runs the command whatever its exit status (for callers that expect failure).
    pub fn output(&self) -> Result<Output> {
        let started = Instant::now();
        let mut command = Command::new(&self.program);
        command.args(&self.args).stdin(Stdio::null());
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let output = command
            .output()
            .with_context(|| format!("cannot start `{self}` (is it installed?)"))?;
        tracing::debug!(
            command = %self,
            status = %output.status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ran"
        );
        Ok(output)
    }
}

impl fmt::Display for Cmd {
    /// A shell-like rendering, for messages only (not for pasting into a shell verbatim).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.envs {
            write!(f, "{}={} ", k.to_string_lossy(), v.to_string_lossy())?;
        }
        write!(f, "{}", self.program.to_string_lossy())?;
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                write!(f, " '{}'", arg.replace('\'', r"'\''"))?;
            } else {
                write!(f, " {arg}")?;
            }
        }
        Ok(())
    }
}

fn describe_output(output: &Output) -> String {
    let mut text = String::new();
    for (label, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        let s = s.trim();
        if !s.is_empty() {
            text.push_str(&format!("\n--- {label} ---\n{}", tail(s, OUTPUT_TAIL)));
        }
    }
    text
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_arguments_with_spaces() {
        let cmd = Cmd::new("rpmbuild").define("_topdir", "/tmp/x y").arg("a'b");
        assert_eq!(cmd.to_string(), r"rpmbuild --define '_topdir /tmp/x y' 'a'\''b'");
    }

    #[test]
    fn failure_names_the_command_and_its_output() {
        let err = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("short", 10), "short");
    }
}
