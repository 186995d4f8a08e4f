//! Each fault, shown happening.

mod world_support;

use anyhow::Result;
use testbed::world::faults::Fault;
use testbed::world::violations::VM_DOWN;
use testbed::world::{Power, VmPower, replication_state};
use world_support::{pool, r0_and_vm0, replica};

fn one_resource() -> String {
    r0_and_vm0(
        r#"
[durations]
reboot_secs = 60.0
resync_base_secs = 30.0
resync_secs_per_gib = 10.0
"#,
    )
}

#[test]
fn a_host_that_does_not_come_back_stays_down_until_powered_on() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.world.inject(&Fault::NoReturn {
        host: "xcp-ng-2".into(),
    })?;
    assert_eq!(
        p.state().faults.no_return,
        [p.host_uuid("xcp-ng-2")],
        "armed, shown in status"
    );
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(3600.0);
    assert_eq!(p.power("xcp-ng-2"), Power::Down);
    assert_eq!(p.connection("xcp-ng-2"), "OFFLINE");
    assert!(p.state().faults.no_return.is_empty(), "the fault is used up");
    // LINSTOR evicts a node offline for an hour (auto-eviction is on by default).
    assert!(p.world.read(|s| s.nodes[1].flags.contains(&"EVICTED".to_owned())));

    p.world.inject(&Fault::PowerOn {
        host: "xcp-ng-2".into(),
    })?;
    p.world.skip(60.0);
    assert_eq!(p.power("xcp-ng-2"), Power::Up);
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");
    Ok(())
}

#[test]
fn eviction_waits_for_its_time_and_can_be_switched_off() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.world.change(|s| {
        s.controller
            .properties
            .insert("DrbdOptions/AutoEvictAllowEviction".into(), "false".into());
    });
    p.world.inject(&Fault::NoReturn {
        host: "xcp-ng-3".into(),
    })?;
    p.drain_and_reboot("xcp-ng-3")?;
    p.world.skip(7200.0);
    assert!(
        p.world.read(|s| s.nodes[2].flags.is_empty()),
        "no eviction when it is off"
    );
    Ok(())
}

#[test]
fn a_host_that_comes_back_without_its_satellite_is_offline() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.world.inject(&Fault::NoSatellite {
        host: "xcp-ng-2".into(),
    })?;
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    let host = p.world.read(|s| s.hosts[1].clone());
    assert_eq!(host.power, Power::Up);
    assert_eq!(host.satellite_version.as_deref(), Some("1.29.2"), "installed");
    assert!(!host.satellite_running);
    assert_eq!(p.connection("xcp-ng-2"), "OFFLINE");
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "DUnknown");
    Ok(())
}

#[test]
fn a_satellite_that_refuses_the_controller_is_version_mismatch_until_it_accepts() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.world.inject(&Fault::SatelliteRefuses {
        host: "xcp-ng-2".into(),
    })?;
    // Armed: nothing changes until the satellite starts again.
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    assert_eq!(p.connection("xcp-ng-2"), "VERSION_MISMATCH");
    let same = p
        .world
        .read(|s| s.hosts[1].satellite_version == Some(s.controller.version.clone()));
    assert!(same, "the versions agree: the satellite refuses all the same");
    // A restart does not cure it; the operator's fix does.
    p.world
        .systemctl(
            &p.world.read(|s| s.hosts[1].uuid.clone()),
            testbed::world::services::ServiceCommand::Restart,
            testbed::world::services::Service::Satellite,
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(p.connection("xcp-ng-2"), "VERSION_MISMATCH");
    p.world.inject(&Fault::SatelliteAccepts {
        host: "xcp-ng-2".into(),
    })?;
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");
    Ok(())
}

#[test]
fn a_stalled_resync_stays_inconsistent_until_resumed() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "Inconsistent");
    p.world.inject(&Fault::StallResync {
        resource: "r0".into(),
        node: Some("xcp-ng-2".into()),
    })?;
    p.world.skip(3600.0);
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "Inconsistent");
    let paused = p.world.read(|s| {
        let r = replica(s, "r0", "xcp-ng-2");
        let peer = replica(s, "r0", "xcp-ng-1");
        replication_state(s, r, peer)
    });
    assert_eq!(paused, "PausedSyncT");

    p.world.inject(&Fault::ResumeResync {
        resource: "r0".into(),
        node: None,
    })?;
    p.skip_until_synced(60.0)?;
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");

    let err = p
        .world
        .inject(&Fault::StallResync {
            resource: "nope".into(),
            node: None,
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("nope"), "{err:#}");
    Ok(())
}

#[test]
fn the_controller_refuses_connections_for_a_while() -> Result<()> {
    let p = pool(3, &one_resource())?;
    assert!(!p.world.controller_refusing());
    p.world.inject(&Fault::ControllerDown { seconds: 30.0 })?;
    assert!(p.world.controller_refusing());
    p.world.skip(29.0);
    assert!(p.world.controller_refusing());
    p.world.skip(2.0);
    assert!(!p.world.controller_refusing());
    Ok(())
}

#[test]
fn an_xapi_method_fails_the_given_number_of_times() -> Result<()> {
    let p = pool(3, &one_resource())?;
    p.world.inject(&Fault::XapiError {
        method: "host.evacuate".into(),
        code: "HOST_NOT_ENOUGH_FREE_MEMORY".into(),
        params: vec!["OpaqueRef:x".into()],
        times: 2,
    })?;
    assert_eq!(p.world.take_xapi_fault("host.disable"), None);
    for _ in 0..2 {
        let e = p.world.take_xapi_fault("host.evacuate").expect("armed");
        assert_eq!(e.description(), ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:x"]);
    }
    assert_eq!(p.world.take_xapi_fault("host.evacuate"), None);
    Ok(())
}

#[test]
fn a_crash_takes_the_host_and_its_vms_down_at_once() -> Result<()> {
    let p = pool(3, &one_resource())?;
    let t0 = p.now();
    p.world.inject(&Fault::Crash {
        host: "xcp-ng-1".into(),
    })?;
    assert_eq!(p.power("xcp-ng-1"), Power::Down);
    let vm = p.world.read(|s| s.vms[0].clone());
    assert_eq!((vm.power, vm.resident_on), (VmPower::Halted, None));
    assert_eq!(p.disk_state("r0", "xcp-ng-1"), "DUnknown");
    // The controller ran there: drbd-reactor moves it, and it refuses connections meanwhile.
    assert_eq!(p.world.read(|s| s.controller.host.clone()), "xcp-ng-2");
    assert!(p.world.controller_refusing());
    let v = p.violations();
    let down = v
        .iter()
        .find(|v| v.kind == VM_DOWN && v.subject == "vm0")
        .expect("vm0 down recorded");
    assert!((down.from - t0).abs() < 1e-3 && down.to.is_none(), "{down:?}");

    // Powered on, it boots; the VM stays halted until someone starts it.
    p.world.host_power_on(&p.host_uuid("xcp-ng-1"))?;
    p.world.skip(60.0);
    assert_eq!(p.power("xcp-ng-1"), Power::Up);
    assert!(p.violations().iter().any(|v| v.kind == VM_DOWN && v.to.is_none()));
    let vm_uuid = p.world.read(|s| s.vms[0].uuid.clone());
    p.world.vm_start(&vm_uuid, None)?;
    assert!(
        p.violations().iter().all(|v| v.to.is_some()),
        "{:?}",
        p.violations()
    );
    Ok(())
}
