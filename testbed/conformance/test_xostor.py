"""XOSTOR from bare hosts, with the real clients: a `testbed up --scenario xostor-bare.toml
--disks` pool whose hosts get a volume group (real `pvcreate`/`vgcreate` under
`LVM_SYSTEM_DIR=<root>/etc/lvm`), taken to a LINSTOR SR through the XenAPI SDK (`SR.create`,
as Xen Orchestra calls it), then checked with python-linstor: the nodes, storage pools,
resource groups and database resource the driver's create path leaves. Then the SR's PBDs,
VDIs and VBDs through the SDK, the linstor-manager plugin's functions, and a host reboot:
its PBD unplugged then plugged again, the controller moved off it.

The tests of this module share one pool and run in file order.
"""

import json
import os
import subprocess
import tempfile
import urllib.request

import linstor
import pytest
import XenAPI

from conftest import start_pool
from conftest import testbed as run_testbed
from linstor_openapi import SpecChecker, read_traffic

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.environ.get("LINSTOR_OPENAPI", "../shared/reference/linstor-rest-v1-openapi.yaml")
TRAFFIC_ENV = "TESTBED_LINSTOR_TRAFFIC"
BARE = os.path.join(HERE, "..", "scenarios", "xostor-bare.toml")
GROUP = "linstor_group"
POOL = "xcp-sr-linstor_group"
DATABASE = "xcp-persistent-database"
REACTOR_TOML = (
    "[[promoter]]\n\n[promoter.resources.xcp-persistent-database]\n"
    'start = [ "var-lib-linstor.service", "linstor-controller.service" ]\n'
)


