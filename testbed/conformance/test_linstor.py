"""The testbed's LINSTOR controller against the real client, python-linstor, and the OpenAPI
spec.

A pool is started with `testbed up`; python-linstor drives it as it would a real controller
and the replies are checked for what the real controller sends (upper-case types, ApiCallRc
codes and messages). The face records every exchange (TESTBED_LINSTOR_TRAFFIC); the last
test validates each recorded request and response body against the spec with openapi-core
(see linstor_openapi.py for the handling of the spec's known quirks and the allow-list).
"""

import json
import os
import tempfile
import time
import urllib.error
import urllib.request

import linstor
import pytest
from linstor import sharedconsts as apiconsts

from conftest import start_pool
from conftest import testbed as run_testbed
from linstor_openapi import ALLOWED, SpecChecker, read_traffic

SPEC = os.environ.get("LINSTOR_OPENAPI", "../shared/reference/linstor-rest-v1-openapi.yaml")
TRAFFIC_ENV = "TESTBED_LINSTOR_TRAFFIC"

# The state the tests below build up, in file order (pytest runs a module's tests in order).
NEW_NODE = "xcp-ng-4"  # no host behind it: the node stays OFFLINE
NEW_POOL = "thick"


@pytest.fixture(scope="module")
def traffic():
    fd, path = tempfile.mkstemp(prefix="linstor-traffic-", suffix=".jsonl")
    os.close(fd)
    return path


@pytest.fixture(scope="module")
def linstor_pool(traffic):
    """A 3-host pool whose LINSTOR face records its traffic."""
    previous = os.environ.get(TRAFFIC_ENV)
    os.environ[TRAFFIC_ENV] = traffic
    try:
        pool = start_pool()
    finally:
        if previous is None:
            os.environ.pop(TRAFFIC_ENV, None)
        else:
            os.environ[TRAFFIC_ENV] = previous
    yield pool
    run_testbed("down", "--dir", pool.dir, check=False)


@pytest.fixture
def lin(linstor_pool):
    client = linstor.Linstor(linstor_pool.linstor_url, timeout=30)
    client.connect()
    yield client
    client.disconnect()


def only_errors(replies):
    return [r for r in replies if r.is_error()]


def test_connect_checks_the_controller_version(linstor_pool, lin):
    version = lin.controller_version()
    assert version.rest_api_version == "1.28.0"
    assert version.version == linstor_pool.info["controller_version"]
    assert len(version.git_hash) == 40


def test_node_list(linstor_pool, lin):
    nodes = lin.node_list_raise().nodes
    assert sorted(n.name for n in nodes) == sorted(h["name"] for h in linstor_pool.hosts)
    for node in nodes:
        assert node.type == "COMBINED", "the controller answers types in upper case"
        assert node.connection_status == "ONLINE"
        assert [i.name for i in node.net_interfaces] == ["default"]
        assert node.net_interfaces[0].stlt_encryption_type == "PLAIN"
        assert node.net_interfaces[0].stlt_port == 3366
        assert "LVM_THIN" in node.storage_providers
        assert "DRBD" in node.resource_layers
        assert "ZFS" in node.unsupported_providers
    one = lin.node_list_raise(filter_by_nodes=[nodes[0].name]).nodes
    assert [n.name for n in one] == [nodes[0].name]


def test_node_create(lin):
    # python-linstor sends the type as given ("Combined") and "Plain": the controller stores
    # and answers its enums in upper case.
    replies = lin.node_create(NEW_NODE, "Combined", "10.0.0.14")
    assert replies[0].is_success(), replies
    assert replies[0].message == f"New node '{NEW_NODE}' registered."
    assert replies[0].object_refs["Node"] == NEW_NODE
    # Nothing answers at its address: a warning, as the real controller gives.
    assert replies[1].is_warning()
    assert replies[1].ret_code & apiconsts.WARN_NOT_CONNECTED == apiconsts.WARN_NOT_CONNECTED
    assert replies[1].message == f"No active connection to satellite '{NEW_NODE}'"

    node = lin.node_list_raise(filter_by_nodes=[NEW_NODE]).nodes[0]
    assert node.type == "COMBINED"
    assert node.connection_status == "OFFLINE"
    assert node.net_interfaces[0].stlt_encryption_type == "PLAIN"
    assert node.storage_providers == []


