//! The `testbed` command line: every clap type of every subcommand, in one place. One
//! variant per subcommand, each with its own argument struct; [`handlers`] says what each
//! one does.

pub mod handlers;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use testbed::MetadataCompression;
use testbed::sysroot::BootLoader;

#[derive(Debug, Parser)]
#[command(name = "testbed", version, about = "Fixtures for linstor-agent's tests")]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug; RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the signed fixture repository; prints {baseurl, gpgkey, fingerprint, packages}.
    Repo(RepoArgs),
    /// Build one host sysroot with kernels installed from a fixture repository; prints
    /// {name, root, config}.
    Host(HostArgs),
    /// Build a simulated pool (hosts, LINSTOR controller, XAPI) and start its servers in the
    /// background; prints DIR/pool.json.
    Up(UpArgs),
    /// Run a pool's servers in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    Serve(PoolDirArgs),
    /// Print a pool's world as JSON: hosts, nodes, resources, VMs, clock, violations.
    Status(PoolDirArgs),
    /// Inject a fault into a running pool.
    Fault(FaultArgs),
    /// Stop a pool's servers and release its loop devices.
    Down(PoolDirArgs),
    // The benchmark's large repository (see `testbed::synthetic`).
    #[command(
        about = "Build a signed synthetic repository of many packages (metadata only) around a fixture's; \
                 prints {dir, baseurl, gpgkey, fingerprint, packages, files, metadata, ...}"
    )]
    SyntheticRepo(SyntheticRepoArgs),
}

#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Directory to build into (created; must be empty if it exists).
    #[arg(long)]
    pub dir: PathBuf,

    /// Compression of the repodata.
    #[arg(long, value_enum, default_value_t = MetadataCompression::Gz)]
    pub compress: MetadataCompression,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Directory that holds the hosts; this one goes to DIR/NAME.
    #[arg(long)]
    pub dir: PathBuf,

    /// A fixture repository built by `testbed repo`.
    #[arg(long)]
    pub repo: PathBuf,

    /// Host name (hostname, LINSTOR node name, directory name).
    #[arg(long)]
    pub name: String,

    /// Kernel NEVRA to install (repeatable), e.g. kernel-4.19.19-8.0.38.4.xcpng8.3.
    #[arg(long = "kernel", required = true)]
    pub kernels: Vec<String>,

    /// Uname of the kernel to boot by default (default: the newest installed).
    #[arg(long)]
    pub default_kernel: Option<String>,

    /// Boot loader layout.
    #[arg(long, value_enum, default_value_t = BootLoader::Auto)]
    pub boot_loader: BootLoader,

    /// Another package to install with the kernels (repeatable), name or NEVRA.
    #[arg(long = "package")]
    pub packages: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SyntheticRepoArgs {
    /// Directory to build into (created; must be empty if it exists).
    #[arg(long)]
    pub dir: PathBuf,

    /// Packages in the repository, the fixture's own included.
    #[arg(long, default_value_t = 10_000)]
    pub packages: usize,

    /// A fixture repository built by `testbed repo`: its packages are copied in and its key
    /// signs repomd.xml.
    #[arg(long)]
    pub from_fixture: PathBuf,

    /// Seed of the generator (same seed and count, same packages).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

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

#[derive(Debug, Clone, Subcommand)]
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
    /// The host's PBDs do not plug: xapi's attempts after a boot and PBD.plug fail until
    /// `pbd-plugs`.
    PbdUnplugged {
        #[arg(long)]
        host: String,
    },
    /// The host's PBDs plug again (clears `pbd-unplugged`).
    PbdPlugs {
        #[arg(long)]
        host: String,
    },
    /// A host built outside the pool (scenario `join_later`) joins it (`xe pool-join`).
    PoolJoin {
        #[arg(long)]
        host: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn host_takes_repeated_kernels() {
        let cli = Cli::try_parse_from([
            "testbed",
            "host",
            "--dir",
            "/d",
            "--repo",
            "/r",
            "--name",
            "h1",
            "--kernel",
            "a",
            "--kernel",
            "b",
            "--default-kernel",
            "u",
        ])
        .expect("parses");
        let Command::Host(args) = cli.command else {
            panic!("not host")
        };
        assert_eq!(args.kernels, ["a", "b"]);
        assert_eq!(args.default_kernel.as_deref(), Some("u"));
    }

    #[test]
    fn synthetic_repo_parses_beside_the_other_subcommands() {
        let cli = Cli::try_parse_from([
            "testbed",
            "synthetic-repo",
            "--dir",
            "/d",
            "--from-fixture",
            "/f",
            "--packages",
            "500",
        ])
        .expect("parses");
        let Command::SyntheticRepo(args) = cli.command else {
            panic!("not synthetic-repo")
        };
        assert_eq!((args.packages, args.seed), (500, 1));
        assert_eq!(args.from_fixture, PathBuf::from("/f"));

        let cli = Cli::try_parse_from(["testbed", "repo", "--dir", "/r"]).expect("parses");
        assert!(matches!(cli.command, Command::Repo(_)));
    }
}
