#!/usr/bin/env bash
# `make bench`: the benchmarks of bench/RESULTS.md.
#
#  1. plan on a synthetic 10,000-package repository, cold cache: `linstor-agent plan` against
#     `dnf --installroot … --assumeno install kmod-drbd` on the same signed repository (wall time
#     with hyperfine, peak RSS with /usr/bin/time). Targets: ≥ 5× faster than dnf, < 100 MB.
#  2. download and verify of a ~200 MB signed RPM from a local HTTP server:
#     `linstor-agent install --download-only` against `curl` of the same URL. Target: ≥ 80 % of
#     curl's throughput.
#  3. no-op `provision` on a converged testbed host (`testbed up --hosts 1 --disks`, provisioned
#     once): wall time and peak RSS, against `ansible-playbook bench/ansible/noop-check.yml`
#     checking the same state of the same host (ansible-core from PyPI, in a virtualenv).
#     Targets: < 0.5 s, < 50 MB, ≥ 10× faster than ansible-playbook.
#
# Everything is built under $BENCH_DIR (default target/bench) and the figures are written to
# $BENCH_DIR/results.md as well as printed. Knobs: BENCH_PACKAGES (10000), BENCH_RUNS (10),
# BENCH_DOWNLOAD_RUNS (10), BENCH_PAYLOAD_MB (200), BENCH_NOOP_RUNS (10), BENCH_ANSIBLE_RUNS (5),
# BENCH_VENV (target/bench-venv, kept between runs), BENCH_SECTIONS ("plan download noop": any
# of them), BENCH_NO_HYPERFINE (time with a plain loop).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKSPACE=$PWD
BENCH_DIR=${BENCH_DIR:-$WORKSPACE/target/bench}
PACKAGES=${BENCH_PACKAGES:-10000}
RUNS=${BENCH_RUNS:-10}
DOWNLOAD_RUNS=${BENCH_DOWNLOAD_RUNS:-10}
PAYLOAD_MB=${BENCH_PAYLOAD_MB:-200}
NOOP_RUNS=${BENCH_NOOP_RUNS:-10}
ANSIBLE_RUNS=${BENCH_ANSIBLE_RUNS:-5}
SECTIONS=${BENCH_SECTIONS:-plan download noop}
VENV=${BENCH_VENV:-$WORKSPACE/target/bench-venv}
# Pinned, so that the Ansible figure is reproducible.
ANSIBLE_CORE=ansible-core==2.19.14
KERNEL=kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64
TESTBED=$WORKSPACE/target/release/testbed
AGENT=$WORKSPACE/target/release/linstor-agent

