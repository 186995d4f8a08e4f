//! `testbed repo`: build a fixture repository.

use anyhow::Result;
use serde::Serialize;
use testbed::{BuildOptions, FixtureRepo};

use crate::cli::RepoArgs;

#[derive(Serialize)]
struct RepoReport<'a> {
    baseurl: String,
    gpgkey: String,
    fingerprint: &'a str,
    packages: &'a [String],
}

pub fn run(args: &RepoArgs) -> Result<()> {
    let opts = BuildOptions {
        compression: args.compress,
    };
    let repo = FixtureRepo::build(&args.dir, &opts)?;
    super::print_json(&RepoReport {
        baseurl: repo.baseurl(),
        gpgkey: repo.key_path.display().to_string(),
        fingerprint: &repo.fingerprint,
        packages: repo.packages(),
    })
}
