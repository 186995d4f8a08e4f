//! XCP-ng's `service.py` plugin, built into the simulated XAPI: restarting a satellite runs
//! the `linstor-satellite` installed in the host's sysroot now (ONLINE or VERSION_MISMATCH),
//! stopping it takes the node OFFLINE while DRBD stays up; restarting the controller makes it
//! refuse connections for the failover time and come back as the `linstor-controller` of the
//! host it runs on. Through `host.call_plugin`, as an orchestrator calls it.

mod world_support;

use anyhow::{Context, Result};
use testbed::world::has_quorum;
use testbed::xapi_face::{Failure, Value, Xapi};
use world_support::{TestPool, dnf, pool, r0_and_vm0};

/// Old LINSTOR (1.29.0) everywhere, one resource 2-of-3 and its VM.
fn old_linstor() -> String {
    r0_and_vm0(
        r#"
controller_version = "1.29.0"

[durations]
controller_failover_secs = 20.0
"#,
    )
}

struct Api {
    xapi: Xapi,
    session: String,
}

impl Api {
    fn new(p: &TestPool) -> Result<Api> {
        let xapi = Xapi::new(p.world.clone());
        let session = xapi
            .call(
                "session.login_with_password",
                &[Value::str("root"), Value::str("secret")],
            )
            .context("login")?
            .as_str()
            .context("session ref")?
            .to_owned();
        Ok(Api { xapi, session })
    }

    /// `host.call_plugin(host, "service.py", function, {service})`.
    fn service(&self, p: &TestPool, host: &str, function: &str, service: &str) -> Result<Value, Failure> {
        let args = Value::Struct(vec![("service".into(), Value::str(service))]);
        self.xapi.call(
            "host.call_plugin",
            &[
                Value::str(&self.session),
                Value::str(format!("OpaqueRef:{}", p.host_uuid(host))),
                Value::str("service.py"),
                Value::str(function),
                args,
            ],
        )
    }

    fn ok(&self, p: &TestPool, host: &str, function: &str, service: &str) -> Result<()> {
        let out = self
            .service(p, host, function, service)
            .map_err(|e| anyhow::anyhow!("service.py {function} {service} on {host}: {e}"))?;
        // json.dumps(True), as the real plugin answers.
        assert_eq!(out, Value::str("true"));
        Ok(())
    }
}

/// Upgrades the LINSTOR packages in a host's sysroot with dnf, as an install step would.
fn upgrade_linstor(p: &TestPool, host: &str) -> Result<()> {
    let root = p.root(host).to_path_buf();
    let result = dnf(p, host)
        .command(&root)
        .args([
            "upgrade",
            "linstor-satellite",
            "linstor-controller",
            "linstor-common",
        ])
        .run();
    testbed::sysroot::dnf::stop_gpg_agents(&root);
    result?;
    Ok(())
}

fn satellite(p: &TestPool, host: &str) -> (Option<String>, bool) {
    p.world.read(|s| {
        let h = s.hosts.iter().find(|h| h.name == host).expect("host");
        (h.satellite_version.clone(), h.satellite_running)
    })
}

