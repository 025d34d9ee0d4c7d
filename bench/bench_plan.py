"""Planner benchmark: plan times on big synthetic clusters, and plan quality against the optimum.

    .venv/bin/python bench/bench_plan.py [--runs 7] [--instances 200]

Clusters are built directly in the shape of docs/data.md (no simulator needed): every node has
the same four capacities, guests have random weights, node lists of 4 to 8 nodes, a few
priorities, and fill about 65 % of the cluster. Goals (issue 5): 16 nodes x 300 packages x 4
capacities at most 20 ms, 64 nodes x 5,000 packages at most 1 s, per plan.

Quality: on small random instances (2-4 nodes, up to 7 guests) the evacuation plan is compared
with two exhaustive optima: the one the planner claims (only the evacuated node's guests move),
and a relaxation where any guest of the cluster may also move to make room (its final placement
fits; reaching it may not even be possible online). Ratios are planner / optimum.
"""

import argparse
import copy
import itertools
import pathlib
import random
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_utils"))

import vpkg_capacity  # noqa: E402
import vpkg_plan  # noqa: E402
import vpkg_schedule  # noqa: E402

CAPS = ("memory", "cpu", "io", "package_limit")


def waves(moves):
    """The plan's moves as waves that may run together (``vpkg_schedule.next_runnable`` repeated).

    As if every migration lasted the same: the number of waves is the makespan in migrations.
    """
    pending, out = list(moves), []
    while pending:
        wave = vpkg_schedule.next_runnable(pending)
        started = {id(m) for m in wave}
        pending = [m for m in pending if id(m) not in started]
        out.append(wave)
    return out


def lower_bound(moves):
    """What no schedule can beat: the busiest host's number of migrations."""
    count = {}
    for move in moves:
        for node in (move["source"], move["target"]):
            count[node] = count.get(node, 0) + 1
    return max(count.values(), default=0)


def synth(n_nodes, n_packages, seed=1, fill=0.65):
    """A running cluster: packages placed first-fit on their node list, so no node is overbooked."""
    rng = random.Random(seed)
    names = [f"vmhost{i:02d}" for i in range(n_nodes)]
    per_node = n_packages / n_nodes
    # Capacities sized so that the average guest load is `fill` of each node.
    caps = {"memory": per_node * 8 / fill, "cpu": per_node * 2 / fill, "io": per_node * 5 / fill}
    caps["package_limit"] = int(per_node / fill) + 1
    nodes = {
        n: {
            "name": n,
            "status": "up",
            "state": "running",
            "capacities": {
                c: {"capacity": float(v), "used": 0.0, "available": float(v)} for c, v in caps.items()
            },
        }
        for n in names
    }
    load = {n: dict.fromkeys(CAPS, 0.0) for n in names}
    packages = {}
    for i in range(n_packages):
        w = {"memory": rng.choice([2, 4, 8, 8, 16]), "cpu": rng.choice([1, 2, 2, 4]), "io": rng.uniform(1, 9)}
        w["package_limit"] = 1.0
        home = i % n_nodes
        node_list = [names[(home + k * rng.randint(1, 3)) % n_nodes] for k in range(rng.randint(4, 8))]
        node_list = list(dict.fromkeys(node_list))
        where = next((n for n in node_list if all(load[n][c] + w[c] <= caps[c] for c in CAPS)), None)
        if where:
            for c in CAPS:
                load[where][c] += w[c]
        name = f"pkg{i:04d}"
        packages[name] = {
            "name": name,
            "type": "failover",
            "status": "up" if where else "down",
            "state": "running" if where else "halted",
            "node": where,
            "autorun": True,
            "priority": 10 * i if rng.random() < 0.05 else None,
            "vm_name": name,
            "weights": w,
            "node_list": node_list,
            "switching": dict.fromkeys(node_list, True),
            "dependencies": [],
        }
    return {"name": "bench", "status": "up", "nodes": nodes, "default_weights": {}, "packages": packages}


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def applied(cluster, moves):
    out = copy.deepcopy(cluster)
    for m in moves:
        out["packages"][m["package"]]["node"] = m["target"]
    return out


