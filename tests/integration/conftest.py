"""A real salt-master and one salt-minion per simulated VM host (pytest-salt-factories).

The daemons start once per test package; every test gets the cluster re-initialised from its
YAML, so tests do not see each other's moves. Each minion's ``serviceguard.bin_dir`` and
``hpvm.bin_dir`` point at its own simulated host's command folder; modules, states, runners and
utils load from this checkout (``*_dirs``), the way a master's file_roots sync would place them.
"""

import contextlib
import pathlib
import shutil

import pytest
import yaml

from sgsim.testing import SimCluster

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


@pytest.fixture(scope="package")
def cluster_yaml(tmp_path_factory):
    path = tmp_path_factory.mktemp("itest") / "itest.yaml"
    path.write_text(yaml.safe_dump(CLUSTER))
    return path


@pytest.fixture(scope="package")
def sim(tmp_path_factory, cluster_yaml):
    return SimCluster.create(tmp_path_factory.mktemp("sim"), str(cluster_yaml))


@pytest.fixture(scope="package")
def audit_file(tmp_path_factory):
    return tmp_path_factory.mktemp("audit") / "vpkg-audit.jsonl"


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


@pytest.fixture(scope="package")
def salt_master(salt_factories, sim, audit_file, tmp_path_factory):
    overrides = {
        "runner_dirs": [str(ROOT / "_runners")],
        "utils_dirs": [str(ROOT / "_utils")],
        # This checkout's outputter before an installed copy's (salt.loader: *_dirs come first).
        "outputter_dirs": [str(ROOT / "_output")],
        "file_roots": file_roots(tmp_path_factory.mktemp("file_roots")),
        "vpkg": {"timeout": 30, "minions": "vmh*", "audit_file": str(audit_file)},
        "reactor": [{"vpkg/maintenance/*": [str(ROOT / "reactor" / "maintenance.sls")]}],
    }
    factory = salt_factories.salt_master_daemon("vpkg-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_minions(salt_master, sim):
    factories = [
        salt_master.salt_minion_daemon(
            node,
            overrides={
                "module_dirs": [str(ROOT / "_modules")],
                "states_dirs": [str(ROOT / "_states")],
                "utils_dirs": [str(ROOT / "_utils")],
                "beacons_dirs": [str(ROOT / "_beacons")],
                "serviceguard.bin_dir": str(sim.bindir(node)),
                "hpvm.bin_dir": str(sim.bindir(node)),
                "vpkg.node": node,
            },
        )
        for node in sim.nodes
    ]
    with contextlib.ExitStack() as stack:
        for factory in factories:
            stack.enter_context(factory.started())
        yield {factory.id: factory for factory in factories}


@pytest.fixture
def cluster(sim, cluster_yaml, salt_minions, salt_master):
    """The simulated cluster, fresh for this test, with every daemon up and no master records."""
    shutil.rmtree(pathlib.Path(salt_master.config["cachedir"]) / "vpkg", ignore_errors=True)
    ret = sim.sgsim("init", str(cluster_yaml), "--home", str(sim.home))
    assert ret.returncode == 0, ret.stderr
    return sim


@pytest.fixture
def salt_run(salt_master):
    return salt_master.salt_run_cli(timeout=240)


@pytest.fixture
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=240)
