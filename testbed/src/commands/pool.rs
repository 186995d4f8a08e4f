//! `testbed up`, `serve`, `status`, `fault`, `down`: the simulated pool (see `testbed::pool`).

use anyhow::Result;
use testbed::pool::hosts::Provisioner;
use testbed::pool::{daemon, lifecycle};
use testbed::world::faults::Fault;

use crate::cli::{FaultArgs, FaultCommand, PoolDirArgs, Provision, UpArgs};

pub fn up(args: &UpArgs) -> Result<()> {
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
    super::print_json(&info)
}

pub fn serve(args: &PoolDirArgs) -> Result<()> {
    daemon::serve(&args.dir)
}

pub fn status(args: &PoolDirArgs) -> Result<()> {
    super::print_json(&lifecycle::status(&args.dir)?)
}

pub fn fault(args: &FaultArgs) -> Result<()> {
    let fault = match &args.fault {
        FaultCommand::NoReturn { host } => Fault::NoReturn { host: host.clone() },
        FaultCommand::NoSatellite { host } => Fault::NoSatellite { host: host.clone() },
        FaultCommand::SatelliteRefuses { host } => Fault::SatelliteRefuses { host: host.clone() },
        FaultCommand::SatelliteAccepts { host } => Fault::SatelliteAccepts { host: host.clone() },
        FaultCommand::StallResync { resource, node } => Fault::StallResync {
            resource: resource.clone(),
            node: node.clone(),
        },
        FaultCommand::ResumeResync { resource, node } => Fault::ResumeResync {
            resource: resource.clone(),
            node: node.clone(),
        },
        FaultCommand::ControllerDown { seconds } => Fault::ControllerDown { seconds: *seconds },
        FaultCommand::XapiError {
            method,
            code,
            params,
            times,
        } => Fault::XapiError {
            method: method.clone(),
            code: code.clone(),
            params: params.clone(),
            times: *times,
        },
        FaultCommand::Crash { host } => Fault::Crash { host: host.clone() },
        FaultCommand::PowerOn { host } => Fault::PowerOn { host: host.clone() },
    };
    super::print_json(&lifecycle::fault(&args.dir, &fault)?)
}

pub fn down(args: &PoolDirArgs) -> Result<()> {
    super::print_json(&lifecycle::down(&args.dir)?)
}
