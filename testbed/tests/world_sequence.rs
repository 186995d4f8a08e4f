//! The scripted sequence the rolling upgrade must avoid, and the one it must follow: two
//! hosts sharing a 2-of-3 resource rebooted at once lose quorum (and the world records it);
//! one after the other, waiting for resync in between, nothing is ever recorded.

mod world_support;

use anyhow::Result;
use testbed::world::Power;
use testbed::world::violations::{NO_UPTODATE_REPLICA, POOL, QUORUM_LOST, TOO_MANY_HOSTS_DOWN};
use world_support::pool;

/// Equal up to the real time the test itself takes (the clock is all but frozen).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

#[test]
fn rebooting_two_hosts_of_a_two_of_three_resource_at_once_loses_quorum() -> Result<()> {
    // The default layout: xcp-volume-1 is diskful on hosts 1 and 2, tie-breaker on 3.
    let p = pool(3, "")?;
    let placement: Vec<(String, String)> = p.world.read(|s| {
        s.resources
            .iter()
            .filter(|r| r.name == "xcp-volume-1")
            .map(|r| (r.node.clone(), format!("{:?}", r.kind)))
            .collect()
    });
    assert_eq!(
        placement,
        [
            ("xcp-ng-1".into(), "Diskful".into()),
            ("xcp-ng-2".into(), "Diskful".into()),
            ("xcp-ng-3".into(), "TieBreaker".into())
        ]
    );
    // Both drained onto the third host first, so no VM is ever down.
    for host in ["xcp-ng-1", "xcp-ng-2"] {
        p.world.host_disable(&p.host_uuid(host))?;
    }
    p.drain("xcp-ng-1")?;
    p.drain("xcp-ng-2")?;
    let t0 = p.now();
    p.world.host_reboot(&p.host_uuid("xcp-ng-1"))?;
    p.world.host_reboot(&p.host_uuid("xcp-ng-2"))?;
    p.world.skip(30.0);
    assert!(!p.world.read(|s| testbed::world::has_quorum(s, "xcp-volume-1")));

    p.world.skip(30.0);
    assert_eq!(p.power("xcp-ng-1"), Power::Up);
    p.skip_until_synced(600.0)?;

    let violations = p.violations();
    let find = |kind: &str, subject: &str| {
        violations
            .iter()
            .find(|v| v.kind == kind && v.subject == subject)
            .unwrap_or_else(|| panic!("no {kind} for {subject} in {violations:?}"))
    };
    for (kind, subject) in [
        (QUORUM_LOST, "xcp-volume-1"),
        (QUORUM_LOST, "xcp-persistent-database"),
        (NO_UPTODATE_REPLICA, "xcp-volume-1"),
        (TOO_MANY_HOSTS_DOWN, POOL),
    ] {
        let v = find(kind, subject);
        assert!(close(v.from, t0), "{v:?}");
        assert!(
            v.to.is_some_and(|to| close(to, t0 + 60.0)),
            "the interval closes when the hosts are back: {v:?}"
        );
    }
    // With three voters per resource, two hosts away is a minority for every resource; but
    // xcp-volume-2 (diskful on hosts 2 and 3) kept an UpToDate replica throughout.
    assert!(
        violations
            .iter()
            .any(|v| v.kind == QUORUM_LOST && v.subject == "xcp-volume-2")
    );
    assert!(
        !violations
            .iter()
            .any(|v| v.kind == NO_UPTODATE_REPLICA && v.subject == "xcp-volume-2")
    );
    assert!(!violations.iter().any(|v| v.kind == "vm_down"), "{violations:?}");

    // And `testbed status` reports them.
    let status = testbed::simpool::status::of_world(&p.world);
    assert!(status.violations.iter().any(|v| v.kind == QUORUM_LOST));
    Ok(())
}

#[test]
fn rebooting_one_host_after_another_waiting_for_resync_records_nothing() -> Result<()> {
    let p = pool(3, "")?;
    for host in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
        p.drain_and_reboot(host)?;
        p.world.skip(60.0);
        assert_eq!(p.power(host), Power::Up);
        assert_eq!(p.connection(host), "ONLINE");
        let took = p.skip_until_synced(600.0)?;
        assert!(
            took >= 30.0,
            "resync takes at least resync_base_secs, took {took}"
        );
        p.world.host_enable(&p.host_uuid(host))?;
    }
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    Ok(())
}

#[test]
fn a_dip_between_two_reads_is_still_recorded() -> Result<()> {
    let p = pool(3, "[durations]\nreboot_secs = 5.0\n")?;
    for host in ["xcp-ng-1", "xcp-ng-2"] {
        p.drain(host)?;
    }
    let t0 = p.now();
    p.world.host_reboot(&p.host_uuid("xcp-ng-1"))?;
    p.world.host_reboot(&p.host_uuid("xcp-ng-2"))?;
    // One jump over the whole dip: the events in between are applied in order.
    p.world.skip(1000.0);
    let v = p.violations();
    let q = v
        .iter()
        .find(|v| v.kind == QUORUM_LOST && v.subject == "xcp-volume-1")
        .expect("recorded");
    assert!(
        close(q.from, t0) && q.to.is_some_and(|to| close(to, t0 + 5.0)),
        "{q:?}"
    );
    Ok(())
}
