"""A real salt-master and one salt-minion per simulated VM host (pytest-salt-factories).

The daemons start once per test package; every test gets the cluster re-initialised from its
YAML, so tests do not see each other's moves. Each minion's ``serviceguard.bin_dir`` and
``hpvm.bin_dir`` point at its own simulated host's command folder; modules, states, runners and
utils load from this checkout (``*_dirs``), the way a master's file_roots sync would place them.
"""

import pathlib
import shutil

import pytest
import yaml

from sgsim.testing import SimCluster

from .labsetup import CLUSTER, all_started, master_overrides, minion_dirs

ROOT = pathlib.Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="package")
def salt_master(salt_factories, sim, audit_file, tmp_path_factory):
    overrides = master_overrides(tmp_path_factory.mktemp("file_roots"), audit_file)
    factory = salt_factories.salt_master_daemon("vpkg-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_minions(salt_master, sim):
    factories = [
        salt_master.salt_minion_daemon(
            node,
            overrides={
                **minion_dirs(),
                "serviceguard.bin_dir": str(sim.bindir(node)),
                "hpvm.bin_dir": str(sim.bindir(node)),
                "vpkg.node": node,
            },
        )
        for node in sim.nodes
    ]
    with all_started(factories) as started:
        yield started


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
