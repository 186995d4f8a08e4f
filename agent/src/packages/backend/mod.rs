//! Installing through the host's own package manager: `yum` on XCP-ng 8.x (CentOS 7 dom0),
//! `dnf` on the AlmaLinux-based releases and on this build machine. Both get the verified
//! package files from the agent's cache, the agent's repository (signature checks on) for
//! the dependencies, and `--installroot` when the agent acts on a root.

mod installonly;
mod repo_file;

use crate::context::Context;
use crate::error::UsageError;
use crate::exec;
use crate::host::facts::Facts;
use crate::host::{Sysroot, rootfs};
use crate::repo::Repository;
use anyhow::{Context as _, Result};
pub use installonly::installonly_args;
pub use repo_file::write_repo_file;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Id of the repository the agent hands to yum/dnf; stable, so it never duplicates a repo.
pub const REPO_ID: &str = "linstor-agent";

/// Where its `.repo` file is written (a host path, in the cache).
pub const REPO_DIR: &str = "/var/cache/linstor-agent/yum.repos.d";

/// The variable that overrides the package manager detection, and the values it takes.
pub const MANAGER_VAR: &str = "LINSTOR_AGENT_PACKAGE_MANAGER";
pub const MANAGERS: [&str; 2] = ["yum", "dnf"];

/// One transaction's worth of work.
pub struct Transaction<'a> {
    pub sysroot: &'a Sysroot,
    /// The module package's name (`[packages] kmod`): install-only for this transaction, so
    /// that a module for one kernel never replaces another kernel's (see [`installonly_args`]).
    pub kmod: &'a str,
    /// Directory with the agent's `.repo` file (see [`write_repo_file`]).
    pub repo_dir: &'a Path,
    /// `--releasever` for a root that cannot tell (no release package installed yet).
    pub releasever: Option<&'a str>,
    /// Verified package files to install or upgrade to.
    pub install: Vec<PathBuf>,
    /// Verified package files older than what is installed (a pin went back).
    pub downgrade: Vec<PathBuf>,
    /// Installed NEVRAs to remove in the same transaction: module packages superseded by the
    /// ones being installed (their files are the same paths, so both cannot be installed).
    pub remove: Vec<String>,
}

/// What one transaction installs, downgrades and removes.
#[derive(Debug, Default)]
pub struct Changes {
    pub install: Vec<PathBuf>,
    pub downgrade: Vec<PathBuf>,
    pub remove: Vec<String>,
}

/// The host's package manager, ready for transactions from the agent's repository: its
/// `.repo` file written under the cache, `$releasever` from the host.
pub struct Installer {
    manager: Box<dyn PackageManager>,
    repo_dir: PathBuf,
    releasever: Option<String>,
    kmod: String,
}

impl Installer {
    /// Detects the package manager and writes the `.repo` file of `repository`. `kmod` is the
    /// module package's name, install-only in every transaction of this installer.
    pub fn new(ctx: &Context, facts: &Facts, repository: &Repository, kmod: &str) -> Result<Installer> {
        let manager = detect()?;
        let settings = ctx.settings.repo()?;
        // Opened inside the root, and handed to yum/dnf as the directory it resolved to: the
        // file they read is the file written, whatever links the root holds.
        let repo_dir = ctx.sysroot.dir(REPO_DIR)?;
        write_repo_file(&repo_dir, repository.baseurl(), settings)?;
        Ok(Installer {
            manager,
            repo_dir: repo_dir.path().to_path_buf(),
            releasever: super::releasever(facts),
            kmod: kmod.to_owned(),
        })
    }

    /// `yum` or `dnf`.
    pub fn name(&self) -> &'static str {
        self.manager.name()
    }

    /// Applies `changes` in one transaction.
    pub fn apply(&self, sysroot: &Sysroot, changes: Changes) -> Result<()> {
        self.manager.apply(&Transaction {
            sysroot,
            kmod: &self.kmod,
            repo_dir: &self.repo_dir,
            releasever: self.releasever.as_deref(),
            install: changes.install,
            downgrade: changes.downgrade,
            remove: changes.remove,
        })
    }
}

pub trait PackageManager {
    fn name(&self) -> &'static str;
    fn apply(&self, tx: &Transaction) -> Result<()>;
}

