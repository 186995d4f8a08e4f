"""ansible/: ansible-lint passes; provision.yml converges two testbed hosts (local connection,
--root passed through) and a second run changes nothing; pool-upgrade.yml --check runs."""

import json
import os
import re
import sys
import tomllib

import pytest

from conftest import TESTBED, TOP, agent_env, run, stop_gpg_agents

ANSIBLE = TOP / "ansible"
RECAP = re.compile(r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(inventory, name, *args):
    env = agent_env(ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ANSIBLE / "roles"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = run(["ansible-playbook", "-i", inventory, ANSIBLE / name, *args], check=False, env=env, cwd=ANSIBLE)
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                          "failed": int(m.group(5))} for m in RECAP.finditer(proc.stdout)}
    return proc, recap


def test_ansible_lint_passes():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"))
    proc = run(["ansible-lint", "--offline", "--nocolor"], check=False, cwd=ANSIBLE, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def pool(work, repo):
    path = work / "pool"
    run([TESTBED, "up", "--dir", path, "--hosts", "2"])
    info = json.loads((path / "pool.json").read_text())
    yield info
    run([TESTBED, "down", "--dir", path], check=False)
    for host in info["hosts"]:
        stop_gpg_agents(host["root"])


def test_provision_playbook_converges_two_testbed_hosts_and_a_second_run_changes_nothing(work, repo, pool):
    hosts = {}
    for host in pool["hosts"]:
        with open(host["config"], "rb") as f:
            config = tomllib.load(f)
        hosts[host["name"]] = {
            "linstor_agent_root": host["root"],
            "linstor_agent_config_file": host["config"],
            "linstor_agent_config": config,
        }
    inventory = work / "provision-inventory.yml"
    inventory.write_text(json.dumps({"linstor_hosts": {"hosts": hosts, "vars": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "linstor_agent_install_method": "repo",
        "linstor_agent_repo_baseurl": repo["baseurl"],
        "linstor_agent_repo_gpgkey": str(repo["key"]),
        "linstor_agent_repo_fingerprint": repo["fingerprint"],
        "linstor_agent_package_manager": "dnf",
        "linstor_agent_dnf_backend": "dnf4",
        "linstor_agent_releasever": "8.3",
        "linstor_agent_provision_args": ["--timeout", "60"],
    }}}))
    try:
        first, recap = playbook(inventory, "provision.yml")
        assert first.returncode == 0, first.stdout + first.stderr
        assert set(recap) == set(hosts)
        for name, counts in recap.items():
            assert counts["failed"] == 0 and counts["changed"] > 0, (name, counts)
        for host in pool["hosts"]:
            run(["rpm", "--root", host["root"], "-q", "linstor-agent", "linstor-agent-release"])
            # The template wrote the same configuration back: the agent reads what testbed wrote.
            with open(host["config"], "rb") as f:
                assert tomllib.load(f) == hosts[host["name"]]["linstor_agent_config"]
        second, recap = playbook(inventory, "provision.yml")
        assert second.returncode == 0, second.stdout + second.stderr
        for name, counts in recap.items():
            assert counts == {**counts, "changed": 0, "failed": 0}, (name, counts, second.stdout)
        # Check mode on converged hosts: provision --dry-run, nothing pending.
        check, recap = playbook(inventory, "provision.yml", "--check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "--dry-run" in check.stdout or all(c["changed"] == 0 for c in recap.values())
        for name, counts in recap.items():
            assert counts == {**counts, "changed": 0, "failed": 0}, (name, counts, check.stdout)
    finally:
        for host in pool["hosts"]:
            stop_gpg_agents(host["root"])


def test_pool_upgrade_playbook_check_mode_runs(work, pool):
    operator_root = work / "operator"
    operator_root.mkdir(exist_ok=True)
    config = work / "operator.toml"
    config.write_text(
        f'[xapi]\nurl = "{pool["xapi_url"]}"\nusername = "{pool["username"]}"\n'
        f'password_file = "{pool["password_file"]}"\n\n[controller]\nurls = ["{pool["linstor_url"]}"]\n'
    )
    master = pool["hosts"][0]
    inventory = work / "pools-inventory.yml"
    inventory.write_text(json.dumps({"linstor_pools": {"hosts": {"testbed-pool": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "linstor_agent_executable": str(TOP / "target/debug/linstor-agent")
        if not (os.path.exists(os.path.join(master["root"], "usr/bin/linstor-agent")))
        else os.path.join(master["root"], "usr/bin/linstor-agent"),
        "linstor_agent_root": str(operator_root),
        "linstor_agent_config_file": str(config),
    }}}}))
    proc, recap = playbook(inventory, "pool-upgrade.yml", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap["testbed-pool"]["failed"] == 0 and recap["testbed-pool"]["changed"] == 0
    assert "dry_run" in proc.stdout