#[test]
fn restarting_a_satellite_runs_the_installed_one_and_drbd_stays_up() -> Result<()> {
    let p = pool(3, &old_linstor())?;
    let api = Api::new(&p)?;
    upgrade_linstor(&p, "xcp-ng-2")?;
    // The running satellite is the old one until it restarts; `start` of a running unit does
    // nothing, as systemd does.
    api.ok(&p, "xcp-ng-2", "start_service", "linstor-satellite")?;
    assert_eq!(satellite(&p, "xcp-ng-2"), (Some("1.29.0".into()), true));
    assert_eq!(p.connection("xcp-ng-2"), "ONLINE");

    api.ok(&p, "xcp-ng-2", "restart_service", "linstor-satellite")?;
    assert_eq!(satellite(&p, "xcp-ng-2"), (Some("1.29.2".into()), true));
    assert_eq!(p.connection("xcp-ng-2"), "VERSION_MISMATCH");
    // DRBD lives in the kernel: its replica keeps serving, the resource its quorum.
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");
    assert!(p.world.read(|s| has_quorum(s, "r0")));

    api.ok(&p, "xcp-ng-2", "stop_service", "linstor-satellite")?;
    assert_eq!(p.connection("xcp-ng-2"), "OFFLINE");
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "UpToDate");
    // try-restart of a stopped unit does nothing; start starts it.
    api.ok(&p, "xcp-ng-2", "try_restart_service", "linstor-satellite")?;
    assert_eq!(p.connection("xcp-ng-2"), "OFFLINE");
    api.ok(&p, "xcp-ng-2", "start_service", "linstor-satellite")?;
    assert_eq!(p.connection("xcp-ng-2"), "VERSION_MISMATCH");
    p.world.skip(600.0);
    assert!(p.violations().is_empty(), "{:?}", p.violations());

    // After a boot, though, a satellite that cannot talk to the controller brings no
    // resource up: the replica is away until the versions agree.
    p.drain_and_reboot("xcp-ng-2")?;
    p.world.skip(60.0);
    assert_eq!(p.connection("xcp-ng-2"), "VERSION_MISMATCH");
    assert_eq!(p.disk_state("r0", "xcp-ng-2"), "DUnknown");
    assert!(p.world.read(|s| has_quorum(s, "r0")), "2 of 3 replicas");
    Ok(())
}

#[test]
fn restarting_the_controller_brings_it_back_at_its_hosts_installed_version() -> Result<()> {
    let p = pool(3, &old_linstor())?;
    let api = Api::new(&p)?;
    for host in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
        upgrade_linstor(&p, host)?;
    }
    assert_eq!(p.state().controller.host, "xcp-ng-1");

    // Where the controller does not run, there is nothing to restart.
    api.ok(&p, "xcp-ng-2", "restart_service", "linstor-controller")?;
    assert_eq!(p.state().controller.version, "1.29.0");
    assert!(!p.world.controller_refusing());

    api.ok(&p, "xcp-ng-1", "restart_service", "linstor-controller")?;
    assert!(p.world.controller_refusing(), "drbd-reactor promotes it again");
    let controller = p.state().controller;
    assert_eq!(
        (controller.host.as_str(), controller.version.as_str()),
        ("xcp-ng-1", "1.29.2")
    );
    for node in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
        assert_eq!(p.connection(node), "VERSION_MISMATCH", "{node}");
    }
    p.world.skip(20.0);
    assert!(!p.world.controller_refusing());

    for host in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
        api.ok(&p, host, "restart_service", "linstor-satellite")?;
    }
    for node in ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"] {
        assert_eq!(p.connection(node), "ONLINE", "{node}");
    }
    // The whole LINSTOR step without a reboot, and without the pool noticing.
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    assert!(p.state().hosts.iter().all(|h| h.reboots == 0));
    Ok(())
}

#[test]
fn a_controller_host_without_the_package_keeps_the_version() -> Result<()> {
    let p = pool(3, &old_linstor())?;
    let api = Api::new(&p)?;
    testbed::sysroot::rpm_in(p.root("xcp-ng-1"))
        .args(["-e", "--nodeps", "linstor-controller"])
        .run()?;
    api.ok(&p, "xcp-ng-1", "stop_service", "linstor-controller")?;
    assert!(p.world.controller_refusing());
    assert_eq!(p.state().controller.version, "1.29.0");
    Ok(())
}

#[test]
fn the_controller_moves_to_a_host_with_its_database_and_runs_that_hosts_package() -> Result<()> {
    // The database on hosts 0, 2 and 3: when host 0 goes away, drbd-reactor promotes it on
    // xcp-ng-3, never on xcp-ng-2, which has no replica of it.
    let scenario = r#"
controller_version = "1.29.0"

[[resources]]
name = "xcp-persistent-database"
size_gib = 1.0
diskful = [0, 2, 3]
"#;
    let p = pool(4, scenario)?;
    upgrade_linstor(&p, "xcp-ng-3")?;
    p.drain_and_reboot("xcp-ng-1")?;
    let controller = p.state().controller;
    assert_eq!(
        (controller.host.as_str(), controller.version.as_str()),
        ("xcp-ng-3", "1.29.2")
    );
    assert!(p.world.controller_refusing());
    Ok(())
}
