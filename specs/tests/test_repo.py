"""repo/mkrepo: a signed repository from a directory of RPMs; the agent's install step accepts
it; an unsigned RPM is refused, naming it; a second run changes nothing."""

import hashlib
import os
import shutil

from conftest import TOP, agent_env, run

MKREPO = TOP / "repo/mkrepo"


def tree_digest(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
        h.update(str(f.stat().st_mtime_ns).encode())
    return h.hexdigest()


def test_repository_and_every_package_are_signed(repo, tmp_path):
    keyring = tmp_path / "key.gpg"
    run(["gpg", "--batch", "--dearmor", "--output", keyring, repo["key"]])
    run(["gpgv", "--keyring", keyring, repo["dir"] / "repodata/repomd.xml.asc", repo["dir"] / "repodata/repomd.xml"])
    run(["rpmkeys", "--dbpath", tmp_path / "rpmdb", "--import", repo["key"]])
    packages = sorted((repo["dir"] / "Packages").glob("*.rpm"))
    assert len(packages) == len(list(repo["inputs"].glob("*.rpm")))
    for rpm in packages:
        out = run(["rpmkeys", "--dbpath", tmp_path / "rpmdb", "--checksig", rpm]).stdout
        assert "digests signatures OK" in out, out


def test_the_agents_install_step_accepts_it(repo, new_host, extracted_rpm):
    root = new_host("install-host")
    config = root.parent / "agent-ours.toml"
    config.write_text(
        f'[repo]\nbaseurl = "{repo["baseurl"]}"\ngpgkey = "{repo["key"]}"\nfingerprint = "{repo["fingerprint"]}"\n'
    )
    agent = extracted_rpm / "usr/bin/linstor-agent"
    env = agent_env()
    proc = run([agent, "--root", root, "--config", config, "--output", "json", "install"], check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"changed": true' in proc.stdout
    # An XCP-ng host without a userland list: the XCP-ng profile (Vates' meta-package and what
    # it requires; its DRBD tools are the package `drbd`).
    run(["rpm", "--root", root, "-q", "kmod-drbd", "xcp-ng-linstor", "drbd", "linstor-satellite"])


def test_a_second_run_changes_nothing(repo, signing_key):
    before = tree_digest(repo["dir"])
    proc = run([MKREPO, "--sign-packages", "--key", signing_key, repo["inputs"], repo["dir"]])
    assert "up to date" in proc.stderr
    assert tree_digest(repo["dir"]) == before


def test_an_unsigned_rpm_is_refused_by_name(repo, rpms, signing_key, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for rpm in sorted((repo["dir"] / "Packages").glob("kernel-*.rpm"))[:2]:
        shutil.copy2(rpm, inputs)
    shutil.copy2(rpms["agent"], inputs)  # as rpmbuild made it: unsigned
    out = tmp_path / "repo"
    proc = run([MKREPO, "--key", signing_key, inputs, out], check=False)
    assert proc.returncode == 1
    unsigned = inputs / rpms["agent"].name
    assert f"refused: {unsigned}: not signed" in proc.stderr, proc.stderr
    assert not out.exists()
    # A package signed by another key is refused too.
    shutil.copy2(repo["dir"] / "Packages" / rpms["release"].name, inputs / "release.rpm")
    os.unlink(unsigned)
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    run(["gpg", "--homedir", other, "--batch", "--passphrase", "", "--quick-gen-key", "other <o@example.invalid>",
         "rsa2048", "sign", "never"])
    secret = tmp_path / "other.asc"
    secret.write_text(run(["gpg", "--homedir", other, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                           "--armor", "--export-secret-keys"]).stdout)
    run(["gpgconf", "--homedir", other, "--kill", "gpg-agent"], check=False)
    proc = run([MKREPO, "--key", secret, inputs, out], check=False)
    assert proc.returncode == 1 and "signed by another key" in proc.stderr, proc.stderr