def lvm(host, *args):
    env = dict(os.environ, LVM_SYSTEM_DIR=os.path.join(host["root"], "etc/lvm"), LVM_SUPPRESS_FD_WARNINGS="1")
    return subprocess.run(list(args), env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def traffic():
    fd, path = tempfile.mkstemp(prefix="xostor-traffic-", suffix=".jsonl")
    os.close(fd)
    return path


@pytest.fixture(scope="module")
def bare(traffic):
    """The bare pool, its LINSTOR face recording every exchange."""
    previous = os.environ.get(TRAFFIC_ENV)
    os.environ[TRAFFIC_ENV] = traffic
    try:
        pool = start_pool(3, ["--scenario", BARE, "--disks"])
    finally:
        if previous is None:
            os.environ.pop(TRAFFIC_ENV, None)
        else:
            os.environ[TRAFFIC_ENV] = previous
    try:
        for host in pool.hosts:
            lvm(host, "pvcreate", "-q", host["disk"])
            lvm(host, "vgcreate", "-q", GROUP, host["disk"])
        yield pool
    finally:
        run_testbed("down", "--dir", pool.dir, check=False)


@pytest.fixture(scope="module")
def x(bare):
    session = XenAPI.Session(bare.xapi_url)
    session.xenapi.login_with_password(bare.info["username"], bare.info["password"], "1.0", "conformance")
    yield session.xenapi
    session.xenapi.session.logout()


def host_ref(x, name):
    (ref,) = x.host.get_by_name_label(name)
    return ref


def master(x):
    return x.pool.get_master(x.pool.get_all()[0])


def lin_client(pool):
    client = linstor.Linstor(pool.linstor_url, timeout=10)
    client.connect()
    return client


def answers(url):
    try:
        with urllib.request.urlopen(url + "/v1/controller/version", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def failure(call, *args):
    with pytest.raises(XenAPI.Failure) as f:
        call(*args)
    return f.value.details


def sr_create(x, host, device_config):
    return x.SR.create(host, device_config, "0", "XOSTOR", "conformance", "linstor", "user", True, {})


def test_a_bare_pool_has_no_node_no_sr_and_no_controller(bare, x):
    status = bare.status()
    assert status["controller"]["running"] is False
    assert status["controller"]["hosts_seen"] == []
    assert status["nodes"] == [] and status["resources"] == [] and status["srs"] == []
    assert x.SR.get_all() == []
    with pytest.raises(linstor.LinstorNetworkError):
        lin_client(bare)
    assert not any(answers(h["controller_url"]) for h in bare.hosts)
    # Hosts have management addresses of their own: XAPI's address, the management PIF's IP.
    for h in bare.hosts:
        ref = host_ref(x, h["name"])
        assert x.host.get_address(ref) == h["address"]
        pifs = [x.PIF.get_record(p) for p in x.host.get_PIFs(ref)]
        assert [p["IP"] for p in pifs if p["management"]] == [h["address"]]
        assert h["controller_url"] == f"http://{h['address']}:3370"


def test_sr_create_refusals_carry_the_drivers_errors(bare, x):
    m = master(x)
    assert failure(sr_create, x, m, {"redundancy": "2"})[:3] == [
        "SR_BACKEND_FAILURE_5004",
        "",
        "The request is missing the LINSTOR group name parameter",
    ]
    assert failure(sr_create, x, m, {"group-name": GROUP})[0] == "SR_BACKEND_FAILURE_5005"
    details = failure(sr_create, x, m, {"group-name": GROUP, "redundancy": "5", "provisioning": "thick"})
    assert details[0] == "SR_BACKEND_FAILURE_5006" and "Redundancy greater than host count" in details[2]
    slave = host_ref(x, bare.hosts[1]["name"])
    assert failure(sr_create, x, slave, {"group-name": GROUP, "redundancy": "2"})[0] == "SR_BACKEND_FAILURE_5002"
    details = failure(sr_create, x, m, {"group-name": GROUP, "redundancy": "2", "provisioning": "thin"})
    assert "Invalid group name using thin provisioning" in details[2]
    x.host.disable(slave)
    try:
        details = failure(sr_create, x, m, {"group-name": GROUP, "redundancy": "2", "provisioning": "thick"})
        assert "Not enough online hosts" in details[2]
    finally:
        x.host.enable(slave)
    assert failure(x.SR.create, m, {}, "0", "x", "", "lvm", "user", False, {})[0] == "SR_UNKNOWN_DRIVER"
    assert x.SR.get_all() == []


def test_sr_create_makes_the_sr_and_a_plugged_pbd_per_host(bare, x):
    dconf = {"group-name": GROUP, "redundancy": "2", "provisioning": "thick"}
    sr = sr_create(x, master(x), dconf)
    record = x.SR.get_record(sr)
    assert (record["type"], record["shared"], record["content_type"]) == ("linstor", True, "user")
    assert int(record["physical_size"]) > 3 * 9 * 1024**3
    assert x.SR.get_type(sr) == "linstor" and x.SR.get_shared(sr) is True
    assert x.SR.get_by_name_label("XOSTOR") == [sr]
    assert x.SR.get_by_uuid(record["uuid"]) == sr
    assert list(x.SR.get_all_records()) == [sr]
    pbds = x.SR.get_PBDs(sr)
    assert len(pbds) == 3
    for h in bare.hosts:
        (pbd,) = x.host.get_PBDs(host_ref(x, h["name"]))
        assert pbd in pbds
        pbd_record = x.PBD.get_record(pbd)
        assert pbd_record["currently_attached"] is True
        assert pbd_record["device_config"] == dconf
        assert pbd_record["SR"] == sr
    # A second LINSTOR SR is refused.
    details = failure(sr_create, x, master(x), dconf)
    assert details[0] == "SR_BACKEND_FAILURE_5006" and "must be unique" in details[2]


def test_python_linstor_sees_what_the_driver_left(bare):
    lin = lin_client(bare)
    try:
        nodes = {n.name: n for n in lin.node_list_raise().nodes}
        assert sorted(nodes) == sorted(h["name"] for h in bare.hosts)
        for h in bare.hosts:
            node = nodes[h["name"]]
            assert (node.type, node.connection_status) == ("COMBINED", "ONLINE")
            assert [i.address for i in node.net_interfaces] == [h["address"]]
        pools = [p for p in lin.storage_pool_list_raise().storage_pools if p.name == POOL]
        assert sorted(p.node_name for p in pools) == sorted(nodes)
        for p in pools:
            assert p.provider_kind == "LVM"
            assert p.properties["StorDriver/StorPoolName"] == GROUP
        groups = {g.name: g for g in lin.resource_group_list_raise().resource_groups}
        assert groups[POOL].select_filter.place_count == 2
        assert groups["xcp-ha-linstor_group"].select_filter.place_count == 3
        assert groups[POOL].select_filter.storage_pool == POOL
        rds = {d.name: d for d in lin.resource_dfn_list_raise().resource_definitions}
        assert list(rds) == [DATABASE]
        assert rds[DATABASE].resource_group_name == "xcp-ha-linstor_group"
        replicas = {r.node_name: r for r in lin.resource_list_raise().resources if r.name == DATABASE}
        diskless = {n for n, r in replicas.items() if "DISKLESS" in r.flags}
        first, second, third = (h["name"] for h in bare.hosts)
        assert set(replicas) == {first, second, third} and diskless == {third}
    finally:
        lin.disconnect()


def test_the_controller_answers_on_its_host_under_drbd_reactor(bare):
    status = bare.status()
    controller = status["controller"]
    first = bare.hosts[0]["name"]
    assert controller["running"] is True and controller["host"] == first
    assert controller["hosts_seen"] == [first]
    for h in bare.hosts:
        assert answers(h["controller_url"]) == (h["name"] == first), h["name"]
        with open(os.path.join(h["root"], "etc/drbd-reactor.d/sm-linstor.toml")) as f:
            assert f.read() == REACTOR_TOML
    assert all(h["reactor_config"] and h["reactor_enabled"] for h in status["hosts"])


def test_pbd_calls(bare, x):
    (sr,) = x.SR.get_all()
    third = host_ref(x, bare.hosts[2]["name"])
    (pbd,) = x.host.get_PBDs(third)
    assert x.PBD.get_by_uuid(x.PBD.get_uuid(pbd)) == pbd
    assert pbd in x.PBD.get_all_records()
    assert failure(x.PBD.destroy, pbd)[:2] == ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    x.PBD.unplug(pbd)
    assert x.PBD.get_currently_attached(pbd) is False
    x.PBD.plug(pbd)
    assert x.PBD.get_currently_attached(pbd) is True
    dconf = x.PBD.get_device_config(pbd)
    assert failure(x.PBD.create, {"host": third, "SR": sr, "device_config": dconf})[0] == "PBD_EXISTS"
    x.PBD.unplug(pbd)
    x.PBD.destroy(pbd)
    assert x.host.get_PBDs(third) == []
    pbd = x.PBD.create({"host": third, "SR": sr, "device_config": dconf, "other_config": {}})
    assert x.PBD.get_currently_attached(pbd) is False
    x.PBD.plug(pbd)
    assert x.PBD.get_record(pbd)["currently_attached"] is True
    # The fault: plug attempts fail until pbd-plugs.
    name = bare.hosts[2]["name"]
    bare.fault("pbd-unplugged", "--host", name)
    x.PBD.unplug(pbd)
    assert failure(x.PBD.plug, pbd)[0] == "SR_BACKEND_FAILURE_47"
    bare.fault("pbd-plugs", "--host", name)
    x.PBD.plug(pbd)
    assert x.PBD.get_currently_attached(pbd) is True


def test_pbds_over_json_rpc_and_events(bare, x):
    def rpc(method, *params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
        request = urllib.request.Request(bare.xapi_url + "jsonrpc", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    session = rpc("session.login_with_password", bare.info["username"], bare.info["password"])["result"]
    records = rpc("PBD.get_all_records", session)["result"]
    assert len(records) == 3 and all(r["currently_attached"] for r in records.values())
    (sr,) = rpc("SR.get_all", session)["result"]
    assert rpc("SR.get_type", session, sr)["result"] == "linstor"
    events = getattr(x.event, "from")(["pbd", "sr"], "", 0.0)
    classes = sorted({e["class"] for e in events["events"]})
    assert classes == ["pbd", "sr"]


def test_vdis_are_linstor_resources(bare, x):
    (sr,) = x.SR.get_all()
    record = {
        "SR": sr,
        "virtual_size": str(1 << 30),
        "type": "user",
        "name_label": "disk-1",
        "name_description": "",
        "sharable": False,
        "read_only": False,
        "other_config": {},
        "xenstore_data": {},
        "sm_config": {},
        "tags": [],
    }
    vdi = x.VDI.create(record)
    kept = x.VDI.create(dict(record, name_label="disk-2"))
    assert set(x.SR.get_VDIs(sr)) == {vdi, kept}
    assert vdi in x.VDI.get_all_records()
    assert x.VDI.get_record(vdi)["virtual_size"] == str(1 << 30)
    assert x.VDI.get_SR(vdi) == sr
    status = bare.status()
    by_uuid = {v["uuid"]: v for v in status["vdis"]}
    resource = by_uuid[x.VDI.get_uuid(vdi)]["resource"]
    assert resource.startswith("xcp-volume-") and x.VDI.get_uuid(vdi) not in resource
    lin = lin_client(bare)
    try:
        replicas = [r for r in lin.resource_list_raise().resources if r.name == resource]
        diskful = [r.node_name for r in replicas if "DISKLESS" not in r.flags]
        assert len(diskful) == 2
        assert bare.hosts[0]["name"] in {r.node_name for r in replicas}, "the creating host has a replica"
        pools = {(p.node_name, p.name) for p in lin.storage_pool_list_raise().storage_pools}
        assert all((n, POOL) in pools for n in diskful)
    finally:
        lin.disconnect()
    # A VM's disk: the VDI in use while the VM runs.
    (vm,) = x.VM.get_by_name_label("vm-1")
    vbd = x.VBD.create(
        {
            "VM": vm,
            "VDI": vdi,
            "userdevice": "0",
            "bootable": True,
            "mode": "RW",
            "type": "Disk",
            "empty": False,
            "other_config": {},
            "qos_algorithm_type": "",
            "qos_algorithm_params": {},
        }
    )
    assert x.VM.get_VBDs(vm) == [vbd]
    assert x.VBD.get_record(vbd)["VDI"] == vdi
    assert vbd in x.VBD.get_all_records()
    assert failure(x.VDI.destroy, vdi)[0] == "VDI_IN_USE"
    # The other VDI goes, with its resource.
    gone = by_uuid[x.VDI.get_uuid(kept)]["resource"]
    x.VDI.destroy(kept)
    lin = lin_client(bare)
    try:
        assert gone not in {d.name for d in lin.resource_dfn_list_raise().resource_definitions}
    finally:
        lin.disconnect()


def test_linstor_manager_functions(bare, x):
    hosts = {h["name"]: host_ref(x, h["name"]) for h in bare.hosts}
    first, second, third = (h["name"] for h in bare.hosts)
    running = {n: x.host.call_plugin(r, "linstor-manager", "hasControllerRunning", {}) for n, r in hosts.items()}
    assert running == {first: "True", second: "False", third: "False"}
    health = json.loads(x.host.call_plugin(hosts[second], "linstor-manager", "healthCheck", {"groupName": GROUP}))
    assert health["controller-uri"] == f"linstor://{bare.hosts[0]['address']}"
    assert health["nodes"] == {n: "ONLINE" for n in hosts}
    assert sorted(health["storage-pools"]) == sorted(hosts)
    assert health["resources"][DATABASE]["uuid"] == ""
    assert health["errors"] == []
    details = failure(x.host.call_plugin, hosts[third], "linstor-manager", "addHost", {"groupName": "nope"})
    assert details == ["XENAPI_PLUGIN_FAILURE", "addHost", "Exception", "Failed to find PBDs of group `nope`"]
    assert failure(x.host.call_plugin, hosts[third], "linstor-manager", "frobnicate", {})[0] == (
        "UNKNOWN_XENAPI_PLUGIN_FUNCTION"
    )
    # updateDrbdReactor on a host: the toml goes and comes back.
    toml = os.path.join(bare.hosts[2]["root"], "etc/drbd-reactor.d/sm-linstor.toml")
    assert x.host.call_plugin(hosts[third], "linstor-manager", "updateDrbdReactor", {"enabled": "False"}) == "True"
    assert not os.path.exists(toml)
    assert x.host.call_plugin(hosts[third], "linstor-manager", "updateDrbdReactor", {"enabled": "True"}) == "True"
    assert os.path.exists(toml)


def test_a_reboot_unplugs_the_pbd_and_moves_the_controller(bare, x):
    first, second, third = (h["name"] for h in bare.hosts)
    hosts = {h["name"]: host_ref(x, h["name"]) for h in bare.hosts}
    # The controller off the master (drbd-reactor stopped there), so a slave can take it down.
    x.host.call_plugin(hosts[first], "linstor-manager", "updateDrbdReactor", {"enabled": "False"})
    bare.wait_for(lambda s: s["controller"]["host"] == second and not s["controller"]["refusing"])
    x.host.call_plugin(hosts[first], "linstor-manager", "updateDrbdReactor", {"enabled": "True"})
    assert x.host.call_plugin(hosts[second], "linstor-manager", "hasControllerRunning", {}) == "True"
    x.host.disable(hosts[second])
    x.host.evacuate(hosts[second])
    x.host.reboot(hosts[second])
    status = bare.wait_for(lambda s: any(h["name"] == second and h["power"] == "rebooting" for h in s["hosts"]))
    assert [p["currently_attached"] for p in status["pbds"] if p["host"] == second] == [False]
    status = bare.wait_for(
        lambda s: any(h["name"] == second and h["live"] for h in s["hosts"])
        and all(p["currently_attached"] for p in s["pbds"])
        and not s["controller"]["refusing"]
    )
    assert status["controller"]["hosts_seen"] == [first, second, first]
    (pbd,) = x.host.get_PBDs(hosts[second])
    assert x.PBD.get_currently_attached(pbd) is True
    x.host.enable(hosts[second])
    assert [v for v in bare.status()["violations"] if v["kind"] == "pbd_unplugged"] == []


def test_rebooting_while_another_pbd_is_unplugged_is_a_violation(bare, x):
    second, third = bare.hosts[1]["name"], bare.hosts[2]["name"]
    hosts = {h["name"]: host_ref(x, h["name"]) for h in bare.hosts}
    (pbd,) = x.host.get_PBDs(hosts[third])
    x.PBD.unplug(pbd)
    x.host.disable(hosts[second])
    x.host.evacuate(hosts[second])
    x.host.reboot(hosts[second])
    violations = [v for v in bare.status()["violations"] if v["kind"] == "pbd_unplugged"]
    assert [v["subject"] for v in violations] == [third]
    assert second in violations[0]["detail"]
    bare.wait_for(lambda s: all(h["live"] for h in s["hosts"]) and not s["controller"]["refusing"])
    x.PBD.plug(pbd)
    x.host.enable(hosts[second])


def test_remove_host_then_add_host(bare, x):
    third = bare.hosts[2]
    ref = host_ref(x, third["name"])
    assert x.host.call_plugin(ref, "linstor-manager", "removeHost", {"groupName": GROUP}) == "True"
    lin = lin_client(bare)
    try:
        assert third["name"] not in {n.name for n in lin.node_list_raise().nodes}
    finally:
        lin.disconnect()
    assert x.host.get_PBDs(ref) == []
    assert not os.path.exists(os.path.join(third["root"], "etc/drbd-reactor.d/sm-linstor.toml"))
    assert x.host.call_plugin(ref, "linstor-manager", "addHost", {"groupName": GROUP}) == "True"
    lin = lin_client(bare)
    try:
        node = {n.name: n for n in lin.node_list_raise().nodes}[third["name"]]
        assert node.type == "COMBINED" and node.connection_status == "ONLINE"
        assert [i.address for i in node.net_interfaces] == [third["address"]]
    finally:
        lin.disconnect()
    (pbd,) = x.host.get_PBDs(ref)
    record = x.PBD.get_record(pbd)
    assert record["device_config"] == {"group-name": GROUP, "redundancy": "2", "provisioning": "thick"}
    assert record["currently_attached"] is True
    with open(os.path.join(third["root"], "etc/drbd-reactor.d/sm-linstor.toml")) as f:
        assert f.read() == REACTOR_TOML


def test_every_linstor_exchange_validates_against_the_openapi_spec(bare, traffic):
    exchanges = read_traffic(traffic)
    paths = {e["path"].split("?")[0] for e in exchanges}
    assert "/v1/resource-groups" in paths, sorted(paths)
    checker = SpecChecker(SPEC)
    problems = []
    for exchange in exchanges:
        errors, _ = checker.check(exchange)
        problems += [f"{exchange['method']} {exchange['path']} ({exchange['status']}): {e}" for e in errors]
    assert not problems, "\n".join(problems)