pub struct Dnf;
pub struct Yum;

impl PackageManager for Dnf {
    fn name(&self) -> &'static str {
        "dnf"
    }

    fn apply(&self, tx: &Transaction) -> Result<()> {
        // `dnf install` of an older local package downgrades it, so one list serves both.
        let files: Vec<&PathBuf> = tx.install.iter().chain(&tx.downgrade).collect();
        let result = if tx.remove.is_empty() {
            let mut cmd = base_command("dnf", tx);
            cmd.arg("install").args(files);
            exec::run(&mut cmd)
                .map(drop)
                .context("dnf could not install the verified packages")
        } else {
            // Replacing a module package is one transaction (the old and the new one own the
            // same files), which only `dnf shell` can express. dnf accepts local packages only
            // as the first job of a shell transaction. A removal alone (the module of a kernel
            // that is gone) gets no `install` line (dnf 4 ignores an empty one; nothing says
            // every dnf will).
            let mut script = String::new();
            if !files.is_empty() {
                script.push_str(&format!("install {}\n", join_paths(&files)));
            }
            script.push_str(&format!("remove {}\nrun\n", tx.remove.join(" ")));
            run_shell("dnf", tx, &script)
        };
        // dnf starts a gpg-agent for the repository keyring it checks repomd.xml.asc with, and
        // leaves it running; under a root that would keep the root's filesystem busy.
        if !tx.sysroot.is_live() {
            stop_gpg_agents(&tx.sysroot.path("/var/cache/dnf"));
        }
        result
    }
}

impl PackageManager for Yum {
    fn name(&self) -> &'static str {
        "yum"
    }

    fn apply(&self, tx: &Transaction) -> Result<()> {
        // yum 3 (XCP-ng 8.x) does not downgrade on `install`: its shell puts install,
        // downgrade and erase into one transaction. Module packages are never in `downgrade`
        // (`packages::download` puts them in `install`): yum's downgrade skips install-only
        // packages, and its `install` puts an older one beside the newer.
        let mut script = String::new();
        if !tx.install.is_empty() {
            script.push_str(&format!(
                "install {}\n",
                join_paths(&tx.install.iter().collect::<Vec<_>>())
            ));
        }
        if !tx.downgrade.is_empty() {
            script.push_str(&format!(
                "downgrade {}\n",
                join_paths(&tx.downgrade.iter().collect::<Vec<_>>())
            ));
        }
        if !tx.remove.is_empty() {
            script.push_str(&format!("erase {}\n", tx.remove.join(" ")));
        }
        script.push_str("run\n");
        run_shell("yum", tx, &script)
    }
}