wants() { [[ " $SECTIONS " == *" $1 "* ]]; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() {
  echo "bench: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Clean-up: the HTTP server, every gpg-agent started for a GnuPG home under $BENCH_DIR, and
# the testbed pool (its servers and loop devices).
HTTP_PID=
GPG_HOMES=()
POOL=
cleanup() {
  if [ -n "$POOL" ]; then
    "$TESTBED" down --dir "$POOL" >/dev/null 2>&1 || true
  fi
  if [ -n "$HTTP_PID" ]; then
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
  fi
  for home in "${GPG_HOMES[@]}"; do
    [ -d "$home" ] && gpgconf --homedir "$home" --kill gpg-agent 2>/dev/null || true
  done
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Tools: hyperfine and GNU time are not in scripts/install-deps.sh; install them here.
apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  echo "bench: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}
HYPERFINE=hyperfine
if [ -n "${BENCH_NO_HYPERFINE:-}" ]; then
  HYPERFINE=
else
  command -v hyperfine >/dev/null || apt_install hyperfine || HYPERFINE=
fi
[ -n "$HYPERFINE" ] || echo "bench: hyperfine is not available; timing with a plain loop instead" >&2
[ -x /usr/bin/time ] || apt_install time || die "/usr/bin/time (Debian package time) is needed for peak RSS"
for tool in python3 curl dnf rpmbuild rpmsign createrepo_c gpg; do
  command -v "$tool" >/dev/null || die "$tool is missing (run make deps)"
done

# ---------------------------------------------------------------------------------------------
# Measuring helpers. Every measurement ends as $BENCH_DIR/json/<name>.json in hyperfine's shape.

# measure NAME RUNS PREPARE COMMAND: wall time of COMMAND, PREPARE run before each run (not
# timed). A non-zero exit of COMMAND is accepted (dnf --assumeno exits 1 by design); the
# commands were checked once before for the output they must give.
measure() {
  local name=$1 runs=$2 prepare=$3 command=$4 out=$BENCH_DIR/json/$1.json
  # The machine may be shared: the load average before and after goes with the figures.
  cut -d' ' -f1 /proc/loadavg >"$BENCH_DIR/json/$name.load"
  if [ -n "$HYPERFINE" ]; then
    hyperfine --style basic --runs "$runs" --warmup 1 --ignore-failure --prepare "$prepare" \
      --export-json "$out" --command-name "$name" "$command" >&2
  else
    local times=() start end
    for ((i = 0; i <= runs; i++)); do
      bash -c "$prepare" >/dev/null 2>&1
      start=$(date +%s%N)
      bash -c "$command" >/dev/null 2>&1 || true
      end=$(date +%s%N)
      # The first run is the warm-up.
      ((i == 0)) || times+=("$(((end - start) / 1000))")
    done
    python3 - "$out" "$name" "${times[@]}" <<'EOF'
import json, statistics, sys
out, name, times = sys.argv[1], sys.argv[2], [int(t) / 1e6 for t in sys.argv[3:]]
result = {"command": name, "mean": statistics.mean(times), "stddev": statistics.pstdev(times),
          "min": min(times), "max": max(times), "times": times}
json.dump({"results": [result]}, open(out, "w"))
print(f"  {name}: {result['mean']:.3f} s ± {result['stddev']:.3f} s ({len(times)} runs)", file=sys.stderr)
EOF
  fi
  cut -d' ' -f1 /proc/loadavg >>"$BENCH_DIR/json/$name.load"
}

# peak_rss NAME RUNS PREPARE COMMAND: the largest maximum resident set size (kB) of RUNS runs,
# into $BENCH_DIR/json/<name>.rss.
peak_rss() {
  local name=$1 runs=$2 prepare=$3 command=$4 peak=0 kb
  for ((i = 0; i < runs; i++)); do
    bash -c "$prepare" >/dev/null 2>&1
    /usr/bin/time -f %M -o "$BENCH_DIR/json/time.out" bash -c "exec $command" >/dev/null 2>&1 || true
    kb=$(tail -n 1 "$BENCH_DIR/json/time.out")
    ((kb > peak)) && peak=$kb
  done
  echo "$peak" >"$BENCH_DIR/json/$name.rss"
  echo "  $name: peak RSS $((peak / 1024)) MB" >&2
}

# ---------------------------------------------------------------------------------------------
step "Building release binaries"
cargo build --workspace --release --bins >&2

# A pool left by an interrupted run still holds loop devices: take it down before deleting it.
[ -f "$BENCH_DIR/pool/pool.json" ] && "$TESTBED" down --dir "$BENCH_DIR/pool" >/dev/null 2>&1
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/json"
FIXTURE=$BENCH_DIR/fixture
GPG_HOMES+=("$FIXTURE/.gnupg")

step "Fixture repository, one XCP-ng host, and a synthetic repository of $PACKAGES packages"
"$TESTBED" repo --dir "$FIXTURE" >"$BENCH_DIR/fixture.json"
FINGERPRINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$BENCH_DIR/fixture.json")
"$TESTBED" host --dir "$BENCH_DIR/hosts" --repo "$FIXTURE" --name xcp1 --kernel "$KERNEL" >"$BENCH_DIR/host.json"
HOST_ROOT=$BENCH_DIR/hosts/xcp1/root
SYNTHETIC=$BENCH_DIR/synthetic

# Each benchmark is one `if wants NAME` block (BENCH_SECTIONS), left unindented.
if wants plan; then
"$TESTBED" synthetic-repo --dir "$SYNTHETIC" --packages "$PACKAGES" --from-fixture "$FIXTURE" >"$BENCH_DIR/synthetic.json"
python3 - "$BENCH_DIR/synthetic.json" <<'EOF' >&2
import json, sys
s = json.load(open(sys.argv[1]))
sizes = ", ".join(f"{m['kind']} {m['size'] / 1e6:.1f} MB ({m['open_size'] / 1e6:.1f} MB as XML)" for m in s["metadata"])
print(f"  {s['packages']} packages ({len(s['from_fixture'])} from the fixture), {s['files']} files, "
      f"{s['provides']} provides, {s['requires']} requires; {sizes}")
EOF

# ---------------------------------------------------------------------------------------------
step "Benchmark 1: plan against dnf --assumeno install kmod-drbd, cold caches"
cat >"$BENCH_DIR/plan.toml" <<EOF
[repo]
baseurl = "file://$SYNTHETIC/"
gpgkey = "$SYNTHETIC/RPM-GPG-KEY-testbed"
fingerprint = "$FINGERPRINT"

[packages]
kmod = "kmod-drbd"
EOF
DNF_DIR=$BENCH_DIR/dnf
mkdir -p "$DNF_DIR/repos"
cat >"$DNF_DIR/dnf.conf" <<EOF
[main]
gpgcheck=1
install_weak_deps=False
best=True
skip_if_unavailable=False
EOF
cat >"$DNF_DIR/repos/synthetic.repo" <<EOF
[synthetic]
name=synthetic $PACKAGES-package repository
baseurl=file://$SYNTHETIC/
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$SYNTHETIC/RPM-GPG-KEY-testbed
EOF
DNF_CACHE=$DNF_DIR/cache
dnf_cmd() {
  echo "dnf --installroot $HOST_ROOT --releasever=8.3 --config $DNF_DIR/dnf.conf --noplugins" \
    "--setopt=reposdir=$DNF_DIR/repos --setopt=cachedir=$1 $2"
}

# With repo_gpgcheck, dnf asks before importing the repository key into <cachedir>/<repo>-<hash>/
# pubring, and --assumeno declines: a truly empty cache cannot resolve. So import it once (-y
# makecache), keep that pubring, and put it back into each otherwise empty cache: dnf's cold
# runs then skip the key import (which favours dnf), exactly as on a host that trusted the key
# long ago.
SEED=$DNF_DIR/seed
$(dnf_cmd "$SEED" "-y -q makecache") >/dev/null 2>&1 || die "dnf cannot read the synthetic repository: $(dnf_cmd "$SEED" "-y makecache")"
PUBRING=$(cd "$SEED" && echo synthetic-*/pubring)
[ -d "$SEED/$PUBRING" ] || die "dnf left no pubring in $SEED"
GPG_HOMES+=("$SEED/$PUBRING" "$DNF_CACHE/$PUBRING")
gpgconf --homedir "$SEED/$PUBRING" --kill gpg-agent 2>/dev/null || true
cat >"$DNF_DIR/prepare.sh" <<EOF
#!/bin/sh
gpgconf --homedir "$DNF_CACHE/$PUBRING" --kill gpg-agent 2>/dev/null
rm -rf "$DNF_CACHE"
mkdir -p "$DNF_CACHE/$(dirname "$PUBRING")"
cp -a "$SEED/$PUBRING" "$DNF_CACHE/$PUBRING"
EOF
chmod +x "$DNF_DIR/prepare.sh"

AGENT_PREPARE="rm -rf $HOST_ROOT/var/cache/linstor-agent"
AGENT_PLAN="$AGENT --root $HOST_ROOT --config $BENCH_DIR/plan.toml plan"
DNF_PREPARE=$DNF_DIR/prepare.sh
DNF_PLAN=$(dnf_cmd "$DNF_CACHE" "--assumeno install kmod-drbd")

# Both must really resolve before they are timed.
bash -c "$AGENT_PREPARE"
$AGENT_PLAN >"$BENCH_DIR/plan.out" 2>&1 || die "linstor-agent plan failed: $(cat "$BENCH_DIR/plan.out")"
grep -q 'install *kmod-drbd' "$BENCH_DIR/plan.out" || die "plan did not pick kmod-drbd: $(cat "$BENCH_DIR/plan.out")"
"$DNF_PREPARE"
$DNF_PLAN >"$BENCH_DIR/dnf.out" 2>&1 || true
grep -q 'Operation aborted' "$BENCH_DIR/dnf.out" && grep -q '^ kmod-drbd ' "$BENCH_DIR/dnf.out" ||
  die "dnf did not resolve kmod-drbd: $(cat "$BENCH_DIR/dnf.out")"
sed 's/^/  agent | /' "$BENCH_DIR/plan.out" >&2
grep -A4 '^Installing' "$BENCH_DIR/dnf.out" | sed 's/^/  dnf   | /' >&2

measure plan-agent "$RUNS" "$AGENT_PREPARE" "$AGENT_PLAN"
measure plan-dnf "$RUNS" "$DNF_PREPARE" "$DNF_PLAN"
peak_rss plan-agent 3 "$AGENT_PREPARE" "$AGENT_PLAN"
peak_rss plan-dnf 3 "$DNF_PREPARE" "$DNF_PLAN"
"$DNF_PREPARE"
fi

# ---------------------------------------------------------------------------------------------
BIG_BYTES=0
if wants download; then
step "Benchmark 2: download and verify of a $PAYLOAD_MB MB package over HTTP against curl"
BIG=$BENCH_DIR/bigrepo
mkdir -p "$BIG/Packages" "$BENCH_DIR/rpmbuild"
cp "$FIXTURE"/Packages/*.rpm "$BIG/Packages/"
cp "$FIXTURE/RPM-GPG-KEY-testbed" "$BIG/"
cat >"$BENCH_DIR/rpmbuild/bench-payload.spec" <<'EOF'
Name:           bench-payload
Version:        1.0
Release:        1
Summary:        Incompressible data for linstor-agent's download benchmark
License:        GPL-3.0-or-later
BuildArch:      noarch
%global debug_package %{nil}
%global __os_install_post %{nil}

%description
%{payload_mb} MB from /dev/urandom, stored uncompressed, for linstor-agent's download benchmark.

%install
mkdir -p %{buildroot}/usr/share/bench-payload
head -c %{payload_mb}M /dev/urandom > %{buildroot}/usr/share/bench-payload/blob

%files
/usr/share/bench-payload/blob
EOF
# An uncompressed payload (w0.ufdio): compressing 200 MB of random bytes would take minutes
# and gain nothing.
rpmbuild -bb --quiet --define "_topdir $BENCH_DIR/rpmbuild" --define "_binary_payload w0.ufdio" \
  --define "payload_mb $PAYLOAD_MB" "$BENCH_DIR/rpmbuild/bench-payload.spec" >&2
BIG_RPM=$BIG/Packages/bench-payload-1.0-1.noarch.rpm
mv "$BENCH_DIR/rpmbuild/RPMS/noarch/bench-payload-1.0-1.noarch.rpm" "$BIG_RPM"
rm -rf "$BENCH_DIR/rpmbuild"
GNUPGHOME=$FIXTURE/.gnupg rpmsign --addsign --define "__gpg /usr/bin/gpg" --define "_gpg_path $FIXTURE/.gnupg" \
  --define "_gpg_name $FINGERPRINT" "$BIG_RPM" >/dev/null
createrepo_c --quiet --general-compress-type=gz "$BIG"
gpg --homedir "$FIXTURE/.gnupg" --batch --no-tty --pinentry-mode loopback --passphrase '' --yes --armor \
  --detach-sign --digest-algo SHA256 --local-user "$FINGERPRINT" --output "$BIG/repodata/repomd.xml.asc" \
  "$BIG/repodata/repomd.xml"
gpgconf --homedir "$FIXTURE/.gnupg" --kill gpg-agent 2>/dev/null || true
BIG_BYTES=$(stat -c %s "$BIG_RPM")

python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$BIG" >"$BENCH_DIR/http.log" 2>&1 &
HTTP_PID=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\).*/\1/p' "$BENCH_DIR/http.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || die "the HTTP server did not start: $(cat "$BENCH_DIR/http.log")"
URL=http://127.0.0.1:$PORT/Packages/$(basename "$BIG_RPM")
echo "  $(basename "$BIG_RPM"): $BIG_BYTES bytes, served at $URL" >&2

# Only the big package and one small kmod: the agent's figure is almost all the big download.
cat >"$BENCH_DIR/download.toml" <<EOF
[repo]
baseurl = "http://127.0.0.1:$PORT/"
gpgkey = "$BIG/RPM-GPG-KEY-testbed"
fingerprint = "$FINGERPRINT"

[packages]
kmod = "kmod-drbd"
userland = ["bench-payload"]
EOF
AGENT_CACHE=$HOST_ROOT/var/cache/linstor-agent
# The metadata stays cached (it is verified again each run); the packages are fetched again.
DOWNLOAD_PREPARE="rm -rf $AGENT_CACHE/packages"
AGENT_DOWNLOAD="$AGENT --root $HOST_ROOT --config $BENCH_DIR/download.toml install --download-only"
CURL_OUT=$BENCH_DIR/curl.out
CURL_PREPARE="rm -f $CURL_OUT"
# To a file on the same disk as the agent's cache, as the agent does.
CURL_DOWNLOAD="curl -sS --fail -o $CURL_OUT $URL"

rm -rf "$AGENT_CACHE"
$AGENT_DOWNLOAD >"$BENCH_DIR/download.out" 2>&1 || die "install --download-only failed: $(cat "$BENCH_DIR/download.out")"
cmp -s "$BIG_RPM" "$AGENT_CACHE/packages/$(basename "$BIG_RPM")" || die "the agent's copy differs from $BIG_RPM"
sed 's/^/  agent | /' "$BENCH_DIR/download.out" >&2

measure download-agent "$DOWNLOAD_RUNS" "$DOWNLOAD_PREPARE" "$AGENT_DOWNLOAD"
measure download-curl "$DOWNLOAD_RUNS" "$CURL_PREPARE" "$CURL_DOWNLOAD"
# Where the agent's time goes: the same command with the package already in the cache does
# everything but the transfer (the cached file is re-hashed, then its RPM signature and digests
# are checked); with userland empty it does everything but the big package.
measure download-agent-cached "$DOWNLOAD_RUNS" ":" "$AGENT_DOWNLOAD"
sed 's/^userland = .*/userland = []/' "$BENCH_DIR/download.toml" >"$BENCH_DIR/download-kmod.toml"
measure download-agent-kmod-only "$DOWNLOAD_RUNS" "$DOWNLOAD_PREPARE" \
  "$AGENT --root $HOST_ROOT --config $BENCH_DIR/download-kmod.toml install --download-only"
peak_rss download-agent 1 "$DOWNLOAD_PREPARE" "$AGENT_DOWNLOAD"
rm -f "$CURL_OUT"
rm -rf "$AGENT_CACHE"
kill "$HTTP_PID" 2>/dev/null || true
wait "$HTTP_PID" 2>/dev/null || true
HTTP_PID=
fi

# ---------------------------------------------------------------------------------------------
if wants noop; then
step "Benchmark 3: no-op provision of a converged testbed host against ansible-playbook"
[ "$(id -u)" -eq 0 ] || die "the no-op benchmark needs root: testbed up --disks makes loop devices"
# ansible-core from PyPI, in a virtualenv kept between runs (reinstalled if not the pinned one).
if [ "$("$VENV/bin/ansible-playbook" --version 2>/dev/null | sed -n 's/.*\[core \(.*\)\]$/\1/p')" != "${ANSIBLE_CORE#*==}" ]; then
  echo "bench: installing $ANSIBLE_CORE into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$ANSIBLE_CORE" >&2 ||
    die "cannot install $ANSIBLE_CORE from PyPI into $VENV"
fi

# One host with a loop-device disk, provisioned once (install, storage, network, register).
POOL=$BENCH_DIR/pool
"$TESTBED" up --dir "$POOL" --hosts 1 --disks --time-scale 1 >"$BENCH_DIR/pool.out" 2>&1 ||
  die "testbed up failed: $(cat "$BENCH_DIR/pool.out")"
eval "$(python3 - "$POOL/pool.json" <<'EOF'
import json, shlex, sys
host = json.load(open(sys.argv[1]))["hosts"][0]
for key in ("root", "config", "disk"):
    print(f"NOOP_{key.upper()}={shlex.quote(host[key])}")
EOF
)"
printf '\n[storage]\ndevices = ["%s"]\n' "$NOOP_DISK" >>"$NOOP_CONFIG"
AGENT_NOOP="$AGENT --root $NOOP_ROOT --config $NOOP_CONFIG --output json provision"
$AGENT --root "$NOOP_ROOT" --config "$NOOP_CONFIG" provision --timeout 60 >"$BENCH_DIR/provision.out" 2>&1 ||
  die "the first provision failed: $(cat "$BENCH_DIR/provision.out")"
# The host is converged: the next provision must change nothing.
$AGENT_NOOP >"$BENCH_DIR/noop.json" 2>"$BENCH_DIR/noop.err" || die "the no-op provision failed: $(cat "$BENCH_DIR/noop.err")"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["changed"] is not False)' "$BENCH_DIR/noop.json" ||
  die "a second provision changed something: $(cat "$BENCH_DIR/noop.json")"

# What the playbook checks, from the pool and the agent's own plan: the planned NEVRAs, the
# volume group and its disks, the node and its storage pool.
ANSIBLE_DIR=$BENCH_DIR/ansible
mkdir -p "$ANSIBLE_DIR"
python3 - "$POOL/pool.json" "$BENCH_DIR/noop.json" >"$ANSIBLE_DIR/vars.json" <<'EOF'
import json, sys
pool, noop = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
plan = {p["step"]: p.get("plan") or {} for p in noop["plan"]}
node = plan["register"]["node"]
json.dump({
    "host_root": pool["hosts"][0]["root"],
    "packages": [{"name": a["name"], "nevra": a["to"]} for a in plan["install"]["actions"] if a.get("to")],
    "volume_group": plan["storage"]["volume_group"],
    "disks": plan["storage"]["result"]["devices"],
    "node_name": node["name"],
    "node_address": node["address"],
    "satellite_port": node["port"],
    "storage_pool": node["storage_pool"],
    "linstor_url": pool["linstor_url"],
}, sys.stdout, indent=2)
EOF
# Ansible's fastest setup for this: pipelining, the venv's own Python, no retry files; its
# state under $BENCH_DIR, not ~/.ansible.
cat >"$ANSIBLE_DIR/ansible.cfg" <<EOF
[defaults]
home = $ANSIBLE_DIR/home
interpreter_python = $VENV/bin/python3
retry_files_enabled = False
nocolor = True

[connection]
pipelining = True
EOF
ANSIBLE_NOOP="env ANSIBLE_CONFIG=$ANSIBLE_DIR/ansible.cfg $VENV/bin/ansible-playbook -i localhost, -c local -e @$ANSIBLE_DIR/vars.json $WORKSPACE/bench/ansible/noop-check.yml"
bash -c "$ANSIBLE_NOOP" >"$BENCH_DIR/ansible.out" 2>&1 || die "the playbook failed on the converged host: $(cat "$BENCH_DIR/ansible.out")"
grep -q 'ok=[0-9]* *changed=0 *unreachable=0 *failed=0' "$BENCH_DIR/ansible.out" ||
  die "the playbook did not pass cleanly: $(cat "$BENCH_DIR/ansible.out")"
sed 's/^/  agent   | /' "$BENCH_DIR/provision.out" >&2
grep -A1 '^PLAY RECAP' "$BENCH_DIR/ansible.out" | sed 's/^/  ansible | /' >&2

measure noop-agent "$NOOP_RUNS" ":" "$AGENT_NOOP"
measure noop-ansible "$ANSIBLE_RUNS" ":" "$ANSIBLE_NOOP"
peak_rss noop-agent 3 ":" "$AGENT_NOOP"
peak_rss noop-ansible 1 ":" "$ANSIBLE_NOOP"
# Still converged after all those runs.
$AGENT_NOOP >"$BENCH_DIR/noop-after.json" 2>&1 &&
  python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["changed"] is not False)' "$BENCH_DIR/noop-after.json" ||
  die "the host drifted during the benchmark: $(cat "$BENCH_DIR/noop-after.json")"