def test_node_create_duplicate_is_fail_exists_node(lin):
    replies = lin.node_create(NEW_NODE, "Combined", "10.0.0.14")
    assert len(replies) == 1
    assert replies[0].is_error(apiconsts.FAIL_EXISTS_NODE)
    masks = apiconsts.MASK_ERROR | apiconsts.MASK_NODE | apiconsts.MASK_CRT
    # The wire carries Java's signed long; python-linstor's constants are unsigned.
    assert replies[0].ret_code % 2**64 == apiconsts.FAIL_EXISTS_NODE | masks
    assert replies[0].message == f"Registration of node '{NEW_NODE}' failed."
    assert replies[0].cause == f"A node with the specified name '{NEW_NODE}' already exists."


def test_node_modify_netinterface_restore_evacuate(linstor_pool, lin):
    host = linstor_pool.hosts[1]["name"]
    replies = lin.netinterface_create(host, "storage", "10.1.0.12")
    assert not only_errors(replies), replies
    replies = lin.node_modify(host, property_dict={"PrefNic": "storage"})
    assert replies[0].is_success(), replies
    node = lin.node_list_raise(filter_by_nodes=[host]).nodes[0]
    assert node.props["PrefNic"] == "storage"
    assert sorted(i.name for i in node.net_interfaces) == ["default", "storage"]

    replies = lin.node_modify(host, property_dict={"PrefNic": "nope"})
    assert replies[0].is_error(apiconsts.FAIL_INVLD_PROP)

    assert not only_errors(lin.node_evacuate(NEW_NODE))
    assert "EVACUATE" in lin.node_list_raise(filter_by_nodes=[NEW_NODE]).nodes[0].flags
    replies = lin.node_restore(NEW_NODE)
    assert replies[0].is_success() and replies[0].message == f"Successfully restored node {NEW_NODE}"
    replies = lin.node_restore(NEW_NODE)
    assert replies[0].is_error(), "restoring a node that is neither evicted nor evacuated fails"


def test_storage_pool_create(linstor_pool, lin):
    host = linstor_pool.hosts[1]["name"]
    replies = lin.storage_pool_create(host, NEW_POOL, "LVM", "linstor_group")
    assert replies[0].is_success(), replies
    assert replies[0].message == f"New storage pool '{NEW_POOL}' on node '{host}' registered."

    replies = lin.storage_pool_create(host, NEW_POOL, "LVM", "linstor_group")
    assert replies[0].is_error(apiconsts.FAIL_EXISTS_STOR_POOL)

    # The new node's satellite is offline: it supports no provider, as on the real controller.
    replies = lin.storage_pool_create(NEW_NODE, NEW_POOL, "LVM", "linstor_group")
    assert replies[0].is_error(apiconsts.FAIL_STLT_DOES_NOT_SUPPORT_PROVIDER)
    assert replies[0].message == "The satellite does not support the device provider LVM"

    replies = lin.storage_pool_create("no-such-node", NEW_POOL, "LVM", "linstor_group")
    assert replies[0].is_error(apiconsts.FAIL_NOT_FOUND_NODE)


def test_storage_pool_list_raise(linstor_pool, lin):
    host = linstor_pool.hosts[1]["name"]
    pools = lin.storage_pool_list_raise(filter_by_nodes=[host]).storage_pools
    by_name = {p.name: p for p in pools}
    assert set(by_name) == {"DfltDisklessStorPool", "xcp-sr-linstor_group_thin_device", NEW_POOL}
    thin = by_name["xcp-sr-linstor_group_thin_device"]
    assert thin.provider_kind == "LVM_THIN"
    assert thin.properties["StorDriver/StorPoolName"] == "linstor_group/thin_device"
    assert thin.is_thin() and thin.supports_snapshots()
    assert thin.free_space.free_capacity > 0
    assert by_name[NEW_POOL].provider_kind == "LVM"
    assert by_name[NEW_POOL].is_fat()

    only_thick = lin.storage_pool_list_raise(filter_by_stor_pools=[NEW_POOL]).storage_pools
    assert [(p.node_name, p.name) for p in only_thick] == [(host, NEW_POOL)]


def test_resource_list(linstor_pool, lin):
    response = lin.resource_list()[0]
    resources = response.resources
    assert resources, "the default layout has resources"
    names = {r.name for r in resources}
    assert "xcp-persistent-database" in names
    hosts = {h["name"] for h in linstor_pool.hosts}
    assert {r.node_name for r in resources} <= hosts
    for state in response.resource_states:
        assert state.in_use in (True, False)


