# Sourced by specs/build-rpms.sh and tests/packaging/run.sh: makes sure the packaging virtualenv
# exists and matches tests/packaging/requirements.txt (pip needs PyPI once), and puts its bin/
# first on PATH (cargo-zigbuild, zig via python -m ziglang, ksvalidator, ansible-*).
PACKAGING_VENV=${PACKAGING_VENV:-$PWD/target/packaging-venv}
_reqs=tests/packaging/requirements.txt
if [ ! -x "$PACKAGING_VENV/bin/python" ] || ! cmp -s "$_reqs" "$PACKAGING_VENV/requirements.txt"; then
  echo "packaging: creating $PACKAGING_VENV from $_reqs" >&2
  rm -rf "$PACKAGING_VENV"
  python3 -m venv "$PACKAGING_VENV"
  "$PACKAGING_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$_reqs"
  cp "$_reqs" "$PACKAGING_VENV/requirements.txt"
fi
unset _reqs
export PACKAGING_VENV
export PATH="$PACKAGING_VENV/bin:$PATH"