"$TESTBED" down --dir "$POOL" >/dev/null 2>&1 || true
POOL=
fi

# ---------------------------------------------------------------------------------------------
step "Results"
BENCH_TIMER=${HYPERFINE:+$(hyperfine --version)} BENCH_SECTIONS=$SECTIONS \
  python3 - "$BENCH_DIR" "$BIG_BYTES" "$PACKAGES" "$ANSIBLE_CORE" >"$BENCH_DIR/results.md" <<'EOF'
import json, os, statistics, subprocess, sys
from datetime import datetime, timezone

bench, big_bytes, packages, ansible_core = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sections = os.environ["BENCH_SECTIONS"].split()
def result(name):
    r = json.load(open(os.path.join(bench, "json", name + ".json")))["results"][0]
    r["median"] = statistics.median(r["times"])
    r["load"] = " → ".join(open(os.path.join(bench, "json", name + ".load")).read().split())
    return r
def rss(name):
    return int(open(os.path.join(bench, "json", name + ".rss")).read()) / 1024
def t(r):
    return (f"median {r['median']:.3f} s, mean {r['mean']:.3f} s ± {r['stddev']:.3f} "
            f"(min {r['min']:.3f}, {len(r['times'])} runs; load {r['load']})")
def verdict(ok):
    return "met" if ok else "**missed**"
