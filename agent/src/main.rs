//! Thin entry point: parse the command line, run, map the error to an exit code (the codes are
//! in `error.rs` and README "Exit codes").

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = linstor_agent::cli::Cli::parse();
    let code = linstor_agent::app::run(cli);
    std::process::ExitCode::from(code as u8)
}