fn join_paths(paths: &[&PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a `yum/dnf shell` transaction script. Their shells exit 0 even when a job fails, so
/// the output is checked for errors too; the caller verifies the rpm database afterwards.
fn run_shell(program: &str, tx: &Transaction, script: &str) -> Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix("linstor-agent-transaction")
        .tempfile()
        .context("cannot create the transaction script")?;
    // Through the handle tempfile created (O_EXCL): never by name, which could be replaced.
    std::io::Write::write_all(&mut file, script.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", file.path().display()))?;
    let mut cmd = base_command(program, tx);
    cmd.arg("shell").arg(file.path());
    let output = exec::run(&mut cmd).with_context(|| format!("{program} could not run the transaction"))?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(error) = printed.lines().find(|l| l.starts_with("Error")) {
        anyhow::bail!(
            "`{}` reported: {error}\ntransaction:\n{script}",
            exec::describe(&cmd)
        );
    }
    Ok(())
}

/// The package manager of the machine the agent runs on: dnf where it exists, else yum.
/// `LINSTOR_AGENT_PACKAGE_MANAGER=yum|dnf` overrides the detection; any other value is a usage
/// error (see [`chosen_manager`]).
pub fn detect() -> Result<Box<dyn PackageManager>> {
    Ok(match chosen_manager()? {
        Some("yum") => Box::new(Yum),
        Some(_) => Box::new(Dnf),
        None if on_path("dnf") => Box::new(Dnf),
        None => Box::new(Yum),
    })
}

/// `LINSTOR_AGENT_PACKAGE_MANAGER`: `Some("yum" | "dnf")`, `None` when unset or empty (detect),
/// and a usage error (exit 2) naming the allowed values for anything else, so that a typo never
/// quietly installs with the other manager. `app` checks it before any command runs.
pub fn chosen_manager() -> Result<Option<&'static str>> {
    let Some(value) = std::env::var_os(MANAGER_VAR) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    if text.is_empty() {
        return Ok(None);
    }
    match MANAGERS.iter().find(|m| **m == text) {
        Some(m) => Ok(Some(*m)),
        None => Err(UsageError(format!(
            "{MANAGER_VAR}={:?}: use {} (or leave it unset: dnf where it is on PATH, else yum)",
            crate::settings::limits::shorten(&text),
            MANAGERS.join(" or ")
        ))
        .into()),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn base_command(program: &str, tx: &Transaction) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C").args(["-y", "-q"]);
    let mut repo_dirs = vec![tx.repo_dir.to_path_buf()];
    let own_repos = rootfs::real_path(tx.sysroot, Path::new("/etc/yum.repos.d"))
        .unwrap_or_else(|_| tx.sysroot.path("/etc/yum.repos.d"));
    if own_repos.is_dir() {
        // The host's own repositories (base, updates) provide the dependencies.
        repo_dirs.insert(0, own_repos);
    }
    let joined: Vec<String> = repo_dirs.iter().map(|d| d.display().to_string()).collect();
    cmd.arg(format!("--setopt=reposdir={}", joined.join(",")));
    cmd.args(installonly_args(program, tx.kmod));
    if !tx.sysroot.is_live() {
        cmd.arg("--installroot").arg(tx.sysroot.root());
        if let Some(releasever) = tx.releasever {
            cmd.arg(format!("--releasever={releasever}"));
        }
    }
    cmd
}

/// Stops gpg-agents dnf started for keyrings under `dir` (best effort: a leftover agent is
/// harmless to correctness).
fn stop_gpg_agents(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let pubring = entry.path().join("pubring");
        if pubring.is_dir() {
            let _ = exec::run_unchecked(
                Command::new("gpgconf")
                    .arg("--homedir")
                    .arg(&pubring)
                    .args(["--kill", "gpg-agent"]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction with nothing in it: what the command line is made from.
    fn empty_transaction<'a>(root: &'a Sysroot, releasever: Option<&'a str>) -> Transaction<'a> {
        Transaction {
            sysroot: root,
            kmod: "kmod-drbd",
            repo_dir: Path::new("/cache/repos"),
            releasever,
            install: vec![],
            downgrade: vec![],
            remove: vec![],
        }
    }

    #[test]
    fn root_mode_maps_to_installroot() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let tx = empty_transaction(&root, Some("8.3"));
        let line = exec::describe(&base_command("dnf", &tx));
        assert!(
            line.contains(&format!("--installroot {}", dir.path().display())),
            "{line}"
        );
        assert!(line.contains("--releasever=8.3"), "{line}");
        assert!(line.contains("--setopt=reposdir=/cache/repos"), "{line}");
        assert!(!line.contains("nogpgcheck"), "{line}");

        let live = Sysroot::live();
        let tx = Transaction { sysroot: &live, ..tx };
        let line = exec::describe(&base_command("yum", &tx));
        assert!(!line.contains("--installroot"), "{line}");
    }

    #[test]
    fn every_command_makes_the_module_package_install_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        let tx = empty_transaction(&root, None);
        let args = |program: &str| -> Vec<String> {
            base_command(program, &tx)
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let dnf = args("dnf");
        assert!(
            dnf.contains(&"--setopt=installonlypkgs=kmod-drbd".to_owned()),
            "{dnf:?}"
        );
        assert!(
            dnf.contains(&"--setopt=installonly_limit=0".to_owned()),
            "{dnf:?}"
        );
        let yum = args("yum");
        let list = yum
            .iter()
            .find(|a| a.starts_with("--setopt=installonlypkgs="))
            .expect("yum gets an installonlypkgs list");
        assert!(
            list.starts_with("--setopt=installonlypkgs=kernel,") && list.ends_with(",kmod-drbd"),
            "{list}"
        );
        assert!(
            yum.contains(&"--setopt=installonly_limit=0".to_owned()),
            "{yum:?}"
        );
    }
}
