"""Large cluster descriptions for benchmarks: ``sgsim generate --nodes 16 --packages 300``.

Deterministic for a seed. Capacities are sized so about 70 % is used; each package gets a node
list of up to four nodes (the first is where it runs when it fits) and random weights. The file
is written with the C YAML emitter when available (64 nodes x 5000 packages in about a second).
"""

import random

CAPACITY_NAMES = ("memory", "cpu", "io", "license")


def build(nodes, packages, capacities=2, seed=1, time_scale=0.001):
    """Return the cluster description as a dict."""
    rng = random.Random(seed)
    caps = CAPACITY_NAMES[:capacities]
    node_names = [f"node{i + 1:02d}" for i in range(nodes)]
    per_node = max(1, -(-packages // nodes))
    # average weight 3 per capacity -> capacity for ~70 % use
    cap_value = {c: round(per_node * 3 / 0.7) for c in caps}
    guest_mem = [1024, 2048, 4096, 8192]
    node_mem = max(65536, per_node * 8192)
    doc = {
        "cluster": f"gen{nodes}x{packages}",
        "sim": {"time_scale": time_scale, "link_mbps": 1000},
        "nodes": [
            {
                "name": n,
                "capacities": dict(cap_value),
                "memory_mb": node_mem,
                "vswitches": ["vsw_prod", "vsw_mig"],
                "devices": [f"/dev/slvm_vg{i:04d}/rlvol1" for i in range(packages)]
                if packages <= 300
                else [],
                "cpu_family": "itanium2-9300",
            }
            for n in node_names
        ],
        "packages": [],
    }
    left = {n: dict(cap_value) for n in node_names}
    mem_left = dict.fromkeys(node_names, node_mem)
    for i in range(packages):
        name = f"vpkg{i + 1:04d}"
        start = rng.randrange(nodes)
        node_list = [node_names[(start + k) % nodes] for k in range(min(4, nodes))]
        weights = {c: rng.randint(1, 5) for c in caps}
        memory = rng.choice(guest_mem)
        running = None
        for n in node_list:
            if all(weights[c] <= left[n][c] for c in caps) and memory <= mem_left[n]:
                running = n
                break
        if running:
            for c in caps:
                left[running][c] -= weights[c]
            mem_left[running] -= memory
        pkg = {
            "name": name,
            "vm_name": name,
            "node_list": node_list,
            "weights": weights,
            "priority": 20 * (i + 1) if 20 * (i + 1) <= 3000 else "no_priority",
            "memory_mb": memory,
            "vcpus": rng.choice([1, 2, 4]),
            "devices": [f"/dev/slvm_vg{i:04d}/rlvol1"] if packages <= 300 else [],
            "vswitches": ["vsw_prod"],
            "node": running,
        }
        doc["packages"].append(pkg)
    return doc


def write(path, nodes, packages, capacities=2, seed=1, time_scale=0.001):
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(build(nodes, packages, capacities, seed, time_scale), f, Dumper=dumper, sort_keys=False)