def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()

print(f"""Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}
Machine: {sh('nproc')} CPUs ({sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1")}), \
{sh("free -g | awk '/^Mem:/ {print $2}'")} GB RAM; {sh('uname -sr')}; dnf {sh('dnf --version | head -n 1')}, \
{sh('curl --version | head -n 1 | cut -d" " -f1-2')}, {os.environ.get('BENCH_TIMER') or 'no hyperfine (plain timing loop)'}; \
load average at the end: {sh('cut -d" " -f1-3 /proc/loadavg')}. Ratios are of medians.""")

if "plan" in sections:
    agent, dnf = result("plan-agent"), result("plan-dnf")
    speedup = dnf["median"] / agent["median"]
    agent_rss, dnf_rss = rss("plan-agent"), rss("plan-dnf")
    syn = json.load(open(os.path.join(bench, "synthetic.json")))
    meta = {m["kind"]: m for m in syn["metadata"]}
    print(f"""
### 1. plan, {packages:,} packages, cold cache

Repository: {syn['packages']:,} packages ({len(syn['from_fixture'])} real ones from the fixture), {syn['files']:,} files, \
primary {meta['primary']['size'] / 1e6:.1f} MB gz / {meta['primary']['open_size'] / 1e6:.1f} MB XML, \
filelists {meta['filelists']['size'] / 1e6:.1f} MB gz / {meta['filelists']['open_size'] / 1e6:.1f} MB XML.

| | linstor-agent plan | dnf --assumeno install kmod-drbd | |
|---|---|---|---|
| wall time | {t(agent)} | {t(dnf)} | dnf / agent = **{speedup:.2f}×** (target ≥ 5×: {verdict(speedup >= 5)}) |
| peak RSS | {agent_rss:.0f} MB | {dnf_rss:.0f} MB | target < 100 MB: {verdict(agent_rss < 100)} |""")

