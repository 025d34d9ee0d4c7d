"""Serviceguard's promise, checked from the simulated hosts' own command output.

Every package runs on at most one node, its guest is On on at most one VM host (the package's
node, when the package runs), and no node's capacity is exceeded.
"""

import time

import vpkg_sgparse
import vpkg_vmparse


def observe(sim):
    """The cluster as cmviewcl shows it, and where each guest is On (from each host's hpvmstatus)."""
    first_up = next(n for n in sim.nodes if _node_up(sim, n))
    out = sim.run(first_up, ["cmviewcl", "-v", "-f", "line"])
    assert out.returncode == 0, out.stderr
    cluster = vpkg_sgparse.parse_cluster(out.stdout)
    on = {}
    for node, info in cluster["nodes"].items():
        if info["status"] != "up":
            continue
        status = sim.run(node, ["hpvmstatus", "-M"])
        assert status.returncode == 0, status.stderr
        for guest, g in vpkg_vmparse.parse_status_machine(status.stdout).items():
            if g["state"] == "On":
                on.setdefault(guest, []).append(node)
    return cluster, on


def _node_up(sim, node):
    return sim.state()["nodes"][node].get("status", "up") == "up"


def check(sim, settled=True):
    """Assert the invariants; return (cluster, guest -> nodes where On) for further checks.

    ``settled=False`` while an operation may be running: between a move's migration and its
    adopt step the package still shows on the source while its guest runs on the target.
    """
    cluster, on = observe(sim)
    for _ in range(5):
        # hpvmstatus is read host by host: a migration committing between two reads looks like a
        # guest On on both. A real second copy persists; a torn read does not.
        if all(len(nodes) == 1 for nodes in on.values()):
            break
        time.sleep(0.3)
        cluster, on = observe(sim)
    for guest, nodes in on.items():
        assert len(nodes) == 1, f"guest {guest} is On on {nodes}"
    for name, pkg in cluster["packages"].items():
        guest = pkg["vm_name"]
        if settled and pkg["node"] and guest:
            assert on.get(guest) == [pkg["node"]], (
                f"package {name} on {pkg['node']}, guest On on {on.get(guest)}"
            )
    for name, node in cluster["nodes"].items():
        for cap, c in node["capacities"].items():
            assert c["used"] <= c["capacity"] + 1e-9, f"node {name} capacity {cap} exceeded: {c}"
    return cluster, on


def package(sim, name):
    cluster, _ = check(sim)
    return cluster["packages"][name]