def speed(runs):
    print(f"Plan times (median of {runs} runs)")
    for n_nodes, n_packages, goal_s in ((16, 300, 0.020), (64, 5000, 1.0)):
        cluster = synth(n_nodes, n_packages)
        first = next(iter(cluster["nodes"]))
        t_evac, evac = timed(lambda c=cluster, f=first: vpkg_plan.plan(c, {"evacuate": f}), runs)
        # Rebalance the cluster the evacuation leaves: one node empty, the others fuller.
        emptied = applied(cluster, evac["moves"])
        rows = [("evacuate", t_evac, evac)]
        for strategy in ("balanced", "minimal"):
            t, res = timed(lambda c=emptied, s=strategy: vpkg_plan.plan(c, {"rebalance": s}), runs)
            rows.append((f"rebalance {strategy}", t, res))
        # The single-move decisions the runner makes for `vpkg.move` without a target.
        pkg = next(p for p, v in cluster["packages"].items() if v["node"])
        t_choose, (target, _) = timed(lambda c=cluster, p=pkg: vpkg_plan.choose_target(c, p), runs)
        t_pre, _ = timed(lambda c=cluster, p=pkg, t=target: vpkg_plan.preflight(c, p, t), runs)
        print(
            f"  {n_nodes:>2} nodes x {n_packages:>4} packages  choose_target {t_choose * 1000:.2f} ms,"
            f" preflight {t_pre * 1000:.2f} ms"
        )
        # A cluster too full to take every guest: the exact search behind the greedy pass runs.
        tight = synth(n_nodes, n_packages, fill=0.85)
        t, res = timed(lambda c=tight, f=first: vpkg_plan.plan(c, {"evacuate": f}), runs)
        rows.append(("evacuate (85% full)", t, res))
        for label, t, res in rows:
            n_waves = len(waves(res["moves"]))
            bound = lower_bound(res["moves"])
            verdict = "ok" if t <= goal_s else "OVER GOAL"
            print(
                f"  {n_nodes:>2} nodes x {n_packages:>4} packages  {label:<19} {t * 1000:8.2f} ms"
                f"  (goal {goal_s * 1000:.0f} ms, {verdict})  moves={len(res['moves'])}"
                f" unplaced={len(res['unplaced'])} waves={n_waves} (bound {bound})"
                f" search={res.get('search', '-')}"
            )


def small(rng):
    names = [f"n{i}" for i in range(rng.randint(2, 4))]
    caps = rng.choice([["memory"], ["memory", "cpu"]])
    nodes = {
        n: {
            "name": n,
            "status": "up",
            "state": "running",
            "capacities": {c: {"capacity": float(rng.randint(4, 12))} for c in caps},
        }
        for n in names
    }
    load = {n: dict.fromkeys(caps, 0) for n in names}
    packages = {}
    for i in range(rng.randint(1, 7)):
        node_list = rng.sample(names, rng.randint(1, len(names)))
        w = {c: rng.randint(1, 6) for c in caps}
        where = "n0" if "n0" in node_list and rng.random() < 0.7 else rng.choice(node_list)
        if not all(load[where][c] + w[c] <= nodes[where]["capacities"][c]["capacity"] for c in caps):
            where = None
        for c in caps:
            load[where or names[0]][c] += w[c] if where else 0
        packages[f"g{i}"] = {
            "name": f"g{i}",
            "state": "running" if where else "halted",
            "node": where,
            "priority": None,
            "vm_name": f"g{i}",
            "weights": w,
            "node_list": node_list,
            "switching": dict.fromkeys(node_list, True),
            "dependencies": [],
        }
    return {"nodes": nodes, "packages": packages, "default_weights": {}}


def optimum(cluster, node, anyone_moves):
    """Exhaustive (guests left on ``node``, moves) over final placements that fit, within node lists."""
    names = [
        p for p, pkg in cluster["packages"].items() if pkg["node"] and (anyone_moves or pkg["node"] == node)
    ]
    fixed = [p for p, pkg in cluster["packages"].items() if pkg["node"] and p not in names]
    options = [[n for n in cluster["packages"][p]["node_list"] if n in cluster["nodes"]] for p in names]
    caps = {n: vpkg_capacity.node_capacities(nd) for n, nd in cluster["nodes"].items()}
    best = None
    for choice in itertools.product(*options):
        load = {n: dict.fromkeys(caps[n], 0.0) for n in caps}
        for p, n in itertools.chain(
            zip(names, choice, strict=True), ((p, cluster["packages"][p]["node"]) for p in fixed)
        ):
            for c in load[n]:
                load[n][c] += vpkg_capacity.weight(cluster, cluster["packages"][p], c)
        if any(load[n][c] > caps[n][c] + 1e-6 for n in caps for c in caps[n]):
            continue
        left = sum(1 for n in choice if n == node)
        moves = sum(1 for p, n in zip(names, choice, strict=True) if n != cluster["packages"][p]["node"])
        best = (left, moves) if best is None else min(best, (left, moves))
    return best


def quality(instances):
    print(f"\nEvacuation quality on {instances} small random instances (2-4 nodes, <= 7 guests)")
    rng = random.Random(7)
    totals = {"planner": [0, 0], "restricted": [0, 0], "relaxed": [0, 0]}
    worse = 0
    for _ in range(instances):
        cluster = small(rng)
        res = vpkg_plan.plan(cluster, {"evacuate": "n0"})
        mine = (len(res["unplaced"]), len(res["moves"]))
        restricted, relaxed = optimum(cluster, "n0", False), optimum(cluster, "n0", True)
        for key, value in (("planner", mine), ("restricted", restricted), ("relaxed", relaxed)):
            totals[key][0] += value[0]
            totals[key][1] += value[1]
        worse += mine[0] > restricted[0]
    for key in ("restricted", "relaxed"):
        u, m = totals["planner"], totals[key]
        ratio_u = u[0] / m[0] if m[0] else float("nan") if u[0] else 1.0
        print(
            f"  vs {key:<10} optimum: guests left {u[0]} / {m[0]} = {ratio_u:.3f};"
            f" moves {u[1]} / {m[1]} = {u[1] / m[1] if m[1] else 1.0:.3f}"
        )
    print(f"  instances where the planner left more guests than the restricted optimum: {worse}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--instances", type=int, default=200)
    args = parser.parse_args()
    speed(args.runs)
    quality(args.instances)


if __name__ == "__main__":
    main()
