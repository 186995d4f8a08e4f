"""Shared fixtures: a simulated pool started with `testbed up`, stopped with `testbed down`.

The pool's addresses come from DIR/pool.json (xapi_url, linstor_url, control_url, repo, hosts).
"""

import json
import os
import subprocess
import tempfile
import time

import pytest

TESTBED = os.environ.get("TESTBED_BIN", "target/debug/testbed")


def testbed(*args, check=True):
    return subprocess.run([TESTBED, *args], check=check, capture_output=True, text=True)


class Pool:
    def __init__(self, directory):
        self.dir = directory
        with open(os.path.join(directory, "pool.json")) as f:
            self.info = json.load(f)

    @property
    def xapi_url(self):
        return self.info["xapi_url"]

    @property
    def linstor_url(self):
        return self.info["linstor_url"]

    @property
    def hosts(self):
        return self.info["hosts"]

    def status(self):
        return json.loads(testbed("status", "--dir", self.dir).stdout)

    @property
    def control_url(self):
        return self.info["control_url"]

    def fault(self, *args):
        """`testbed fault --dir DIR ARGS...`, e.g. fault("crash", "--host", "xcp-ng-2")."""
        return testbed("fault", "--dir", self.dir, *args)

    def wait_for(self, predicate, timeout=60.0, interval=0.2):
        """Polls `testbed status` until predicate(status) holds; returns that status.

        The pool's clock runs at time_scale simulated seconds per real second (60 by default),
        so a 60 s simulated reboot is about one real second."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"pool status did not reach the expected state in {timeout} s: {status}")
            time.sleep(interval)

    def down(self):
        return testbed("down", "--dir", self.dir, check=False)


def start_pool(hosts=3, extra=()):
    directory = tempfile.mkdtemp(prefix="testbed-pool-")
    result = testbed("up", "--dir", directory, "--hosts", str(hosts), *extra, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"testbed up failed ({result.returncode}): {result.stderr}")
    return Pool(directory)


@pytest.fixture(scope="module")
def pool():
    """A fresh 3-host pool per test module (tests in one module share it)."""
    p = start_pool()
    yield p
    testbed("down", "--dir", p.dir, check=False)
