//! The command line (DESIGN §4): global options, then one command per step.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "linstor-agent",
    version,
    about = "Provision XCP-ng hosts for DRBD/LINSTOR replicated storage, and upgrade pools safely",
    after_help = "Exit codes: 0 done (or nothing to do), 1 failed, 2 bad usage or config, 3 refused for safety."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalOptions {
    /// Main config file; `agent.d/*.toml` beside it is applied after it, in name order.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Act on the host filesystem mounted at DIR (kickstart %post, testbed hosts) instead of `/`.
    #[arg(long, global = true, value_name = "DIR", env = "LINSTOR_AGENT_ROOT")]
    pub root: Option<PathBuf>,
    /// Output format: human text, or one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What this host is: OS and XCP-ng version, running, installed and default boot kernels.
    Facts,
    /// Show what `install` would change, without changing anything.
    Plan,
    /// Install the DRBD kernel module for every kernel that may run it, and the userland packages.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Download and verify the packages into the cache, but install nothing.
    #[arg(long)]
    pub download_only: bool,
}
