"""The serviceguard beacon through Salt's own loader: it loads only where Serviceguard is."""

import pathlib
import uuid

import pytest
import salt.loader

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _beacons(salt_factories, bin_dir):
    config = {
        "file_client": "local",
        "module_dirs": [str(ROOT / "_modules")],
        "utils_dirs": [str(ROOT / "_utils")],
        "beacons_dirs": [str(ROOT / "_beacons")],
        "serviceguard.bin_dir": str(bin_dir),
        "hpvm.bin_dir": str(bin_dir),
    }
    factory = salt_factories.salt_minion_daemon(f"bcn-{uuid.uuid4().hex[:6]}", overrides=config)
    opts = factory.config.copy()
    return salt.loader.beacons(opts, salt.loader.minion_mods(opts))


def test_without_serviceguard_the_beacon_does_not_load_and_says_why(salt_factories, tmp_path):
    # A host without the cm* commands: not an error event every interval, a beacon that is not there.
    beacons = _beacons(salt_factories, tmp_path)
    assert "serviceguard.beacon" not in beacons
    reason = beacons.missing_fun_string("serviceguard.beacon")
    assert "needs the serviceguard execution module, which did not load" in reason
    assert "cmviewcl in serviceguard.bin_dir" in reason


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


def test_with_serviceguard_the_beacon_loads_and_looks(salt_factories, sim):
    beacons = _beacons(salt_factories, sim.bindir("xyzo1"))
    beacon = beacons["serviceguard.beacon"]
    assert beacon([{"interval": 5}]) == []  # the first look records the cluster
    assert sim.run("xyzo1", ["cmhaltpkg", "slvm1"]).returncode == 0
    assert [e["change"] for e in beacon([{"interval": 5}])] == ["halted"]
