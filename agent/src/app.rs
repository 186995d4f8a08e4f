//! The dispatcher: sets up logging, builds the [`Context`] (the sysroot and the validated
//! settings), turns each command's clap arguments into that command's own options, runs it, and
//! prints its report. Commands never import this module: they take a `&Context` and their
//! options and return a report that implements [`Render`].

use crate::cli::{Cli, Command, PoolCommand, ProbeArgs, ProbeCommand, UpgradeArgs};
use crate::context::Context;
use crate::error::{ExitCode, UsageError, exit_code_for};
use crate::host::{Sysroot, facts, targets};
use crate::output::{Outcome, OutputFormat, Render, print_error};
use crate::settings::{self, Settings};
use crate::{
    kernel_guard, logging, metrics, network, packages, pool, probe, progress, provision, register, status,
    storage,
};
use clap::Parser;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command line, or the exit code when it is wrong (or asked for help or the version):
/// clap's message on stderr, or under `--output json` the same JSON error document every other
/// failure prints (`{"changed": false, "error": {"message", "exit_code"}}`) on stdout.
pub fn parse(args: Vec<OsString>) -> Result<Cli, ExitCode> {
    let err = match Cli::try_parse_from(&args) {
        Ok(cli) => return Ok(cli),
        Err(err) => err,
    };
    let code = if err.exit_code() == 0 {
        ExitCode::Ok
    } else {
        ExitCode::Usage
    };
    if code == ExitCode::Usage && wants_json(&args) {
        let message = err.render().to_string();
        print_error(
            OutputFormat::Json,
            &anyhow::anyhow!("{}", message.trim_end()),
            code,
        );
    } else {
        let _ = err.print();
    }
    Err(code)
}

/// `--output json` or `--output=json` among the arguments (before a `--`), read without clap,
/// which has just refused the command line.
fn wants_json(args: &[OsString]) -> bool {
    let args: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .collect();
    args.contains(&"--output=json") || args.windows(2).any(|w| w[0] == "--output" && w[1] == "json")
}

pub fn run(cli: Cli) -> ExitCode {
    let format = cli.global.output;
    // Decided once, before anything logs: bars only for a person at a terminal.
    progress::init(progress::wanted_here(
        format == OutputFormat::Json,
        cli.global.quiet,
    ));
    if let Err(err) = logging::init(cli.global.verbose, cli.global.quiet) {
        print_error(format, &err.into(), ExitCode::Usage);
        return ExitCode::Usage;
    }
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
    let started = metrics::now();
    let prometheus = matches!(&cli.command, Command::Status(args) if args.prometheus);
    if prometheus && cli.global.output == OutputFormat::Json {
        return Err(UsageError(
            "status --prometheus prints the Prometheus text format: it does not go with --output json".into(),
        )
        .into());
    }
    let sysroot = Sysroot::new(absolute_root(cli.global.root.as_deref())?);
    // A wrong package manager is said before anything runs, whatever the command.
    packages::backend::chosen_manager()?;
    let (config_path, required) = match &cli.global.config {
        // Absolute too, so that the files named in messages and the `agent.d/` that
        // `install --save-pins` writes to do not depend on the working directory.
        Some(path) => (std::path::absolute(path).unwrap_or_else(|_| path.clone()), true),
        None => (sysroot.path(settings::DEFAULT_CONFIG), false),
    };
    let settings = Settings::load_in(&sysroot, &config_path, required)?;
    let ctx = Context::new(sysroot, settings);
    let record = recorded_run(&cli.command, started);
    let result = run_span(&ctx, &cli.command)
        .in_scope(|| dispatch(&ctx, cli.command, cli.global.quiet, cli.global.output));
    let Some(run) = record else {
        return result;
    };
    let exit = match &result {
        Ok(outcome) => outcome.exit,
        Err(err) => exit_code_for(err),
    };
    let exposition = metrics::after_run(&ctx, &run, exit as i32);
    let mut outcome = result?;
    if prometheus {
        outcome.human = exposition;
    }
    Ok(outcome)
}

