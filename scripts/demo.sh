#!/usr/bin/env bash
# `make demo`: a signed fixture repository and two simulated hosts, planned and installed by the
# agent with the real rpm/dnf, then installed again to show the converge is a no-op; then a
# simulated pool of three hosts provisioned end to end (install, storage, network, register).
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${DEMO_DIR:-$PWD/demo-out}
TESTBED=${TESTBED:-target/debug/testbed}
AGENT=${AGENT:-target/debug/linstor-agent}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

step "Building the signed fixture repository (rpmbuild, rpmsign, createrepo_c, repomd.xml.asc)"
"$TESTBED" repo --dir "$DEMO_DIR/repo" > "$DEMO_DIR/repo.json"
grep -E '"(baseurl|fingerprint)"' "$DEMO_DIR/repo.json"

step "Building two hosts"
# xcp-host1: XCP-ng 8.3 with its kernel (uname 4.19.0+1 whatever the release).
"$TESTBED" host --dir "$DEMO_DIR/hosts" --repo "$DEMO_DIR/repo" --name xcp-host1 \
  --kernel kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64 > "$DEMO_DIR/xcp-host1.json"
# el-host2: two EL kernels with different kABI: one module package each.
"$TESTBED" host --dir "$DEMO_DIR/hosts" --repo "$DEMO_DIR/repo" --name el-host2 \
  --kernel kernel-4.18.0-553.el8_10.x86_64 --kernel kernel-5.14.0-427.el9.x86_64 \
  --default-kernel 4.18.0-553.el8_10.x86_64 > "$DEMO_DIR/el-host2.json"

for host in xcp-host1 el-host2; do
  root="$DEMO_DIR/hosts/$host/root"
  config="$DEMO_DIR/hosts/$host/agent.toml"
  agent() { "$AGENT" --root "$root" --config "$config" "$@"; }

  step "$host: facts"
  agent facts
  step "$host: plan"
  agent plan
  step "$host: install"
  agent install
  step "$host: rpm -q (what the rpm database now holds)"
  rpm --root "$root" -q kernel kmod-drbd drbd-utils drbd-reactor linstor-satellite linstor-client linstor-common
  step "$host: install again (a converged host changes nothing)"
  agent --output json install | grep '"changed"'
done

step "A simulated pool: three hosts with a disk each, the LINSTOR controller and XAPI (testbed up --disks)"
POOL="$DEMO_DIR/pool"
"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true
"$TESTBED" up --dir "$POOL" --hosts 3 --disks --time-scale 1 > /dev/null
trap '"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true' EXIT
for i in 0 1 2; do
  host=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][$i]['name'])" "$POOL/pool.json")
  root="$POOL/hosts/$host/root"
  config=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][$i]['config'])" "$POOL/pool.json")
  disk=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][$i]['disk'])" "$POOL/pool.json")
  printf '\n[storage]\ndevices = ["%s"]\n' "$disk" >> "$config"
  agent() { "$AGENT" --root "$root" --config "$config" "$@"; }
  step "$host: provision (install, storage on $disk, network, register)"
  agent provision --timeout 60
  step "$host: status"
  agent status
  step "$host: provision again (a converged host changes nothing)"
  agent --output json provision | python3 -c "import json,sys; print('changed:', json.load(sys.stdin)['changed'])"
done
step "The controller's nodes"
url=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['linstor_url'])" "$POOL/pool.json")
curl -s "$url/v1/nodes" | python3 -c "import json,sys; [print(n['name'], n['type'], n['connection_status']) for n in json.load(sys.stdin)]"

step "Done: the hosts converged, the pool's nodes ONLINE. Files are under $DEMO_DIR"
