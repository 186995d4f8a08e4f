//! XAPI's operations on the world: preconditions and error codes as XAPI raises them.

mod world_support;

use std::time::{Duration, Instant};

use anyhow::Result;
use testbed::world::{Power, VmPower, XapiError, opaque_ref};
use world_support::{pool, pool_at};

fn err(code: &str, params: &[&str]) -> XapiError {
    XapiError {
        code: code.into(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
    }
}

#[test]
fn reboot_needs_the_host_disabled_and_empty() -> Result<()> {
    let p = pool(3, "")?;
    let h1 = p.host_uuid("xcp-ng-1");
    assert_eq!(p.world.host_reboot(&h1), Err(err("HOST_NOT_DISABLED", &[])));
    p.world.host_disable(&h1)?;
    let vm = p.world.read(|s| {
        s.vms
            .iter()
            .find(|v| v.resident_on.as_deref() == Some(&h1))
            .map(|v| v.uuid.clone())
    });
    let vm = vm.expect("a VM on host 1");
    assert_eq!(
        p.world.host_reboot(&h1),
        Err(err("HOST_IN_USE", &[&opaque_ref(&h1), "vm", &opaque_ref(&vm)]))
    );
    assert_eq!(
        p.world.host_reboot("nope"),
        Err(err("HANDLE_INVALID", &["host", "OpaqueRef:nope"]))
    );
    p.drain_and_reboot("xcp-ng-1")?;
    // Away: calls that go to the host fail.
    assert_eq!(
        p.world.host_enable(&h1),
        Err(err("HOST_OFFLINE", &[&opaque_ref(&h1)]))
    );
    assert_eq!(
        p.world.host_power_on(&p.host_uuid("xcp-ng-2")),
        Err(err("HOST_IS_LIVE", &[&opaque_ref(&p.host_uuid("xcp-ng-2"))]))
    );
    Ok(())
}

#[test]
fn evacuation_is_planned_by_memory_on_enabled_live_hosts() -> Result<()> {
    // Hosts of 12 GiB (8 for VMs); a 6 GiB VM on each host.
    let p = pool(
        3,
        r#"
host_memory_gib = 12.0
[[resources]]
name = "r0"
diskful = [0, 1]
[[vms]]
name = "big-1"
memory_gib = 6.0
home = 0
[[vms]]
name = "big-2"
memory_gib = 6.0
home = 1
[[vms]]
name = "big-3"
memory_gib = 6.0
home = 2
"#,
    )?;
    let (h1, h2, h3) = (
        p.host_uuid("xcp-ng-1"),
        p.host_uuid("xcp-ng-2"),
        p.host_uuid("xcp-ng-3"),
    );
    let vm1 = p.world.read(|s| s.vms[0].uuid.clone());
    // Nowhere has 6 GiB free.
    let refused = p.world.vms_which_prevent_evacuation(&h1)?;
    assert_eq!(
        refused,
        [(
            vm1.clone(),
            vec!["HOST_NOT_ENOUGH_FREE_MEMORY".to_owned(), opaque_ref(&vm1)]
        )]
    );
    assert_eq!(
        p.world.host_assert_can_evacuate(&h1),
        Err(err(
            "CANNOT_EVACUATE_HOST",
            &[&format!("HOST_NOT_ENOUGH_FREE_MEMORY,{}", opaque_ref(&vm1))]
        ))
    );
    assert_eq!(
        p.world.start_host_evacuate(&h1),
        Err(err("HOST_NOT_ENOUGH_FREE_MEMORY", &[&opaque_ref(&vm1)]))
    );
    assert_eq!(
        p.world.start_vm_pool_migrate(&vm1, &h2),
        Err(err(
            "HOST_NOT_ENOUGH_FREE_MEMORY",
            &[&(6u64 << 30).to_string(), &(2u64 << 30).to_string()]
        ))
    );

    // Halt the VM on host 3: now host 3 has room, host 2 is disabled.
    let vm3 = p.world.read(|s| s.vms[2].uuid.clone());
    p.world.change(|s| {
        s.vms[2].power = VmPower::Halted;
        s.vms[2].resident_on = None;
    });
    p.world.host_disable(&h2)?;
    assert_eq!(
        p.world.start_vm_pool_migrate(&vm1, &h2),
        Err(err("HOST_DISABLED", &[&opaque_ref(&h2)]))
    );
    assert_eq!(
        p.world.start_vm_pool_migrate(&vm3, &h1),
        Err(err(
            "VM_BAD_POWER_STATE",
            &[&opaque_ref(&vm3), "running", "halted"]
        ))
    );
    assert!(p.world.vms_which_prevent_evacuation(&h1)?.is_empty());
    p.drain("xcp-ng-1")?;
    assert_eq!(p.world.read(|s| s.vms[0].resident_on.clone()), Some(h3.clone()));

    // No enabled host left but this one: every VM is stuck.
    p.world.host_enable(&h1)?;
    p.world.host_disable(&h3)?;
    p.world.host_disable(&h1)?;
    assert_eq!(
        p.world.vms_which_prevent_evacuation(&h3)?,
        [(
            vm1.clone(),
            vec!["NO_HOSTS_AVAILABLE".to_owned(), opaque_ref(&vm1)]
        )]
    );
    Ok(())
}

#[test]
fn evacuate_and_migrate_block_for_the_simulated_duration() -> Result<()> {
    // 600x: a 30 s migration takes 50 ms.
    let p = pool_at(3, "[durations]\nmigration_secs = 30.0\n", 600.0)?;
    let h2 = p.host_uuid("xcp-ng-2");
    p.world.host_disable(&h2)?;
    let started = Instant::now();
    p.world.host_evacuate(&h2)?;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(45), "returned after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let on_h2 = p.world.read(|s| {
        s.vms
            .iter()
            .filter(|v| v.resident_on.as_deref() == Some(&h2))
            .count()
    });
    assert_eq!(on_h2, 0);
    assert!(
        p.violations().is_empty(),
        "live migration keeps VMs running: {:?}",
        p.violations()
    );

    let vm = p.world.read(|s| s.vms[0].uuid.clone());
    let h3 = p.host_uuid("xcp-ng-3");
    p.world.vm_pool_migrate(&vm, &h3)?;
    assert_eq!(p.world.read(|s| s.vms[0].resident_on.clone()), Some(h3));
    assert_eq!(p.power("xcp-ng-2"), Power::Up);
    Ok(())
}
