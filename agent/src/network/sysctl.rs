//! The sysctl profile: `/etc/sysctl.d/90-linstor-agent.conf`, LINBIT's throughput defaults for
//! DRBD replication (bigger socket buffers; `tcp_mem` is left to the kernel), with
//! `[network.sysctl]` overriding or adding keys. Applied live with `sysctl -w` (not under
//! `--root`); a key the kernel refuses is reported by name and the others still apply.

use crate::exec;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub const PATH: &str = "/etc/sysctl.d/90-linstor-agent.conf";

/// LINBIT's throughput guidance for DRBD over TCP.
pub fn defaults() -> BTreeMap<String, String> {
    [
        ("net.core.rmem_max", "16777216"),
        ("net.core.wmem_max", "16777216"),
        ("net.ipv4.tcp_rmem", "131072 1048576 16777216"),
        ("net.ipv4.tcp_wmem", "131072 1048576 16777216"),
        ("net.core.netdev_max_backlog", "250000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The profile: the defaults with the config's keys applied over them.
pub fn profile(overrides: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = defaults();
    for (k, v) in overrides {
        all.insert(k.clone(), v.clone());
    }
    all
}

pub fn render(profile: &BTreeMap<String, String>) -> String {
    let mut text = String::from(
        "# Written by linstor-agent (network step): socket buffers for DRBD replication.\n\
         # Change them in [network.sysctl] of agent.toml, not here: the agent rewrites this file.\n",
    );
    for (k, v) in profile {
        text.push_str(&format!("{k} = {v}\n"));
    }
    text
}

/// Whitespace-normalised, as the kernel prints multi-value keys with tabs.
pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn proc_path(key: &str) -> std::path::PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// The running kernel's value of `key`, or `None` when it has no such key.
pub fn current(key: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(key))
        .ok()
        .map(|v| normalise(&v))
}

/// Sets `key` with `sysctl -w`; an error says why the kernel refused it.
pub fn apply(key: &str, value: &str) -> Result<()> {
    let output = exec::run_unchecked(Command::new("sysctl").arg("-w").arg(format!("{key}={value}")))
        .context("cannot run sysctl")?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    // procps' sysctl may exit 0 after a refused write: read the value back.
    let now = current(key);
    if !output.status.success() || now.as_deref() != Some(normalise(value).as_str()) {
        let reason = if !stderr.is_empty() {
            stderr
        } else if now.is_none() {
            "the kernel has no such key".to_string()
        } else {
            format!("the kernel kept {:?}", now.unwrap_or_default())
        };
        anyhow::bail!("{reason}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_and_add_keys_and_tcp_mem_is_left_alone() {
        let mut over = BTreeMap::new();
        over.insert("net.core.rmem_max".to_string(), "33554432".to_string());
        over.insert("vm.swappiness".to_string(), "10".to_string());
        let p = profile(&over);
        assert_eq!(p["net.core.rmem_max"], "33554432");
        assert_eq!(p["net.ipv4.tcp_rmem"], "131072 1048576 16777216");
        assert_eq!(p["vm.swappiness"], "10");
        assert!(!p.contains_key("net.ipv4.tcp_mem"));
        let text = render(&p);
        assert!(
            text.contains("net.ipv4.tcp_wmem = 131072 1048576 16777216\n"),
            "{text}"
        );
        assert_eq!(normalise("4096\t131072\t6291456\n"), "4096 131072 6291456");
    }
}
