//! The command line, all of it: global options, then one command per step, `provision`,
//! `status`, `probe`, `kernel-guard` and `pool`. Only clap types live here; the dispatcher
//! (`app`) turns them into each command's own options.

use crate::output::OutputFormat;
use clap::{Args, Parser, Subcommand};
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What this host is: OS and XCP-ng version, running, installed and default boot kernels.
    Facts,
    /// Show what `install` would change, without changing anything.
    Plan(PlanArgs),
    /// Install the DRBD kernel module for every kernel that may run it, and the userland packages.
    Install(InstallArgs),
    /// Build the LVM volume group (and thin pool) LINSTOR uses on the [storage] disks; never on a
    /// disk that holds anything unless it is named with --wipe.
    Storage(StorageArgs),
    /// Tune sysctl and the DRBD transport, open the LINSTOR/DRBD ports, configure the storage NIC
    /// (address, MTU), and check that the peers are reachable at that MTU.
    Network(NetworkArgs),
    /// Measure the storage network: throughput (Gbit/s) and round trip (µs) to each peer, where
    /// `linstor-agent probe serve` listens (TCP port 3380).
    Probe(ProbeArgs),
    /// Register this host with the LINSTOR controller: the node (named by the hostname), its
    /// storage interface and storage pool; then wait until the node is ONLINE.
    Register(RegisterArgs),
    /// The whole host in one converge: install, storage, network, register. Shows the plan,
    /// then applies the steps in order and stops at the first that fails.
    Provision(ProvisionArgs),
    /// Is this host converged? One line per check (module per kernel, packages, volume group,
    /// network, node ONLINE, storage pool); exit 0 only when every check holds, else 1.
    Status(StatusArgs),
    /// Make sure every installed kernel has a DRBD module that fits it: install the fitting
    /// module from the repository where one is missing; refuse (exit 3) when the repository has
    /// none for a kernel. Run by the kernel install hooks.
    KernelGuard(KernelGuardArgs),
    /// The rolling pool upgrade and its controls, run from anywhere that reaches the pool
    /// master's XAPI ([xapi]) and the LINSTOR controller ([controller]).
    #[command(subcommand)]
    Pool(PoolCommand),
}

/// `--pin` and `--only`, shared by `plan` and `install`.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectionArgs {
    /// Install VERSION of PKG this run (`9.2.12`, or `9.2.12-1.xcpng8.3` with the release),
    /// over any [packages] pin in the config. Repeat for each package.
    #[arg(long = "pin", value_name = "PKG=VERSION")]
    pub pin: Vec<String>,
    /// Touch only PKG (repeat for each): every other package stays as installed. A named
    /// package outside [packages] is upgraded when it is installed (linstor-controller,
    /// linstor-common), never added.
    #[arg(long = "only", value_name = "PKG")]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Plan the newest versions that fit, leaving out the config's [packages] pins (`--pin`
    /// still applies): what the repository offers this host, as `pool upgrade` asks.
    #[arg(long)]
    pub newest: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the agent's metrics in the Prometheus text format (what `[metrics] textfile_dir`
    /// gets) instead of the checks; the exit code is still status's.
    #[arg(long)]
    pub prometheus: bool,
}

