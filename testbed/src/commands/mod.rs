//! What each subcommand does. Every command prints one JSON document on stdout.

mod host;
mod pool;
mod repo;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::Command;

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Repo(args) => repo::run(&args),
        Command::Host(args) => host::run(&args),
        Command::Up(args) => pool::up(&args),
        Command::Serve(args) => pool::serve(&args),
        Command::Status(args) => pool::status(&args),
        Command::Fault(args) => pool::fault(&args),
        Command::Down(args) => pool::down(&args),
    }
}

fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot serialize the result")?;
    println!("{text}");
    Ok(())
}
