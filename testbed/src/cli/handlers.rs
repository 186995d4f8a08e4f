//! What each subcommand does. Every command prints one JSON document on stdout.

use anyhow::{Context, Result};
use serde::Serialize;
use testbed::simpool::hosts::Provisioner;
use testbed::simpool::{daemon, lifecycle};
use testbed::synthetic::{self, SyntheticOptions};
use testbed::world::faults::Fault;
use testbed::{BuildOptions, FixtureRepo, HostOptions, build_host};

use super::{Command, FaultArgs, FaultCommand, HostArgs, Provision, RepoArgs, SyntheticRepoArgs, UpArgs};

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Repo(args) => repo(&args),
        Command::Host(args) => host(&args),
        Command::Up(args) => up(&args),
        Command::Serve(args) => daemon::serve(&args.dir),
        Command::Status(args) => print_json(&lifecycle::status(&args.dir)?),
        Command::Fault(args) => fault(&args),
        Command::Down(args) => print_json(&lifecycle::down(&args.dir)?),
        Command::SyntheticRepo(args) => synthetic_repo(&args),
    }
}

fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot serialize the result")?;
    println!("{text}");
    Ok(())
}

#[derive(Serialize)]
struct RepoReport<'a> {
    baseurl: String,
    gpgkey: String,
    fingerprint: &'a str,
    packages: &'a [String],
}

/// `testbed repo`: build a fixture repository.
fn repo(args: &RepoArgs) -> Result<()> {
    let opts = BuildOptions {
        compression: args.compress,
    };
    let repo = FixtureRepo::build(&args.dir, &opts)?;
    print_json(&RepoReport {
        baseurl: repo.baseurl(),
        gpgkey: repo.key_path.display().to_string(),
        fingerprint: &repo.fingerprint,
        packages: repo.packages(),
    })
}

#[derive(Serialize)]
struct HostReport {
    name: String,
    root: String,
    config: String,
}

/// `testbed host`: build one host sysroot.
fn host(args: &HostArgs) -> Result<()> {
    let repo = FixtureRepo::open(&args.repo)?;
    let kernels: Vec<&str> = args.kernels.iter().map(String::as_str).collect();
    let opts = HostOptions {
        default_kernel: args.default_kernel.clone(),
        boot_loader: args.boot_loader,
        extra_packages: args.packages.clone(),
    };
    let host = build_host(&args.dir, &args.name, &repo, &kernels, &opts)?;
    print_json(&HostReport {
        name: host.name,
        root: host.root.display().to_string(),
        config: host.config.display().to_string(),
    })
}

/// `testbed synthetic-repo`: the benchmark's large repository (see `testbed::synthetic`).
fn synthetic_repo(args: &SyntheticRepoArgs) -> Result<()> {
    let fixture = FixtureRepo::open(&args.from_fixture)?;
    let opts = SyntheticOptions {
        packages: args.packages,
        seed: args.seed,
    };
    print_json(&synthetic::build(&args.dir, &fixture, &opts)?)
}

/// `testbed up`: build a simulated pool and start its servers (see `testbed::simpool`).
fn up(args: &UpArgs) -> Result<()> {
    let info = lifecycle::up(&lifecycle::UpOptions {
        dir: args.dir.clone(),
        hosts: args.hosts,
        scenario: args.scenario.clone(),
        time_scale: args.time_scale,
        join: args.join,
        disks: args.disks,
        provisioner: match args.provision {
            Provision::Agent => None,
            Provision::Packages => Some(Provisioner::Packages),
        },
        testbed_bin: None,
    })?;
    print_json(&info)
}

/// `testbed fault`: inject a fault into a running pool.
fn fault(args: &FaultArgs) -> Result<()> {
    print_json(&lifecycle::fault(&args.dir, &to_fault(&args.fault))?)
}

fn to_fault(command: &FaultCommand) -> Fault {
    match command.clone() {
        FaultCommand::NoReturn { host } => Fault::NoReturn { host },
        FaultCommand::NoSatellite { host } => Fault::NoSatellite { host },
        FaultCommand::SatelliteRefuses { host } => Fault::SatelliteRefuses { host },
        FaultCommand::SatelliteAccepts { host } => Fault::SatelliteAccepts { host },
        FaultCommand::StallResync { resource, node } => Fault::StallResync { resource, node },
        FaultCommand::ResumeResync { resource, node } => Fault::ResumeResync { resource, node },
        FaultCommand::ControllerDown { seconds } => Fault::ControllerDown { seconds },
        FaultCommand::XapiError {
            method,
            code,
            params,
            times,
        } => Fault::XapiError {
            method,
            code,
            params,
            times,
        },
        FaultCommand::Crash { host } => Fault::Crash { host },
        FaultCommand::PowerOn { host } => Fault::PowerOn { host },
        FaultCommand::PbdUnplugged { host } => Fault::PbdUnplugged { host },
        FaultCommand::PbdPlugs { host } => Fault::PbdPlugs { host },
        FaultCommand::PoolJoin { host } => Fault::PoolJoin { host },
    }
}
