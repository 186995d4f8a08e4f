//! Joining hosts (`joining = N`, `testbed up --join N`): the last N hosts are XAPI pool
//! members that LINSTOR does not know yet: no node, no replica, no VM; they boot like the
//! others, and the controller never moves to them.

mod world_support;

use anyhow::Result;
use testbed::world::{Power, Scenario};
use world_support::pool;

#[test]
fn a_joining_host_is_in_the_xapi_pool_but_not_in_linstor() -> Result<()> {
    let p = pool(3, "joining = 1")?;
    let s = p.state();
    let nodes: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["xcp-ng-1", "xcp-ng-2"]);
    assert!(
        s.resources.iter().all(|r| r.node != "xcp-ng-3"),
        "{:?}",
        s.resources
    );
    let joining = s.hosts.iter().find(|h| h.name == "xcp-ng-3").expect("host");
    assert!(joining.joining);
    assert_eq!(joining.power, Power::Up);
    assert!(
        joining.satellite_running && joining.drbd_loaded,
        "provisioned, booted"
    );
    assert!(
        s.vms
            .iter()
            .all(|v| v.resident_on.as_deref() != Some(joining.uuid.as_str()))
    );
    assert_eq!(s.pifs.iter().filter(|pif| pif.host == joining.uuid).count(), 2);
    assert!(
        s.hosts
            .iter()
            .filter(|h| h.name != "xcp-ng-3")
            .all(|h| !h.joining)
    );
    assert!(p.violations().is_empty(), "{:?}", p.violations());

    // The controller's host goes away: it moves to the other member, not to the new host.
    p.drain_and_reboot("xcp-ng-1")?;
    assert_eq!(p.state().controller.host, "xcp-ng-2");
    Ok(())
}

#[test]
fn resources_and_vms_cannot_name_a_joining_host() -> Result<()> {
    let s = Scenario::parse("[[resources]]\nname = \"r\"\ndiskful = [0, 2]\n")?;
    let err = s.resolve_with(Some(3), None, Some(1)).unwrap_err();
    assert!(format!("{err:#}").contains("joining"), "{err:#}");
    let s = Scenario::parse("joining = 3")?;
    assert!(s.resolve(Some(3), None).is_err(), "no member left");
    // --join wins over the file's key.
    let r = Scenario::parse("joining = 2")?.resolve_with(Some(4), None, Some(1))?;
    assert_eq!((r.joining, r.members()), (1, 3));
    assert!(r.resources.iter().all(|x| x.diskful.iter().all(|&h| h < 3)));
    Ok(())
}
