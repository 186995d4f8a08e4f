#!/usr/bin/env python3
"""The rolling-upgrade benchmark (issue 7): `linstor-agent pool upgrade` against testbed pools
of 3, 7 and 16 hosts, with --batch 1 and --batch auto, in simulated time.

Every run: `testbed up --hosts N --scenario bench/scenarios/pool-upgrade.toml --time-scale S`,
`testbed status` (the world's clock and accounting before), `linstor-agent --root R --config C
--output json pool upgrade --batch B --poll-ms P` (an operator config: [xapi] and [controller]
from pool.json), `testbed status` again, `testbed down`. Everything measured is simulated time
from the world's own records (`testbed status`: clock.now, accounting, hosts[].maintenance_windows):

- total: clock.now after the run − clock.now before it (the agent's start-up, preflight and
  exit included);
- busy: simulated seconds during which a scenario activity ran (a reboot, a VM migration, a
  resync, a controller failover), the union of their intervals; host work: those during which
  a `host.call_plugin` ran (a host's agent planning, prefetching, running dnf; service.py);
  union: either of the two;
- overhead, the orchestrator's own: total − union (nothing unavoidable and no host-side work in
  progress: the orchestrator's own requests, polling latency, journal writes, start-up);
- floor: what the scenario makes unavoidable for the batches the run chose, from the world's
  recorded intervals: per batch, the longest evacuation (a host's VMs migrate in parallel) +
  the longest reboot + the longest resync of the batch's replicas; plus one migration for the
  VMs going back at the end (they could go in parallel); plus the controller failover of the
  LINSTOR step (the controller restarted on the new version);
- longest window: the longest time a host spent disabled (host.disable → host.enable).

total = floor + (busy − floor: scenario activity the schedule added beyond the floor, e.g.
reboots of one batch one after the other) + (union − busy: host work while nothing else ran)
+ overhead.

Knobs (environment): BENCH_DIR (target/bench; this writes BENCH_DIR/pool-upgrade),
BENCH_POOL_SIZES ("3 7 16"), BENCH_POOL_BATCHES ("1 auto"), BENCH_POOL_TIME_SCALE (10),
BENCH_POOL_POLL_MS (20), BENCH_POOL_PROFILE (release; debug uses target/debug without
building), BENCH_POOL_NO_BUILD (set: do not run cargo build).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

WORKSPACE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(WORKSPACE, "bench/scenarios/pool-upgrade.toml")
BENCH_DIR = os.environ.get("BENCH_DIR", os.path.join(WORKSPACE, "target/bench"))
OUT = os.path.join(BENCH_DIR, "pool-upgrade")
SIZES = [int(n) for n in os.environ.get("BENCH_POOL_SIZES", "3 7 16").split()]
BATCHES = os.environ.get("BENCH_POOL_BATCHES", "1 auto").split()
TIME_SCALE = float(os.environ.get("BENCH_POOL_TIME_SCALE", "10"))
POLL_MS = int(os.environ.get("BENCH_POOL_POLL_MS", "20"))
PROFILE = os.environ.get("BENCH_POOL_PROFILE", "release")
TESTBED = os.path.join(WORKSPACE, "target", PROFILE, "testbed")
AGENT = os.path.join(WORKSPACE, "target", PROFILE, "linstor-agent")

# What an upgrade from the scenario's old versions must end at.
NEW_KMOD = "9.2.12"
NEW_LINSTOR = "1.29.2"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"bench: {msg}")
    sys.exit(1)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def status(pool):
    out = run([TESTBED, "status", "--dir", pool])
    if out.returncode != 0:
        die(f"testbed status failed: {out.stderr}")
    return json.loads(out.stdout)


def span(a):
    return a["to"] - a["from"] if a["to"] is not None else 0.0


def longest(intervals):
    return max((span(a) for a in intervals), default=0.0)


def analyse(before, after, report):
    """The figures of one run from the world's records before and after it."""
    t0, t1 = before["clock"]["now"], after["clock"]["now"]
    acc0, acc1 = before["accounting"], after["accounting"]
    delta = {k: acc1[k] - acc0[k] for k in ("busy_secs", "host_work_secs", "busy_or_host_work_secs")}
    kinds = {k: v - acc0["busy_secs_by_kind"].get(k, 0.0) for k, v in acc1["busy_secs_by_kind"].items()}
    acts = [a for a in acc1["activities"] if a["from"] >= t0]
    windows = {
        h["name"]: [w for w in h["maintenance_windows"] if w["disabled_at"] >= t0]
        for h in after["hosts"]
    }
    open_windows = [n for n, ws in windows.items() if any(w["enabled_at"] is None for w in ws)]
    if open_windows:
        die(f"hosts still disabled after the run: {open_windows}")
    spans = {n: (min(w["disabled_at"] for w in ws), max(w["enabled_at"] for w in ws)) for n, ws in windows.items() if ws}
    first_disable = min(s for s, _ in spans.values())
    last_enable = max(e for _, e in spans.values())

    def of_kind(kind):
        return [a for a in acts if a["kind"] == kind]

    batches = []
    for batch in report["batches"]:
        start = min(spans[h][0] for h in batch)
        end = max(spans[h][1] for h in batch)
        inside = lambda a: start <= a["from"] <= end  # noqa: E731
        evac = [a for a in of_kind("migration") if inside(a) and a["detail"].split("→")[0] in batch]
        reboot = [a for a in of_kind("reboot") if inside(a) and a["subject"] in batch]
        resync = [a for a in of_kind("resync") if inside(a) and a["subject"].split("@")[1] in batch]
        batches.append({
            "hosts": batch,
            "evacuation": longest(evac),
            "reboot": longest(reboot),
            "resync": longest(resync),
            "took": end - start,
        })
    back = [a for a in of_kind("migration") if a["from"] >= last_enable]
    failover = [a for a in of_kind("controller_failover") if a["to"] is not None and a["to"] <= first_disable]
    floor_batches = sum(b["evacuation"] + b["reboot"] + b["resync"] for b in batches)
    floor = floor_batches + longest(back) + sum(span(a) for a in failover)
    total = t1 - t0
    work = [a for a in acts if a["kind"] == "host_work"]
    work_by = {}
    for a in work:
        what = a["detail"]
        work_by[what] = work_by.get(what, 0.0) + span(a)
    hosts = after["hosts"]
    return {
        "total": total,
        "floor": floor,
        "floor_parts": {
            "batches": floor_batches,
            "migrate_back": longest(back),
            "linstor_failover": sum(span(a) for a in failover),
        },
        "busy": delta["busy_secs"],
        "busy_by_kind": kinds,
        "host_work": delta["host_work_secs"],
        "union": delta["busy_or_host_work_secs"],
        "overhead": total - delta["busy_or_host_work_secs"],
        "schedule_excess": delta["busy_secs"] - floor,
        "host_work_alone": delta["busy_or_host_work_secs"] - delta["busy_secs"],
        "host_work_calls": work_by,
        "migrations_back": len(back),
        "longest_window": max(e - s for s, e in spans.values()),
        "hosts_phase": last_enable - first_disable,
        "batches": batches,
        "rounds": len(report["batches"]),
        "violations": after["violations"],
        "reboots": sorted({h["reboots"] for h in hosts}),
        "upgraded": all(
            h["packages"].get("kmod-drbd", "").startswith(NEW_KMOD + "-")
            and h["satellite_version"] == NEW_LINSTOR
            and h["enabled"]
            for h in hosts
        ),
        "agent_duration_wall": report.get("duration_secs"),
        "agent_longest_window_wall": report.get("longest_window_secs"),
    }