#[derive(Debug, Args)]
pub struct KernelGuardArgs {
    /// Show what would be installed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Choose the module's version this run (`--pin kmod-drbd=9.2.12`), over the config's pin.
    #[arg(long = "pin", value_name = "PKG=VERSION")]
    pub pin: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Show the plan of the four steps, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not fail the network step when a peer is unreachable or its path does not carry the MTU.
    #[arg(long)]
    pub skip_peer_check: bool,
    /// The register step's deadline in seconds (for its plan, then its apply): finding and
    /// reaching the controller, every request, the node coming ONLINE.
    #[arg(long, default_value_t = 120, value_name = "S")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Show what would change on the controller and on this host, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The whole step's deadline in seconds: finding and reaching the controller, every
    /// request, the node coming ONLINE.
    #[arg(long, default_value_t = 120, value_name = "S")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Download and verify the packages into the cache, but install nothing.
    #[arg(long)]
    pub download_only: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// After a successful install, write the pins in effect to
    /// `<config dir>/agent.d/90-pool-upgrade.toml`, so that later runs keep these versions.
    #[arg(long, conflicts_with = "download_only")]
    pub save_pins: bool,
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Show what would be done (the exact commands), and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Erase the signatures (filesystem, swap, partition table, …) on DEVICE, one of the
    /// [storage] devices, before using it. Repeat for each disk. Mounted, held and boot disks
    /// stay refused.
    #[arg(long, value_name = "DEVICE")]
    pub wipe: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Show what would change (from → to), and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not fail when a peer is unreachable or its path does not carry the MTU.
    #[arg(long)]
    pub skip_peer_check: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProbeArgs {
    #[command(subcommand)]
    pub serve: Option<ProbeCommand>,
    /// The peers to probe, one after the other (default port 3380).
    #[arg(value_name = "PEER[:PORT]", required = true)]
    pub peers: Vec<String>,
    /// Seconds of bulk transfer per peer.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub seconds: f64,
    /// What the disks behind each link can write, in Gbit/s (default 10, an NVMe/SSD array's
    /// sequential writes): a slower link is a warning.
    #[arg(long, value_name = "X")]
    pub disk_gbps: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Answer probes from peers until a bound is reached, then exit.
    Serve(ProbeServeArgs),
}

#[derive(Debug, Args)]
pub struct ProbeServeArgs {
    /// Where to listen (default: the [network] storage_address, else every address; port 3380).
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub listen: Option<String>,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 300.0, value_name = "S")]
    pub max_seconds: f64,
    /// Accept at most this many bulk bytes over all probes (K, M, G, T, Ki, Mi, Gi, Ti suffixes).
    #[arg(long, default_value = "100G", value_name = "B", value_parser = crate::probe::parse_bytes)]
    pub max_bytes: u64,
    /// Exit once this many probes have been served.
    #[arg(long, value_name = "N")]
    pub max_clients: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Upgrade every host of the pool to the target versions, host by host (or in safe
    /// batches), never letting a DRBD resource lose quorum. Journaled: `--resume` continues
    /// a run that was stopped or killed.
    Upgrade(UpgradeArgs),
    /// Create the pool's XOSTOR SR (Vates' `linstor` driver, through XAPI `SR.create`) once
    /// every host is provisioned; then check it: shared, every PBD plugged, every host an
    /// ONLINE node, the database replicated, drbd-reactor on every host.
    CreateSr(CreateSrArgs),
    /// Show the journal of the current or last upgrade: phases, hosts, steps. With --watch,
    /// follow the running upgrade live until it ends.
    Status(PoolStatusArgs),
    /// Draw an upgrade's journal as one self-contained HTML file (a timeline per host, the
    /// batches, pauses and faults, the pool's health between batches, the time no orchestrator
    /// can save against the rest, the versions); prints its path. `pool upgrade` writes it at
    /// the end of every run too.
    Report(ReportArgs),
    /// Ask the running upgrade to stop after the batch it is working on; `--resume` continues.
    Pause,
    /// Ask the running upgrade to stop after the batch it is working on and restore the pool's
    /// settings; the journal is closed as aborted.
    Abort,
}

#[derive(Debug, Args)]
pub struct PoolStatusArgs {
    /// Follow the upgrade from its journal until it is done, paused, failed or aborted (or
    /// Ctrl-C): redrawn in place on a terminal, else a new block each time it changes. Reads
    /// only; the journal is where `pool upgrade` runs (the master or an operator's machine).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between two reads of the journal (with --watch).
    #[arg(long, default_value_t = 2.0, value_name = "S", requires = "watch",
          value_parser = parse_interval)]
    pub interval: f64,
}

/// `--interval`: 0.1 to 3600 seconds.
fn parse_interval(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if (0.1..=3600.0).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{secs} is out of range: give 0.1 to 3600 seconds"))
    }
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
    #[arg(long, default_value = "1", value_parser = crate::pool::batches::BatchMode::parse)]
    pub batch: crate::pool::batches::BatchMode,
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

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The journal to draw (a path on this machine); default: the one `pool status` reads.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Where to write the HTML; default: `pool-upgrade-<start time, UTC>.html` beside the journal.
    #[arg(short = 'o', long = "html", value_name = "FILE.html")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CreateSrArgs {
    /// The SR's name.
    #[arg(long, default_value = "XOSTOR")]
    pub name: String,
    /// The SR's description.
    #[arg(long, default_value = "Created by linstor-agent")]
    pub description: String,
    /// Diskful replicas of each volume (1 to 3, fixed once the SR exists); default 2 (1 with a
    /// single host with disks).
    #[arg(long)]
    pub redundancy: Option<u32>,
    /// The volume group (`VG`, thick) or thin pool (`VG/LV`) every diskful host has; default:
    /// the one the hosts have.
    #[arg(long, value_name = "VG[/LV]")]
    pub group_name: Option<String>,
    /// Check every host and print the SR.create that would run; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create the SR on a pool of more hosts than XOSTOR supports (7).
    #[arg(long)]
    pub allow_large_pool: bool,
    /// Seconds the new SR may take to be healthy on every host.
    #[arg(long, default_value_t = 600)]
    pub verify_timeout: u64,
}
