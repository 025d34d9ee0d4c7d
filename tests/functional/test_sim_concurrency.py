"""Eight processes issue random commands for 10 seconds; the cluster stays consistent throughout."""

import json
import subprocess
import sys
import time

import pytest

import sgsim
from sgsim import config, model
from sgsim.testing import SimCluster

DURATION = 10.0
WORKERS = 8


@pytest.fixture
def cluster(tmp_path):
    doc = config.load_yaml(str(sgsim.example_path("demo")))
    doc["sim"]["time_scale"] = 0.0005
    return SimCluster.create(tmp_path, doc)


def check_invariants(st):
    """Every package on at most one node, every guest on at most one host, no capacity exceeded."""
    problems = []
    usage = model.capacity_usage(st)
    for name, pkg in st["packages"].items():
        guest = st["guests"][pkg["vm_name"]]
        if pkg["state"] == "running":
            if guest["runs_on"] != pkg["node"]:
                problems.append(f"{name} runs on {pkg['node']} but its guest on {guest['runs_on']}")
            if pkg["node"] not in pkg["node_list"] or st["nodes"][pkg["node"]]["status"] != "up":
                problems.append(f"{name} runs on ineligible node {pkg['node']}")
        elif pkg["state"] == "detached":
            if not guest["runs_on"]:
                problems.append(f"detached {name} has no running guest")
        elif guest["runs_on"]:
            problems.append(f"halted {name} has its guest running on {guest['runs_on']}")
    for guest in st["guests"].values():
        if guest["runs_on"] and guest["runs_on"] in guest["not_runnable"]:
            problems.append(f"guest {guest['name']} runs on a host where it is not runnable")
        if guest["runs_on"] and st["nodes"][guest["runs_on"]]["status"] != "up":
            problems.append(f"guest {guest['name']} runs on a down host")
    for node, data in st["nodes"].items():
        for cap, value in data["capacities"].items():
            if usage[node][cap] > value + 1e-9:
                problems.append(f"{node} capacity {cap} exceeded: {usage[node][cap]} > {value}")
        if model.free_memory(st, node) < 0:
            problems.append(f"{node} memory overcommitted")
    owners = {}
    for rec in st["migrations"].values():
        for host in (rec["source"], rec["target"]):
            if host in owners:
                problems.append(f"host {host} in two migrations")
            owners[host] = rec["guest"]
    return problems


# Each worker is its own process: it learns where packages run from cmviewcl (like a real client)
# and issues random commands through the host command folders for DURATION seconds.
WORKER = r"""
import json, random, subprocess, sys, time
base, sgsim, seed, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
nodes = sys.argv[5:]
rng = random.Random(seed)
counts = {"runs": 0, "ok": 0, "moves": 0}
errors = []

def run(node, argv):
    cmd = [sgsim, *argv] if node is None else [f"{base}/hosts/{node}/{argv[0]}", *argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    counts["runs"] += 1
    counts["ok"] += proc.returncode == 0
    if proc.returncode not in (0, 1) or "Traceback" in proc.stderr or "internal error" in proc.stderr:
        errors.append([argv, proc.returncode, proc.stderr])
    return proc

stop = time.monotonic() + duration
while time.monotonic() < stop:
    node = rng.choice(nodes)
    view = run(node, ["cmviewcl", "-v", "-f", "line", "-l", "package"]).stdout.splitlines()
    owners, guests = {}, {}
    for line in view:
        key, _, value = line.partition("=")
        parts = key.split("|")
        if len(parts) == 2 and parts[1] == "owner":
            owners[parts[0].split(":", 1)[1]] = value
        if len(parts) == 2 and parts[1] == "vm_name":
            guests[parts[0].split(":", 1)[1]] = value
    pkg = rng.choice(sorted(guests))
    other = rng.choice(nodes)
    roll = rng.random()
    if roll < 0.30:
        proc = run(owners.get(pkg, node), ["cmmovevpkg", "-v", "-P", pkg, "-h", other])
        counts["moves"] += proc.returncode == 0
    elif roll < 0.45:
        run(node, ["cmrunpkg", "-n", other, pkg])
    elif roll < 0.53:
        run(node, ["cmhaltpkg", pkg])
    elif roll < 0.58:
        run(node, ["cmhaltpkg", "-d", pkg])
    elif roll < 0.70:
        run(node, ["cmmodpkg", rng.choice(["-e", "-d"]), pkg])
    elif roll < 0.77:
        run(node, ["cmmodpkg", rng.choice(["-e", "-d"]), "-n", other, pkg])
    elif roll < 0.85:
        run(node, ["hpvmstatus", "-M"])
    elif roll < 0.92:
        run(node, ["hpvmmigrate", "-s", "-P", guests[pkg], "-h", other])
    elif roll < 0.96:
        run(None, ["node", "down" if rng.random() < 0.5 else "up", other])
    else:
        run(node, ["cmviewcl"])
print(json.dumps({"counts": counts, "errors": errors}))
"""


def test_concurrent_random_commands(cluster):
    nodes = list(cluster.nodes)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(cluster.base), str(cluster.base / "bin" / "sgsim"), str(seed),
             str(DURATION), *nodes],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(WORKERS)
    ]  # fmt: skip
    samples = 0
    while any(w.poll() is None for w in workers):
        problems = check_invariants(cluster.state())
        assert problems == [], problems
        samples += 1
        time.sleep(0.2)
    totals = {"runs": 0, "ok": 0, "moves": 0}
    for w in workers:
        out, err = w.communicate()
        assert w.returncode == 0, err
        report = json.loads(out)
        assert report["errors"] == []
        for key in totals:
            totals[key] += report["counts"][key]
    final = cluster.state()
    assert check_invariants(final) == []
    assert final["migrations"] == {}
    print(totals)
    assert totals["runs"] > 100 and totals["ok"] > 20 and totals["moves"] > 0, totals
    assert samples > 10
