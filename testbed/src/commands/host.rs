//! `testbed host`: build one host sysroot.

use anyhow::Result;
use serde::Serialize;
use testbed::{FixtureRepo, HostOptions, build_host};

use crate::cli::HostArgs;

#[derive(Serialize)]
struct HostReport {
    name: String,
    root: String,
    config: String,
}

pub fn run(args: &HostArgs) -> Result<()> {
    let repo = FixtureRepo::open(&args.repo)?;
    let kernels: Vec<&str> = args.kernels.iter().map(String::as_str).collect();
    let opts = HostOptions {
        default_kernel: args.default_kernel.clone(),
        boot_loader: args.boot_loader,
        extra_packages: args.packages.clone(),
    };
    let host = build_host(&args.dir, &args.name, &repo, &kernels, &opts)?;
    super::print_json(&HostReport {
        name: host.name,
        root: host.root.display().to_string(),
        config: host.config.display().to_string(),
    })
}
