"""kickstart/: ksvalidator accepts the kickstart file; the answerfile script installs,
configures and enables first boot in a testbed host root."""

import os
import re
import tomllib
import xml.etree.ElementTree as ET

from conftest import TOP, agent_env, run

KS = TOP / "kickstart/linstor-agent.ks"
SETUP = TOP / "kickstart/linstor-agent-setup.sh"
BLOCK = re.compile(r"^# --- begin linstor-agent-setup.*?^# --- end linstor-agent-setup ---$", re.S | re.M)


def test_ksvalidator_accepts_the_kickstart():
    run(["ksvalidator", "-e", KS])


def test_kickstart_post_and_answerfile_script_share_the_setup():
    ks, script = BLOCK.search(KS.read_text()), BLOCK.search(SETUP.read_text())
    assert ks and script
    assert ks.group(0) == script.group(0), "kickstart %post and linstor-agent-setup.sh differ"
    run(["sh", "-n", SETUP])


def test_answerfile_runs_the_script_when_the_filesystem_is_populated():
    tree = ET.parse(TOP / "kickstart/answerfile.xml")
    (script,) = tree.getroot().findall("script")
    assert script.get("stage") == "filesystem-populated" and script.get("type") == "url"
    assert script.text.strip().endswith("/linstor-agent-setup.sh")


def setup_env(repo, **extra):
    env = dict(os.environ, LINSTOR_AGENT_REPO=repo["baseurl"], LINSTOR_AGENT_GPGKEY=str(repo["key"]),
               LINSTOR_AGENT_FINGERPRINT=repo["fingerprint"])
    env.update(extra)
    return env


def test_answerfile_script_installs_configures_and_enables_firstboot(repo, new_host):
    root = new_host("answerfile-host")
    env = setup_env(repo, LINSTOR_AGENT_CONTROLLER="http://10.0.0.10:3370,http://10.0.0.11:3370",
                    LINSTOR_AGENT_DEVICES="/dev/sdb,/dev/sdc", LINSTOR_AGENT_STORAGE_ADDRESS="10.0.0.21/24",
                    LINSTOR_AGENT_XAPI_URL="https://10.0.0.10", LINSTOR_AGENT_XAPI_PASSWORD="s3cret")
    # As the XCP-ng installer calls it: the target root as the argument.
    run([SETUP, root], env=env)
    run(["rpm", "--root", root, "-q", "linstor-agent", "linstor-agent-release"])
    proc = run(["rpm", "--root", root, "-V", "linstor-agent-release"], check=False)
    assert proc.returncode == 0, proc.stdout
    config = tomllib.loads((root / "etc/linstor-agent/agent.toml").read_text())
    assert config["repo"] == {"baseurl": repo["baseurl"], "gpgkey": "/etc/pki/rpm-gpg/RPM-GPG-KEY-linstor-agent",
                              "fingerprint": repo["fingerprint"]}
    assert config["storage"] == {"devices": ["/dev/sdb", "/dev/sdc"], "thin_pool": "thin_device"}
    assert config["controller"]["urls"] == ["http://10.0.0.10:3370", "http://10.0.0.11:3370"]
    assert config["network"] == {"storage_address": "10.0.0.21/24"}
    assert config["xapi"]["password_file"] == "/etc/linstor-agent/xapi.secret"
    secret = root / "etc/linstor-agent/xapi.secret"
    assert secret.read_text() == "s3cret" and (secret.stat().st_mode & 0o777) == 0o600
    proc = run(["systemctl", "--root", root, "is-enabled", "linstor-agent-firstboot.service"], check=False)
    assert proc.stdout.strip() == "enabled", proc.stdout + proc.stderr
    # The installed agent accepts the configuration it was given.
    run([root / "usr/bin/linstor-agent", "--root", root, "facts"], env=agent_env())


def test_answerfile_script_refuses_a_key_with_another_fingerprint(repo, new_host):
    root = new_host("wrong-key-host")
    env = setup_env(repo, LINSTOR_AGENT_FINGERPRINT="0" * 40)
    proc = run([SETUP, "--root", root], check=False, env=env)
    assert proc.returncode == 1 and "refusing it" in proc.stderr, proc.stderr
    assert run(["rpm", "--root", root, "-q", "linstor-agent"], check=False).returncode != 0
