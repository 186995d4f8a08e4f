//! Where the log goes: journald when systemd runs the agent with its output in the journal
//! (the firstboot unit), else stderr as always. In the journal every event keeps its fields as
//! journal fields, upper-cased and unprefixed: `STEP=` (the host step, or the upgrade's host
//! step), `HOST=` (the host it concerns), `PACKAGE=` (the package installed), so
//! `journalctl STEP=storage` or `journalctl PACKAGE=kmod-drbd` finds them.
//!
//! `LINSTOR_AGENT_LOG_TARGET` chooses: `auto` (default: journald when `JOURNAL_STREAM` names
//! this process's stderr, as systemd ≥ 231 sets it for a unit whose output goes to the journal,
//! systemd.exec(5)), `journald` (systemd 219, XCP-ng 8's, does not set `JOURNAL_STREAM`: the
//! unit says so itself), or `stderr`. When the journal's socket cannot be reached, stderr.

use crate::error::UsageError;

pub const TARGET_ENV: &str = "LINSTOR_AGENT_LOG_TARGET";

/// What the agent logs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Journald,
}

/// The target from `LINSTOR_AGENT_LOG_TARGET` (`None`, or empty: `auto`), `JOURNAL_STREAM`,
/// and stderr's device and inode.
pub fn choose(
    setting: Option<&str>,
    journal_stream: Option<&str>,
    stderr: Option<(u64, u64)>,
) -> Result<Target, UsageError> {
    match setting.unwrap_or("") {
        "" | "auto" => Ok(match (journal_stream.and_then(parse_stream), stderr) {
            (Some(stream), Some(ours)) if stream == ours => Target::Journald,
            _ => Target::Stderr,
        }),
        "journald" => Ok(Target::Journald),
        "stderr" => Ok(Target::Stderr),
        other => Err(UsageError(format!(
            "{TARGET_ENV}={other:?}: use auto, journald or stderr (or leave it unset)"
        ))),
    }
}

/// `JOURNAL_STREAM`: `<device>:<inode>`, both decimal.
fn parse_stream(text: &str) -> Option<(u64, u64)> {
    let (dev, ino) = text.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Stderr's device and inode, to compare with `JOURNAL_STREAM`.
fn stderr_identity() -> Option<(u64, u64)> {
    let st = rustix::fs::fstat(std::io::stderr()).ok()?;
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// Sets up the log for this process: `-q` only errors, else warnings (`-v` info, `-vv` debug);
/// in the journal info and up by default, since the journal is where the record is kept and
/// its reader filters by priority. `LINSTOR_AGENT_LOG` (an `EnvFilter`) overrides the level.
pub fn init(verbose: u8, quiet: bool) -> Result<(), UsageError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let setting = std::env::var(TARGET_ENV).ok();
    let stream = std::env::var("JOURNAL_STREAM").ok();
    let target = choose(setting.as_deref(), stream.as_deref(), stderr_identity())?;
    let journald = match target {
        Target::Journald => match tracing_journald::layer() {
            Ok(layer) => Ok(layer
                .with_field_prefix(None)
                .with_syslog_identifier("linstor-agent".into())),
            Err(e) => Err(e),
        },
        Target::Stderr => Err(std::io::Error::other("not chosen")),
    };
    let level = match (quiet, verbose, journald.is_ok()) {
        (true, _, _) => "error",
        (false, 0, false) => "warn",
        (false, 0, true) | (false, 1, _) => "info",
        (false, _, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINSTOR_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    match journald {
        Ok(layer) => {
            let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
        }
        Err(e) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(crate::progress::log_writer)
                // Colours only for a terminal: in a pipe, a file or a unit's log they are noise.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init();
            if target == Target::Journald {
                tracing::warn!("the journal cannot be reached ({e}): logging to stderr");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_journal_stream_only_when_it_names_stderr() {
        let ours = Some((8, 306_630));
        assert_eq!(choose(None, Some("8:306630"), ours).unwrap(), Target::Journald);
        assert_eq!(
            choose(Some("auto"), Some("8:306630"), ours).unwrap(),
            Target::Journald
        );
        // A variable inherited by a child whose stderr is elsewhere (a pipe, a terminal).
        assert_eq!(choose(None, Some("8:306631"), ours).unwrap(), Target::Stderr);
        assert_eq!(choose(None, None, ours).unwrap(), Target::Stderr);
        assert_eq!(choose(Some(""), Some("junk"), ours).unwrap(), Target::Stderr);
        assert_eq!(choose(None, Some("8:306630"), None).unwrap(), Target::Stderr);
    }

    #[test]
    fn an_explicit_target_wins_and_a_wrong_one_is_a_usage_error() {
        assert_eq!(choose(Some("journald"), None, None).unwrap(), Target::Journald);
        assert_eq!(
            choose(Some("stderr"), Some("8:1"), Some((8, 1))).unwrap(),
            Target::Stderr
        );
        let err = choose(Some("syslog"), None, None).unwrap_err();
        assert!(err.0.contains("auto, journald or stderr"), "{}", err.0);
    }
}
