"""`linstor-agent provision` on the hosts of a `testbed up --disks` pool, checked with the real
client: python-linstor lists three ONLINE COMBINED nodes named by their hostnames, each with its
storage pool on its volume group; `linstor-agent status` exits 0 on each; a second provision
changes nothing; and every exchange the agent had with the controller validates against the
OpenAPI spec. Then a new host joining a pool (`testbed up --join 1`, no disk) provisions to an
ONLINE COMBINED node with no storage pool of its own.
"""

import json
import os
import subprocess
import tempfile

import linstor
import pytest

from conftest import start_pool
from conftest import testbed as run_testbed
from linstor_openapi import SpecChecker, read_traffic

AGENT = os.environ.get("LINSTOR_AGENT_BIN", "target/debug/linstor-agent")
SPEC = os.environ.get("LINSTOR_OPENAPI", "../shared/reference/linstor-rest-v1-openapi.yaml")
TRAFFIC_ENV = "TESTBED_LINSTOR_TRAFFIC"


def agent(host, *args):
    result = subprocess.run(
        [AGENT, "--root", host["root"], "--config", host["config"], "--output", "json", *args],
        capture_output=True,
        text=True,
    )
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, doc, result.stdout + result.stderr


@pytest.fixture(scope="module")
def provisioned():
    fd, traffic = tempfile.mkstemp(prefix="agent-traffic-", suffix=".jsonl")
    os.close(fd)
    previous = os.environ.get(TRAFFIC_ENV)
    os.environ[TRAFFIC_ENV] = traffic
    try:
        pool = start_pool(3, ["--disks", "--time-scale", "1"])
    finally:
        if previous is None:
            os.environ.pop(TRAFFIC_ENV, None)
        else:
            os.environ[TRAFFIC_ENV] = previous
    try:
        for host in pool.hosts:
            with open(host["config"], "a") as f:
                f.write(f'\n[storage]\ndevices = ["{host["disk"]}"]\n')
            code, doc, out = agent(host, "provision", "--timeout", "60")
            assert code == 0, out
            assert doc["changed"] is True, out
        yield pool, traffic
    finally:
        run_testbed("down", "--dir", pool.dir, check=False)


def test_python_linstor_lists_online_combined_nodes_with_their_pools(provisioned):
    pool, _ = provisioned
    lin = linstor.Linstor(pool.linstor_url, timeout=30)
    lin.connect()
    try:
        nodes = {n.name: n for n in lin.node_list_raise().nodes}
        for host in pool.hosts:
            with open(os.path.join(host["root"], "etc/hostname")) as f:
                hostname = f.read().strip()
            node = nodes[hostname]
            assert node.connection_status == "ONLINE"
            assert node.type == "COMBINED"
            pools = lin.storage_pool_list_raise(filter_by_nodes=[hostname]).storage_pools
            by_name = {p.name: p for p in pools}
            sp = by_name["xcp-sr-linstor_group"]
            assert sp.provider_kind == "LVM"
            assert sp.properties["StorDriver/StorPoolName"] == "linstor_group"
    finally:
        lin.disconnect()


def test_status_is_zero_and_a_second_provision_changes_nothing(provisioned):
    pool, _ = provisioned
    for host in pool.hosts:
        code, doc, out = agent(host, "status")
        assert code == 0, out
        assert doc["converged"] is True
        code, doc, out = agent(host, "provision", "--timeout", "60")
        assert code == 0, out
        assert doc["changed"] is False, out


def test_the_agents_exchanges_validate_against_the_openapi_spec(provisioned):
    _, traffic = provisioned
    exchanges = read_traffic(traffic)
    operations = {(e["method"], e["path"].split("?")[0]) for e in exchanges}
    assert ("GET", "/v1/controller/version") in operations
    assert any(m == "POST" and p.endswith("/storage-pools") for m, p in operations), operations
    checker = SpecChecker(SPEC)
    problems = []
    for exchange in exchanges:
        errors, _ = checker.check(exchange)
        problems += [f"{exchange['method']} {exchange['path']} ({exchange['status']}): {e}" for e in errors]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def joined():
    """Three hosts with disks, and a fourth joining the pool: no LINSTOR node, no disk."""
    pool = start_pool(4, ["--disks", "--join", "1", "--time-scale", "1"])
    try:
        for host in pool.hosts:
            if not host["joining"]:
                with open(host["config"], "a") as f:
                    f.write(f'\n[storage]\ndevices = ["{host["disk"]}"]\n')
            code, doc, out = agent(host, "provision", "--timeout", "60")
            assert code == 0, out
            assert doc["changed"] is True, out
        yield pool
    finally:
        run_testbed("down", "--dir", pool.dir, check=False)


def test_a_joining_host_without_disk_becomes_a_diskless_combined_node(joined):
    new = [h for h in joined.hosts if h["joining"]]
    assert len(new) == 1 and new[0]["disk"] is None, joined.hosts
    host = new[0]
    with open(os.path.join(host["root"], "etc/hostname")) as f:
        hostname = f.read().strip()
    lin = linstor.Linstor(joined.linstor_url, timeout=30)
    lin.connect()
    try:
        nodes = {n.name: n for n in lin.node_list_raise().nodes}
        assert len(nodes) == 4, sorted(nodes)
        node = nodes[hostname]
        assert node.connection_status == "ONLINE"
        assert node.type == "COMBINED"
        pools = lin.storage_pool_list_raise(filter_by_nodes=[hostname]).storage_pools
        # Only what LINSTOR gives every node (DfltDisklessStorPool): none of its own.
        assert pools and all(p.provider_kind == "DISKLESS" for p in pools), [(p.name, p.provider_kind) for p in pools]
        members = [h["name"] for h in joined.hosts if not h["joining"]]
        member_pools = lin.storage_pool_list_raise(filter_by_nodes=members).storage_pools
        assert {p.node_name for p in member_pools if p.name == "xcp-sr-linstor_group"} == set(members)
    finally:
        lin.disconnect()
    code, doc, out = agent(host, "status")
    assert code == 0, out
    assert doc["converged"] is True, out
