//! Thin entry point: parse the command line, run, map the error to an exit code (the codes are
//! in `error.rs` and README "Exit codes").

fn main() -> std::process::ExitCode {
    let code = match linstor_agent::app::parse(std::env::args_os().collect()) {
        Ok(cli) => linstor_agent::app::run(cli),
        Err(code) => code,
    };
    std::process::ExitCode::from(code as u8)
}