def one_run(n, batch):
    name = f"{n}-hosts-batch-{batch}"
    work = os.path.join(OUT, name)
    pool = os.path.join(work, "pool")
    if os.path.exists(os.path.join(pool, "pool.json")):
        run([TESTBED, "down", "--dir", pool])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    up = run([TESTBED, "up", "--dir", pool, "--hosts", str(n), "--scenario", SCENARIO,
              "--time-scale", f"{TIME_SCALE:g}"])
    if up.returncode != 0:
        die(f"testbed up --hosts {n} failed: {up.stderr}")
    try:
        info = json.load(open(os.path.join(pool, "pool.json")))
        root = os.path.join(work, "operator")
        os.makedirs(root)
        config = os.path.join(work, "operator.toml")
        with open(config, "w") as f:
            f.write(f'[xapi]\nurl = "{info["xapi_url"]}"\nusername = "{info["username"]}"\n'
                    f'password_file = "{info["password_file"]}"\n\n'
                    f'[controller]\nurls = ["{info["linstor_url"]}"]\n')
        command = [AGENT, "--root", root, "--config", config, "--output", "json", "pool", "upgrade",
                   "--batch", batch, "--poll-ms", str(POLL_MS)]
        before = status(pool)
        started = time.monotonic()
        agent = run(command)
        wall = time.monotonic() - started
        after = status(pool)
        for what, text in (("report.json", agent.stdout), ("progress.log", agent.stderr),
                            ("status-before.json", json.dumps(before, indent=1)),
                            ("status-after.json", json.dumps(after, indent=1))):
            with open(os.path.join(work, what), "w") as f:
                f.write(text)
        if agent.returncode != 0:
            die(f"{name}: pool upgrade exited {agent.returncode}: {agent.stderr[-3000:]}")
        report = json.loads(agent.stdout)
        result = analyse(before, after, report)
        result.update({"hosts": n, "batch": batch, "wall": wall,
                       "command": " ".join(["linstor-agent"] + command[1:])})
        if result["violations"] or result["reboots"] != [1] or not result["upgraded"]:
            die(f"{name}: the pool is not cleanly upgraded: violations {result['violations']}, "
                f"reboots per host {result['reboots']}, upgraded {result['upgraded']}")
        return result
    finally:
        run([TESTBED, "down", "--dir", pool])


