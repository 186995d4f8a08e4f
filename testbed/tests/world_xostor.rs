//! `SR.create` of a `linstor` SR on a bare pool, driven on the world: the driver's refusals
//! in its order and with its codes, "No VG group found" without volume groups, and on real
//! volume groups (loop devices, LVM; needs root) what the create path leaves in LINSTOR and
//! XAPI; then VDIs placed as the driver and LINSTOR place them.

mod lvm_support;
mod world_support;

use std::collections::BTreeMap;

use anyhow::Result;
use lvm_support::{Disk, prepare_host};
use testbed::world::reactor::{CONFIG, CONFIG_PATH};
use testbed::world::sr_create::SrCreate;
use testbed::world::vdis::VdiCreate;
use testbed::world::{ReplicaKind, XapiError};
use world_support::{FROZEN, TestPool, pool, pool_with_disks};

/// Three hosts with the packages and no XOSTOR; a VM without disks on the first.
const BARE: &str = "xostor = false\n[[vms]]\nname = \"vm-1\"\nhome = 0\n";

fn request(p: &TestPool, host: &str, dconf: &[(&str, &str)]) -> SrCreate {
    SrCreate {
        host: p.host_uuid(host),
        device_config: dconf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        name_label: "XOSTOR".into(),
        name_description: String::new(),
        sr_type: "linstor".into(),
        content_type: "user".into(),
        shared: true,
        sm_config: BTreeMap::new(),
    }
}

fn refused(p: &TestPool, req: &SrCreate) -> XapiError {
    p.world.sr_create(req).expect_err("SR.create is refused")
}

fn opterr(e: &XapiError) -> &str {
    e.params.get(1).map(String::as_str).unwrap_or("")
}

const THICK: [(&str, &str); 3] = [
    ("group-name", "linstor_group"),
    ("redundancy", "2"),
    ("provisioning", "thick"),
];

#[test]
fn sr_create_refuses_as_the_driver_does() -> Result<()> {
    let p = pool(3, BARE)?;
    let mut other = request(&p, "xcp-ng-1", &THICK);
    other.sr_type = "lvm".into();
    assert_eq!(refused(&p, &other).code, "SR_UNKNOWN_DRIVER");
    let e = refused(&p, &request(&p, "xcp-ng-1", &[("redundancy", "2")]));
    assert_eq!(
        e.description(),
        [
            "SR_BACKEND_FAILURE_5004",
            "",
            "The request is missing the LINSTOR group name parameter",
            ""
        ]
    );
    let e = refused(&p, &request(&p, "xcp-ng-1", &[("group-name", "linstor_group")]));
    assert_eq!(e.code, "SR_BACKEND_FAILURE_5005");
    let e = refused(
        &p,
        &request(
            &p,
            "xcp-ng-1",
            &[("group-name", "g"), ("redundancy", "2"), ("provisioning", "fat")],
        ),
    );
    assert_eq!(e.code, "SR_BACKEND_FAILURE_1");
    assert_eq!(
        refused(&p, &request(&p, "xcp-ng-2", &THICK)).code,
        "SR_BACKEND_FAILURE_5002"
    );
    let e = refused(
        &p,
        &request(
            &p,
            "xcp-ng-1",
            &[("group-name", "linstor_group"), ("redundancy", "4")],
        ),
    );
    assert_eq!(e.code, "SR_BACKEND_FAILURE_5006");
    assert!(opterr(&e).contains("Redundancy greater than host count"), "{e}");
    let e = refused(
        &p,
        &request(
            &p,
            "xcp-ng-1",
            &[("group-name", "linstor_group"), ("redundancy", "2")],
        ),
    );
    assert!(
        opterr(&e).contains("Invalid group name using thin provisioning"),
        "{e}"
    );
    p.world.host_disable(&p.host_uuid("xcp-ng-3"))?;
    assert!(opterr(&refused(&p, &request(&p, "xcp-ng-1", &THICK))).contains("Not enough online hosts"));
    p.world.host_enable(&p.host_uuid("xcp-ng-3"))?;
    // Nothing was created by the refusals: no node, no controller.
    let s = p.state();
    assert!(s.nodes.is_empty() && s.srs.is_empty() && !s.controller.running);
    Ok(())
}

