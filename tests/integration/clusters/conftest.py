"""Two Serviceguard clusters under one salt-master: ``prod`` and ``dr``, one salt-minion per VM host.

Both clusters have a node named vmh1 (node names are unique only within a cluster): prod's is
minion p-vmh1, dr's is minion d-vmh1 (``vpkg.node: vmh1``); no minion id is a node name. Each
minion's grains say its cluster and node; the master tells the clusters apart by them (it has no
``vpkg:node_map``). This folder overrides the minion tier's
``salt_master`` and ``salt_minions``; its tests use ``sims`` and ``clusters`` instead of
``sim`` and ``cluster``.
"""

import pathlib
import shutil

import pytest
import yaml

from sgsim.testing import SimCluster

from ..labsetup import all_started, cluster_definition, master_overrides, minion_dirs

# cluster -> (node, minion id, memory capacity), and its packages (name, memory weight, node).
LAYOUT = {
    "prod": (
        [("vmh1", "p-vmh1", 16), ("vmh2", "p-vmh2", 16), ("vmh3", "p-vmh3", 16)],
        [("a1", 4, "vmh1"), ("a2", 4, "vmh1"), ("a3", 4, "vmh2")],
    ),
    "dr": (
        [("vmh1", "d-vmh1", 16), ("dr2", "d-dr2", 16), ("dr3", "d-dr3", 16)],
        [("b1", 4, "vmh1"), ("b2", 4, "dr2"), ("b3", 4, "dr2")],
    ),
}


def definition(name):
    nodes, packages = LAYOUT[name]
    return cluster_definition(name, {node: memory for node, _, memory in nodes}, packages)


@pytest.fixture(scope="package")
def cluster_yamls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clusters")
    paths = {}
    for name in LAYOUT:
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(definition(name)))
    return paths


@pytest.fixture(scope="package")
def sims(tmp_path_factory, cluster_yamls):
    return {
        name: SimCluster.create(tmp_path_factory.mktemp(f"sim-{name}"), str(path))
        for name, path in cluster_yamls.items()
    }


@pytest.fixture(scope="package")
def salt_master(salt_factories, sims, audit_file, tmp_path_factory):  # noqa: ARG001 - the sims first
    overrides = master_overrides(tmp_path_factory.mktemp("cfile_roots"), audit_file)
    overrides["vpkg"] = dict(overrides["vpkg"], minions="*")
    overrides["peer_run"] = {".*": [r"vpkg_peer\..*"]}
    factory = salt_factories.salt_master_daemon("vpkg-sites-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_minions(salt_master, sims):
    factories = []
    for name, (nodes, _) in LAYOUT.items():
        sim = sims[name]
        for node, minion, _ in nodes:
            overrides = {
                **minion_dirs(),
                "serviceguard.bin_dir": str(sim.bindir(node)),
                "hpvm.bin_dir": str(sim.bindir(node)),
                "vpkg.node": node,
            }
            factories.append(salt_master.salt_minion_daemon(minion, overrides=overrides))
    with all_started(factories) as started:
        yield started


@pytest.fixture
def clusters(sims, cluster_yamls, salt_minions, salt_master):
    """Both simulated clusters, fresh for this test, with every daemon up and no master records."""
    shutil.rmtree(pathlib.Path(salt_master.config["cachedir"]) / "vpkg", ignore_errors=True)
    for name, sim in sims.items():
        ret = sim.sgsim("init", str(cluster_yamls[name]), "--home", str(sim.home))
        assert ret.returncode == 0, ret.stderr
    return sims
