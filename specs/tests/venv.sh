# Sourced by specs/build-rpms.sh and specs/tests/run.sh: makes sure the packaging virtualenv
# exists and matches specs/tests/requirements.txt (pip needs PyPI once), and puts its bin/
# first on PATH (cargo-zigbuild, zig via python -m ziglang, ksvalidator, ansible-*).
_la_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PACKAGING_VENV=${PACKAGING_VENV:-$_la_top/target/packaging-venv}
_la_reqs=$_la_top/specs/tests/requirements.txt
if [ ! -x "$PACKAGING_VENV/bin/python" ] || ! cmp -s "$_la_reqs" "$PACKAGING_VENV/requirements.txt"; then
  echo "packaging: creating $PACKAGING_VENV from $_la_reqs" >&2
  rm -rf "$PACKAGING_VENV"
  python3 -m venv "$PACKAGING_VENV"
  "$PACKAGING_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$_la_reqs"
  cp "$_la_reqs" "$PACKAGING_VENV/requirements.txt"
fi
unset _la_top _la_reqs
export PACKAGING_VENV
export PATH="$PACKAGING_VENV/bin:$PATH"
