//! The versions the pool is upgraded to, and what each host's plan says about them.
//!
//! Without `--pin`, each host's agent plans with no pins (the newest its kernels fit); the
//! target of each package is the lowest of those across the hosts, so every host can reach
//! it. Each host then plans again with the targets pinned: a host that cannot is refused in
//! preflight, naming it.

use crate::repo::compare_versions;
use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A package change on a host: what it has and what it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: String,
    pub change: String,
    pub from: Vec<String>,
    pub to: Option<String>,
}

/// The LINSTOR packages, upgraded on every host in one step (a satellite whose version
/// differs from the controller's is VERSION_MISMATCH).
pub fn is_linstor_package(name: &str) -> bool {
    name.starts_with("linstor-")
        || name == "python-linstor"
        || name == "python3-linstor"
        || name == crate::packages::profile::META
}

/// XCP-ng's XAPI plugins package: Xen Orchestra updates it first in its LINSTOR step (the
/// `service.py` and `updater.py` plugins an XOSTOR update relies on; docs/xostor.md §8.2).
pub const XAPI_PLUGINS: &str = "xcp-ng-xapi-plugins";

/// `version` of a NEVRA string `name-[epoch:]version-release.arch` whose name is `name`.
pub fn nevra_version(nevra: &str, name: &str) -> Option<String> {
    let rest = nevra.strip_prefix(name)?.strip_prefix('-')?;
    let (vr, _arch) = rest.rsplit_once('.')?;
    let (version, _release) = vr.rsplit_once('-')?;
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    Some(version.to_string())
}

/// The pin form of a version: DRBD module packages carry the kernel in their version
/// (`9.2.11_4.18.0_553`, LINBIT style); the pin is the DRBD version before it.
pub fn pin_form(name: &str, version: &str, kmod: &str) -> String {
    if name == kmod {
        version.split('_').next().unwrap_or(version).to_string()
    } else {
        version.to_string()
    }
}

/// The package changes of an agent `plan` document (`actions`).
pub fn changes(plan: &Value) -> Result<Vec<PackageChange>> {
    let actions = plan
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the agent's plan has no actions list"))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(actions
        .iter()
        .map(|a| PackageChange {
            name: text(a, "name").unwrap_or_default(),
            change: text(a, "change").unwrap_or_default(),
            from: a
                .get("from")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            to: text(a, "to"),
        })
        .collect())
}

/// Lowest version per package across the hosts' unpinned plans, in pin form.
pub fn common_targets(plans: &[Vec<PackageChange>], kmod: &str) -> BTreeMap<String, String> {
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for plan in plans {
        for c in plan {
            let Some(to) = &c.to else { continue };
            let Some(version) = nevra_version(to, &c.name) else {
                continue;
            };
            let version = pin_form(&c.name, &version, kmod);
            match targets.get(&c.name) {
                Some(have) if compare_versions(&version, have) != Ordering::Less => {}
                _ => {
                    targets.insert(c.name.clone(), version);
                }
            }
        }
    }
    targets
}

/// Whether the host must reboot: its kernel or its DRBD module package changes.
pub fn needs_reboot(changes: &[PackageChange], kmod: &str) -> bool {
    changes
        .iter()
        .any(|c| c.change != "keep" && (c.name == kmod || c.name == "kernel"))
}

/// Parses `--pin PKG=VERSION` arguments.
pub fn parse_pins(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut pins = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((name, version)) if !name.trim().is_empty() && !version.trim().is_empty() => {
                pins.insert(name.trim().to_string(), version.trim().to_string());
            }
            _ => {
                return Err(format!(
                    "--pin {arg:?}: write it as PACKAGE=VERSION, e.g. kmod-drbd=9.2.12"
                ));
            }
        }
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_come_out_of_nevras() {
        assert_eq!(
            nevra_version("kmod-drbd-9.2.12-1.xcpng8.3.x86_64", "kmod-drbd").as_deref(),
            Some("9.2.12")
        );
        assert_eq!(
            nevra_version("linstor-satellite-1:1.29.2-1.el8.noarch", "linstor-satellite").as_deref(),
            Some("1.29.2")
        );
        assert_eq!(nevra_version("other-1-1.noarch", "kmod-drbd"), None);
        assert_eq!(pin_form("kmod-drbd", "9.2.11_4.18.0_553", "kmod-drbd"), "9.2.11");
    }

    #[test]
    fn the_common_target_is_the_lowest_newest() {
        let plan = |kmod: &str, sat: &str| {
            changes(&json!({"actions": [
                {"name": "kmod-drbd", "change": "upgrade", "from": [], "to": kmod},
                {"name": "linstor-satellite", "change": "keep", "from": [sat], "to": sat},
            ]}))
            .unwrap()
        };
        let a = plan(
            "kmod-drbd-9.2.12_4.18.0_553-1.el8.x86_64",
            "linstor-satellite-1.29.2-1.noarch",
        );
        let b = plan(
            "kmod-drbd-9.2.11-1.xcpng8.3.x86_64",
            "linstor-satellite-1.29.2-1.noarch",
        );
        let targets = common_targets(&[a.clone(), b], "kmod-drbd");
        assert_eq!(targets["kmod-drbd"], "9.2.11");
        assert_eq!(targets["linstor-satellite"], "1.29.2");
        assert!(needs_reboot(&a, "kmod-drbd"));
    }

    #[test]
    fn pins_need_a_name_and_a_version() {
        let pins = parse_pins(&["kmod-drbd=9.2.12".into()]).unwrap();
        assert_eq!(pins["kmod-drbd"], "9.2.12");
        assert!(
            parse_pins(&["kmod-drbd".into()])
                .unwrap_err()
                .contains("PACKAGE=VERSION")
        );
        assert!(parse_pins(&["=1".into()]).is_err());
    }
}
