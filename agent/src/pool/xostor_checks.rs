//! Preflight on an XOSTOR pool: Vates' own health check of the SR (`linstor-manager
//! healthCheck` on the pool master; a degraded SR is refused) and each host's dom0 memory
//! against Vates' recommendation (a warning).

use super::Upgrade;
use crate::xostor::{DOM0_MEMORY_RECOMMENDED, health, manager};
use anyhow::Result;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Adds the problems (refusals) and warnings of the SR's health and the hosts' dom0 memory.
pub fn check(
    up: &mut Upgrade,
    master: &str,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let Some(xostor) = up.xostor.clone() else {
        return Ok(());
    };
    let master_name = up
        .xapi
        .pool_hosts()?
        .into_iter()
        .find(|h| h.reference == master)
        .map_or_else(|| master.to_string(), |h| h.name_label);
    match manager::health_check(&mut up.xapi, master, &master_name, &xostor.group_name)? {
        Some(doc) => {
            let found = health::read(&doc);
            problems.extend(
                found
                    .problems
                    .into_iter()
                    .map(|p| format!("the XOSTOR SR is degraded (linstor-manager healthCheck): {p}")),
            );
            warnings.extend(
                found
                    .warnings
                    .into_iter()
                    .map(|w| format!("XOSTOR health check: {w}")),
            );
        }
        None => warnings.push(format!(
            "{master_name} has no linstor-manager plugin: Vates' health check of the SR was not run \
             (the agent's own checks of nodes and resources were)"
        )),
    }
    let hosts = up.xapi.pool_hosts()?;
    for (host, memory) in up.xapi.dom0_memory()? {
        if memory == 0 || memory >= DOM0_MEMORY_RECOMMENDED {
            continue;
        }
        let name = hosts
            .iter()
            .find(|h| h.reference == host)
            .map_or(host.as_str(), |h| h.name_label.as_str());
        warnings.push(format!(
            "{name}: dom0 has {:.1} GiB; Vates recommends {:.0} GiB for XOSTOR (\"16 GiB can be enough for \
             average pools with around a hundred volumes\"): LINSTOR's satellite and controller may be \
             killed by the OOM killer under load",
            memory as f64 / GIB,
            DOM0_MEMORY_RECOMMENDED as f64 / GIB
        ));
    }
    Ok(())
}
