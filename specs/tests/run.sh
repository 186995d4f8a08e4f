#!/usr/bin/env bash
# The packaging tests (part of `make test`): builds the agent's RPM as `make rpm` does (once;
# cargo reuses target/zig), then runs specs/tests with pytest from the packaging virtualenv
# (ziglang, cargo-zigbuild, pykickstart, ansible-core, ansible-lint from PyPI on first use).
# Needs the debug `testbed` and `linstor-agent` binaries (`cargo build --workspace --bins`).
set -euo pipefail
cd "$(dirname "$0")/../.."
source specs/tests/venv.sh
export TESTBED_BIN=${TESTBED_BIN:-$PWD/target/debug/testbed}
exec python -m pytest -q -p no:cacheprovider specs/tests "$@"
