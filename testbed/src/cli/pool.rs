//! Arguments of the pool subcommands: `up`, `serve`, `status`, `fault`, `down`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Directory to build the pool in (created; must be new or empty).
    #[arg(long)]
    pub dir: PathBuf,

    /// Number of hosts (overrides the scenario's; default 3).
    #[arg(long)]
    pub hosts: Option<usize>,

    /// Scenario file (TOML): pool shape, controller version, durations.
    #[arg(long)]
    pub scenario: Option<PathBuf>,

    /// Simulated seconds per real second (overrides the scenario's; default 60).
    #[arg(long)]
    pub time_scale: Option<f64>,

    /// The last N hosts are new hosts joining the pool: XAPI members with the plugin and
    /// their agent.toml, but no LINSTOR node, replica, VM or disk (overrides the scenario's
    /// `joining`).
    #[arg(long, value_name = "N")]
    pub join: Option<usize>,

    /// Give every host but the joining ones a loop-device disk (needs root).
    #[arg(long)]
    pub disks: bool,

    /// How hosts get DRBD and LINSTOR: `agent` runs `linstor-agent install` (found beside
    /// this binary, or $LINSTOR_AGENT_BIN); `packages` installs them with dnf directly.
    #[arg(long, value_enum, default_value_t = Provision::Agent)]
    pub provision: Provision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provision {
    Agent,
    Packages,
}

/// A pool directory made by `testbed up`.
#[derive(Debug, Args)]
pub struct PoolDirArgs {
    #[arg(long)]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    #[arg(long)]
    pub dir: PathBuf,

    #[command(subcommand)]
    pub fault: FaultCommand,
}

#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// The host's next reboot does not come back (it stays down).
    NoReturn {
        #[arg(long)]
        host: String,
    },
    /// The host's next boot does not start its LINSTOR satellite (node OFFLINE).
    NoSatellite {
        #[arg(long)]
        host: String,
    },
    /// The next time the host's satellite starts (boot or restart), it refuses the controller's
    /// version: its node is VERSION_MISMATCH until `satellite-accepts`.
    SatelliteRefuses {
        #[arg(long)]
        host: String,
    },
    /// The host's satellite accepts the controller again (clears `satellite-refuses`).
    SatelliteAccepts {
        #[arg(long)]
        host: String,
    },
    /// Resyncs of a resource (all its diskful replicas, or one node's) stop progressing.
    StallResync {
        #[arg(long)]
        resource: String,
        #[arg(long)]
        node: Option<String>,
    },
    /// Stalled resyncs of a resource go on.
    ResumeResync {
        #[arg(long)]
        resource: String,
        #[arg(long)]
        node: Option<String>,
    },
    /// The LINSTOR controller refuses connections for S simulated seconds.
    ControllerDown {
        #[arg(long)]
        seconds: f64,
    },
    /// An XAPI method fails with CODE [PARAM...] the next N times.
    XapiError {
        /// As on the wire, e.g. host.evacuate.
        #[arg(long)]
        method: String,
        #[arg(long)]
        code: String,
        #[arg(long = "param")]
        params: Vec<String>,
        #[arg(long, default_value_t = 1)]
        times: u32,
    },
    /// The host crashes now: down, its VMs halted.
    Crash {
        #[arg(long)]
        host: String,
    },
    /// A host that is down boots again (XAPI host.power_on).
    PowerOn {
        #[arg(long)]
        host: String,
    },
}
