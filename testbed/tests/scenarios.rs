//! The scenario files of `testbed/scenarios/` say what they are for; these tests hold them to
//! it: the upgrade pools start at the fixture's old versions (so an upgrade changes the kmod and
//! LINSTOR), `batch-6` lets pairs of hosts across its two replica groups go down together
//! without losing quorum and with room to evacuate, `no-batch-4` has no such pair,
//! `xostor-bare` has no LINSTOR node, resource, SR or controller. The claims
//! are checked on the layout and then by rebooting hosts in a world built from the file.

mod world_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use testbed::fixture::catalog::{
    DRBD_REACTOR_1_5_0, DRBD_UTILS_9_29_0, KMOD_NAME, KMOD_XCPNG_9_2_12, KMODS, LINSTOR_CLIENT_1_24_0,
    LINSTOR_CONTROLLER_1_29_2, LINSTOR_SATELLITE_1_29_2, USERLAND,
};
use testbed::world::build::{empty_hosts, initial_state};
use testbed::world::scenario::{Resolved, ResourceSpec};
use testbed::world::violations::QUORUM_LOST;
use testbed::world::{Clock, Credentials, Scenario, World};
use world_support::pool;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn load(name: &str) -> Result<(String, Resolved)> {
    let path = scenarios_dir().join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let resolved = Scenario::load(&path)?.resolve(None, None)?;
    Ok((text, resolved))
}

/// Host indices of every replica of `r`.
fn replicas(r: &ResourceSpec) -> Vec<usize> {
    r.diskful
        .iter()
        .chain(&r.diskless)
        .chain(&r.tiebreaker)
        .copied()
        .collect()
}

/// Whether every resource keeps quorum (a strict majority of its replicas) and a diskful
/// replica with hosts `down` away.
fn survives(resolved: &Resolved, down: &[usize]) -> bool {
    resolved.resources.iter().all(|r| {
        let all = replicas(r);
        let present = all.iter().filter(|h| !down.contains(h)).count();
        present * 2 > all.len() && r.diskful.iter().any(|h| !down.contains(h))
    })
}

fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect()
}

/// A world over empty sysroots (hosts up, nothing to boot): enough for XAPI's evacuation.
fn bare_world(resolved: &Resolved) -> Result<(tempfile::TempDir, Arc<World>)> {
    let dir = tempfile::tempdir()?;
    let specs = empty_hosts(resolved, dir.path())?;
    let credentials = Credentials {
        username: "root".into(),
        password: "secret".into(),
    };
    let state = initial_state(resolved, &specs, credentials)?;
    Ok((dir, Arc::new(World::new(state, Clock::new(1e-6)))))
}

/// Disables the hosts, then evacuates them one after the other: every VM finds a host.
fn evacuate_together(resolved: &Resolved, hosts: &[usize]) -> Result<()> {
    let (_dir, world) = bare_world(resolved)?;
    let uuid = |i: usize| world.read(|s| s.hosts[i].uuid.clone());
    for &h in hosts {
        world.host_disable(&uuid(h))?;
    }
    for &h in hosts {
        world
            .start_host_evacuate(&uuid(h))
            .with_context(|| format!("evacuating host {h} of {hosts:?}"))?;
    }
    Ok(())
}

#[test]
fn every_scenario_file_resolves_says_what_it_is_for_and_pins_fixture_packages() -> Result<()> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(scenarios_dir())? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("name")?
            .to_owned();
        let (text, resolved) = load(&name)?;
        assert!(text.starts_with("# "), "{name} starts with what it is for");
        for (package, version) in &resolved.pin {
            let known = USERLAND
                .iter()
                .any(|u| u.name == *package && u.version == *version)
                || (package == KMOD_NAME && KMODS.iter().any(|k| k.version == *version));
            assert!(known, "{name}: no {package} {version} in the fixture");
        }
        names.insert(name);
    }
    let expected = [
        "batch-6.toml",
        "controller-behind.toml",
        "no-batch-4.toml",
        "upgrade-3.toml",
        "upgrade-5.toml",
        "xostor-bare.toml",
        "xostor-demo.toml",
    ];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
    Ok(())
}

#[test]
fn upgrade_scenarios_start_at_the_old_versions_with_nothing_pinned_in_agent_toml() -> Result<()> {
    for (name, hosts) in [
        ("upgrade-3.toml", 3),
        ("upgrade-5.toml", 5),
        ("batch-6.toml", 6),
        ("no-batch-4.toml", 4),
    ] {
        let (_, r) = load(name)?;
        assert_eq!(r.host_names.len(), hosts, "{name}");
        assert_eq!(r.controller_version, "1.29.0", "{name}");
        // Each pinned package is older than the newest of the fixture: an upgrade moves
        // every one of them, the kmod (a reboot) and LINSTOR (the LINSTOR step) included.
        for newest in [
            (KMOD_NAME, KMOD_XCPNG_9_2_12.version),
            (LINSTOR_SATELLITE_1_29_2.name, LINSTOR_SATELLITE_1_29_2.version),
            (LINSTOR_CONTROLLER_1_29_2.name, LINSTOR_CONTROLLER_1_29_2.version),
            (DRBD_UTILS_9_29_0.name, DRBD_UTILS_9_29_0.version),
            (DRBD_REACTOR_1_5_0.name, DRBD_REACTOR_1_5_0.version),
            (LINSTOR_CLIENT_1_24_0.name, LINSTOR_CLIENT_1_24_0.version),
        ] {
            let pinned = r
                .pin
                .get(newest.0)
                .with_context(|| format!("{name}: {}", newest.0))?;
            assert_ne!(pinned, newest.1, "{name}: {} is at the newest already", newest.0);
        }
        assert_eq!(r.pin["linstor-satellite"], r.controller_version, "{name}");
        assert!(
            r.config_pin.is_empty(),
            "{name}: agent.toml pins {:?}",
            r.config_pin
        );
    }
    // The upgrade pools keep the default layout: one host down at a time.
    let (_, r) = load("upgrade-3.toml")?;
    assert_eq!(r.max_hosts_down, 1);
    assert_eq!(r.resources[0].name, "xcp-persistent-database");
    assert_eq!(r.vms.len(), 4);
    Ok(())
}

