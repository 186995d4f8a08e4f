"""The project's XAPI plugin (specs/files/xapi-plugin/linstor-agent), as `testbed up` installs it
into every host (/etc/xapi.d/plugins/linstor-agent), called through the simulated pool master with
the real XenAPI SDK: `host.call_plugin(host, "linstor-agent", FUNCTION, {ARG: "string"})` runs that
host's agent on that host's root and returns its JSON document; refusals, failures, bad arguments
and unknown functions come back as XenAPI.Failure with the plugin's codes.
"""

import json

import pytest
import XenAPI

PLUGIN = "linstor-agent"


@pytest.fixture(scope="module")
def xapi(pool):
    session = XenAPI.Session(pool.xapi_url)
    session.xenapi.login_with_password(pool.info.get("username", "root"), pool.info.get("password", ""),
                                       "1.0", "agent-plugin-conformance")
    yield session
    session.xenapi.session.logout()


def host_ref(xapi, name):
    refs = xapi.xenapi.host.get_by_name_label(name)
    assert len(refs) == 1, refs
    return refs[0]


def call(xapi, name, function, args=None):
    return xapi.xenapi.host.call_plugin(host_ref(xapi, name), PLUGIN, function, args or {})


def test_facts_come_from_each_hosts_own_root(pool, xapi):
    for host in pool.hosts:
        doc = json.loads(call(xapi, host["name"], "facts"))
        assert doc["hostname"] == host["name"], doc
        assert doc["changed"] is False


def test_plan_and_kernel_guard_with_arguments(pool, xapi):
    name = pool.hosts[0]["name"]
    plan = json.loads(call(xapi, name, "plan", {"pins": "linstor-satellite=1.29.2", "only": "linstor-satellite"}))
    assert plan["only"] == ["linstor-satellite"]
    assert plan["pins"]["linstor-satellite"] == "1.29.2"
    assert plan["changed"] is False
    guard = json.loads(call(xapi, name, "kernel_guard", {"dry_run": "true"}))
    assert guard["command"] == "kernel-guard"
    assert guard["changed"] is False
    assert all(k["status"] == "ok" for k in guard["kernels"]), guard


def test_the_agents_usage_error_comes_back_with_its_exit_code(pool, xapi):
    with pytest.raises(XenAPI.Failure) as failure:
        call(xapi, pool.hosts[0]["name"], "plan", {"pins": "drbd-utils=0.1", "only": "drbd-utils"})
    code, exit_code, message, document = failure.value.details
    assert (code, exit_code) == ("LINSTOR_AGENT_FAILED", "2")
    assert "drbd-utils is pinned to 0.1" in message
    assert json.loads(document)["error"]["exit_code"] == 2


@pytest.mark.parametrize("args, named", [
    ({"pins": "kmod-drbd=9.2.12;rm -rf /"}, "pins"),
    ({"pins": "kmod-drbd=$(reboot)"}, "pins"),
    ({"only": "linstor-satellite linstor-client"}, "only"),
    ({"save_pins": "yes"}, "save_pins"),
    ({"dry_run": "true"}, "dry_run"),
])
def test_bad_arguments_are_refused(pool, xapi, args, named):
    with pytest.raises(XenAPI.Failure) as failure:
        call(xapi, pool.hosts[0]["name"], "install", args)
    assert failure.value.details[:2] == ["LINSTOR_AGENT_INVALID_ARGUMENT", named]


def test_unknown_argument_and_function(pool, xapi):
    name = pool.hosts[0]["name"]
    with pytest.raises(XenAPI.Failure) as failure:
        call(xapi, name, "plan", {"exec": "id"})
    assert failure.value.details[:3] == ["LINSTOR_AGENT_UNKNOWN_ARGUMENT", "exec", "plan"]
    with pytest.raises(XenAPI.Failure) as failure:
        call(xapi, name, "reboot")
    assert failure.value.details == ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "reboot"]
