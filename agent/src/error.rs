//! The error kinds that decide the exit code: 0 done, 1 failed, 2 bad usage or config, 3 refused
//! for safety (README "Exit codes", a public contract).
//!
//! Everything else travels as `anyhow::Error` with context; `main` walks the chain and maps the
//! first of these markers it finds to its exit code, so a refusal deep in a step still exits 3.

/// Exit codes, part of the public contract used by scripts, Ansible and the kickstart hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[repr(i32)]
pub enum ExitCode {
    /// Done, or nothing to do.
    Ok = 0,
    /// Failed.
    Failed = 1,
    /// Bad usage or config.
    Usage = 2,
    /// Refused for safety (a disk with data, a degraded pool, a module missing for a kernel).
    Refused = 3,
}

/// Refused for safety: nothing was changed, and the message says why and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Bad usage or config: the message names the file, line and key where there is one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A refusal carried inside a command's document (`kernel-guard`, `plan` under Secure Boot),
/// shaped like the error document every command prints on failure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorDoc {
    pub message: String,
    /// 3 (refused), as in every command's error document.
    pub exit_code: i32,
}

impl ErrorDoc {
    pub fn refused(refusal: &Refusal) -> ErrorDoc {
        ErrorDoc {
            message: refusal.0.clone(),
            exit_code: ExitCode::Refused as i32,
        }
    }
}

/// The exit code an error maps to: the first marker in its chain decides, else 1.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if cause.is::<Refusal>() {
            return ExitCode::Refused;
        }
        if cause.is::<UsageError>() {
            return ExitCode::Usage;
        }
    }
    ExitCode::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_deep_in_the_chain_decide_the_exit_code() {
        let err = anyhow::Error::new(Refusal("no module for kernel".into())).context("install step");
        assert_eq!(exit_code_for(&err), ExitCode::Refused);

        let usage = anyhow::Error::new(UsageError("agent.toml:3: unknown key".into()));
        assert_eq!(exit_code_for(&usage), ExitCode::Usage);

        assert_eq!(exit_code_for(&anyhow::anyhow!("disk full")), ExitCode::Failed);
    }
}
