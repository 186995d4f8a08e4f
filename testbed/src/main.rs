//! `testbed`: build fixture repositories and host sysroots from the command line.
//!
//! A thin main: parse, start tracing (stderr, so stdout stays one JSON document), run,
//! and turn an error into a message and exit status 1.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        .init();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