#[test]
fn without_a_volume_group_the_nodes_stay_and_the_controller_stops() -> Result<()> {
    let p = pool(3, BARE)?;
    let e = refused(&p, &request(&p, "xcp-ng-1", &THICK));
    assert_eq!(e.code, "SR_BACKEND_FAILURE_5006");
    assert!(opterr(&e).contains("No VG group found"), "{e}");
    let s = p.state();
    assert_eq!(
        s.nodes.len(),
        3,
        "the nodes were created before the storage pools"
    );
    assert!(s.srs.is_empty() && s.resource_groups.is_empty() && s.resources.is_empty());
    assert!(!s.controller.running);
    assert_eq!(s.controller.hosts_seen, ["xcp-ng-1"]);
    assert!(s.hosts.iter().all(|h| !h.reactor_config && h.satellite_running));
    Ok(())
}

#[test]
fn sr_create_on_volume_groups_leaves_what_the_driver_leaves() -> Result<()> {
    let disks = [Disk::new()?, Disk::new()?];
    let specs = [Some(disks[0].spec()), Some(disks[1].spec()), None];
    let p = pool_with_disks(3, BARE, FROZEN, &specs)?;
    prepare_host(p.root("xcp-ng-1"), Some(&disks[0]), Some("linstor_group"))?;
    prepare_host(p.root("xcp-ng-2"), Some(&disks[1]), Some("linstor_group"))?;
    prepare_host(p.root("xcp-ng-3"), None, None)?;

    let sr = p.world.sr_create(&request(&p, "xcp-ng-1", &THICK))?;
    let s = p.state();
    let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"]);
    for (node, host) in s.nodes.iter().zip(&s.hosts) {
        assert_eq!(node.node_type, "COMBINED");
        assert_eq!(node.net_interfaces[0].address, host.address);
        let pool = node
            .storage_pools
            .iter()
            .find(|p| p.name == "xcp-sr-linstor_group");
        if node.name == "xcp-ng-3" {
            assert!(pool.is_none(), "no volume group: diskless");
            continue;
        }
        let pool = pool.expect("the SR's storage pool");
        assert_eq!(pool.provider_kind, "LVM");
        assert_eq!(pool.props["StorDriver/StorPoolName"], "linstor_group");
        // What vgs says of a 4 GiB disk, less the 1 GiB database.
        assert!(pool.total_capacity > 4_000_000 && pool.total_capacity <= 4 * 1024 * 1024);
        assert_eq!(pool.free_capacity, pool.total_capacity - 1024 * 1024);
    }
    let groups: Vec<(&str, u32)> = s
        .resource_groups
        .iter()
        .map(|g| (g.name.as_str(), g.place_count))
        .collect();
    assert_eq!(groups, [("xcp-sr-linstor_group", 2), ("xcp-ha-linstor_group", 3)]);
    let db: Vec<(&str, ReplicaKind)> = s.resources.iter().map(|r| (r.node.as_str(), r.kind)).collect();
    assert_eq!(
        db,
        [
            ("xcp-ng-1", ReplicaKind::Diskful),
            ("xcp-ng-2", ReplicaKind::Diskful),
            ("xcp-ng-3", ReplicaKind::Diskless)
        ]
    );
    let rd = &s.resource_definitions[0];
    assert_eq!(
        (rd.name.as_str(), rd.size_kib),
        ("xcp-persistent-database", 1024 * 1024)
    );
    assert_eq!(rd.resource_group.as_deref(), Some("xcp-ha-linstor_group"));
    assert_eq!(rd.props["DrbdOptions/Resource/quorum"], "majority");
    assert!(s.controller.running && s.controller.host == "xcp-ng-1");
    assert_eq!(s.controller.hosts_seen, ["xcp-ng-1"]);
    for host in &s.hosts {
        assert!(host.reactor_config && host.reactor_enabled, "{}", host.name);
        let toml = host.root.join(CONFIG_PATH);
        assert_eq!(std::fs::read_to_string(&toml)?, CONFIG);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&toml)?.permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(s.srs.len(), 1);
    assert_eq!(s.srs[0].uuid, sr);
    assert_eq!(s.pbds.len(), 3);
    for pbd in &s.pbds {
        assert!(pbd.currently_attached);
        assert_eq!(pbd.device_config["provisioning"], "thick");
    }
    let e = refused(&p, &request(&p, "xcp-ng-1", &THICK));
    assert!(opterr(&e).contains("must be unique"), "{e}");

    // A VDI: two diskful replicas with the pool, the master among them, and a tie-breaker.
    let vdi = p.world.vdi_create(&VdiCreate {
        sr: sr.clone(),
        name_label: "disk".into(),
        virtual_size: 1 << 30,
        vdi_type: "user".into(),
        ..VdiCreate::default()
    })?;
    let s = p.state();
    let resource = s
        .vdis
        .iter()
        .find(|v| v.uuid == vdi)
        .expect("vdi")
        .resource
        .clone();
    assert!(resource.starts_with("xcp-volume-") && !resource.contains(&vdi));
    let mut replicas: Vec<(String, ReplicaKind)> = s
        .resources
        .iter()
        .filter(|r| r.name == resource)
        .map(|r| (r.node.clone(), r.kind))
        .collect();
    replicas.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        replicas,
        [
            ("xcp-ng-1".to_string(), ReplicaKind::Diskful),
            ("xcp-ng-2".to_string(), ReplicaKind::Diskful),
            ("xcp-ng-3".to_string(), ReplicaKind::TieBreaker)
        ]
    );
    // More than fits fails as the driver does.
    let e = p
        .world
        .vdi_create(&VdiCreate {
            sr: sr.clone(),
            virtual_size: 8 << 30,
            vdi_type: "user".into(),
            ..VdiCreate::default()
        })
        .expect_err("too large");
    assert_eq!(e.code, "SR_BACKEND_FAILURE_78");
    p.world.vdi_destroy(&vdi)?;
    let s = p.state();
    assert!(s.vdis.is_empty() && !s.resources.iter().any(|r| r.name == resource));
    Ok(())
}

