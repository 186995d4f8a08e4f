//! Which LINSTOR the pool has: the `linstor-satellite` and `linstor-controller` packages
//! installed on every host, the version the controller runs, and whether the upgrade can bring
//! them all to one version.
//!
//! The running controller alone does not tell: under drbd-reactor the controller starts on
//! whichever host promotes its database, with the `linstor-controller` installed there. A host
//! left at an older package takes the controller back to that version when it becomes the
//! controller's host, and every satellite becomes VERSION_MISMATCH. So the LINSTOR step is
//! needed whenever any host's installed server packages or the running controller differ from
//! the target, and it upgrades the controller package on every host that has one before any
//! satellite moves (Vates' order: packages on every host, then the controller stopped so
//! drbd-reactor starts it again, then the satellites restarted).

use super::Upgrade;
use super::plugin::{self, AgentAnswer, AgentArgs};
use super::targets::{changes, nevra_version};
use crate::repo::compare_versions;
use crate::xapi::pool::PoolHost;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The LINSTOR server packages (one version, from one linstor-server build): a satellite
/// whose version differs from the controller's is VERSION_MISMATCH.
pub const SERVER_PACKAGES: [&str; 2] = ["linstor-satellite", "linstor-controller"];

/// What one host has of one server package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The installed version (None: not installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The newest version this host's repository offers (None: the repository has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

/// Per host (XAPI name), per server package.
pub type PoolLinstor = BTreeMap<String, BTreeMap<String, Installed>>;

