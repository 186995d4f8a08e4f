"""specs/files/systemd/linstor-agent-firstboot: provision, retried with backoff on exit 1, done once."""

import os
import stat

from conftest import TOP, run

SCRIPT = TOP / "specs/files/systemd/linstor-agent-firstboot"


def stub_agent(tmp_path, codes):
    """An agent that exits with codes[i] on its i-th call (the last one after that)."""
    count = tmp_path / "calls"
    stub = tmp_path / "linstor-agent"
    stub.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{count}" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "{count}"\n'
        f'echo "stub agent: $* (call $n)"\n'
        f"set -- {' '.join(map(str, codes))}\n"
        'i=1; code=0; for c in "$@"; do code=$c; [ $i -eq $n ] && break; i=$((i + 1)); done\n'
        "exit $code\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return stub, count


def firstboot(tmp_path, stub, **env):
    env = dict(os.environ, LINSTOR_AGENT_BIN=str(stub), LINSTOR_AGENT_ROOT=str(tmp_path / "root"),
               LINSTOR_AGENT_FIRSTBOOT_BACKOFF="1", LINSTOR_AGENT_FIRSTBOOT_BACKOFF_MAX="1", **env)
    return run([SCRIPT], check=False, env=env)


def test_retries_while_failing_then_marks_itself_done(tmp_path):
    stub, count = stub_agent(tmp_path, [1, 1, 0])
    proc = firstboot(tmp_path, stub)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert count.read_text().strip() == "3"
    assert "retrying in 1s" in proc.stdout and "provisioned on attempt 3" in proc.stdout
    assert "stub agent: provision" in proc.stdout
    done = tmp_path / "root/var/lib/linstor-agent/firstboot.done"
    assert done.is_file()
    # Done: a second start does not provision again.
    proc = firstboot(tmp_path, stub)
    assert proc.returncode == 0 and "already provisioned" in proc.stdout
    assert count.read_text().strip() == "3"


def test_refusals_and_config_errors_are_not_retried(tmp_path):
    for code in (2, 3):
        (tmp_path / "calls").unlink(missing_ok=True)
        stub, count = stub_agent(tmp_path, [code])
        proc = firstboot(tmp_path, stub)
        assert proc.returncode == code
        assert count.read_text().strip() == "1"
        assert not (tmp_path / "root/var/lib/linstor-agent/firstboot.done").exists()


def test_gives_up_after_its_time_budget(tmp_path):
    stub, count = stub_agent(tmp_path, [1])
    proc = firstboot(tmp_path, stub, LINSTOR_AGENT_FIRSTBOOT_MAX_SECONDS="2")
    assert proc.returncode == 1 and "giving up until the next boot" in proc.stdout
    assert not (tmp_path / "root/var/lib/linstor-agent/firstboot.done").exists()


def test_unit_is_a_oneshot_after_network_and_xapi():
    unit = (TOP / "specs/files/systemd/linstor-agent-firstboot.service").read_text()
    for line in (
        "Type=oneshot",
        "After=network-online.target",
        "Wants=network-online.target",
        "After=xapi.service xapi-init-complete.target",
        "ConditionPathExists=!/var/lib/linstor-agent/firstboot.done",
        "ExecStart=/usr/libexec/linstor-agent/firstboot",
        "StandardOutput=journal",
        "Environment=LINSTOR_AGENT_LOG_TARGET=journald",
        "WantedBy=multi-user.target",
    ):
        assert line in unit.splitlines(), line