if "download" in sections:
    down_agent, down_curl = result("download-agent"), result("download-curl")
    cached, kmod_only = result("download-agent-cached"), result("download-agent-kmod-only")
    mbps_agent, mbps_curl = big_bytes / 1e6 / down_agent["median"], big_bytes / 1e6 / down_curl["median"]
    share = mbps_agent / mbps_curl
    print(f"""
### 2. download and verify, {big_bytes / 1e6:.0f} MB package over HTTP (127.0.0.1)

| | linstor-agent install --download-only | curl -o FILE | |
|---|---|---|---|
| wall time | {t(down_agent)} | {t(down_curl)} | |
| throughput | {mbps_agent:.0f} MB/s | {mbps_curl:.0f} MB/s | agent / curl = **{share:.0%}** (target ≥ 80%: {verdict(share >= 0.8)}) |
| peak RSS | {rss('download-agent'):.0f} MB | | |

The agent's time is the whole command: start-up, repomd.xml signature, cached metadata re-hashed,
host facts, plan, the kmod (7 kB) and the big package downloaded with streaming sha256, then its
RPM signature and payload digest checked. The same command with the package already cached (no
transfer; re-hash and RPM checks only) takes {t(cached)}; with only the kmod to fetch,
{t(kmod_only)}.""")

