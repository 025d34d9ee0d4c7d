"""``vpkg.placed`` through Salt's loader against the simulator, without a master: what the state
decides on the host alone (tests/integration/test_state.py has the moves, through the master)."""

import pytest
from hostloaders import host_loaders

from sgsim import example_path
from sgsim.testing import SimCluster


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


@pytest.fixture
def xyzo1(salt_factories, sim):
    loaders = host_loaders(salt_factories, sim)
    yield loaders
    loaders.reset_state()


def test_without_a_master_it_refuses_and_moves_nothing(xyzo1, sim):
    # The move is the master's (reservations, locks, audit): a minion without one cannot place.
    before = sim.state()["packages"]["slvm1"]
    ret = xyzo1.states.vpkg.placed(name="slvm1", node="xyzo2")
    assert ret.result is False and ret.changes == {}
    assert "runs without a master" in ret.comment and "nothing was moved" in ret.comment
    assert sim.state()["packages"]["slvm1"] == before


def test_test_mode_predicts_from_the_host_preflight(xyzo1, sim):
    ret = xyzo1.states.vpkg.placed(name="ora1", node="xyzo2", test=True)  # weight 16, 12 free on xyzo2
    assert ret.result is False and ret.changes == {}
    assert "capacity:memory" in ret.comment
    ret = xyzo1.states.vpkg.placed(name="slvm1", node="xyzo2", test=True)
    assert ret.result is None and ret.changes == {"node": {"old": "xyzo1", "new": "xyzo2"}}
