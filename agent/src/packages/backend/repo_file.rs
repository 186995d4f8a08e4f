//! The `.repo` file yum/dnf read the agent's repository from, for the dependencies they
//! resolve themselves: signature checks on, and the agent's own low-speed limit.

use super::REPO_ID;
use crate::host::{FileMode, HostDir};
use crate::settings::RepoSettings;
use anyhow::{Context as _, Result};
use std::path::PathBuf;

/// Writes `linstor-agent.repo` in `dir`: signature checks on for packages and for repomd.xml,
/// as Vates' `xcp-ng-release-linstor` configures it, and `[repo] minrate`/`timeout` as the
/// repository's own `minrate=`/`timeout=` (see [`low_speed_lines`]), so that a mirror that
/// trickles holds dnf's downloads no longer than the agent's.
pub fn write_repo_file(dir: &HostDir, baseurl: &str, settings: &RepoSettings) -> Result<PathBuf> {
    let name = format!("{REPO_ID}.repo");
    let path = dir.path().join(&name);
    let text = format!(
        "# Written by linstor-agent for its own transactions; not read by plain yum/dnf.\n\
         [{REPO_ID}]\nname=linstor-agent ({baseurl})\nbaseurl={baseurl}\nenabled=1\n\
         gpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://{}\n{}",
        settings.gpgkey.display(),
        low_speed_lines(settings)
    );
    // Renamed over whatever is there: a link in its place is replaced, never followed.
    dir.write(&name, text.as_bytes(), FileMode::Set(0o644))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `minrate=` (bytes per second) and `timeout=` (whole seconds) for the `.repo` file.
///
/// Both yum 3 and dnf hand them to curl as `LOW_SPEED_LIMIT` and `LOW_SPEED_TIME` (and
/// `timeout` as the connect timeout): urlgrabber's `grabber.py`, libdnf's `Repo.cpp`. The
/// agent's `minrate = 0` means "no rate check, only a stall of `timeout` seconds"; written as
/// `0` it would mean something else to each of them (urlgrabber replaces 0 by its default
/// 1000, curl takes 0 as no check at all, stalls included), so it is written as 1 byte/s:
/// a transfer that moves nothing for `timeout` seconds is aborted, as the agent's own are.
/// `timeout` is validated to 1..=3600 whole seconds, which both read as a number of seconds.
fn low_speed_lines(settings: &RepoSettings) -> String {
    format!(
        "minrate={}\ntimeout={}\n",
        settings.minrate.max(1),
        settings.timeout.as_secs().max(1)
    )
}

#[cfg(test)]
mod tests {
    use super::super::REPO_DIR;
    use super::*;
    use crate::host::Sysroot;
    use std::time::Duration;

    fn written(settings: &RepoSettings) -> String {
        let dir = tempfile::tempdir().unwrap();
        let dir = Sysroot::new(dir.path()).dir(REPO_DIR).unwrap();
        let path = write_repo_file(&dir, "file:///srv/repo/", settings).unwrap();
        std::fs::read_to_string(path).unwrap()
    }

    fn settings() -> RepoSettings {
        RepoSettings::new("file:///srv/repo/".into(), "/etc/pki/KEY".into(), None)
    }

    #[test]
    fn repo_file_keeps_signature_checks_on() {
        let text = written(&settings());
        assert!(text.contains("gpgcheck=1\n"));
        assert!(text.contains("repo_gpgcheck=1\n"));
        assert!(text.contains("gpgkey=file:///etc/pki/KEY\n"));
        assert!(text.contains("baseurl=file:///srv/repo/\n"));
    }

    #[test]
    fn repo_file_carries_the_low_speed_limit() {
        let text = written(&settings());
        assert!(text.contains("\nminrate=1000\ntimeout=30\n"), "{text}");

        let slow_link = RepoSettings {
            minrate: 200,
            timeout: Duration::from_secs(120),
            ..settings()
        };
        let text = written(&slow_link);
        assert!(text.contains("\nminrate=200\n"), "{text}");
        assert!(text.contains("\ntimeout=120\n"), "{text}");
        // In the repository's own section: the file has one.
        assert_eq!(text.matches('[').count(), 1, "{text}");
    }

    #[test]
    fn no_rate_check_is_still_a_stall_check() {
        let stall_only = RepoSettings {
            minrate: 0,
            timeout: Duration::from_secs(2),
            ..settings()
        };
        let text = written(&stall_only);
        assert!(text.contains("\nminrate=1\ntimeout=2\n"), "{text}");
        assert!(!text.contains("minrate=0"), "{text}");
    }
}