#[test]
fn controller_behind_runs_linstor_1_29_2_over_packages_left_at_1_29_0() -> Result<()> {
    let (_, r) = load("controller-behind.toml")?;
    assert_eq!(r.controller_version, "1.29.2");
    assert_eq!(r.satellite_version.as_deref(), Some("1.29.2"));
    for package in ["linstor-satellite", "linstor-controller", "linstor-common"] {
        assert_eq!(r.pin[package], "1.29.0", "{package}");
    }
    // The pool built from it (satellites at 1.29.2 over 1.29.0 packages, every node ONLINE)
    // is checked through `testbed up` by the agent's tests/pool_linstor.rs.
    assert!(r.config_pin.is_empty());
    Ok(())
}

#[test]
fn xostor_bare_has_no_node_resource_sr_or_controller_and_vms_without_disks() -> Result<()> {
    let (_, resolved) = load("xostor-bare.toml")?;
    assert!(!resolved.xostor && resolved.sr.is_none() && resolved.linstor_manager_plugin);
    assert!(resolved.resources.is_empty());
    assert_eq!(resolved.vms.len(), 3);
    assert!(resolved.vms.iter().all(|vm| vm.resources.is_empty()));
    let (_dir, world) = bare_world(&resolved)?;
    let s = world.read(|s| s.clone());
    assert!(s.nodes.is_empty() && s.resources.is_empty() && s.srs.is_empty() && s.pbds.is_empty());
    assert!(!s.controller.running && s.controller.hosts_seen.is_empty());
    assert!(world.controller_refusing());
    assert_eq!(s.vms.len(), 3);
    Ok(())
}

#[test]
fn batch_6_lets_pairs_across_its_groups_go_down_together() -> Result<()> {
    let (_, r) = load("batch-6.toml")?;
    assert_eq!(r.max_hosts_down, 2);
    let group = |h: usize| h / 3;
    for (a, b) in pairs(6) {
        assert_eq!(
            survives(&r, &[a, b]),
            group(a) != group(b),
            "hosts {a} and {b} down together"
        );
        if group(a) != group(b) {
            evacuate_together(&r, &[a, b])?;
        }
    }
    Ok(())
}

#[test]
fn no_batch_4_has_no_pair_that_can_go_down_together() -> Result<()> {
    let (_, r) = load("no-batch-4.toml")?;
    assert_eq!(
        r.max_hosts_down, 2,
        "the pool would allow it: only placement forbids it"
    );
    for (a, b) in pairs(4) {
        assert!(
            !survives(&r, &[a, b]),
            "hosts {a} and {b} down together keep quorum"
        );
    }
    for h in 0..4 {
        assert!(survives(&r, &[h]), "host {h} alone");
        evacuate_together(&r, &[h])?;
    }
    Ok(())
}

/// Reboots two hosts at once in a world built from the file, with real sysroots at the old
/// versions; returns the resources that lost quorum.
fn reboot_pair(p: &world_support::TestPool, a: &str, b: &str) -> Result<BTreeSet<String>> {
    p.drain(a)?;
    p.drain(b)?;
    p.world.host_reboot(&p.host_uuid(a))?;
    p.world.host_reboot(&p.host_uuid(b))?;
    p.world.skip(120.0);
    p.skip_until_synced(3600.0)?;
    Ok(p.violations()
        .into_iter()
        .filter(|v| v.kind == QUORUM_LOST)
        .map(|v| v.subject)
        .collect())
}

#[test]
fn batch_6_in_a_world_two_hosts_of_different_groups_reboot_together_cleanly() -> Result<()> {
    let p = pool(6, include_str!("../scenarios/batch-6.toml"))?;
    // Built at the old versions, every node ONLINE with the 1.29.0 controller.
    let host = p.world.read(|s| s.hosts[0].clone());
    assert_eq!(host.satellite_version.as_deref(), Some("1.29.0"));
    assert!(host.drbd_loaded);
    assert!(p.violations().is_empty(), "{:?}", p.violations());

    assert_eq!(reboot_pair(&p, "xcp-ng-1", "xcp-ng-4")?, BTreeSet::new());
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    // Two of one group lose its volumes' quorum: what a batch must never do.
    let lost = reboot_pair(&p, "xcp-ng-2", "xcp-ng-3")?;
    assert!(lost.contains("xcp-volume-2"), "{lost:?}");
    Ok(())
}

#[test]
fn no_batch_4_in_a_world_any_two_hosts_down_lose_quorum() -> Result<()> {
    let p = pool(4, include_str!("../scenarios/no-batch-4.toml"))?;
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    let lost = reboot_pair(&p, "xcp-ng-1", "xcp-ng-3")?;
    assert!(
        lost.contains("xcp-volume-1") || lost.contains("xcp-volume-3"),
        "{lost:?}"
    );
    Ok(())
}
