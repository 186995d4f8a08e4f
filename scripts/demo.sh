#!/usr/bin/env bash
# `make demo`: a signed fixture repository and two simulated hosts, planned and installed by the
# agent with the real rpm/dnf, then installed again to show the converge is a no-op; then the
# XOSTOR path: a simulated XCP-ng pool of three hosts at the previous release provisioned end to
# end (Vates' packages, storage on a loop device, network, firewall, LINSTOR node), its shared
# `linstor` SR created (`pool create-sr`), a VM disk put on it, a fourth host joined to the pool
# and the SR (`provision`), and the pool rolling-upgraded (`pool upgrade`) with every PBD plugged
# and no resource losing quorum; it ends with the path of the upgrade's HTML report (`pool
# report`). Exits non-zero unless the final report is healthy.
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

step "An XCP-ng pool at the previous release (kmod-drbd 9.2.11, LINSTOR 1.29.0): three members with a disk each, a fourth host outside the pool, XAPI; no XOSTOR yet"
POOL="$DEMO_DIR/pool"
SCENARIO=testbed/scenarios/xostor-demo.toml
"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true
"$TESTBED" up --dir "$POOL" --scenario "$SCENARIO" --disks --time-scale 600 > /dev/null
trap '"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true' EXIT
demo_pool() { python3 scripts/demo_pool.py "$@"; }
# The site's release: what provision keeps the hosts at until the pool is upgraded
# (`pool upgrade` writes agent.d/90-pool-upgrade.toml, which comes later in name order).
RELEASE='"kmod-drbd" = "9.2.11", "linstor-satellite" = "1.29.0", "linstor-controller" = "1.29.0", "drbd-reactor" = "1.4.0", "linstor-client" = "1.23.0"'
provision_host() {
  local host=$1 root config
  root=$(demo_pool field "$POOL" "next(h['root'] for h in d['hosts'] if h['name'] == '$host')")
  config=$(demo_pool field "$POOL" "next(h['config'] for h in d['hosts'] if h['name'] == '$host')")
  demo_pool configure "$POOL" "$host" "$RELEASE"
  agent() { "$AGENT" --root "$root" --config "$config" "$@"; }
  step "$host: its agent.toml ([repo], [xapi], [storage]; no [controller]: XOSTOR finds it)"
  cat "$config"
  step "$host: provision (install, storage, network, register, xostor)"
  agent provision --timeout 60
  step "$host: provision again (a converged host changes nothing)"
  agent --output json provision --timeout 60 | python3 -c "import json,sys; print('changed:', json.load(sys.stdin)['changed'])"
}
for host in xcp-ng-1 xcp-ng-2 xcp-ng-3; do
  provision_host "$host"
done

# The operator's machine: it reaches the pool master's XAPI; the controller is found on the hosts.
OPERATOR="$DEMO_DIR/operator"
mkdir -p "$OPERATOR/root"
demo_pool operator "$POOL" "$OPERATOR/agent.toml"
pool() { "$AGENT" --root "$OPERATOR/root" --config "$OPERATOR/agent.toml" pool "$@"; }

step "The XOSTOR SR: the plan (pool create-sr --dry-run)"
pool create-sr --dry-run
step "The XOSTOR SR: checks on every host, SR.create type=linstor, verification"
pool create-sr
step "A VM disk on the SR (XAPI VDI.create, VBD.create)"
demo_pool vm-disk "$POOL" vm-1

step "A fourth host joins the pool (xe pool-join), then its agent joins it to the SR"
"$TESTBED" fault --dir "$POOL" pool-join --host xcp-ng-4 > /dev/null
provision_host xcp-ng-4

step "Rolling upgrade: the plan (pool upgrade --dry-run)"
pool upgrade --dry-run
step "Rolling upgrade: preflight, prefetch, the LINSTOR step, host by host (each PBD plugged before the next host), finish"
pool upgrade
step "pool status (the journal)"
pool status
step "The picture of the upgrade (pool report): one self-contained HTML file, written at the end of the run"
REPORT=$(pool report)
echo "$REPORT"
step "What the simulated pool recorded: versions, the SR and its PBDs, the controller's hosts, violations"
"$TESTBED" status --dir "$POOL" > "$DEMO_DIR/pool-status.json"
demo_pool report "$DEMO_DIR/pool-status.json"

step "Done: a shared XOSTOR SR with a VM disk, four hosts in it, upgraded with every PBD plugged and no resource losing quorum. Files are under $DEMO_DIR"
echo "The upgrade's report (open it in a browser): $REPORT"
