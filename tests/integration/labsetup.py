"""What the integration tier's masters, minions and proxies share: the cluster and their settings.

Imported by tests/integration/conftest.py (minions) and tests/integration/proxy/conftest.py
(salt-proxies over SSH).
"""

import concurrent.futures
import contextlib
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

# vmh1 runs five guests; vmh2 and vmh3 each have 12 of 16 memory free. g1 or g2 (8) fit on
# either, but not both on one; big (16) fits only on the empty vmh4; narrow may only run on
# vmh1/vmh2; pinned has online migration disabled.
CLUSTER = {
    "cluster": "itest",
    "sim": {"time_scale": 0.02, "link_mbps": 1000},
    "nodes": [
        {
            "name": n,
            "capacities": {"memory": c},
            "memory_mb": 65536,
            "vswitches": ["vsw_prod"],
            "devices": ["/dev/slvm_vg01/rlvol1", "/dev/slvm_vg01/rlvol2", "/dev/slvm_vg01/rlvol3"],
            "cpu_family": "itanium2-9300",
        }
        for n, c in (("vmh1", 40), ("vmh2", 16), ("vmh3", 16), ("vmh4", 24))
    ],
    "packages": [
        {
            "name": name,
            "vm_name": name,
            "node_list": nodes,
            "weights": {"memory": w},
            "memory_mb": mb,
            "vcpus": 2,
            "devices": ["/dev/slvm_vg01/rlvol1"],
            "vswitches": ["vsw_prod"],
            "node": node,
        }
        for name, nodes, w, mb, node in (
            ("g1", ["vmh1", "vmh2", "vmh3"], 8, 4096, "vmh1"),
            ("g2", ["vmh1", "vmh3", "vmh2"], 8, 4096, "vmh1"),
            ("big", ["vmh1", "vmh2", "vmh3", "vmh4"], 16, 8192, "vmh1"),
            ("narrow", ["vmh1", "vmh2"], 2, 1024, "vmh1"),
            ("w2", ["vmh2", "vmh3"], 4, 2048, "vmh2"),
            ("w3", ["vmh3", "vmh2"], 4, 2048, "vmh3"),
        )
    ]
    + [
        {
            "name": "pinned",
            "vm_name": "pinned",
            "node_list": ["vmh1", "vmh2", "vmh3", "vmh4"],
            "weights": {"memory": 4},
            "memory_mb": 2048,
            "vcpus": 1,
            "devices": ["/dev/slvm_vg01/rlvol2"],
            "vswitches": ["vsw_prod"],
            "online_migration": "disabled",
            "node": "vmh1",
        },
    ],
}


def cluster_definition(name, nodes, packages):
    """A small simulated cluster: ``nodes`` ``{node: memory capacity}``, ``packages``
    ``[(name, memory weight, node)]``, every package allowed on every node."""
    return {
        "cluster": name,
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
            for node, memory in nodes.items()
        ],
        "packages": [
            {
                "name": package,
                "vm_name": package,
                "node_list": list(nodes),
                "weights": {"memory": weight},
                "memory_mb": 2048,
                "vcpus": 1,
                "devices": ["/dev/slvm_vg01/rlvol1"],
                "vswitches": ["vsw_prod"],
                "node": node,
            }
            for package, weight, node in packages
        ],
    }


def file_roots(base):
    """``sls/`` and a folder holding only ``orch/`` (a link), as /srv/salt would on a real master.

    Not the checkout itself: Salt lists every file of its file_roots for each orchestration
    (cached 20 s), and a checkout holds a virtualenv of tens of thousands of files. Measured: 20
    reactor orchestrations took 29.8 s with the checkout in file_roots, 9.6 s with this.
    """
    srv = pathlib.Path(base) / "srv"
    srv.mkdir(parents=True, exist_ok=True)
    if not (srv / "orch").exists():
        (srv / "orch").symlink_to(ROOT / "orch")
    return {"base": [str(ROOT / "sls"), str(srv)]}


def master_overrides(base, audit_file):
    """The master's config: our runner and utils from the checkout, the reactor, the vpkg runner's keys."""
    return {
        "runner_dirs": [str(ROOT / "_runners")],
        "utils_dirs": [str(ROOT / "_utils")],
        # This checkout's outputter before an installed copy's (salt.loader: *_dirs come first).
        "outputter_dirs": [str(ROOT / "_output")],
        "file_roots": file_roots(base),
        "vpkg": {"timeout": 30, "minions": "vmh*", "audit_file": str(audit_file)},
        "reactor": [{"vpkg/maintenance/*": [str(ROOT / "reactor" / "maintenance.sls")]}],
        # vpkg.placed moves through the master (the vpkg_peer runner). vmh4 is left out on
        # purpose: test_state checks what a host the master does not allow is told.
        "peer_run": {"vmh[1-3]$": [r"vpkg_peer\..*"]},
    }


def minion_dirs():
    """Where a VM host's minion loads our modules from: this checkout, as a file_roots sync would."""
    return {
        "module_dirs": [str(ROOT / "_modules")],
        "states_dirs": [str(ROOT / "_states")],
        "utils_dirs": [str(ROOT / "_utils")],
        "beacons_dirs": [str(ROOT / "_beacons")],
        "grains_dirs": [str(ROOT / "_grains")],
    }


def proxy_dirs():
    """A proxy's: the same, and the vmhost proxy module."""
    return {**minion_dirs(), "proxy_dirs": [str(ROOT / "_proxy")]}


def vmhost_proxy(host):
    """The ``proxy:`` settings of the proxy for one VM host (docs/proxy.md)."""
    return {
        "proxytype": "vmhost",
        "host": host.host,
        "port": host.port,
        "user": host.user,
        "identity_file": str(host.identity_file),
        "known_hosts_file": str(host.known_hosts_file),
        "connect_timeout": 5,
    }


def vmhost_pillar(node, sim):
    """The rest of what an operator writes in the pillar of the proxy for ``node``."""
    return {
        "vpkg.node": node,
        "serviceguard.bin_dir": str(sim.bindir(node)),
        "hpvm.bin_dir": str(sim.bindir(node)),
    }


def write_pillar(base, pillars):
    """A pillar_roots folder: one SLS per proxy id, and a top file mapping each id to its own."""
    root = pathlib.Path(base)
    root.mkdir(parents=True, exist_ok=True)
    top = {"base": {}}
    for minion_id, data in pillars.items():
        (root / f"{minion_id}.sls").write_text(yaml.safe_dump(data))
        top["base"][minion_id] = [minion_id]
    (root / "top.sls").write_text(yaml.safe_dump(top))
    return {"base": [str(root)]}


@contextlib.contextmanager
def all_started(factories):
    """Start the daemons one after another; stop them all at once.

    Stopping one waits up to 5 s for its whole process tree (salt-factories' terminate), and a
    lab of four minions stopped one by one spent 20-70 s of the tier there.
    """
    begun = []
    try:
        for factory in factories:
            begun.append(factory)  # a start that fails half way is still stopped
            factory.start()
        yield {factory.id: factory for factory in factories}
    finally:
        with concurrent.futures.ThreadPoolExecutor(max(len(begun), 1)) as pool:
            list(pool.map(lambda factory: factory.terminate(), begun))
