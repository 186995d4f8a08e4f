"""make rpm: the agent's RPM needs nothing newer than glibc 2.17, installs into a fresh
XCP-ng-like root with dnf, verifies clean, and its binary runs."""

import gzip
import os
import re
import stat
import tomllib

from conftest import TOP, agent_env, run

GLIBC_MAX = (2, 17)
# What CentOS 7's rpm 4.11 understands of rpmlib() requirements.
RPM_411_RPMLIB = {
    "CompressedFileNames", "FileDigests", "PayloadFilesHavePrefix", "PayloadIsXz", "PayloadIsBzip2",
    "PartialHardlinkSets", "VersionedDependencies", "ScriptletInterpreterArgs", "PayloadIsLzma",
    "FileCaps", "BuiltinLuaScripts", "HeaderLoadSortsTags", "ExplicitPackageProvide",
}


def glibc_versions(binary):
    out = run(["objdump", "-T", binary]).stdout
    return {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)}


def test_packaged_binary_needs_no_glibc_newer_than_2_17(extracted_rpm):
    binary = extracted_rpm / "usr/bin/linstor-agent"
    versions = glibc_versions(binary)
    assert versions, "objdump -T found no GLIBC_ symbol versions (not a dynamic glibc binary?)"
    too_new = sorted(v for v in versions if v > GLIBC_MAX)
    assert not too_new, f"{binary} needs {['GLIBC_' + '.'.join(map(str, v)) for v in too_new]}"


def test_rpm_requirements_fit_xcp_ng_8(rpms):
    requires = run(["rpm", "-qp", "--requires", rpms["agent"]]).stdout.splitlines()
    for req in requires:
        m = re.match(r"rpmlib\((\w+)\)", req)
        if m:
            assert m.group(1) in RPM_411_RPMLIB, f"CentOS 7's rpm 4.11 cannot install a package that needs {req}"
        m = re.search(r"\(GLIBC_([0-9.]+)\)", req)
        if m:
            assert tuple(int(x) for x in m.group(1).split(".")) <= GLIBC_MAX, req
    assert "systemd" in requires, "the systemd scriptlets need Requires(post): systemd"
    scripts = run(["rpm", "-qp", "--scripts", rpms["agent"]]).stdout
    assert "systemctl preset linstor-agent-firstboot.service" in scripts
    assert "systemctl --no-reload disable linstor-agent-firstboot.service" in scripts


def test_rpm_installs_into_a_fresh_root_and_verifies_clean(installed_root):
    for pkg in ("linstor-agent", "linstor-agent-release"):
        proc = run(["rpm", "--root", installed_root, "-V", pkg], check=False)
        assert proc.returncode == 0 and proc.stdout == "", f"rpm -V {pkg}:\n{proc.stdout}{proc.stderr}"
    root = installed_root
    binary = root / "usr/bin/linstor-agent"
    assert glibc_versions(binary) and max(glibc_versions(binary)) <= GLIBC_MAX
    plugin = root / "etc/xapi.d/plugins/linstor-agent"
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o755
    assert plugin.read_bytes() == (TOP / "specs/files/xapi-plugin/linstor-agent").read_bytes()
    for path in (
        "usr/lib/systemd/system/linstor-agent-firstboot.service",
        "usr/libexec/linstor-agent/firstboot",
        "etc/kernel/postinst.d/90-linstor-agent-kernel-guard",
        "etc/yum/post-actions/linstor-agent.action",
        "etc/dnf/plugins/post-transaction-actions.d/linstor-agent.action",
        "usr/share/bash-completion/completions/linstor-agent",
        "usr/share/zsh/site-functions/_linstor-agent",
        "usr/share/fish/vendor_completions.d/linstor-agent.fish",
        "etc/yum.repos.d/linstor-agent.repo",
        "etc/pki/rpm-gpg/RPM-GPG-KEY-linstor-agent",
    ):
        assert (root / path).is_file(), path
    # Installing does not enable the first-boot unit (no preset): only the installer hooks do.
    proc = run(["systemctl", "--root", root, "is-enabled", "linstor-agent-firstboot.service"], check=False)
    assert proc.stdout.strip() == "disabled", proc.stdout + proc.stderr


def test_release_package_repo_file_checks_signatures(installed_root, repo):
    text = (installed_root / "etc/yum.repos.d/linstor-agent.repo").read_text()
    assert "gpgcheck=1" in text and "repo_gpgcheck=1" in text
    assert f"baseurl={repo['baseurl']}" in text
    assert "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-linstor-agent" in text
    assert (installed_root / "etc/pki/rpm-gpg/RPM-GPG-KEY-linstor-agent").read_text() == repo["key"].read_text()


def test_packaged_binary_runs(installed_root):
    binary = installed_root / "usr/bin/linstor-agent"
    version = run([binary, "--version"]).stdout
    cargo_version = re.search(r'^version = "(.*)"$', (TOP / "Cargo.toml").read_text(), re.M).group(1)
    assert version.strip() == f"linstor-agent {cargo_version}"
    help_text = run([binary, "--help"]).stdout
    for command in ("facts", "plan", "install", "provision", "status", "pool"):
        assert re.search(rf"^\s+{command}\b", help_text, re.M), f"--help lists no {command}:\n{help_text}"
    # And it works on the root it was installed into.
    facts = run([binary, "--root", installed_root, "--output", "json", "facts"], env=agent_env())
    assert '"changed": false' in facts.stdout


def test_shipped_config_has_every_key_commented_and_parses_uncommented(installed_root, tmp_path):
    config = installed_root / "etc/linstor-agent/agent.toml"
    text = config.read_text()
    live = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert all(re.fullmatch(r"\[\w+\]", l) for l in live), f"keys not commented out: {live}"
    # The commented file is valid as it is: the agent loads it.
    run([installed_root / "usr/bin/linstor-agent", "--root", installed_root, "facts"])
    # Uncommented, it is the full reference: valid TOML, only keys the agent knows.
    lines = []
    for line in text.splitlines():
        m = re.match(r"^# ?((\[[\w.]+\])(\s+#.*)?|([\w\"][\w.\"-]* = .*))$", line)
        lines.append((m.group(2) or m.group(4)) if m else line)
    uncommented = "\n".join(lines) + "\n"
    doc = tomllib.loads(uncommented)
    assert set(doc) == {"repo", "packages", "storage", "network", "controller", "xapi", "metrics"}
    assert doc["network"]["sysctl"] and doc["xapi"]["password_file"] and doc["repo"]["fingerprint"]
    path = tmp_path / "agent.toml"
    path.write_text(uncommented)
    proc = run([installed_root / "usr/bin/linstor-agent", "--root", tmp_path, "--config", path, "facts"], check=False)
    assert "unknown field" not in proc.stderr, proc.stderr


def test_man_pages_and_completions(installed_root):
    man = installed_root / "usr/share/man/man1"
    pages = {p.name.split(".1")[0] for p in man.glob("linstor-agent*.1*")}
    for page in ("linstor-agent", "linstor-agent-provision", "linstor-agent-pool-upgrade", "linstor-agent-install"):
        assert page in pages, sorted(pages)
    (page,) = man.glob("linstor-agent-provision.1*")
    text = (gzip.decompress(page.read_bytes()) if page.suffix == ".gz" else page.read_bytes()).decode()
    assert ".TH" in text and "--dry-run" in text.replace("\\-", "-")
    bash = installed_root / "usr/share/bash-completion/completions/linstor-agent"
    run(["bash", "-n", bash])
    assert "provision" in bash.read_text()
