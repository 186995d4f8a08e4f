//! Runs one parsed command line: sets up logging, loads the config, dispatches, prints.

use crate::cli::{Cli, Command};
use crate::config::{self, LoadedConfig};
use crate::error::{ExitCode, UsageError, exit_code_for};
use crate::host::{Sysroot, facts};
use crate::network;
use crate::output::{Outcome, print_error};
use crate::packages;
use crate::storage;
use std::path::{Path, PathBuf};

/// What every command gets: the host it acts on and the configuration.
pub struct Context {
    pub sysroot: Sysroot,
    pub config: LoadedConfig,
}

pub fn run(cli: Cli) -> ExitCode {
    init_tracing(cli.global.verbose, cli.global.quiet);
    let format = cli.global.output;
    match execute(cli) {
        Ok(outcome) => {
            outcome.print(format);
            outcome.exit
        }
        Err(err) => {
            let code = exit_code_for(&err);
            print_error(format, &err, code);
            code
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<Outcome> {
    let sysroot = Sysroot::new(absolute_root(cli.global.root.as_deref())?);
    let (config_path, required) = match &cli.global.config {
        // Absolute too, so that the files named in messages and the `agent.d/` that
        // `install --save-pins` writes to do not depend on the working directory.
        Some(path) => (std::path::absolute(path).unwrap_or_else(|_| path.clone()), true),
        None => (sysroot.path(config::DEFAULT_CONFIG), false),
    };
    let config = config::load(&config_path, required)?;
    let ctx = Context { sysroot, config };
    let quiet = cli.global.quiet;
    match cli.command {
        Command::Pool(command) => crate::pool::run(&ctx, &command, quiet),
        Command::Facts => facts(&ctx),
        Command::Plan(args) => {
            let mut options = packages::Options::parse(&args.selection.pin, &args.selection.only)?;
            options.newest = args.newest;
            let report = packages::plan_report_with(&ctx, &options)?;
            let mut human = packages::render_plan(&report);
            let options = crate::provision::Options {
                dry_run: true,
                skip_peer_check: true,
                timeout: std::time::Duration::from_secs(10),
            };
            let steps = crate::provision::plan_after_install(&ctx, &options);
            human.push_str(&crate::provision::render_plans(&steps));
            let mut document = serde_json::to_value(&report)?;
            if let Some(map) = document.as_object_mut() {
                map.insert("steps".into(), serde_json::to_value(&steps)?);
            }
            Ok(Outcome {
                document,
                human,
                exit: ExitCode::Ok,
            })
        }
        Command::Install(args) => {
            let options = packages::InstallOptions {
                plan: packages::Options::parse(&args.selection.pin, &args.selection.only)?,
                download_only: args.download_only,
                save_pins: args.save_pins,
            };
            let report = packages::install_with(&ctx, &options)?;
            Outcome::new(&report, packages::render_install(&report))
        }
        Command::KernelGuard(args) => {
            let options = crate::kernel_guard::Options {
                dry_run: args.dry_run,
                packages: packages::Options::parse(&args.pin, &[])?,
            };
            crate::kernel_guard::outcome(&ctx, &options)
        }
        Command::Storage(args) => {
            let options = storage::StorageOptions {
                dry_run: args.dry_run,
                wipe: args.wipe,
            };
            let report = storage::run(&ctx, &options)?;
            Outcome::new(&report, storage::render(&report))
        }
        Command::Network(args) => {
            let options = network::Options {
                dry_run: args.dry_run,
                skip_peer_check: args.skip_peer_check,
            };
            let report = network::run(&ctx, options)?;
            Outcome::new(&report, network::render(&report))
        }
        Command::Probe(args) => crate::probe::run(&ctx, args),
        Command::Provision(args) => {
            let options = crate::provision::Options {
                dry_run: args.dry_run,
                skip_peer_check: args.skip_peer_check,
                timeout: std::time::Duration::from_secs(args.timeout),
            };
            let report = crate::provision::run(&ctx, &options)?;
            Outcome::new(&report, crate::provision::render(&report))
        }
        Command::Status => {
            let report = crate::status::run(&ctx);
            let mut outcome = Outcome::new(&report, crate::status::render(&report))?;
            if !report.converged {
                outcome.exit = ExitCode::Failed;
            }
            Ok(outcome)
        }
        Command::Register(args) => {
            let options = crate::register::Options {
                dry_run: args.dry_run,
                timeout: std::time::Duration::from_secs(args.timeout),
            };
            let report = crate::register::run(&ctx, &options)?;
            Outcome::new(&report, crate::register::render(&report))
        }
    }
}

/// `--root` as an absolute path, made so once at startup: rpm, yum and dnf refuse a relative
/// `--root`/`--installroot`, and a path that changes meaning with the working directory is
/// not one to hand to them. The path is not canonicalized (symlinks stay as given).
fn absolute_root(root: Option<&Path>) -> anyhow::Result<PathBuf> {
    let Some(root) = root.filter(|r| !r.as_os_str().is_empty()) else {
        return Ok(PathBuf::from("/"));
    };
    let absolute = std::path::absolute(root).map_err(|e| {
        UsageError(format!(
            "--root {}: cannot make it an absolute path ({e}): give an absolute path",
            root.display()
        ))
    })?;
    // `/mnt/sysimage/` and `/mnt/sysimage` are one root; `/` stays `/` (live).
    let cleaned: PathBuf = absolute.components().collect();
    Ok(cleaned)
}

#[derive(serde::Serialize)]
struct FactsReport {
    command: &'static str,
    changed: bool,
    #[serde(flatten)]
    facts: facts::Facts,
    /// The kernels the DRBD module must serve, default boot kernel first.
    serve: Vec<facts::KernelTarget>,
}

fn facts(ctx: &Context) -> anyhow::Result<Outcome> {
    let facts = facts::gather(&ctx.sysroot)?;
    let serve = facts::kernels_to_serve(&facts, &ctx.sysroot)?;
    let human = facts::render(&facts, &serve);
    Outcome::new(
        &FactsReport {
            command: "facts",
            changed: false,
            facts,
            serve,
        },
        human,
    )
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINSTOR_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