/// The run the metrics record, for the commands that change or check the host; not for dry
/// runs, `install --download-only` (they change nothing), nor the read-only commands.
fn recorded_run(command: &Command, started: f64) -> Option<metrics::Run> {
    let run = |command, step| {
        Some(metrics::Run {
            command,
            step,
            started,
        })
    };
    match command {
        Command::Install(a) if !a.download_only => {
            // The whole step only without --only.
            run("install", a.selection.only.is_empty().then_some("install"))
        }
        Command::KernelGuard(a) if !a.dry_run => run("kernel-guard", None),
        Command::Storage(a) if !a.dry_run => run("storage", Some("storage")),
        Command::Network(a) if !a.dry_run => run("network", Some("network")),
        Command::Register(a) if !a.dry_run => run("register", Some("register")),
        Command::Provision(a) if !a.dry_run => run("provision", None),
        Command::Status(_) => run("status", None),
        Command::Pool(PoolCommand::Upgrade(a)) if !a.dry_run => run("pool upgrade", None),
        _ => None,
    }
}

/// The span every event of the run is in: the command, for a command on this host the host's
/// name, and for a step's own command the step (journald: `COMMAND=`, `HOST=`, `STEP=`;
/// `provision` and `status` open a span per step). Pool commands name each host in their events.
fn run_span(ctx: &Context, command: &Command) -> tracing::Span {
    let name = command_name(command);
    if matches!(command, Command::Pool(_)) {
        return tracing::info_span!("run", command = name);
    }
    let host = facts::hostname(&ctx.sysroot).ok().flatten().unwrap_or_default();
    match command {
        Command::Install(_) | Command::Storage(_) | Command::Network(_) | Command::Register(_) => {
            tracing::info_span!("run", command = name, host = %host, step = name)
        }
        _ => tracing::info_span!("run", command = name, host = %host),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Facts => "facts",
        Command::Plan(_) => "plan",
        Command::Install(_) => "install",
        Command::Storage(_) => "storage",
        Command::Network(_) => "network",
        Command::Probe(_) => "probe",
        Command::Register(_) => "register",
        Command::Provision(_) => "provision",
        Command::Status(_) => "status",
        Command::KernelGuard(_) => "kernel-guard",
        Command::Pool(_) => "pool",
    }
}

fn dispatch(ctx: &Context, command: Command, quiet: bool, format: OutputFormat) -> anyhow::Result<Outcome> {
    match command {
        Command::Facts => Outcome::of(&facts_report(ctx)?),
        Command::Plan(args) => {
            let mut options = packages::Options::parse(&args.selection.pin, &args.selection.only)?;
            options.newest = args.newest;
            Outcome::of(&provision::host_plan(ctx, &options)?)
        }
        Command::Install(args) => {
            let options = packages::InstallOptions {
                plan: packages::Options::parse(&args.selection.pin, &args.selection.only)?,
                download_only: args.download_only,
                save_pins: args.save_pins,
            };
            Outcome::of(&packages::install_with(ctx, &options)?)
        }
        Command::KernelGuard(args) => {
            let options = kernel_guard::Options {
                dry_run: args.dry_run,
                packages: packages::Options::parse(&args.pin, &[])?,
            };
            Outcome::of(&kernel_guard::run(ctx, &options)?)
        }
        Command::Storage(args) => {
            let options = storage::StorageOptions {
                dry_run: args.dry_run,
                wipe: args.wipe,
            };
            Outcome::of(&storage::run(ctx, &options)?)
        }
        Command::Network(args) => {
            let options = network::Options {
                dry_run: args.dry_run,
                skip_peer_check: args.skip_peer_check,
            };
            Outcome::of(&network::run(ctx, options)?)
        }
        Command::Probe(args) => Outcome::of(&probe::run(ctx, &probe_request(args))?),
        Command::Provision(args) => {
            let options = provision::Options {
                dry_run: args.dry_run,
                skip_peer_check: args.skip_peer_check,
                timeout: Duration::from_secs(args.timeout),
            };
            Outcome::of(&provision::run(ctx, &options)?)
        }
        Command::Status(_) => Outcome::of(&status::run(ctx)),
        Command::Register(args) => {
            let options = register::Options {
                dry_run: args.dry_run,
                timeout: Duration::from_secs(args.timeout),
            };
            Outcome::of(&register::run(ctx, &options)?)
        }
        Command::Pool(command) => pool_command(ctx, command, quiet, format),
    }
}

