//! `testbed`: build fixture repositories and host sysroots from the command line.
//!
//! A thin main: parse, start tracing (stderr, so stdout stays one JSON document), run,
//! and turn an error into a message and exit status 1.

mod cli;
mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};
use testbed::FixtureRepo;
use testbed::synthetic::{self, SyntheticOptions};
use tracing_subscriber::EnvFilter;

/// `testbed synthetic-repo`: the benchmark's large repository (see `testbed::synthetic`).
const SYNTHETIC_REPO: &str = "synthetic-repo";

#[derive(Debug, Args)]
struct SyntheticRepoArgs {
    /// Directory to build into (created; must be empty if it exists).
    #[arg(long)]
    dir: PathBuf,

    /// Packages in the repository, the fixture's own included.
    #[arg(long, default_value_t = 10_000)]
    packages: usize,

    /// A fixture repository built by `testbed repo`: its packages are copied in and its key
    /// signs repomd.xml.
    #[arg(long)]
    from_fixture: PathBuf,

    /// Seed of the generator (same seed and count, same packages).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The command line of `cli`, plus `synthetic-repo`.
fn command() -> clap::Command {
    let synthetic_repo = SyntheticRepoArgs::augment_args(clap::Command::new(SYNTHETIC_REPO).about(
        "Build a signed synthetic repository of many packages (metadata only) around a fixture's; \
         prints {dir, baseurl, gpgkey, fingerprint, packages, files, metadata, ...}",
    ));
    cli::Cli::command().subcommand(synthetic_repo)
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let verbose = matches.get_count("verbose");
    let default_level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        .init();
    match run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(matches: &ArgMatches) -> Result<()> {
    if let Some((SYNTHETIC_REPO, sub)) = matches.subcommand() {
        let args = SyntheticRepoArgs::from_arg_matches(sub).unwrap_or_else(|e| e.exit());
        return synthetic_repo(&args);
    }
    let cli = cli::Cli::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
    commands::run(cli.command)
}

fn synthetic_repo(args: &SyntheticRepoArgs) -> Result<()> {
    let fixture = FixtureRepo::open(&args.from_fixture)?;
    let opts = SyntheticOptions {
        packages: args.packages,
        seed: args.seed,
    };
    let repo = synthetic::build(&args.dir, &fixture, &opts)?;
    let text = serde_json::to_string_pretty(&repo).context("cannot serialize the result")?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_repo_parses_beside_the_other_subcommands() {
        command().debug_assert();
        let matches = command()
            .try_get_matches_from([
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
        let Some((SYNTHETIC_REPO, sub)) = matches.subcommand() else {
            panic!("not synthetic-repo")
        };
        let args = SyntheticRepoArgs::from_arg_matches(sub).expect("args");
        assert_eq!((args.packages, args.seed), (500, 1));
        assert_eq!(args.from_fixture, PathBuf::from("/f"));

        let matches = command()
            .try_get_matches_from(["testbed", "repo", "--dir", "/r"])
            .expect("parses");
        assert!(matches!(
            cli::Cli::from_arg_matches(&matches).expect("cli").command,
            cli::Command::Repo(_)
        ));
    }
}
