//! Where simulated time went (`State::accounting`, for the rolling-upgrade benchmark): the
//! union of the scenario's activities, host-side work apart, the activity log and each
//! host's maintenance windows.

mod world_support;

use anyhow::Result;
use testbed::world::Window;
use world_support::{one_resource, pool};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

#[test]
fn activities_are_counted_once_host_work_apart_and_windows_survive_the_boot() -> Result<()> {
    let p = pool(3, &one_resource(1))?;
    let uuid = p.host_uuid("xcp-ng-2");
    let start = p.now();
    let acc = p.state().accounting;
    assert_eq!(acc.busy_secs, 0.0);
    assert!(acc.activities.is_empty(), "{:?}", acc.activities);

    // Host-side work alone: 5 s of it, nothing else running.
    let work = p.world.host_work(&uuid, "linstor-agent/prefetch");
    p.world.skip(5.0);
    drop(work);
    // Disable, evacuate (10 s), reboot (60 s), with host-side work during the reboot that
    // adds nothing to the union; then the resync (30 s + 10 s for the GiB missed).
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(20.0);
    let work = p.world.host_work(&uuid, "service.py/restart_service");
    p.world.skip(3.0);
    drop(work);
    p.world.skip(37.0);
    // Back, and enabled by its boot (xapi's auto-enable): the window goes on until the
    // orchestrator disables it again and then enables it.
    assert!(p.world.read(|s| s.hosts[1].enabled));
    let synced = p.skip_until_synced(100.0)?;
    assert!((40.0..=41.0).contains(&synced), "{synced}");
    let windows = p.state().accounting.windows["xcp-ng-2"].clone();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0].enabled_at, None, "the boot does not end the window");
    p.world.host_disable(&uuid)?;
    p.world.skip(1.0);
    p.world.host_enable(&uuid)?;
    let end = p.now();

    let acc = p.state().accounting;
    let resync = acc.busy_secs_by_kind["resync"];
    assert!(close(resync, 40.0), "{resync}");
    assert!(close(acc.busy_secs_by_kind["migration"], 10.0), "{acc:?}");
    assert!(close(acc.busy_secs_by_kind["reboot"], 60.0), "{acc:?}");
    assert!(close(acc.busy_secs, 10.0 + 60.0 + resync), "{acc:?}");
    assert!(close(acc.host_work_secs, 8.0), "{acc:?}");
    assert!(close(acc.busy_or_host_work_secs, acc.busy_secs + 5.0), "{acc:?}");

    let kinds: Vec<(&str, &str)> = acc
        .activities
        .iter()
        .map(|a| (a.kind.as_str(), a.subject.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("host_work", "xcp-ng-2"),
            ("migration", "vm0"),
            ("reboot", "xcp-ng-2"),
            ("host_work", "xcp-ng-2"),
            ("resync", "r0@xcp-ng-2"),
        ]
    );
    assert!(acc.activities.iter().all(|a| a.to.is_some()), "{acc:?}");
    let migration = &acc.activities[1];
    assert_eq!(migration.detail, "xcp-ng-2→xcp-ng-1");
    let reboot = &acc.activities[2];
    assert!(
        close(reboot.to.unwrap_or_default() - reboot.from, 60.0),
        "{reboot:?}"
    );
    assert_eq!(acc.activities[3].detail, "service.py/restart_service");

    let windows = &acc.windows["xcp-ng-2"];
    assert_eq!(windows.len(), 1, "{windows:?}");
    let Window {
        disabled_at,
        enabled_at,
    } = windows[0];
    assert!(close(enabled_at.unwrap_or_default(), end), "{windows:?}");
    assert!(close(disabled_at, start + 5.0), "{windows:?}");
    assert!(!acc.windows.contains_key("xcp-ng-1"), "{acc:?}");
    Ok(())
}
