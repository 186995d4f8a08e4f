//! A pool that starts with the LINSTOR SR (`[sr]`): PBDs unplugged while their host is away
//! and plugged again when its satellite and a controller are there (xapi's retry), the
//! `pbd-unplugged` fault, the `pbd_unplugged` violations, a VDI's resource losing quorum
//! reported with the VDI, and the controller following drbd-reactor.

mod world_support;

use anyhow::Result;
use testbed::world::faults::Fault;
use testbed::world::violations::{PBD_UNPLUGGED, QUORUM_LOST};
use testbed::world::{Pbd, Power, State};
use world_support::{TestPool, pool};

/// The default layout (the database, a volume per VM) with the SR, redundancy 2.
const WITH_SR: &str = "[sr]\nredundancy = 2\n";

fn pbd_of<'a>(s: &'a State, host: &str) -> &'a Pbd {
    let uuid = &s.hosts.iter().find(|h| h.name == host).expect("host").uuid;
    s.pbds.iter().find(|p| &p.host == uuid).expect("the host's PBD")
}

fn attached(p: &TestPool, host: &str) -> bool {
    p.world.read(|s| pbd_of(s, host).currently_attached)
}

fn pbd_uuid(p: &TestPool, host: &str) -> String {
    p.world.read(|s| pbd_of(s, host).uuid.clone())
}

fn fault(p: &TestPool, kind: &str, host: &str) -> Result<()> {
    let fault: Fault = serde_json::from_value(serde_json::json!({"kind": kind, "host": host}))?;
    p.world.inject(&fault)
}

#[test]
fn the_scenarios_sr_is_what_sr_create_leaves() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    let s = p.state();
    assert_eq!(s.srs.len(), 1);
    assert_eq!(s.pbds.len(), 3);
    assert!(s.pbds.iter().all(|p| p.currently_attached));
    assert_eq!(s.pbds[0].device_config["group-name"], "linstor_group/thin_device");
    assert!(s.hosts.iter().all(|h| h.reactor_config && h.reactor_enabled));
    assert_eq!(s.vdis.len(), 4, "a VDI per VM volume");
    assert_eq!(s.vbds.len(), 4);
    assert!(s.controller.running && s.controller.hosts_seen == ["xcp-ng-1"]);
    Ok(())
}

#[test]
fn a_rebooting_hosts_pbd_is_unplugged_then_plugged_when_it_is_back() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    p.drain_and_reboot("xcp-ng-2")?;
    assert!(!attached(&p, "xcp-ng-2"));
    assert!(attached(&p, "xcp-ng-1") && attached(&p, "xcp-ng-3"));
    p.world.skip(60.0);
    assert_eq!(p.power("xcp-ng-2"), Power::Up);
    assert!(attached(&p, "xcp-ng-2"), "xapi plugs it at boot");
    assert!(
        !p.violations().iter().any(|v| v.kind == PBD_UNPLUGGED),
        "{:?}",
        p.violations()
    );
    Ok(())
}

#[test]
fn the_controller_moves_off_a_rebooting_host_and_pbds_wait_for_it() -> Result<()> {
    let p = pool(
        3,
        &format!("{WITH_SR}[durations]\nreboot_secs = 60.0\ncontroller_failover_secs = 120.0\n"),
    )?;
    p.drain_and_reboot("xcp-ng-1")?;
    let s = p.state();
    assert_eq!(s.controller.host, "xcp-ng-2");
    assert_eq!(s.controller.hosts_seen, ["xcp-ng-1", "xcp-ng-2"]);
    assert!(p.world.controller_refusing());
    p.world.skip(60.0);
    assert_eq!(p.power("xcp-ng-1"), Power::Up);
    assert!(!attached(&p, "xcp-ng-1"), "no controller answers yet");
    p.world.skip(60.0);
    assert!(!p.world.controller_refusing());
    assert!(attached(&p, "xcp-ng-1"), "plugged once the controller answers");
    assert_eq!(p.state().controller.host, "xcp-ng-2", "it stays where it runs");
    Ok(())
}