def pct(part, whole):
    return 100.0 * part / whole if whole else float("nan")


def markdown(results):
    lines = []
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    lines.append(
        f"Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; {os.cpu_count()} CPUs "
        f"({cpu}); {PROFILE} binaries; time scale {TIME_SCALE:g}, --poll-ms {POLL_MS} "
        f"({POLL_MS * TIME_SCALE / 1000:g} s simulated per poll); load average at the end: {load}.")
    lines.append("")
    lines.append("| hosts | --batch | rounds | total | floor | host work | overhead (own) | overhead % of floor "
                 "| total − floor | longest window | violations | wall |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lines.append(
            f"| {r['hosts']} | {r['batch']} | {r['rounds']} | {r['total']:.1f} | {r['floor']:.1f} "
            f"| {r['host_work']:.1f} | {r['overhead']:.1f} | {pct(r['overhead'], r['floor']):.2f} % "
            f"| {r['total'] - r['floor']:.1f} ({pct(r['total'] - r['floor'], r['floor']):.0f} %) "
            f"| {r['longest_window']:.1f} | {len(r['violations'])} | {r['wall']:.0f} s |")
    lines.append("")
    lines.append("Where the time went (simulated seconds): total = floor + schedule excess (scenario "
                 "activity beyond the floor) + host work alone (no scenario activity meanwhile) + own "
                 "overhead.")
    lines.append("")
    lines.append("| hosts | --batch | floor: batches + back + failover | schedule excess | host work alone "
                 "| own overhead | busy by kind | host work by call (sum per call) |")
    lines.append("|---:|---|---|---:|---:|---:|---|---|")
    for r in results:
        fp = r["floor_parts"]
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["busy_by_kind"].items()))
        calls = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["host_work_calls"].items()))
        lines.append(
            f"| {r['hosts']} | {r['batch']} | {fp['batches']:.1f} + {fp['migrate_back']:.1f} + "
            f"{fp['linstor_failover']:.1f} | {r['schedule_excess']:.1f} | {r['host_work_alone']:.1f} "
            f"| {r['overhead']:.1f} | {kinds} | {calls} |")
    by = {(r["hosts"], r["batch"]): r for r in results}
    lines.append("")
    verdicts = []
    worst = max(results, key=lambda r: pct(r["overhead"], r["floor"]))
    verdicts.append(
        f"- Orchestration overhead under 2 % of the floor: "
        f"{'**met**' if pct(worst['overhead'], worst['floor']) < 2 else '**missed**'} "
        f"(worst: {worst['hosts']} hosts, --batch {worst['batch']}, "
        f"{pct(worst['overhead'], worst['floor']):.2f} %; own overhead as defined above).")
    if (16, "1") in by and (16, "auto") in by:
        one, auto = by[(16, "1")], by[(16, "auto")]
        ratio = auto["total"] / one["total"]
        verdicts.append(
            f"- --batch auto at most half of --batch 1 on 16 hosts: "
            f"{'**met**' if ratio <= 0.5 else '**missed**'} ({auto['total']:.0f} s / {one['total']:.0f} s "
            f"= {ratio:.2f}; floors {auto['floor']:.0f} s / {one['floor']:.0f} s "
            f"= {auto['floor'] / one['floor']:.2f}).")
    lines.extend(verdicts)
    return "\n".join(lines)


def main():
    if PROFILE == "release" and not os.environ.get("BENCH_POOL_NO_BUILD"):
        log("== Building release binaries")
        subprocess.run(["cargo", "build", "--workspace", "--release", "--bins"], cwd=WORKSPACE, check=True)
    for binary in (TESTBED, AGENT):
        if not os.access(binary, os.X_OK):
            die(f"{binary} is missing: build it first")
    os.makedirs(OUT, exist_ok=True)
    results = []
    for n in SIZES:
        for batch in BATCHES:
            log(f"== pool upgrade, {n} hosts, --batch {batch}")
            r = one_run(n, batch)
            log(f"  {r['rounds']} rounds: total {r['total']:.1f} s, floor {r['floor']:.1f} s, host work "
                f"{r['host_work']:.1f} s, own overhead {r['overhead']:.1f} s "
                f"({pct(r['overhead'], r['floor']):.2f} % of the floor), longest window "
                f"{r['longest_window']:.1f} s (simulated); {r['wall']:.0f} s wall")
            results.append(r)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    text = markdown(results)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
