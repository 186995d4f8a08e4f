"""The simulated XAPI against the real XenAPI SDK (from PyPI): what a client of XCP-ng's
XAPI does — log in, read hosts, disable/evacuate/reboot/enable a host (evacuation also as an
Async call and its task), call a host plugin, wait with event.from — and the Failure codes it
gets, as from the real pool master.
"""

import json
import os
import shutil
import stat
import time
import xmlrpc.client

import pytest
import XenAPI

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = "linstor-agent-test"


def credentials(pool):
    return pool.info.get("username", "root"), pool.info.get("password", "")


@pytest.fixture(scope="module")
def xapi(pool):
    session = XenAPI.Session(pool.xapi_url)
    user, password = credentials(pool)
    session.xenapi.login_with_password(user, password, "1.0", "testbed-conformance")
    yield session
    session.xenapi.session.logout()


def event_from(session, classes, token, timeout):
    # `from` is a Python keyword: the SDK's users call it through getattr.
    return getattr(session.xenapi.event, "from")(classes, token, float(timeout))


def host_by_name(xapi, name):
    refs = xapi.xenapi.host.get_by_name_label(name)
    assert len(refs) == 1, refs
    return refs[0]


def guests_on(xapi, host):
    records = xapi.xenapi.VM.get_all_records()
    return [r for r, vm in records.items() if not vm["is_control_domain"] and vm["resident_on"] == host]


def test_login_and_api_version(pool, xapi):
    # The SDK's API_version reads pool.get_all, pool.get_master and host.get_API_version_*.
    assert xapi.API_version == "2.21"
    bad = XenAPI.Session(pool.xapi_url)
    with pytest.raises(XenAPI.Failure) as failure:
        bad.xenapi.login_with_password(credentials(pool)[0], "wrong password", "1.0", "test")
    assert failure.value.details[0] == "SESSION_AUTHENTICATION_FAILED"


def test_hosts_and_records(pool, xapi):
    hosts = xapi.xenapi.host.get_all()
    assert len(hosts) == len(pool.hosts) == 3
    names = set()
    for ref in hosts:
        assert ref.startswith("OpaqueRef:")
        record = xapi.xenapi.host.get_record(ref)
        names.add(record["name_label"])
        assert record["hostname"] == record["name_label"]
        assert record["enabled"] is True
        assert record["software_version"]["product_brand"] == "XCP-ng"
        assert record["API_version_major"] == "2"  # an API int is a string over XML-RPC
        assert xapi.xenapi.host_metrics.get_live(record["metrics"]) is True
        for vm in record["resident_VMs"]:
            assert xapi.xenapi.VM.get_record(vm)["resident_on"] == ref
        for pif in record["PIFs"]:
            assert xapi.xenapi.PIF.get_record(pif)["host"] == ref
    assert names == {h["name"] for h in pool.hosts}
    by_uuid = {h["uuid"]: h for h in pool.hosts}
    for ref in hosts:
        record = xapi.xenapi.host.get_record(ref)
        assert record["address"] == by_uuid[record["uuid"]]["address"]
    master = xapi.xenapi.pool.get_master(xapi.xenapi.pool.get_all()[0])
    assert master in hosts


def test_control_domains_are_listed_as_xapi_does(xapi):
    records = xapi.xenapi.VM.get_all_records()
    dom0s = [vm for vm in records.values() if vm["is_control_domain"]]
    assert len(dom0s) == 3
    assert all(vm["power_state"] == "Running" for vm in dom0s)


def test_failures_carry_xapi_codes(pool, xapi):
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.get_record("OpaqueRef:no-such-host")
    assert failure.value.details == ["HANDLE_INVALID", "host", "OpaqueRef:no-such-host"]

    host = host_by_name(xapi, pool.hosts[1]["name"])
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.reboot(host)
    assert failure.value.details == ["HOST_NOT_DISABLED"]

    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.frobnicate(host)
    assert failure.value.details == ["MESSAGE_METHOD_UNKNOWN", "host.frobnicate"]

    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.get_record()
    assert failure.value.details == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.get_record", "2", "1"]

    # Below the SDK: the raw XML-RPC envelope XAPI sends.
    raw = xmlrpc.client.ServerProxy(pool.xapi_url, allow_none=True)
    assert raw.host.get_all("OpaqueRef:stale") == {
        "Status": "Failure",
        "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:stale"],
    }


