//! `linstor-agent pool …`: the rolling upgrade and its controls.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Upgrade every host of the pool to the target versions, host by host (or in safe
    /// batches), never letting a DRBD resource lose quorum. Journaled: `--resume` continues
    /// a run that was stopped or killed.
    Upgrade(UpgradeArgs),
    /// Show the journal of the current or last upgrade: phases, hosts, steps.
    Status,
    /// Ask the running upgrade to stop after the batch it is working on; `--resume` continues.
    Pause,
    /// Ask the running upgrade to stop after the batch it is working on and restore the pool's
    /// settings; the journal is closed as aborted.
    Abort,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Print the plan per host (packages from → to, reboot or restart, batch) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the journaled run from the step it stopped at, after checking the pool again.
    #[arg(long)]
    pub resume: bool,
    /// Hosts down at once: `auto` (the largest groups LINSTOR's replica placement and the free
    /// memory allow) or a number (at most that many, still only where it is safe).
    #[arg(long, default_value = "1", value_parser = parse_batch)]
    pub batch: BatchMode,
    /// Upgrade only these hosts (XAPI name labels or hostnames), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Target version of a package (repeatable); else the newest that fits every host.
    #[arg(long = "pin", value_name = "PKG=VERSION")]
    pub pins: Vec<String>,
    /// Seconds a host may take to evacuate its VMs.
    #[arg(long, default_value_t = 1800)]
    pub evacuate_timeout: u64,
    /// Seconds a host may take to come back live after its reboot, and its node ONLINE.
    #[arg(long, default_value_t = 1800)]
    pub host_timeout: u64,
    /// Seconds the resources may take to be UpToDate again after a host comes back.
    #[arg(long, default_value_t = 3600)]
    pub resync_timeout: u64,
    /// Seconds the LINSTOR step may take for the controller and every node to be ONLINE on
    /// the new version.
    #[arg(long, default_value_t = 900)]
    pub linstor_timeout: u64,
    /// Seconds a state that waiting does not fix (a node VERSION_MISMATCH, a satellite not
    /// running on a host that is up) may last before the run pauses on it; an EVICTED node
    /// pauses it at once.
    #[arg(long, default_value_t = 120)]
    pub stuck_after: u64,
    /// Milliseconds between two looks at LINSTOR while waiting for a node or a resync (its
    /// REST API has no long poll; XAPI waits use event.from).
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    Auto,
    AtMost(usize),
}

impl std::fmt::Display for BatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchMode::Auto => f.write_str("auto"),
            BatchMode::AtMost(n) => write!(f, "{n}"),
        }
    }
}

fn parse_batch(value: &str) -> Result<BatchMode, String> {
    if value == "auto" {
        return Ok(BatchMode::Auto);
    }
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(BatchMode::AtMost(n)),
        _ => Err(format!("{value:?}: use `auto` or a number of hosts (1 or more)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_auto_or_a_positive_number() {
        assert_eq!(parse_batch("auto"), Ok(BatchMode::Auto));
        assert_eq!(parse_batch("3"), Ok(BatchMode::AtMost(3)));
        assert!(parse_batch("0").is_err());
        assert!(parse_batch("two").unwrap_err().contains("use `auto`"));
    }
}
