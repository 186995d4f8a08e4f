#!/usr/bin/env bash
# `make demo`: a signed fixture repository and two simulated hosts, planned and installed by the
# agent with the real rpm/dnf, then installed again to show the converge is a no-op; then a
# simulated pool of three hosts at the previous release provisioned end to end (install,
# storage, network, register), and rolling-upgraded to the new release with `pool upgrade`.
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

step "A simulated pool at the previous release (kmod-drbd 9.2.11, LINSTOR 1.29.0): three hosts with a disk each, the LINSTOR controller and XAPI"
POOL="$DEMO_DIR/pool"
SCENARIO=testbed/scenarios/upgrade-3.toml
"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true
"$TESTBED" up --dir "$POOL" --scenario "$SCENARIO" --disks --time-scale 60 > /dev/null
trap '"$TESTBED" down --dir "$POOL" > /dev/null 2>&1 || true' EXIT
pool_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$POOL/pool.json" "$1"; }
for i in 0 1 2; do
  host=$(pool_field "d['hosts'][$i]['name']")
  root=$(pool_field "d['hosts'][$i]['root']")
  config=$(pool_field "d['hosts'][$i]['config']")
  disk=$(pool_field "d['hosts'][$i]['disk']")
  printf '\n[storage]\ndevices = ["%s"]\n' "$disk" >> "$config"
  # The site's release: what provision keeps these hosts at until the pool is upgraded
  # (`pool upgrade` writes agent.d/90-pool-upgrade.toml, which comes later in name order).
  mkdir -p "$(dirname "$config")/agent.d"
  cat > "$(dirname "$config")/agent.d/10-release.toml" <<'TOML'
[packages]
pin = { "kmod-drbd" = "9.2.11", "linstor-satellite" = "1.29.0", "linstor-controller" = "1.29.0", "drbd-utils" = "9.28.0", "drbd-reactor" = "1.4.0", "linstor-client" = "1.23.0" }
TOML
  agent() { "$AGENT" --root "$root" --config "$config" "$@"; }
  step "$host: provision (install, storage on $disk, network, register)"
  agent provision --timeout 60
  step "$host: status"
  agent status
  step "$host: provision again (a converged host changes nothing)"
  agent --output json provision | python3 -c "import json,sys; print('changed:', json.load(sys.stdin)['changed'])"
done
step "The controller's nodes"
url=$(pool_field "d['linstor_url']")
curl -s "$url/v1/nodes" | python3 -c "import json,sys; [print(n['name'], n['type'], n['connection_status']) for n in json.load(sys.stdin)]"

# The operator's machine: it reaches the pool master's XAPI and the controller.
OPERATOR="$DEMO_DIR/operator"
mkdir -p "$OPERATOR/root"
cat > "$OPERATOR/agent.toml" <<TOML
[xapi]
url = "$(pool_field "d['xapi_url']")"
username = "$(pool_field "d['username']")"
password_file = "$(pool_field "d['password_file']")"

[controller]
urls = ["$url"]
TOML
pool() { "$AGENT" --root "$OPERATOR/root" --config "$OPERATOR/agent.toml" pool "$@"; }

step "Rolling upgrade: the plan (pool upgrade --dry-run)"
pool upgrade --dry-run
step "Rolling upgrade: preflight, prefetch, the LINSTOR step, host by host, finish"
pool upgrade
step "pool status (the journal)"
pool status
step "What the simulated pool recorded: versions, reboots, violations (quorum lost, VM down, too many hosts down)"
"$TESTBED" status --dir "$POOL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for h in d["hosts"]:
    p = h["packages"]
    print("%s: kmod-drbd %s, linstor-satellite %s, satellite running %s, reboots %d" % (
        h["name"], p.get("kmod-drbd"), p.get("linstor-satellite"), h["satellite_version"], h["reboots"]))
print("controller", d["controller"]["version"])
print("nodes:", ", ".join(n["name"] + " " + n["connection_status"] for n in d["nodes"]))
print("violations:", len(d["violations"]))
sys.exit(1 if d["violations"] else 0)
'

step "Done: hosts provisioned, then the pool upgraded with no resource losing quorum. Files are under $DEMO_DIR"