if "noop" in sections:
    agent, ansible = result("noop-agent"), result("noop-ansible")
    speedup = ansible["median"] / agent["median"]
    agent_rss = rss("noop-agent")
    print(f"""
### 3. no-op provision of a converged testbed host, against ansible-playbook

One `testbed up --hosts 1 --disks --time-scale 1` host, provisioned once. `linstor-agent --root R
--config C --output json provision` (`"changed": false`) against `ansible-playbook -i localhost, -c
local -e @vars.json bench/ansible/noop-check.yml` ({ansible_core}, pipelining, no fact gathering),
which checks the same packages, volume group, files and LINSTOR node.

| | linstor-agent provision (no-op) | ansible-playbook noop-check.yml | |
|---|---|---|---|
| wall time | {t(agent)} | {t(ansible)} | ansible / agent = **{speedup:.1f}×** (target ≥ 10×: {verdict(speedup >= 10)}) |
| peak RSS | {agent_rss:.0f} MB | {rss('noop-ansible'):.0f} MB | agent: target < 50 MB: {verdict(agent_rss < 50)}; time target < 0.5 s: {verdict(agent['median'] < 0.5)} |""")
EOF
cat "$BENCH_DIR/results.md"
if [ -z "${BENCH_SECTIONS:-}" ] || wants pool-upgrade; then BENCH_DIR=$BENCH_DIR BENCH_POOL_NO_BUILD=1 "$WORKSPACE/bench/pool_upgrade.py"; fi
