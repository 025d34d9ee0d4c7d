"""``vpkg.placed`` through Salt's loader against the simulator: a move that fails half-way, and a
re-check that cannot read the package."""

import pathlib
import threading
import time
import uuid

import pytest
import vpkg_sgparse
from saltfactories.utils.functional import Loaders

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


@pytest.fixture
def xyzo1(salt_factories, sim):
    config = {
        "file_client": "local",
        "module_dirs": [str(ROOT / "_modules")],
        "states_dirs": [str(ROOT / "_states")],
        "utils_dirs": [str(ROOT / "_utils")],
        "serviceguard.bin_dir": str(sim.bindir("xyzo1")),
        "hpvm.bin_dir": str(sim.bindir("xyzo1")),
        "vpkg.node": "xyzo1",
    }
    factory = salt_factories.salt_minion_daemon(f"xyzo1-{uuid.uuid4().hex[:6]}", overrides=config)
    loaders = Loaders(factory.config.copy())
    yield loaders
    loaders.reset_state()


def _fail_next(sim, command, times):
    for _ in range(times):
        ret = sim.sgsim(
            "fault", "add", "command-fail", command, "--message", f"{command}: Unable to contact cmcld."
        )
        assert ret.returncode == 0, ret.stderr


def test_a_move_that_fails_half_way_reports_what_changed(xyzo1, sim):
    # The guest migrates; Serviceguard keeps refusing to adopt it on the target.
    _fail_next(sim, "cmrunpkg", 10)
    ret = xyzo1.states.vpkg.placed(name="slvm1", node="xyzo2")
    assert ret.result is False
    assert "LEFT DISABLED" in ret.comment and "adopt=FAILED" in ret.comment
    assert sim.state()["guests"]["slvm1"]["runs_on"] == "xyzo2"
    # changes say what the simulator's commands show changed, nothing more.
    shown = sim.run("xyzo1", ["cmviewcl", "-v", "-f", "line", "-l", "package", "-p", "slvm1"])
    pkg = vpkg_sgparse.parse_package(shown.stdout, "slvm1")
    assert (pkg["autorun"], pkg["state"], pkg["node"]) == (False, "detached", "xyzo2")
    assert ret.changes == {
        "guest": {"old": "xyzo1", "new": "xyzo2"},
        "package_switching": {"old": "enabled", "new": "disabled"},
        "node": {"old": "xyzo1", "new": "xyzo2"},
    }


def test_a_refused_move_changes_nothing(xyzo1, sim):
    ret = xyzo1.states.vpkg.placed(name="ora1", node="xyzo2")  # weight 16, 12 available on xyzo2
    assert ret.result is False and ret.changes == {}
    assert "capacity:memory" in ret.comment


def test_the_recheck_after_a_move_does_not_raise(xyzo1, sim):
    # The move succeeds; cmviewcl fails from the migration on (the move reads it only before), so
    # the state's own re-check cannot confirm where the package runs.
    assert sim.sgsim("fault", "add", "migration-slow", "slvm1", "10").returncode == 0
    armed = threading.Event()

    def lose_cmviewcl_once_migrating():
        deadline = time.monotonic() + 60
        while not sim.state()["migrations"] and time.monotonic() < deadline:
            time.sleep(0.02)
        _fail_next(sim, "cmviewcl", 3)
        armed.set()

    watcher = threading.Thread(target=lose_cmviewcl_once_migrating, daemon=True)
    watcher.start()
    ret = xyzo1.states.vpkg.placed(name="slvm1", node="xyzo2")
    watcher.join(60)
    assert armed.is_set()
    assert ret.result is False
    assert ret.changes == {"node": {"old": "xyzo1", "new": "xyzo2"}}  # what vpkg.move reported
    assert "could not be read afterwards" in ret.comment and "Unable to contact cmcld" in ret.comment
    assert "Traceback" not in ret.comment
    assert sim.state()["packages"]["slvm1"]["node"] == "xyzo2"
