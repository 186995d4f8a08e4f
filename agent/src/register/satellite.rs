//! The satellite on this host: its `linstor_satellite.toml` (where it listens for the
//! controller) and its systemd unit, enabled and started (live) or enabled in the root.

use super::{Desired, RegisterReport, SATELLITE_CONFIG, SATELLITE_UNIT};
use crate::exec;
use crate::host::{FileMode, Sysroot, rootfs};
use anyhow::{Context as _, Result};
use std::path::Path;
use std::process::Command;

/// The satellite's `linstor_satellite.toml`: where it listens for the controller.
pub fn satellite_config_text(desired: &Desired) -> String {
    let kind = if desired.encryption == "SSL" {
        "ssl"
    } else {
        "plain"
    };
    format!(
        "# Written by linstor-agent (register): where this satellite listens for the controller.\n\
         [netcom]\n  type = \"{kind}\"\n  bind_address = \"{}\"\n  port = {}\n",
        desired.address, desired.port
    )
}

pub(super) fn satellite_config(
    sysroot: &Sysroot,
    desired: &Desired,
    apply: bool,
    report: &mut RegisterReport,
) -> Result<()> {
    let path = sysroot.path(SATELLITE_CONFIG);
    let text = satellite_config_text(desired);
    let current = rootfs::read_optional(sysroot, Path::new(SATELLITE_CONFIG))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if current.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    if apply {
        // 0600, as before: the file was always created private.
        sysroot.write_file(SATELLITE_CONFIG, text.as_bytes(), FileMode::Set(0o600))?;
    }
    report.act(
        "satellite config",
        format!(
            "{}: listen on {}:{} ({})",
            SATELLITE_CONFIG, desired.address, desired.port, desired.encryption
        ),
    );
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Live: `systemctl enable --now` unless enabled and active. Root: `systemctl --root R enable`
/// unless the wants link is there; without systemctl (or without the unit in the root) the
/// enabling is reported as skipped.
pub(super) fn enable_satellite(sysroot: &Sysroot, apply: bool, report: &mut RegisterReport) -> Result<()> {
    if sysroot.is_live() {
        let enabled =
            exec::run_unchecked(Command::new("systemctl").args(["is-enabled", "--quiet", SATELLITE_UNIT]))
                .is_ok_and(|o| o.status.success());
        let active =
            exec::run_unchecked(Command::new("systemctl").args(["is-active", "--quiet", SATELLITE_UNIT]))
                .is_ok_and(|o| o.status.success());
        if enabled && active {
            return Ok(());
        }
        if apply {
            exec::run(Command::new("systemctl").args(["enable", "--now", SATELLITE_UNIT]))
                .context("enabling and starting linstor-satellite")?;
        }
        report.act(
            "satellite service",
            format!("systemctl enable --now {SATELLITE_UNIT}"),
        );
        return Ok(());
    }
    report
        .core
        .skip(format!("systemctl start {SATELLITE_UNIT} (live only)"));
    let wants = sysroot.path(format!(
        "/etc/systemd/system/multi-user.target.wants/{SATELLITE_UNIT}"
    ));
    if wants.symlink_metadata().is_ok() {
        return Ok(());
    }
    let root = sysroot.root().display().to_string();
    if !on_path("systemctl") {
        report.core.skipped.push(format!(
            "systemctl --root {root} enable {SATELLITE_UNIT}: systemctl is not available here"
        ));
        return Ok(());
    }
    if !apply {
        report.act(
            "satellite service",
            format!("systemctl --root {root} enable {SATELLITE_UNIT}"),
        );
        return Ok(());
    }
    let out =
        exec::run_unchecked(Command::new("systemctl").args(["--root", &root, "enable", SATELLITE_UNIT]))?;
    if out.status.success() {
        report.act(
            "satellite service",
            format!("systemctl --root {root} enable {SATELLITE_UNIT}"),
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        report.core.skipped.push(format!(
            "systemctl --root {root} enable {SATELLITE_UNIT}: {}",
            if err.is_empty() { "failed".into() } else { err }
        ));
    }
    Ok(())
}
