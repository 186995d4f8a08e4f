"""Shared fixtures of the packaging tests: the RPMs, a signed repository built by repo/mkrepo,
testbed host roots. Everything is built once per session under one short temporary directory
(GnuPG's socket paths must stay short)."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
TESTBED = Path(os.environ.get("TESTBED_BIN", TOP / "target/debug/testbed"))
XCPNG_KERNEL = "kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64"


def run(argv, check=True, **kw):
    """Runs argv, captures text output; on an unexpected exit shows everything."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([str(a) for a in argv], **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def agent_env(**extra):
    """The environment for running the agent: no LINSTOR_AGENT_ROOT from outside."""
    env = {k: v for k, v in os.environ.items() if k != "LINSTOR_AGENT_ROOT"}
    env.update(extra)
    return env


def stop_gpg_agents(root):
    """dnf's repo_gpgcheck leaves a gpg-agent per imported key home; stop them."""
    for ring in Path(root).glob("var/cache/dnf/*/pubring"):
        run(["gpgconf", "--homedir", ring, "--kill", "gpg-agent"], check=False)


@pytest.fixture(scope="session")
def work():
    path = Path(tempfile.mkdtemp(prefix="la-pkg-", dir="/tmp"))
    yield path
    for home in path.glob("**/.gnupg"):
        run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def fixture_repo(work):
    """The testbed's signed fixture repository (its key signs our repository too)."""
    info = json.loads(run([TESTBED, "repo", "--dir", work / "fixture"]).stdout)
    return info


@pytest.fixture(scope="session")
def signing_key(work, fixture_repo):
    """The fixture's secret key, exported as an armored file: repo/mkrepo's --key."""
    home = work / "fixture/.gnupg"
    out = run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
               "--armor", "--export-secret-keys", fixture_repo["fingerprint"]]).stdout
    run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
    path = work / "signing.asc"
    path.write_text(out)
    return path


@pytest.fixture(scope="session")
def rpms(work, fixture_repo):
    """make rpm's agent RPM, and the release RPM for the repository at work/repo."""
    env = dict(os.environ, RELEASE_BASEURL=f"file://{work}/repo/", RELEASE_GPGKEY=fixture_repo["gpgkey"])
    paths = run([TOP / "specs/build-rpms.sh"], env=env, stderr=None).stdout.split()
    agent, release = (Path(p) for p in paths)
    assert agent.is_file() and release.is_file(), paths
    standin_top = work / "standin"
    run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {standin_top}", "--define", "busybox /bin/busybox",
         TOP / "specs/tests/dom0-standin.spec"])
    (standin,) = (standin_top / "RPMS/x86_64").glob("*.rpm")
    return {"agent": agent, "release": release, "standin": standin}


@pytest.fixture(scope="session")
def repo(work, fixture_repo, signing_key, rpms):
    """repo/mkrepo over the fixture's RPMs, the agent's, the release package and the dom0
    stand-in: what a host installs from."""
    inputs = work / "repo-in"
    inputs.mkdir()
    for rpm in Path(work / "fixture/Packages").glob("*.rpm"):
        shutil.copy2(rpm, inputs)
    for rpm in rpms.values():
        shutil.copy2(rpm, inputs)
    out = work / "repo"
    run([TOP / "repo/mkrepo", "--sign-packages", "--key", signing_key, inputs, out])
    return {
        "dir": out,
        "inputs": inputs,
        "baseurl": f"file://{out}/",
        "key": out / "RPM-GPG-KEY-linstor-agent",
        "fingerprint": fixture_repo["fingerprint"],
    }


@pytest.fixture(scope="session")
def new_host(work, fixture_repo):
    """Builds a fresh XCP-ng 8.3-like testbed host root (its kernel from the fixture)."""
    hosts = work / "hosts"

    def build(name):
        run([TESTBED, "host", "--dir", hosts, "--repo", work / "fixture", "--name", name, "--kernel", XCPNG_KERNEL])
        root = hosts / name / "root"
        stop_gpg_agents(root)
        return root

    return build


@pytest.fixture(scope="session")
def dnf_install(work, repo):
    """dnf --installroot ROOT install PACKAGES from our repository (gpgcheck, repo_gpgcheck)."""
    conf = work / "dnf"
    (conf / "repos").mkdir(parents=True)
    (conf / "dnf.conf").write_text("[main]\ngpgcheck=1\ninstall_weak_deps=False\n")
    (conf / "repos/linstor-agent.repo").write_text(
        "[linstor-agent]\nname=linstor-agent\n"
        f"baseurl={repo['baseurl']}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\n"
        f"gpgkey=file://{repo['key']}\n"
    )

    def install(root, *packages):
        try:
            return run(["dnf", "--installroot", root, "--releasever=8.3", "--config", conf / "dnf.conf",
                        f"--setopt=reposdir={conf / 'repos'}", f"--setopt=cachedir={root}/var/cache/dnf",
                        "--noplugins", "-y", "install", *packages])
        finally:
            stop_gpg_agents(root)

    return install


@pytest.fixture(scope="session")
def installed_root(new_host, dnf_install):
    """A fresh host root with linstor-agent-release and linstor-agent installed by dnf."""
    root = new_host("rpm-host")
    dnf_install(root, "linstor-agent-release", "linstor-agent")
    return root


@pytest.fixture(scope="session")
def extracted_rpm(work, rpms):
    """The agent RPM's payload, unpacked (rpm2cpio | cpio)."""
    dest = work / "extracted"
    dest.mkdir()
    cpio_in = subprocess.run(["rpm2cpio", str(rpms["agent"])], capture_output=True, check=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], input=cpio_in, cwd=dest, check=True)
    return dest