/// Asks every host's agent which server packages it has and which the repository offers
/// (`plan --newest --only linstor-satellite --only linstor-controller`, with the run's pins).
/// Hosts whose agent cannot answer are problems, each naming the host.
pub fn survey(
    up: &mut Upgrade,
    hosts: &[PoolHost],
    pins: &BTreeMap<String, String>,
) -> (PoolLinstor, Vec<String>) {
    let mut pool = PoolLinstor::new();
    let mut problems = Vec::new();
    let args = AgentArgs {
        pins: pins.clone(),
        only: SERVER_PACKAGES.iter().map(|s| s.to_string()).collect(),
        newest: true,
        ..AgentArgs::default()
    };
    for h in hosts.iter().filter(|h| h.live) {
        match plugin::agent(&mut up.xapi, &h.reference, &h.name_label, "plan", &args) {
            Ok(AgentAnswer::Done(doc)) => match changes(&doc) {
                Ok(list) => {
                    let mut packages = BTreeMap::new();
                    for name in SERVER_PACKAGES {
                        let mine: Vec<_> = list.iter().filter(|c| c.name == name).collect();
                        let version = mine
                            .iter()
                            .flat_map(|c| c.from.iter())
                            .find_map(|f| nevra_version(f, name));
                        let newest = mine
                            .iter()
                            .filter_map(|c| c.to.as_deref())
                            .find_map(|t| nevra_version(t, name));
                        packages.insert(name.to_string(), Installed { version, newest });
                    }
                    pool.insert(h.name_label.clone(), packages);
                }
                Err(e) => problems.push(format!("host {}: {e:#}", h.name_label)),
            },
            Ok(AgentAnswer::Refused(msg)) => problems.push(format!("host {}: {msg}", h.name_label)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    (pool, problems)
}

/// The LINSTOR version the run ends on: the pinned `linstor-satellite`, else the lowest of
/// the newest every host's repository offers (so every host can reach it).
pub fn target(pool: &PoolLinstor, pins: &BTreeMap<String, String>) -> Option<String> {
    if let Some(pin) = pins.get("linstor-satellite") {
        return Some(pin.clone());
    }
    pool.values()
        .filter_map(|p| p.get("linstor-satellite")?.newest.clone())
        .min_by(|a, b| compare_versions(a, b))
}

/// The server packages the LINSTOR step installs: those some host has, or the config manages.
pub fn packages_to_install(pool: &PoolLinstor, managed: &BTreeMap<String, String>) -> Vec<String> {
    SERVER_PACKAGES
        .iter()
        .filter(|name| {
            managed.contains_key(**name)
                || pool
                    .values()
                    .any(|p| p.get(**name).is_some_and(|i| i.version.is_some()))
        })
        .map(|s| s.to_string())
        .collect()
}

/// Whether anything of LINSTOR differs from `target`: the running controller or any installed
/// server package.
pub fn needs_change(pool: &PoolLinstor, running: &str, target: &str) -> bool {
    running != target
        || pool.values().any(|p| {
            p.values()
                .any(|i| i.version.as_deref().is_some_and(|v| v != target))
        })
}

/// What the upgrade cannot fix, each naming hosts and versions: LINSTOR's database migrates
/// forwards only, so nothing may go back below what runs or is installed, and a package the
/// repository does not carry cannot be moved at all.
pub fn unfixable(pool: &PoolLinstor, running: &str, target: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if compare_versions(running, target) == Ordering::Greater {
        problems.push(format!(
            "the LINSTOR controller runs {running}, newer than the target {target}: LINSTOR does \
             not go back to an older version (its database has moved on). Upgrade to {running} \
             or later: leave out --pin linstor-satellite, or pin linstor-satellite={running}"
        ));
    }
    for (host, packages) in pool {
        for (name, installed) in packages {
            let Some(version) = installed.version.as_deref() else {
                continue;
            };
            if compare_versions(version, target) == Ordering::Greater {
                problems.push(format!(
                    "host {host} has {name} {version} installed, newer than the target {target}: \
                     the upgrade does not downgrade LINSTOR. Pin {version} (or later) for the whole \
                     pool, or bring {host} back to {target} by hand first"
                ));
            } else if version != target && installed.newest.is_none() {
                problems.push(format!(
                    "host {host} has {name} {version} installed, but its repository has no {name}: \
                     it cannot be brought to {target}, and the controller would come back at \
                     {version} if it moved there. Add {name} to the repository, or remove it from {host}"
                ));
            }
        }
    }
    problems
}

/// Where LINSTOR starts from, in words: the running controller's version, and the installed
/// versions where they differ from it (`1.29.2 running, 1.29.0 installed`).
pub fn from_summary(pool: &PoolLinstor, running: &str) -> String {
    let mut installed: Vec<&str> = pool
        .values()
        .flat_map(|p| p.values())
        .filter_map(|i| i.version.as_deref())
        .filter(|v| *v != running)
        .collect();
    installed.sort_unstable();
    installed.dedup();
    if installed.is_empty() {
        running.to_string()
    } else {
        format!("{running} running, {} installed", installed.join(" and "))
    }
}

/// One line per host: its installed server packages (`xcp-ng-1: linstor-satellite 1.29.0,
/// linstor-controller 1.29.0`).
pub fn describe(pool: &PoolLinstor) -> Vec<String> {
    pool.iter()
        .map(|(host, packages)| {
            let parts: Vec<String> = packages
                .iter()
                .map(|(name, i)| format!("{name} {}", i.version.as_deref().unwrap_or("not installed")))
                .collect();
            format!("{host}: {}", parts.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(sat: Option<&str>, ctl: Option<&str>, newest: Option<&str>) -> BTreeMap<String, Installed> {
        BTreeMap::from([
            (
                "linstor-satellite".to_string(),
                Installed {
                    version: sat.map(str::to_string),
                    newest: newest.map(str::to_string),
                },
            ),
            (
                "linstor-controller".to_string(),
                Installed {
                    version: ctl.map(str::to_string),
                    newest: newest.map(str::to_string),
                },
            ),
        ])
    }

    #[test]
    fn installed_packages_behind_the_running_controller_need_the_linstor_step() {
        // The pool: services run 1.29.2, every host has 1.29.0 installed.
        let pool = PoolLinstor::from([
            (
                "a".to_string(),
                host(Some("1.29.0"), Some("1.29.0"), Some("1.29.2")),
            ),
            (
                "b".to_string(),
                host(Some("1.29.0"), Some("1.29.0"), Some("1.29.2")),
            ),
        ]);
        let t = target(&pool, &BTreeMap::new()).unwrap();
        assert_eq!(t, "1.29.2");
        assert!(needs_change(&pool, "1.29.2", &t));
        assert!(unfixable(&pool, "1.29.2", &t).is_empty());
        assert_eq!(from_summary(&pool, "1.29.2"), "1.29.2 running, 1.29.0 installed");
        assert_eq!(
            packages_to_install(&pool, &BTreeMap::new()),
            ["linstor-satellite", "linstor-controller"]
        );
        let same = PoolLinstor::from([("a".to_string(), host(Some("1.29.2"), None, Some("1.29.2")))]);
        assert!(!needs_change(&same, "1.29.2", "1.29.2"));
        assert_eq!(
            packages_to_install(&same, &BTreeMap::new()),
            ["linstor-satellite"]
        );
    }

    #[test]
    fn going_back_or_a_package_the_repository_lacks_is_unfixable() {
        let pool = PoolLinstor::from([
            (
                "a".to_string(),
                host(Some("1.29.0"), Some("1.29.0"), Some("1.29.2")),
            ),
            (
                "b".to_string(),
                host(Some("1.29.0"), Some("1.29.2"), Some("1.29.2")),
            ),
        ]);
        let pins = BTreeMap::from([("linstor-satellite".to_string(), "1.29.0".to_string())]);
        let t = target(&pool, &pins).unwrap();
        let problems = unfixable(&pool, "1.29.2", &t);
        assert!(
            problems[0].contains("controller runs 1.29.2, newer than the target 1.29.0"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("host b has linstor-controller 1.29.2"),
            "{problems:?}"
        );

        let mut lacking = host(Some("1.29.2"), Some("1.29.0"), Some("1.29.2"));
        lacking.get_mut("linstor-controller").unwrap().newest = None;
        let pool = PoolLinstor::from([("c".to_string(), lacking)]);
        let problems = unfixable(&pool, "1.29.2", "1.29.2");
        assert!(
            problems[0].contains("repository has no linstor-controller"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_target_is_the_lowest_newest() {
        let pool = PoolLinstor::from([
            ("a".to_string(), host(Some("1.29.0"), None, Some("1.29.2"))),
            ("b".to_string(), host(Some("1.29.0"), None, Some("1.29.10"))),
        ]);
        assert_eq!(target(&pool, &BTreeMap::new()).as_deref(), Some("1.29.2"));
    }
}
