"""The ``vpkg`` grains of a VM host's minion, through Salt's grains loader, against the simulator."""

import pathlib

import pytest
import salt.config
import salt.loader

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


def _grains(tmp_path, **settings):
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "grains_dirs": [str(ROOT / "_grains")],
            "utils_dirs": [str(ROOT / "_utils")],
            "cachedir": str(tmp_path / "cache"),
            "extension_modules": str(tmp_path / "extmods"),
            **settings,
        }
    )
    return salt.loader.grains(opts, force_refresh=True)


def test_a_vm_host_says_its_cluster_and_node(tmp_path, sim):
    grains = _grains(tmp_path, **{"serviceguard.bin_dir": str(sim.bindir("xyzo2")), "vpkg.node": "xyzo2"})
    assert grains["vpkg"] == {"node": "xyzo2", "cluster": sim.state()["cluster"]["name"]}


def test_without_serviceguard_there_are_no_vpkg_grains(tmp_path):
    assert "vpkg" not in _grains(tmp_path, **{"serviceguard.bin_dir": str(tmp_path / "nothing")})


def test_a_cluster_that_cannot_be_read_leaves_the_cluster_out(tmp_path, sim, caplog):
    fault = sim.sgsim(
        "fault", "add", "command-fail", "cmviewcl", "--message", "cmviewcl: Unable to contact cmcld."
    )
    assert fault.returncode == 0, fault.stderr
    grains = _grains(tmp_path, **{"serviceguard.bin_dir": str(sim.bindir("xyzo1")), "vpkg.node": "xyzo1"})
    assert grains["vpkg"] == {"node": "xyzo1"}
    assert "Unable to contact cmcld" in caplog.text
