"""The site under test: cluster ``east``, its VM hosts' minion ids, the syndic's id and address."""

CLUSTER = "east"
SYNDIC = "vpkg-syndic"
LOWER_IP = "127.0.0.2"  # the lower master's address (the master of masters is on 127.0.0.1)
# node -> memory capacity; packages (name, memory weight, node)
NODES = {"xyzo1": 16, "xyzo2": 16, "xyzo3": 16}
PACKAGES = [("e1", 4, "xyzo1"), ("e2", 4, "xyzo1"), ("e3", 4, "xyzo2")]


def minion_id(node):
    return f"{CLUSTER}-{node}"


def definition():
    return {
        "cluster": CLUSTER,
        "sim": {"time_scale": 0.02, "link_mbps": 1000},
        "nodes": [
            {
                "name": node,
                "capacities": {"memory": memory},
                "memory_mb": 65536,
                "vswitches": ["vsw_prod"],
                "devices": ["/dev/slvm_vg01/rlvol1"],
                "cpu_family": "itanium2-9300",
            }
            for node, memory in NODES.items()
        ],
        "packages": [
            {
                "name": package,
                "vm_name": package,
                "node_list": list(NODES),
                "weights": {"memory": weight},
                "memory_mb": 2048,
                "vcpus": 1,
                "devices": ["/dev/slvm_vg01/rlvol1"],
                "vswitches": ["vsw_prod"],
                "node": node,
            }
            for package, weight, node in PACKAGES
        ],
    }