#[test]
fn add_host_joins_a_host_as_the_plugin_does_and_remove_host_undoes_it() -> Result<()> {
    let p = pool(4, "joining = 1\n[sr]\nredundancy = 2\n")?;
    let four = p.host_uuid("xcp-ng-4");
    let group = "linstor_group/thin_device";
    let e = p.world.add_host(&four, "nope").expect_err("no such group");
    assert_eq!(
        (e.class.as_str(), e.message.as_str()),
        ("Exception", "Failed to find PBDs of group `nope`")
    );
    assert_eq!(p.world.add_host(&four, group)?, "True");
    let s = p.state();
    let node = s.nodes.iter().find(|n| n.name == "xcp-ng-4").expect("a node");
    let host = s.hosts.iter().find(|h| h.uuid == four).expect("host");
    assert_eq!(node.node_type, "COMBINED");
    assert_eq!(node.net_interfaces[0].address, host.address);
    assert!(host.reactor_config && host.reactor_enabled && host.linstor_ports_open);
    assert_eq!(std::fs::read_to_string(host.root.join(CONFIG_PATH))?, CONFIG);
    let pbd = s.pbds.iter().find(|p| p.host == four).expect("a PBD");
    assert!(pbd.currently_attached);
    let dconf: Vec<(&str, &str)> = pbd
        .device_config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        dconf,
        [
            ("group-name", group),
            ("provisioning", "thin"),
            ("redundancy", "2")
        ]
    );
    // A second addHost changes nothing.
    assert_eq!(p.world.add_host(&four, group)?, "True");
    assert_eq!(p.state().pbds.len(), 4);

    assert_eq!(p.world.remove_host(&four, group)?, "True");
    let s = p.state();
    let host = s.hosts.iter().find(|h| h.uuid == four).expect("host");
    assert!(!s.nodes.iter().any(|n| n.name == "xcp-ng-4"));
    assert!(!s.pbds.iter().any(|p| p.host == four));
    assert!(!host.reactor_config && !host.linstor_ports_open && !host.satellite_running);
    assert!(!host.root.join(CONFIG_PATH).exists());
    // A member holding the last diskful replica of a volume is not removed.
    let e = p
        .world
        .remove_host(&p.host_uuid("xcp-ng-1"), group)
        .expect_err("replicas in use");
    assert!(
        e.message.starts_with("Failed to destroy node `xcp-ng-1`"),
        "{}",
        e.message
    );
    Ok(())
}