def test_sdk_logs_in_again_on_session_invalid(pool):
    session = XenAPI.Session(pool.xapi_url)
    session.xenapi.login_with_password(*credentials(pool), "1.0", "test")
    session._session = "OpaqueRef:expired"  # what a master restart leaves a client with
    assert len(session.xenapi.host.get_all()) == 3
    assert session._session != "OpaqueRef:expired"


def test_injected_fault_is_a_failure_with_that_code(pool, xapi):
    pool.fault("xapi-error", "--method", "host.get_all", "--code", "HOST_IS_SLAVE", "--param", "10.0.0.11")
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.get_all()
    assert failure.value.details == ["HOST_IS_SLAVE", "10.0.0.11"]
    assert len(xapi.xenapi.host.get_all()) == 3


def wait_for(xapi, predicate, timeout=60):
    """Waits with event.from (no polling loop of its own) until predicate() holds."""
    deadline = time.monotonic() + timeout
    token = event_from(xapi, ["host", "host_metrics", "vm"], "", 0)["token"]
    while not predicate():
        left = deadline - time.monotonic()
        assert left > 0, "timed out"
        token = event_from(xapi, ["host", "host_metrics", "vm"], token, min(left, 5))["token"]


def test_disable_evacuate_reboot_enable(pool, xapi):
    host = host_by_name(xapi, pool.hosts[2]["name"])
    metrics = xapi.xenapi.host.get_metrics(host)
    assert guests_on(xapi, host), "the scenario puts VMs on every host"

    xapi.xenapi.host.disable(host)
    assert xapi.xenapi.host.get_enabled(host) is False
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.reboot(host)
    assert failure.value.details[0] == "HOST_IN_USE"

    assert xapi.xenapi.host.get_vms_which_prevent_evacuation(host) == {}
    xapi.xenapi.host.assert_can_evacuate(host)
    xapi.xenapi.host.evacuate(host)
    assert guests_on(xapi, host) == []

    xapi.xenapi.host.reboot(host)
    assert xapi.xenapi.host_metrics.get_live(metrics) is False
    wait_for(xapi, lambda: xapi.xenapi.host_metrics.get_live(metrics))
    # Disabled before its reboot, the host comes back enabled (XAPI's auto_enable).
    assert xapi.xenapi.host.get_enabled(host) is True
    xapi.xenapi.host.disable(host)
    xapi.xenapi.host.enable(host)
    assert xapi.xenapi.host.get_record(host)["enabled"] is True


def wait_task(xapi, task, timeout=60):
    """Waits on event.from for task/<ref> until the task is no longer pending, as XAPI clients
    (Xen Orchestra, the agent) do; returns the events seen on the way."""
    deadline = time.monotonic() + timeout
    token, seen = "", []
    while xapi.xenapi.task.get_status(task) == "pending":
        left = deadline - time.monotonic()
        assert left > 0, f"task still pending: {seen}"
        batch = event_from(xapi, [f"task/{task}"], token, min(left, 5))
        token = batch["token"]
        seen.extend(batch["events"])
    return seen