def test_volume_list(lin):
    resources = lin.volume_list_raise().resources
    for rsc in resources:
        for volume in rsc.volumes:
            if "DISKLESS" in rsc.flags:
                assert volume.state.disk_state == "Diskless"
                assert volume.storage_pool_name == "DfltDisklessStorPool"
                continue
            assert volume.state.disk_state == "UpToDate"
            assert volume.storage_pool_driver_name == "LVM_THIN"
            assert volume.drbd_data.device_path.startswith("/dev/drbd")
            peers = volume.state.replication_states
            assert peers and all(p.replication_state == "Established" for p in peers.values())
    one = lin.volume_list_raise(filter_by_resources=["xcp-persistent-database"]).resources
    assert {r.name for r in one} == {"xcp-persistent-database"}


def test_controller_properties(lin):
    replies = lin.controller_set_prop("DrbdOptions/AutoEvictAllowEviction", "false")
    assert replies[0].is_success(), replies
    assert replies[0].message == (
        "Successfully set property 'DrbdOptions/AutoEvictAllowEviction' to value 'false'"
    )
    props = lin.controller_props()[0].properties
    assert props["DrbdOptions/AutoEvictAllowEviction"] == "false"

    replies = lin.controller_set_prop("NoSuchKey", "1")
    assert replies[0].is_error(apiconsts.FAIL_INVLD_PROP)
    assert replies[0].message == "The key 'NoSuchKey' is not whitelisted"


def get_json(url):
    """A GET as the agent's own client makes it: (status, JSON body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_single_object_gets_and_sync_status(linstor_pool):
    # Not python-linstor calls, but the agent's: one node, one resource definition, and
    # whether a resource is synced everywhere.
    base = linstor_pool.linstor_url
    host = linstor_pool.hosts[0]["name"]
    status, node = get_json(f"{base}/v1/nodes/{host}")
    assert status == 200 and node["name"] == host and node["connection_status"] == "ONLINE"
    status, missing = get_json(f"{base}/v1/nodes/no-such-node")
    assert status == 404
    assert missing[0]["ret_code"] == apiconsts.FAIL_NOT_FOUND_NODE - 2**64
    assert missing[0]["message"] == "Node 'no-such-node' not found."

    status, rd = get_json(f"{base}/v1/resource-definitions/xcp-persistent-database")
    assert status == 200 and rd["name"] == "xcp-persistent-database"
    status, sync = get_json(f"{base}/v1/resource-definitions/xcp-persistent-database/sync-status")
    assert (status, sync) == (200, {"synced_on_all": True})
    status, missing = get_json(f"{base}/v1/resource-definitions/nope/sync-status")
    assert status == 404 and missing[0]["message"] == "Resource definition 'nope' not found."


def test_a_refusing_controller_is_a_network_error(linstor_pool, lin):
    # 120 simulated seconds: two real seconds at the pool's default time scale of 60.
    linstor_pool.fault("controller-down", "--seconds", "120")
    with pytest.raises(linstor.LinstorNetworkError):
        fresh = linstor.Linstor(linstor_pool.linstor_url, timeout=5)
        fresh.connect()
    deadline = time.monotonic() + 30
    while True:
        try:
            again = linstor.Linstor(linstor_pool.linstor_url, timeout=5)
            again.connect()
            again.disconnect()
            break
        except linstor.LinstorNetworkError:
            assert time.monotonic() < deadline, "the controller never came back"
            time.sleep(0.2)


def test_every_exchange_validates_against_the_openapi_spec(traffic, linstor_pool):
    exchanges = read_traffic(traffic)
    operations = {(e["method"], e["path"].split("?")[0]) for e in exchanges}
    # The calls the tests above made really were recorded.
    for expected in [
        ("GET", "/v1/controller/version"),
        ("GET", "/v1/nodes"),
        ("POST", "/v1/nodes"),
        ("POST", f"/v1/nodes/{NEW_NODE}/storage-pools"),
        ("GET", "/v1/view/storage-pools"),
        ("GET", "/v1/view/resources"),
        ("POST", "/v1/controller/properties"),
    ]:
        assert expected in operations, f"{expected} was not recorded"

    checker = SpecChecker(SPEC)
    problems, used = [], set()
    for exchange in exchanges:
        errors, allowances = checker.check(exchange)
        used |= allowances
        problems += [f"{exchange['method']} {exchange['path']} ({exchange['status']}): {e}" for e in errors]
    assert not problems, "\n".join(problems)
    # Every allow-list entry is needed by some exchange; an unused one should be dropped.
    assert used == set(ALLOWED), f"unused allow-list entries: {set(ALLOWED) - used}"
