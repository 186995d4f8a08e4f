//! A reboot boots what the host's sysroot holds: the default kernel, a DRBD module for it
//! or not, the installed linstor-satellite. And a clean host resyncs in the scenario's time.

mod world_support;

use anyhow::Result;
use testbed::fixture::catalog::KERNEL_EL9_503;
use testbed::world::{Power, replication_state, sync_done_percent, unsupported_layers};
use world_support::{dnf, one_resource, pool, replica};

#[test]
fn a_clean_host_comes_back_online_and_resyncs_in_the_scenarios_time() -> Result<()> {
    let p = pool(3, &one_resource(0))?;
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");
    assert!(p.violations().is_empty(), "{:?}", p.violations());

    p.drain_and_reboot("xcp-ng-2")?;
    assert!(matches!(p.power("xcp-ng-2"), Power::Rebooting { .. }));
    assert_eq!(p.connection("xcp-ng-2"), "OFFLINE");
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "DUnknown");
    assert_eq!(p.disk_state("r0", "xcp-ng-1"), "UpToDate");
    assert!(p.world.read(|s| testbed::world::has_quorum(s, "r0")));

    p.world.skip(59.9);
    assert!(
        matches!(p.power("xcp-ng-2"), Power::Rebooting { .. }),
        "back too early"
    );
    p.world.skip(0.1);
    let host = p.world.read(|s| s.hosts[1].clone());
    assert_eq!(host.power, Power::Up);
    assert!(
        host.enabled,
        "a host disabled before its reboot comes back enabled (auto_enable)"
    );
    assert_eq!(host.booted_kernel.as_deref(), Some("4.19.0+1"));
    assert!(host.drbd_loaded);
    assert_eq!(host.satellite_version.as_deref(), Some("1.29.2"));
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");

    // 1 GiB written while it was away: 30 s + 10 s/GiB.
    let (state, oos, target) = p.world.read(|s| {
        let r = replica(s, "r0", "xcp-ng-2").clone();
        let peer = replica(s, "r0", "xcp-ng-1").clone();
        (
            r.disk_state.clone(),
            r.out_of_sync_kib,
            replication_state(s, &r, &peer),
        )
    });
    assert_eq!(state, "Inconsistent");
    assert_eq!(target, "SyncTarget");
    assert!(
        (oos as f64 - 1024.0 * 1024.0).abs() < 2.0,
        "out of sync: {oos} KiB"
    );

    p.world.skip(20.0);
    let done = p.world.read(|s| {
        let r = replica(s, "r0", "xcp-ng-2");
        sync_done_percent(s, r)
    });
    assert!(done.is_some_and(|d| (d - 50.0).abs() < 1.0), "half way: {done:?}");
    p.world.skip(19.9);
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "Inconsistent");
    p.world.skip(0.2);
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");

    assert!(
        p.violations().is_empty(),
        "a one-host reboot is clean: {:?}",
        p.violations()
    );
    Ok(())
}

#[test]
fn a_default_kernel_without_a_drbd_module_boots_a_node_that_cannot_serve_drbd() -> Result<()> {
    let p = pool(3, &one_resource(0))?;
    // A kernel update that the module does not follow: another kernel installed, and the
    // boot loader's Xen entry pointed at it.
    let root = p.root("xcp-ng-2").to_path_buf();
    dnf(&p, "xcp-ng-2").install(&root, &[KERNEL_EL9_503.nevra])?;
    let link = root.join("boot/vmlinuz-4.19-xen");
    std::fs::remove_file(&link)?;
    std::os::unix::fs::symlink(format!("vmlinuz-{}", KERNEL_EL9_503.uname), &link)?;

    // Nothing changes before the reboot: the running kernel still has its module.
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);

    let host = p.world.read(|s| s.hosts[1].clone());
    assert_eq!(host.power, Power::Up);
    assert_eq!(host.booted_kernel.as_deref(), Some(KERNEL_EL9_503.uname));
    assert!(!host.drbd_loaded);
    // The satellite runs (the node is ONLINE) but reports DRBD unsupported, and its DRBD
    // resources stay down.
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");
    let layers = p.world.read(|s| unsupported_layers(s, "xcp-ng-2"));
    let reasons = layers.get("DRBD").expect("DRBD unsupported");
    assert!(reasons[0].contains(KERNEL_EL9_503.uname), "{reasons:?}");
    p.world.skip(600.0);
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "DUnknown");
    assert_eq!(p.disk_state("r0", "xcp-ng-1"), "UpToDate");
    Ok(())
}

#[test]
fn a_removed_module_package_is_noticed_at_the_next_boot() -> Result<()> {
    let p = pool(3, &one_resource(0))?;
    testbed::sysroot::rpm_in(p.root("xcp-ng-3"))
        .args(["-e", "--nodeps", "kmod-drbd"])
        .run()?;
    p.drain_and_reboot("xcp-ng-3")?;
    p.world.skip(60.0);
    assert!(!p.world.read(|s| s.hosts[2].drbd_loaded));
    assert!(
        p.world
            .read(|s| unsupported_layers(s, "xcp-ng-3"))
            .contains_key("DRBD")
    );
    // The tie-breaker is gone: r0 keeps quorum with its two diskful replicas.
    assert_eq!(p.disk_state("r0", "xcp-ng-3"), "DUnknown");
    assert!(p.world.read(|s| testbed::world::has_quorum(s, "r0")));
    Ok(())
}

#[test]
fn a_mismatched_satellite_version_is_version_mismatch() -> Result<()> {
    let p = pool(3, &one_resource(0))?;
    let root = p.root("xcp-ng-1").to_path_buf();
    let result = dnf(&p, "xcp-ng-1")
        .command(&root)
        .args(["downgrade", "linstor-satellite-1.29.0", "linstor-common-1.29.0"])
        .run();
    testbed::sysroot::dnf::stop_gpg_agents(&root);
    result?;
    // The running satellite is still 1.29.2 until the host reboots.
    assert_eq!(p.connection("xcp-ng-1"), "ONLINE");
    p.drain_and_reboot("xcp-ng-1")?;
    p.world.skip(60.0);
    let host = p.world.read(|s| s.hosts[0].clone());
    assert_eq!(host.satellite_version.as_deref(), Some("1.29.0"));
    assert_eq!(p.connection("xcp-ng-1"), "VERSION_MISMATCH");
    // Its replicas are not served; the resource runs on the other two.
    assert_eq!(p.disk_state("r0", "xcp-ng-1"), "DUnknown");
    assert!(p.world.read(|s| testbed::world::has_quorum(s, "r0")));
    Ok(())
}

#[test]
fn every_reboot_is_counted_and_shown_in_status() -> Result<()> {
    let p = pool(3, &one_resource(0))?;
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    p.skip_until_synced(3600.0)?;
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    // A crash is not a reboot through XAPI: not counted.
    p.world.host_crash(&p.host_uuid("xcp-ng-3"));
    let status = p
        .world
        .read(|s| testbed::simpool::status::of_state(s, 1.0, &Default::default()));
    let json = serde_json::to_value(&status)?;
    let reboots: Vec<(&str, u64)> = json["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["name"].as_str().expect("name"),
                h["reboots"].as_u64().expect("reboots"),
            )
        })
        .collect();
    assert_eq!(reboots, [("xcp-ng-1", 0), ("xcp-ng-2", 2), ("xcp-ng-3", 0)]);
    Ok(())
}
