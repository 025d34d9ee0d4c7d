"""Eight workers issue random commands for 10 seconds; the cluster stays consistent throughout."""

import random
import threading
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


def random_command(rng, st, nodes):
    pkgs = list(st["packages"])
    pkg = rng.choice(pkgs)
    node = rng.choice(nodes)
    roll = rng.random()
    if roll < 0.25:
        where = st["packages"][pkg]["node"] or node
        return where, ["cmmovevpkg", "-v", "-P", pkg, "-h", rng.choice(nodes)]
    if roll < 0.40:
        return node, ["cmrunpkg", "-n", rng.choice(nodes), pkg]
    if roll < 0.48:
        return node, ["cmhaltpkg", pkg]
    if roll < 0.53:
        return node, ["cmhaltpkg", "-d", pkg]
    if roll < 0.65:
        return node, ["cmmodpkg", rng.choice(["-e", "-d"]), pkg]
    if roll < 0.72:
        return node, ["cmmodpkg", rng.choice(["-e", "-d"]), "-n", rng.choice(nodes), pkg]
    if roll < 0.80:
        return node, ["cmviewcl", "-v", "-f", "line"]
    if roll < 0.87:
        return node, ["hpvmstatus", "-M"]
    if roll < 0.92:
        guest = st["packages"][pkg]["vm_name"]
        return node, ["hpvmmigrate", "-s", "-P", guest, "-h", rng.choice(nodes)]
    if roll < 0.96:
        return None, ["node", "down" if rng.random() < 0.5 else "up", node]
    return node, ["cmviewcl"]


def test_concurrent_random_commands(cluster):
    nodes = list(cluster.nodes)
    stop = time.monotonic() + DURATION
    errors, counts = [], {"runs": 0, "ok": 0, "moves": 0}
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        while time.monotonic() < stop:
            node, argv = random_command(rng, cluster.state(), nodes)
            proc = cluster.sgsim(*argv) if node is None else cluster.run(node, argv, timeout=60)
            with lock:
                counts["runs"] += 1
                counts["ok"] += proc.returncode == 0
                counts["moves"] += proc.returncode == 0 and argv[0] == "cmmovevpkg"
                if (
                    proc.returncode not in (0, 1)
                    or "Traceback" in proc.stderr
                    or "internal error" in proc.stderr
                ):
                    errors.append((argv, proc.returncode, proc.stderr))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(WORKERS)]
    for t in threads:
        t.start()
    samples = 0
    while any(t.is_alive() for t in threads):
        problems = check_invariants(cluster.state())
        assert problems == [], problems
        samples += 1
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert errors == []
    final = cluster.state()
    assert check_invariants(final) == []
    assert final["migrations"] == {}
    print(counts)
    assert counts["runs"] > 100 and counts["ok"] > 20 and counts["moves"] > 0, counts
    assert samples > 10
