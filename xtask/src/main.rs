//! Build-time helpers for packaging (`specs/linstor-agent.spec` runs them in `%build`).
//!
//! `xtask docs --out DIR` writes, from the agent's clap definition:
//! - `DIR/man/linstor-agent.1` and one page per subcommand (`linstor-agent-provision.1`, and
//!   `linstor-agent-pool-upgrade.1` for nested ones), as `git` does;
//! - `DIR/completions/linstor-agent.bash`, `_linstor-agent` (zsh) and `linstor-agent.fish`.
//!
//! It is a separate binary, not a hidden subcommand, so the agent that ships carries no
//! generator code; it runs on the build machine (it needs no glibc 2.17 build).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Command, CommandFactory};
use clap_complete::Shell;

const BIN: &str = "linstor-agent";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, flag, out] if cmd == "docs" && flag == "--out" => docs(Path::new(out)),
        _ => bail!("usage: xtask docs --out DIR   (man pages in DIR/man, completions in DIR/completions)"),
    }
}

fn docs(out: &Path) -> Result<()> {
    let cmd = linstor_agent::cli::Cli::command().bin_name(BIN);
    let man = out.join("man");
    fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    let mut pages = Vec::new();
    write_man_pages(&cmd, &man, &mut pages)?;

    let completions = out.join("completions");
    fs::create_dir_all(&completions).with_context(|| format!("cannot create {}", completions.display()))?;
    for (shell, name) in [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ] {
        let mut cmd = cmd.clone();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
        write(&completions.join(name), &buf)?;
    }
    println!(
        "wrote {} man page(s) to {} and bash/zsh/fish completions to {}",
        pages.len(),
        man.display(),
        completions.display()
    );
    Ok(())
}

/// The page of `cmd`, then one per visible subcommand (recursively), named `a-b-c.1`.
fn write_man_pages(cmd: &Command, dir: &Path, pages: &mut Vec<PathBuf>) -> Result<()> {
    // Subcommands need their full name (`linstor-agent-pool-upgrade`) on their page.
    let mut cmd = cmd.clone();
    cmd.build();
    write_page(&cmd, dir, pages)
}

fn write_page(cmd: &Command, dir: &Path, pages: &mut Vec<PathBuf>) -> Result<()> {
    let name = cmd
        .get_display_name()
        .map(str::to_owned)
        .unwrap_or_else(|| cmd.get_name().to_owned());
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut buf)
        .with_context(|| format!("cannot render the man page of {name}"))?;
    write(&path, &buf)?;
    pages.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_page(sub, dir, pages)?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
