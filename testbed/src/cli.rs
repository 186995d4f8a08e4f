//! Command-line syntax (clap derive). One variant per subcommand, each with its own
//! argument struct, so new subcommands (up, status, fault, down) slot in beside these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use testbed::MetadataCompression;
use testbed::sysroot::BootLoader;

mod pool;
pub use pool::{FaultArgs, FaultCommand, PoolDirArgs, Provision, UpArgs};

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
}