fn probe_request(args: ProbeArgs) -> probe::Request {
    match args.serve {
        Some(ProbeCommand::Serve(serve)) => probe::Request::Serve {
            listen: serve.listen,
            max_seconds: serve.max_seconds,
            max_bytes: serve.max_bytes,
            max_clients: serve.max_clients,
        },
        None => probe::Request::Probe {
            peers: args.peers,
            seconds: args.seconds,
            disk_gbps: args.disk_gbps,
        },
    }
}

/// `pool …`: `create-sr` (XOSTOR), or the rolling upgrade and its controls.
fn pool_command(
    ctx: &Context,
    command: PoolCommand,
    quiet: bool,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let request = match command {
        PoolCommand::CreateSr(args) => {
            let options = pool::create_sr::Options {
                name: args.name,
                description: args.description,
                redundancy: args.redundancy,
                group_name: args.group_name,
                dry_run: args.dry_run,
                allow_large_pool: args.allow_large_pool,
                verify_timeout: Duration::from_secs(args.verify_timeout),
                poll: Duration::from_millis(500),
            };
            return Outcome::of(&pool::create_sr::run(ctx, &options)?);
        }
        PoolCommand::Upgrade(args) => {
            let mut options = upgrade_options(&args, quiet)?;
            options.on_save = metrics::journal_hook(ctx);
            pool::Request::Upgrade(options)
        }
        PoolCommand::Status(args) => pool::Request::Status(args.watch.then(|| pool::watch::Watch {
            every: Duration::from_secs_f64(args.interval),
            blocks: format == OutputFormat::Human,
        })),
        PoolCommand::Report(args) => pool::Request::Report {
            journal: args.journal,
            output: args.html,
        },
        PoolCommand::Pause => pool::Request::Pause,
        PoolCommand::Abort => pool::Request::Abort { quiet },
    };
    Outcome::of(&pool::run(ctx, &request)?)
}

fn upgrade_options(args: &UpgradeArgs, quiet: bool) -> anyhow::Result<pool::Options> {
    let pins = pool::targets::parse_pins(&args.pins).map_err(UsageError)?;
    Ok(pool::Options {
        dry_run: args.dry_run,
        resume: args.resume,
        batch: args.batch,
        hosts: args.hosts.clone(),
        pins,
        evacuate_timeout: Duration::from_secs(args.evacuate_timeout),
        host_timeout: Duration::from_secs(args.host_timeout),
        resync_timeout: Duration::from_secs(args.resync_timeout),
        linstor_timeout: Duration::from_secs(args.linstor_timeout),
        stuck_after: Duration::from_secs(args.stuck_after),
        poll: Duration::from_millis(args.poll_ms.max(1)),
        quiet,
        on_save: None,
    })
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

/// `facts`: what this host is, and the kernels the DRBD module must serve.
#[derive(serde::Serialize)]
struct FactsReport {
    #[serde(flatten)]
    core: crate::report::ReportCore,
    #[serde(flatten)]
    facts: facts::Facts,
    /// The kernels the DRBD module must serve, default boot kernel first.
    serve: Vec<targets::KernelTarget>,
}

impl Render for FactsReport {
    fn human(&self) -> String {
        crate::host::report::render(&self.facts, &self.serve)
    }
}

fn facts_report(ctx: &Context) -> anyhow::Result<FactsReport> {
    let facts = facts::gather(&ctx.sysroot)?;
    let serve = targets::kernels_to_serve(&facts, &ctx.sysroot)?;
    Ok(FactsReport {
        core: crate::report::ReportCore::new("facts", false),
        facts,
        serve,
    })
}