def test_async_evacuate_is_a_task(pool, xapi):
    host = host_by_name(xapi, pool.hosts[1]["name"])
    guests = guests_on(xapi, host)
    assert guests, "the scenario puts VMs on every host"
    xapi.xenapi.host.disable(host)
    try:
        task = xapi.xenapi.Async.host.evacuate(host)
        assert task.startswith("OpaqueRef:")
        seen = wait_task(xapi, task)
        assert all(e["class"] == "task" and e["ref"] == task for e in seen)
        record = xapi.xenapi.task.get_record(task)
        assert record["name_label"] == "Async.host.evacuate"
        assert record["status"] == "success"
        assert record["progress"] == 1.0
        assert record["result"] == "<value></value>"  # void, XML-RPC-encoded as xapi stores it
        assert record["error_info"] == []
        assert record["resident_on"] == xapi.xenapi.pool.get_master(xapi.xenapi.pool.get_all()[0])
        assert isinstance(record["created"], xmlrpc.client.DateTime)
        assert xapi.xenapi.task.get_by_uuid(record["uuid"]) == task
        assert task in xapi.xenapi.task.get_all()
        assert guests_on(xapi, host) == []
        for vm in guests:
            assert xapi.xenapi.VM.get_resident_on(vm) != host

        xapi.xenapi.task.destroy(task)
        with pytest.raises(XenAPI.Failure) as failure:
            xapi.xenapi.task.get_status(task)
        assert failure.value.details == ["HANDLE_INVALID", "task", task]

        # A fault injected into host.evacuate fails the task, with that error.
        pool.fault("xapi-error", "--method", "host.evacuate", "--code", "HOST_IS_SLAVE", "--param", "10.0.0.11")
        task = xapi.xenapi.Async.host.evacuate(host)
        wait_task(xapi, task)
        assert xapi.xenapi.task.get_status(task) == "failure"
        assert xapi.xenapi.task.get_error_info(task) == ["HOST_IS_SLAVE", "10.0.0.11"]
        xapi.xenapi.task.destroy(task)

        # Getters have no asynchronous mode.
        with pytest.raises(XenAPI.Failure) as failure:
            xapi.xenapi.Async.host.get_record(host)
        assert failure.value.details == ["Fault", "No async mode for this operation (rpc: host.get_record)"]
    finally:
        xapi.xenapi.host.enable(host)


def test_cannot_evacuate_when_no_host_can_take_the_vms(pool, xapi):
    hosts = [host_by_name(xapi, h["name"]) for h in pool.hosts]
    for other in hosts[1:]:
        xapi.xenapi.host.disable(other)
    try:
        with pytest.raises(XenAPI.Failure) as failure:
            xapi.xenapi.host.assert_can_evacuate(hosts[0])
        assert failure.value.details[0] == "CANNOT_EVACUATE_HOST"
        blocking = xapi.xenapi.host.get_vms_which_prevent_evacuation(hosts[0])
        assert blocking and all(error[0] == "NO_HOSTS_AVAILABLE" for error in blocking.values())
    finally:
        for other in hosts[1:]:
            xapi.xenapi.host.enable(other)


def install_plugin(root):
    plugins = os.path.join(root, "etc", "xapi.d", "plugins")
    os.makedirs(plugins, exist_ok=True)
    path = os.path.join(plugins, PLUGIN)
    shutil.copy(os.path.join(HERE, "xapi_echo_plugin.py"), path)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_call_plugin(pool, xapi):
    target = pool.hosts[1]
    install_plugin(target["root"])
    host = host_by_name(xapi, target["name"])

    out = json.loads(xapi.xenapi.host.call_plugin(host, PLUGIN, "echo", {"step": "network"}))
    assert out["args"] == {"step": "network"}
    assert out["session"] == xapi._session
    assert out["root"] == target["root"]

    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.call_plugin(host, PLUGIN, "broken", {"why": "testing"})
    assert failure.value.details == ["XENAPI_PLUGIN_FAILURE", "broken", "ValueError", "the plugin broke: testing"]

    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.call_plugin(host, PLUGIN, "crash", {})
    assert failure.value.details[:2] == ["XENAPI_PLUGIN_FAILURE", "non-zero exit"]
    assert "crashing on purpose" in failure.value.details[3]

    # Plugins are per host: the others do not have it.
    other = host_by_name(xapi, pool.hosts[0]["name"])
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.host.call_plugin(other, PLUGIN, "echo", {})
    assert failure.value.details == ["XENAPI_MISSING_PLUGIN", PLUGIN]


