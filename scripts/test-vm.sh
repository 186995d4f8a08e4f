#!/usr/bin/env bash
# The VM tier (`make test-vm`; docs/vm-tier.md): agent/tests/vm_kernel.rs, each test in its own
# VM booting Debian's kernel under QEMU (software emulation) with virtme-ng, on a copy-on-write
# view of this machine. scripts/install-deps.sh installs QEMU and the kernel; this script installs
# virtme-ng (pinned) in a virtualenv under target/, once.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VM_VENV:-target/vm-venv}
VNG_VERSION=1.42
if ! "$VENV/bin/vng" --version 2>/dev/null | grep -qx "virtme-ng $VNG_VERSION"; then
  echo "test-vm: installing virtme-ng $VNG_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "virtme-ng==$VNG_VERSION"
fi
LINSTOR_AGENT_VNG="$(cd "$VENV/bin" && pwd)/vng"
export LINSTOR_AGENT_VNG

# Two VMs at a time: one emulated CPU each, on the CI machine's two cores.
rm -f target/vm-tier/timings.txt
cargo test -p linstor-agent --test vm_kernel -- --ignored --test-threads 2 "$@"
if [ -f target/vm-tier/timings.txt ]; then
  echo "test-vm: per-test times (target/vm-tier/timings.txt):" >&2
  cat target/vm-tier/timings.txt >&2
fi
