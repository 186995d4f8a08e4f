#!/usr/bin/env bash
# Conformance of the testbed's simulated LINSTOR controller and XAPI with the real clients
# (python-linstor, the XenAPI SDK from PyPI) and the LINSTOR OpenAPI spec. Creates the
# virtualenv on first use (pip needs the package registry once), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CONFORMANCE_VENV:-target/conformance-venv}
REQS=testbed/conformance/requirements.txt

if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQS" "$VENV/requirements.txt"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/requirements.txt"
fi

export TESTBED_BIN=${TESTBED_BIN:-$PWD/target/debug/testbed}
export LINSTOR_OPENAPI=${LINSTOR_OPENAPI:-$PWD/../shared/reference/linstor-rest-v1-openapi.yaml}
exec "$VENV/bin/python" -m pytest -q testbed/conformance "$@"