def test_event_from_wakes_on_a_change(pool, xapi):
    first = event_from(xapi, ["host"], "", 0)
    assert {e["class"] for e in first["events"]} == {"host"}
    assert int(first["valid_ref_counts"]["host"]) == 3
    started = time.monotonic()
    idle = event_from(xapi, ["host"], first["token"], 0.5)
    assert idle["events"] == [] and time.monotonic() - started >= 0.5

    host = host_by_name(xapi, pool.hosts[0]["name"])
    xapi.xenapi.host.disable(host)
    try:
        changed = event_from(xapi, ["host"], idle["token"], 30)
        mods = [e for e in changed["events"] if e["ref"] == host and e["operation"] == "mod"]
        assert mods and mods[-1]["snapshot"]["enabled"] is False
    finally:
        xapi.xenapi.host.enable(host)


def call_service(xapi, host, function, service=None):
    args = {} if service is None else {"service": service}
    return xapi.xenapi.host.call_plugin(host, "service.py", function, args)


def node_status(pool, name):
    return next(n for n in pool.status()["nodes"] if n["name"] == name)


def test_service_py_drives_the_linstor_services(pool, xapi):
    """XCP-ng's service.py (built into the testbed): what Xen Orchestra calls to restart LINSTOR."""
    name = pool.hosts[1]["name"]
    host = host_by_name(xapi, name)
    assert call_service(xapi, host, "stop_service", "linstor-satellite") == "true"
    try:
        assert node_status(pool, name)["connection_status"] == "OFFLINE"
    finally:
        assert call_service(xapi, host, "start_service", "linstor-satellite") == "true"
    assert node_status(pool, name)["connection_status"] == "ONLINE"
    assert call_service(xapi, host, "restart_service", "linstor-satellite") == "true"
    assert node_status(pool, name)["connection_status"] == "ONLINE"

    for service, message in [(None, "Missing or empty argument `service`"), ("sshd", "This service is not whitelisted")]:
        with pytest.raises(XenAPI.Failure) as failure:
            call_service(xapi, host, "restart_service", service)
        assert failure.value.details[:3] == ["-1", message, ""]
    with pytest.raises(XenAPI.Failure) as failure:
        call_service(xapi, host, "reload_service", "linstor-satellite")
    assert failure.value.details == ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "reload_service"]

    # The controller restarts where it runs: it refuses connections until drbd-reactor has
    # promoted it again.
    controller = host_by_name(xapi, pool.status()["controller"]["host"])
    assert call_service(xapi, controller, "restart_service", "linstor-controller") == "true"
    assert pool.status()["controller"]["refusing"] is True
    pool.wait_for(lambda s: not s["controller"]["refusing"])
    assert pool.status()["violations"] == []


def test_pool_ha_on_and_off(pool, xapi):
    pool.wait_for(lambda s: all(h["live"] for h in s["hosts"]))
    pool_ref = xapi.xenapi.pool.get_all()[0]
    assert xapi.xenapi.pool.get_ha_enabled(pool_ref) is False
    with pytest.raises(XenAPI.Failure) as failure:
        xapi.xenapi.pool.disable_ha()
    assert failure.value.details == ["HA_NOT_ENABLED"]
    xapi.xenapi.pool.enable_ha([], {"timeout": "60"})
    try:
        assert xapi.xenapi.pool.get_ha_enabled(pool_ref) is True
        assert xapi.xenapi.pool.get_ha_configuration(pool_ref) == {"timeout": "60"}
        assert pool.status()["pool"]["ha_enabled"] is True
        with pytest.raises(XenAPI.Failure) as failure:
            xapi.xenapi.pool.enable_ha([], {})
        assert failure.value.details == ["HA_IS_ENABLED"]
    finally:
        xapi.xenapi.pool.disable_ha()
    assert xapi.xenapi.pool.get_ha_enabled(pool_ref) is False