#[test]
fn the_pbd_unplugged_fault_keeps_it_down_until_pbd_plugs() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    fault(&p, "pbd-unplugged", "xcp-ng-3")?;
    p.drain_and_reboot("xcp-ng-3")?;
    p.world.skip(60.0 + 300.0 + 1.0);
    assert_eq!(p.power("xcp-ng-3"), Power::Up);
    assert!(!attached(&p, "xcp-ng-3"), "every attempt failed, xapi gave up");
    let e = p
        .world
        .pbd_plug(&pbd_uuid(&p, "xcp-ng-3"))
        .expect_err("the fault");
    assert_eq!(e.code, "SR_BACKEND_FAILURE_47");
    fault(&p, "pbd-plugs", "xcp-ng-3")?;
    assert!(!attached(&p, "xcp-ng-3"), "xapi no longer retries");
    p.world.pbd_plug(&pbd_uuid(&p, "xcp-ng-3"))?;
    assert!(attached(&p, "xcp-ng-3"));

    // Cleared while xapi still retries: it plugs by itself.
    fault(&p, "pbd-unplugged", "xcp-ng-2")?;
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(100.0);
    assert!(!attached(&p, "xcp-ng-2"));
    fault(&p, "pbd-plugs", "xcp-ng-2")?;
    assert!(attached(&p, "xcp-ng-2"));
    Ok(())
}

#[test]
fn taking_a_host_down_or_enabling_one_with_a_pbd_unplugged_is_a_violation() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    // A PBD under a running VM's disk does not unplug.
    let e = p.world.pbd_unplug(&pbd_uuid(&p, "xcp-ng-3")).expect_err("in use");
    assert_eq!(e.code, "VDI_IN_USE");
    fault(&p, "pbd-unplugged", "xcp-ng-3")?;
    p.drain_and_reboot("xcp-ng-3")?;
    p.world.skip(60.0);
    assert!(!attached(&p, "xcp-ng-3"));
    p.world.host_enable(&p.host_uuid("xcp-ng-3"))?;
    p.drain_and_reboot("xcp-ng-2")?;
    let events: Vec<(String, String)> = p
        .violations()
        .into_iter()
        .filter(|v| v.kind == PBD_UNPLUGGED)
        .map(|v| {
            assert_eq!(v.to, Some(v.from), "an event");
            (v.subject, v.detail.unwrap_or_default())
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "xcp-ng-3");
    assert!(events[0].1.contains("enabled"), "{}", events[0].1);
    assert_eq!(events[1].0, "xcp-ng-3");
    assert!(events[1].1.contains("xcp-ng-2 was rebooted"), "{}", events[1].1);
    Ok(())
}

#[test]
fn a_vdis_resource_losing_quorum_is_reported_with_the_vdi() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    let vdi = p.world.read(|s| {
        s.vdis
            .iter()
            .find(|v| v.resource == "xcp-volume-1")
            .map(|v| v.uuid.clone())
            .expect("the VDI of xcp-volume-1")
    });
    // xcp-volume-1: diskful on hosts 1 and 2, tie-breaker on 3.
    p.world.host_crash(&p.host_uuid("xcp-ng-1"));
    p.world.host_crash(&p.host_uuid("xcp-ng-2"));
    let lost = p
        .violations()
        .into_iter()
        .find(|v| v.kind == QUORUM_LOST && v.subject == "xcp-volume-1")
        .expect("quorum lost");
    assert_eq!(lost.vdi.as_deref(), Some(vdi.as_str()));
    let database = p
        .violations()
        .into_iter()
        .find(|v| v.kind == QUORUM_LOST && v.subject == "xcp-persistent-database")
        .expect("the database lost quorum too");
    assert_eq!(database.vdi, None);
    Ok(())
}

#[test]
fn the_controller_follows_drbd_reactor() -> Result<()> {
    let p = pool(3, WITH_SR)?;
    let (one, two, three) = (
        p.host_uuid("xcp-ng-1"),
        p.host_uuid("xcp-ng-2"),
        p.host_uuid("xcp-ng-3"),
    );
    assert!(p.world.has_controller_running(&one));
    // drbd-reactor stopped where the controller runs: it moves.
    p.world.set_drbd_reactor(&one, false);
    assert!(p.world.has_controller_running(&two));
    assert!(
        !p.root("xcp-ng-1")
            .join(testbed::world::reactor::CONFIG_PATH)
            .exists()
    );
    // No host left that can promote the database: no controller.
    p.world.host_crash(&two);
    assert!(p.world.has_controller_running(&three));
    p.world.host_crash(&three);
    let s = p.state();
    assert!(!s.controller.running);
    assert!(p.world.controller_refusing());
    // drbd-reactor back on the first host: it starts there.
    p.world.set_drbd_reactor(&one, true);
    assert!(p.world.has_controller_running(&one));
    assert_eq!(
        p.state().controller.hosts_seen,
        ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3", "xcp-ng-1"]
    );
    Ok(())
}
