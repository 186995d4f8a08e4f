//! Installing packages into a sysroot with `dnf --installroot`, and asking its rpmdb.
//!
//! dnf gets its own config and repo directory (outside the root), so the host's and the
//! root's configuration play no part, and no plugins. Signature checks stay on:
//! `gpgcheck=1` and `repo_gpgcheck=1`; with `-y`, dnf imports the repository's `gpgkey`
//! into the root's rpmdb (`gpg-pubkey-…`) the first time, as on a real host.
//!
//! Where the rpmdb lands: Debian's rpm sets `%_dbpath` to `~/.rpmdb`, evaluated with
//! the caller's HOME, so with HOME=/root it is `<root>/root/.rpmdb`, not
//! `<root>/var/lib/rpm`. `rpm --root` finds it as long as HOME is the same; this module
//! never passes `--dbpath`, so that the agent's plain `rpm --root` sees the same database.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;
use crate::fixture::FixtureRepo;
use crate::fsutil;

/// The repo id in the generated `.repo` file.
pub const REPO_ID: &str = "testbed";
/// dnf's `$releasever` for XCP-ng 8.3.
pub const RELEASEVER: &str = "8.3";

/// dnf's configuration for one host: `<host dir>/dnf/dnf.conf` and `…/yum.repos.d/`.
#[derive(Debug, Clone)]
pub struct DnfConfig {
    pub conf: PathBuf,
    pub reposdir: PathBuf,
}

impl DnfConfig {
    /// Writes a dnf.conf and a `.repo` file for `repo` under `dir`.
    pub fn write(dir: &Path, repo: &FixtureRepo) -> Result<DnfConfig> {
        let conf = dir.join("dnf.conf");
        let reposdir = dir.join("yum.repos.d");
        fsutil::write(
            &conf,
            "[main]\n\
             gpgcheck=1\n\
             installonly_limit=5\n\
             install_weak_deps=False\n\
             best=True\n\
             skip_if_unavailable=False\n",
        )?;
        fsutil::write(&reposdir.join(format!("{REPO_ID}.repo")), repo_file(repo))?;
        Ok(DnfConfig { conf, reposdir })
    }

    /// `dnf --installroot <root>` with this configuration, non-interactive; add the
    /// subcommand and its arguments.
    pub fn command(&self, root: &Path) -> Cmd {
        Cmd::new("dnf")
            .arg("--installroot")
            .arg(root)
            .arg(format!("--releasever={RELEASEVER}"))
            .arg("--config")
            .arg(&self.conf)
            .arg(format!("--setopt=reposdir={}", self.reposdir.display()))
            .arg("--noplugins")
            .arg("--assumeyes")
    }

    /// `dnf install` of `specs` (NEVRAs or names) into `root`, dependencies resolved.
    pub fn install(&self, root: &Path, specs: &[&str]) -> Result<()> {
        if specs.is_empty() {
            return Ok(());
        }
        let result = self
            .command(root)
            .arg("install")
            .args(specs)
            .run()
            .with_context(|| format!("cannot install {} into {}", specs.join(" "), root.display()));
        stop_gpg_agents(root);
        result.map(drop)
    }
}

/// For `repo_gpgcheck`, dnf (librepo, through gpgme) imports the repository key into
/// `<cachedir>/<repo>-<hash>/pubring`, which starts a gpg-agent for that home and leaves
/// it running. Stop those, so that building hosts leaves no daemons behind.
pub fn stop_gpg_agents(root: &Path) {
    let cache = root.join("var/cache/dnf");
    let Ok(entries) = std::fs::read_dir(&cache) else {
        return;
    };
    for entry in entries.flatten() {
        let pubring = entry.path().join("pubring");
        if !pubring.is_dir() {
            continue;
        }
        let result = Cmd::new("gpgconf")
            .arg("--homedir")
            .arg(&pubring)
            .args(["--kill", "gpg-agent"])
            .output();
        if let Err(e) = result {
            tracing::warn!(home = %pubring.display(), "cannot stop gpg-agent: {e:#}");
        }
    }
}

/// The `.repo` stanza a host uses for the fixture repository.
pub fn repo_file(repo: &FixtureRepo) -> String {
    format!(
        "[{REPO_ID}]\n\
         name=linstor-agent testbed fixture\n\
         baseurl={}\n\
         enabled=1\n\
         gpgcheck=1\n\
         repo_gpgcheck=1\n\
         gpgkey=file://{}\n",
        repo.baseurl(),
        repo.key_path.display()
    )
}

/// `rpm --root <root>`, ready for a query.
pub fn rpm_in(root: &Path) -> Cmd {
    Cmd::new("rpm").arg("--root").arg(root)
}

/// A kernel package installed in a sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledKernel {
    pub nevra: String,
    pub version: String,
    pub release: String,
    /// Its `kernel-uname-r` provide: what `uname -r` prints when it runs.
    pub uname: String,
}

/// The kernels installed in `root`, from its rpmdb.
pub fn installed_kernels(root: &Path) -> Result<Vec<InstalledKernel>> {
    let out = rpm_in(root)
        .args(["-q", "--qf"])
        .arg("[%{=NEVRA}\t%{=VERSION}\t%{=RELEASE}\t%{PROVIDENAME}\t%{PROVIDEVERSION}\n]")
        .arg("kernel")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("is not installed") {
            return Ok(Vec::new());
        }
        bail!(
            "`rpm --root {} -q kernel` failed: {}{}",
            root.display(),
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_kernels(&stdout)
}

fn parse_kernels(text: &str) -> Result<Vec<InstalledKernel>> {
    let mut kernels: Vec<InstalledKernel> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [nevra, version, release, provide, provide_version] = fields[..] else {
            bail!("unexpected rpm query output line {line:?}");
        };
        if provide != "kernel-uname-r" {
            continue;
        }
        kernels.push(InstalledKernel {
            nevra: nevra.to_owned(),
            version: version.to_owned(),
            release: release.to_owned(),
            uname: provide_version.to_owned(),
        });
    }
    Ok(kernels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_provides() -> Result<()> {
        let text = "kernel-4.18.0-553.el8_10.x86_64\t4.18.0\t553.el8_10\tinstallonlypkg(kernel)\t\n\
                    kernel-4.18.0-553.el8_10.x86_64\t4.18.0\t553.el8_10\tkernel-uname-r\t4.18.0-553.el8_10.x86_64\n\
                    kernel-4.18.0-553.el8_10.x86_64\t4.18.0\t553.el8_10\tkernel(drbd_kabi_bio)\t0x5e6f7a8b\n";
        let kernels = parse_kernels(text)?;
        assert_eq!(
            kernels,
            vec![InstalledKernel {
                nevra: "kernel-4.18.0-553.el8_10.x86_64".into(),
                version: "4.18.0".into(),
                release: "553.el8_10".into(),
                uname: "4.18.0-553.el8_10.x86_64".into(),
            }]
        );
        Ok(())
    }
}
