"""Tiny clusters in the shape of docs/data.md, for the planner's tests (no simulator needed).

The planner is pure: it reads ``serviceguard.cluster()`` data. Building that data by hand keeps the
cases small enough to see why each verdict is right.
"""

import itertools

import vpkg_capacity


def node(name, caps=None, status="up", state="running"):
    return {
        "name": name,
        "status": status,
        "state": state,
        "capacities": {
            c: {"capacity": float(v), "used": 0.0, "available": float(v)} for c, v in (caps or {}).items()
        },
    }


def package(name, where, node_list, weights=None, priority=None, **extra):
    """A running guest package on ``where`` (None: halted); switching on for every listed node."""
    pkg = {
        "name": name,
        "type": "failover",
        "status": "up" if where else "down",
        "state": "running" if where else "halted",
        "node": where,
        "autorun": True,
        "priority": priority,
        "vm_name": name,
        "weights": {k: float(v) for k, v in (weights or {}).items()},
        "node_list": list(node_list),
        "switching": dict.fromkeys(node_list, True),
        "dependencies": [],
    }
    pkg.update(extra)
    return pkg


def cluster(nodes, packages, default_weights=None):
    return {
        "name": "test",
        "status": "up",
        "nodes": {n["name"]: n for n in nodes},
        "default_weights": dict(default_weights or {}),
        "packages": {p["name"]: p for p in packages},
    }


def replay(cluster_, moves):
    """Apply moves one by one to a copy, asserting each passes preflight in the state it meets."""
    import copy

    state = copy.deepcopy(cluster_)
    for move in moves:
        result = vpkg_capacity.preflight(
            state, move["package"], move["target"], source=move["source"], moving_with=move.get("with", ())
        )
        assert result["ok"], (move, [c for c in result["checks"] if not c["ok"]])
        state["packages"][move["package"]]["node"] = move["target"]
    return state


def overbooked(cluster_):
    """Nodes whose counted weights exceed a capacity."""
    load = vpkg_capacity.used(cluster_)
    bad = []
    for name, nd in cluster_["nodes"].items():
        for cap, value in vpkg_capacity.node_capacities(nd).items():
            if load[name][cap] > value + 1e-6:
                bad.append((name, cap))
    return bad


def evacuation_optimum(cluster_, node_name, migratable=None):
    """Exhaustive: fewest guests left on ``node_name`` when only its own guests move (docs/planner.md).

    Every assignment of the node's movable guests to other nodes (or to staying) is tried; an
    assignment counts when every guest's target is in its node list, switched on, up, and the final
    loads fit. Evacuation only adds load to targets, so a final fit is a fit at every prefix.
    Dependencies are left out: the generated clusters have none.
    """
    migratable = migratable or {}
    guests = [
        p
        for p, pkg in cluster_["packages"].items()
        if pkg["node"] == node_name
        and pkg["state"] == "running"
        and pkg.get("vm_name")
        and migratable.get(p) is not False
    ]
    stuck = sum(
        1 for p in cluster_["packages"].values() if p["node"] == node_name and p["state"] == "running"
    ) - len(guests)
    up = [
        n
        for n, nd in cluster_["nodes"].items()
        if n != node_name and nd["status"] == "up" and nd["state"] == "running"
    ]
    caps = {n: vpkg_capacity.node_capacities(cluster_["nodes"][n]) for n in up}
    base = vpkg_capacity.used(cluster_)
    options = []
    for g in guests:
        pkg = cluster_["packages"][g]
        options.append([None] + [n for n in up if n in pkg["node_list"] and pkg["switching"].get(n)])
    best = None
    for choice in itertools.product(*options):
        load = {n: dict(base[n]) for n in up}
        for g, target in zip(guests, choice, strict=True):
            if target is not None:
                for c in load[target]:
                    load[target][c] += vpkg_capacity.weight(cluster_, cluster_["packages"][g], c)
        if all(load[n][c] <= caps[n][c] + 1e-6 for n in up for c in caps[n]):
            left = sum(1 for t in choice if t is None)
            best = left if best is None else min(best, left)
    return best + stuck
