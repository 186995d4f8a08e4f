#!/usr/bin/env python3
"""The parts of `make demo` that read the simulated pool (scripts/demo.sh calls them).

  demo_pool.py configure POOL_DIR HOST [PINS]  write HOST's agent.toml the way an XCP-ng site
      would: [repo], [xapi], [storage] on a host with a disk, no [controller] (XOSTOR finds it)
      and no userland list (the XCP-ng package profile); PINS, the site's release, goes to
      agent.d/10-release.toml.
  demo_pool.py operator POOL_DIR FILE          the operator's agent.toml: the pool master's XAPI.
  demo_pool.py field POOL_DIR EXPR             a value of pool.json (EXPR evaluated with `d`).
  demo_pool.py vm-disk POOL_DIR VM             a 32 MiB VDI on the linstor SR, attached to VM,
      through XAPI's XML-RPC (what the XenAPI SDK speaks; the standard library is enough).
  demo_pool.py report STATUS_JSON              the final report from `testbed status`; exits 1
      unless the pool is healthy (no violation, every PBD plugged, the VM disk in place, the
      controller moved between hosts during the upgrade, every host at one version and rebooted
      once).
"""
import json
import os
import re
import sys
import xmlrpc.client


def load_pool(pool_dir):
    with open(os.path.join(pool_dir, "pool.json")) as f:
        return json.load(f)


def xapi_section(pool):
    return '[xapi]\nurl = "%s"\nusername = "%s"\npassword_file = "%s"\n' % (
        pool["xapi_url"], pool["username"], pool["password_file"])


def configure(pool_dir, host_name, pins=""):
    pool = load_pool(pool_dir)
    host = next((h for h in pool["hosts"] if h["name"] == host_name), None)
    if host is None:
        sys.exit("demo: no host %s in %s/pool.json" % (host_name, pool_dir))
    with open(host["config"]) as f:
        text = f.read()
    repo = re.search(r"\[repo\].*?(?=\n\[|\Z)", text, re.S)
    if repo is None:
        sys.exit("demo: no [repo] section in %s" % host["config"])
    out = repo.group(0).strip() + "\n\n" + xapi_section(pool)
    if host.get("disk"):
        out += '\n[storage]\ndevices = ["%s"]\n' % host["disk"]
    with open(host["config"], "w") as f:
        f.write(out)
    if pins:
        fragments = os.path.join(os.path.dirname(host["config"]), "agent.d")
        os.makedirs(fragments, exist_ok=True)
        with open(os.path.join(fragments, "10-release.toml"), "w") as f:
            f.write("[packages]\npin = { %s }\n" % pins)


def operator(pool_dir, path):
    with open(path, "w") as f:
        f.write(xapi_section(load_pool(pool_dir)))


def xapi_value(answer):
    if answer["Status"] != "Success":
        sys.exit("demo: XAPI: %s" % answer["ErrorDescription"])
    return answer["Value"]


def vm_disk(pool_dir, vm_name):
    pool = load_pool(pool_dir)
    x = xmlrpc.client.ServerProxy(pool["xapi_url"], allow_none=True)
    s = xapi_value(x.session.login_with_password(pool["username"], pool["password"], "1.0", "demo"))
    srs = xapi_value(x.SR.get_all_records(s))
    sr = next((ref for ref, r in srs.items() if r["type"] == "linstor"), None)
    if sr is None:
        sys.exit("demo: the pool has no linstor SR")
    vdi = xapi_value(x.VDI.create(s, {
        "SR": sr, "virtual_size": str(32 * 1024**2), "type": "user",
        "name_label": vm_name + "-disk", "name_description": "", "sharable": False,
        "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []}))
    vm = xapi_value(x.VM.get_by_name_label(s, vm_name))[0]
    xapi_value(x.VBD.create(s, {
        "VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW", "type": "Disk",
        "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}}))
    rec = xapi_value(x.VDI.get_record(s, vdi))
    print("VDI %s (%d MiB) on SR %s, attached to %s" % (
        rec["uuid"], int(rec["virtual_size"]) // 1024**2, srs[sr]["name_label"], vm_name))


def report(status_path):
    with open(status_path) as f:
        d = json.load(f)
    problems = []
    versions = set()
    for h in d["hosts"]:
        p = h["packages"]
        versions.add((p.get("kmod-drbd"), p.get("linstor-satellite"), p.get("xcp-ng-linstor")))
        print("%s: kmod-drbd %s, linstor-satellite %s, xcp-ng-linstor %s, satellite running %s, reboots %d"
              % (h["name"], p.get("kmod-drbd"), p.get("linstor-satellite"), p.get("xcp-ng-linstor"),
                 h["satellite_version"], h["reboots"]))
        if h["reboots"] != 1:
            problems.append("%s rebooted %d times, expected once" % (h["name"], h["reboots"]))
    if len(versions) != 1:
        problems.append("the hosts disagree on versions: %s" % sorted(map(str, versions)))
    srs = [s for s in d["srs"] if s["type"] == "linstor"]
    for s in srs:
        print("SR %s (%s), shared %s" % (s["name_label"], s["type"], s["shared"]))
    if len(srs) != 1:
        problems.append("%d linstor SRs, expected 1" % len(srs))
    for p in d["pbds"]:
        print("PBD on %s: plugged %s" % (p["host"], p["currently_attached"]))
        if not p["currently_attached"]:
            problems.append("the PBD on %s is not plugged" % p["host"])
    if len(d["pbds"]) != len(d["hosts"]):
        problems.append("%d PBDs for %d hosts" % (len(d["pbds"]), len(d["hosts"])))
    disks = [v for v in d["vdis"] if v["name_label"].endswith("-disk")]
    for v in disks:
        print("VDI %s on %s" % (v["name_label"], v["sr"]))
    if not disks:
        problems.append("no VM disk on the SR")
    controller = d["controller"]
    print("controller %s, ran on %s" % (controller["version"], ", ".join(controller["hosts_seen"])))
    if len(controller["hosts_seen"]) < 2:
        problems.append("the controller never moved between hosts")
    print("nodes:", ", ".join(n["name"] + " " + n["connection_status"] for n in d["nodes"]))
    print("violations (quorum lost, VM down, too many hosts down, PBD unplugged):", len(d["violations"]))
    for v in d["violations"]:
        problems.append("violation: %s" % json.dumps(v))
    for p in problems:
        print("demo: " + p, file=sys.stderr)
    sys.exit(1 if problems else 0)


def field(pool_dir, expr):
    print(eval(expr, {}, {"d": load_pool(pool_dir)}))


COMMANDS = {"configure": configure, "operator": operator, "vm-disk": vm_disk, "report": report,
            "field": field}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: demo_pool.py {%s} ARGS…" % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
