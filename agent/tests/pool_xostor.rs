//! XOSTOR end to end against the testbed (which runs Vates' driver's observable behaviour):
//! `pool create-sr` and its refusals, a host joining the SR through `provision` (with Vates'
//! `addHost`, and without it), and the rolling upgrade waiting for each host's PBD and following
//! the controller as it moves.

mod xostor_support;

use serde_json::Value;
use xostor_support::*;

fn scenario_with(extra: &str, base: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("scenario.toml");
    let text = std::fs::read_to_string(scenario(base)).expect("scenario");
    std::fs::write(&path, format!("{extra}\n{text}")).expect("scenario");
    (tmp, path.to_str().expect("utf-8").to_string())
}

fn no_sr(x: &Xostor) {
    let status = x.pool.status();
    assert_eq!(status["srs"], Value::Array(vec![]), "nothing created: {status}");
}

#[test]
fn bare_hosts_get_their_xostor_sr_and_new_hosts_join_it() {
    // Five hosts: three members, two built outside the pool that join it later.
    let (_tmp, file) = scenario_with("", "xostor-demo.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("hosts = 4\njoining = 1", "hosts = 5\njoining = 2");
    std::fs::write(&file, text).unwrap();
    let x = Xostor::up(&file);

    // Not provisioned yet: refused, each host named.
    let run = x.pool.pool(&["create-sr", "--dry-run"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    for host in x.members() {
        assert!(
            run.text.contains(&format!("host {host}: not provisioned")),
            "{}",
            run.text
        );
    }
    no_sr(&x);

    x.provision(&["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"]);
    // More replicas than hosts with disks.
    let run = x.pool.pool(&["create-sr", "--redundancy", "4"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains("redundancy 4 needs 4 hosts with disks"),
        "{}",
        run.text
    );
    no_sr(&x);

    let dry = x.pool.pool(&["create-sr", "--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{}", dry.text);
    assert_eq!(
        dry.doc["device_config"]["group-name"], "linstor_group",
        "{}",
        dry.text
    );
    assert_eq!(dry.doc["device_config"]["redundancy"], "2", "{}", dry.text);
    assert_eq!(dry.doc["device_config"]["provisioning"], "thick", "{}", dry.text);
    assert_eq!(
        dry.doc["device_config"]["monitor-db-quorum"], "True",
        "{}",
        dry.text
    );
    no_sr(&x);

    let run = x.pool.pool(&["create-sr"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(
        run.doc["verified"].as_array().map(Vec::len),
        Some(6),
        "{}",
        run.text
    );
    let status = x.pool.status();
    assert_eq!(status["srs"].as_array().map(Vec::len), Some(1), "{status}");
    assert!(pbds(&status).iter().all(|(_, plugged)| *plugged), "{status}");
    assert_eq!(status["controller"]["running"], true, "{status}");
    let run = x.pool.pool(&["create-sr"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(run.text.contains("already has a linstor SR"), "{}", run.text);

    // Joining through Vates' addHost, then without the plugin (the agent's own steps).
    std::fs::remove_file(x.host("xcp-ng-5").root.join("etc/xapi.d/plugins/linstor-manager")).expect("plugin");
    for host in ["xcp-ng-4", "xcp-ng-5"] {
        x.pool.fault(&["pool-join", "--host", host]);
        let run = x.agent(host, &["provision", "--timeout", "60"]);
        assert_eq!(run.code, Some(0), "{}", run.text);
        let xostor = run.doc["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step"] == "xostor")
            .expect("the xostor step")["report"]
            .clone();
        assert_eq!(xostor["pbd_plugged"], true, "{xostor}");
        let via_plugin = xostor["actions"].to_string().contains("linstor-manager addHost");
        assert_eq!(via_plugin, host == "xcp-ng-4", "{xostor}");
        let again = x.agent(host, &["provision", "--timeout", "60"]);
        assert_eq!(again.code, Some(0), "{}", again.text);
        assert_eq!(
            again.doc["changed"], false,
            "a second run changes nothing: {}",
            again.text
        );
        let status = x.agent(host, &["status"]);
        assert_eq!(status.code, Some(0), "{}", status.text);
    }
    let status = x.pool.status();
    assert_eq!(pbds(&status).len(), 5, "{status}");
    assert!(pbds(&status).iter().all(|(_, plugged)| *plugged), "{status}");
    for node in status["nodes"].as_array().expect("nodes") {
        assert_eq!(node["connection_status"], "ONLINE", "{node}");
    }
    assert_eq!(violations(&status), Vec::<Value>::new());
}

#[test]
fn more_hosts_than_xostor_supports_are_refused_unless_allowed() {
    let (_tmp, file) = scenario_with("", "xostor-bare.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("hosts = 3", "hosts = 8");
    std::fs::write(&file, text).unwrap();
    let x = Xostor::up(&file);
    let run = x.pool.pool(&["create-sr", "--dry-run"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains("XOSTOR supports at most 7 per pool"),
        "{}",
        run.text
    );
    let run = x
        .pool
        .pool(&["create-sr", "--dry-run", "--allow-large-pool"], &[]);
    assert!(!run.text.contains("at most 7"), "{}", run.text);
    no_sr(&x);
}

#[test]
fn the_upgrade_waits_for_every_pbd_refuses_a_degraded_sr_and_follows_the_controller() {
    let x = Xostor::with_sr(&scenario("xostor-demo.toml"));
    let vdi = x.vm_disk("vm-1");
    assert!(!vdi.is_empty());
    let before = placement(&x.pool.status());

    // A replica left Inconsistent (its resync stalled after a crash): Vates' health check
    // (and the agent's own) refuse the upgrade. The victim's VM is moved away first, so that
    // the crash itself takes no VM down.
    let victim = "xcp-ng-3";
    x.migrate("vm-3", "xcp-ng-1");
    let resource = diskful_resource_on(&x.pool.status(), victim);
    x.pool
        .fault(&["stall-resync", "--resource", &resource, "--node", victim]);
    x.pool.fault(&["crash", "--host", victim]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    x.pool.fault(&["power-on", "--host", victim]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let run = x.pool.pool(&["upgrade", "--dry-run"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(
        run.text.contains("degraded (linstor-manager healthCheck)") && run.text.contains(&resource),
        "{}",
        run.text
    );
    x.pool
        .fault(&["resume-resync", "--resource", &resource, "--node", victim]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    x.migrate("vm-3", victim);

    // xcp-ng-2's PBD will not plug after its reboot: the run pauses before the next host.
    x.pool.fault(&["pbd-unplugged", "--host", "xcp-ng-2"]);
    let run = x.pool.pool(&["upgrade", "--stuck-after", "2"], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert!(run.text.contains("xcp-ng-2: wait-pbd"), "{}", run.text);
    assert!(run.text.contains("PBD.plug fails"), "{}", run.text);
    let status = x.pool.status();
    assert_eq!(
        host(&status, "xcp-ng-3")["reboots"],
        0,
        "the paused run did not take xcp-ng-3 down (a crash is not a reboot): {status}"
    );
    assert_eq!(violations(&status), Vec::<Value>::new(), "{status}");
    let shown = x.pool.pool(&["status"], &[]);
    assert_eq!(shown.doc["stall"]["step"], "wait-pbd", "{}", shown.text);

    x.pool.fault(&["pbd-plugs", "--host", "xcp-ng-2"]);
    let run = x.pool.pool(&["upgrade", "--resume"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let status = x.pool.status();
    assert_eq!(violations(&status), Vec::<Value>::new(), "{status}");
    assert!(pbds(&status).iter().all(|(_, plugged)| *plugged), "{status}");
    let seen = status["controller"]["hosts_seen"].as_array().expect("hosts_seen");
    let distinct: std::collections::BTreeSet<&str> = seen.iter().filter_map(Value::as_str).collect();
    assert!(
        distinct.len() > 1,
        "the controller moved during the upgrade: {seen:?}"
    );
    assert_eq!(status["controller"]["version"], "1.29.2");
    for name in x.members() {
        let h = host(&status, &name);
        assert!(has_version(h, "kmod-drbd", "9.2.12"), "{h}");
        assert!(has_version(h, "xcp-ng-linstor", "1.2"), "{h}");
        assert!(
            h["packages"]["xcp-ng-linstor"]
                .as_str()
                .is_some_and(|v| v.starts_with("1.2-4")),
            "{h}"
        );
    }
    assert_eq!(placement(&status), before, "VMs back on their hosts");
}
