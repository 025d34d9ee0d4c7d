"""``salt HOST vpkg.check|vpkg.move ... --out=vpkg``: a VM host's real returns, drawn per minion.

The host's ``vpkg`` module runs through Salt's loader against the simulator (seed cluster); its
returns go to the ``vpkg`` outputter as the ``salt`` CLI hands them over, ``{minion_id: return}``.
"""

import copy
import pathlib

import pytest
import salt.config
import salt.loader
from hostloaders import host_loaders

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def xyzo1(salt_factories, tmp_path):
    sim = SimCluster.create(tmp_path / "sim", example_path("seed"))
    loaders = host_loaders(salt_factories, sim)
    yield loaders.modules
    loaders.reset_state()


@pytest.fixture
def draw(tmp_path):
    opts = copy.deepcopy(salt.config.DEFAULT_MASTER_OPTS)
    opts.update(
        {
            "outputter_dirs": [str(ROOT / "_output")],
            "utils_dirs": [str(ROOT / "_utils")],
            "extension_modules": str(tmp_path / "extmods"),
            "cachedir": str(tmp_path / "cache"),
            "color": False,
        }
    )
    return salt.loader.outputters(opts)["vpkg"]


def test_a_refused_check_says_cannot_move_with_the_failed_check_only(xyzo1, draw):
    ret = xyzo1.vpkg.check("ora1", "xyzo2")  # weight 16, xyzo2 has 12 of memory available
    assert ret["kind"] == "check" and ret["result"] is False and "ok" not in ret
    lines = draw({"xyzo1": ret}).splitlines()
    assert lines[:2] == ["xyzo1:", "    ora1: xyzo1 -> xyzo2  cannot move"]
    failed = [c for c in ret["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["capacity:memory"]
    assert lines[2].split(None, 2)[:2] == ["FAIL", "capacity:memory"]
    assert lines[3:] == [f"      ({len(ret['checks']) - 1} other checks passed)"]


def test_a_passing_check_lists_every_check_and_says_so(xyzo1, draw):
    ret = xyzo1.vpkg.check("slvm1", "xyzo2")
    assert ret["kind"] == "check" and ret["result"] is True
    text = draw({"xyzo1": ret})
    assert text.splitlines()[1] == "    slvm1: xyzo1 -> xyzo2  can move"
    assert "FAIL" not in text and "hpvmmigrate" in text
    assert text.splitlines()[-1] == "      Package slvm1 can move from xyzo1 to xyzo2."


def test_a_move_is_drawn_step_by_step(xyzo1, draw):
    ret = xyzo1.vpkg.move("slvm1", "xyzo2")
    assert ret["kind"] == "move" and ret["result"] is True
    lines = draw({"xyzo1": ret}).splitlines()
    assert lines[1].startswith("    slvm1: xyzo1 -> xyzo2  moved  (")
    assert [ln.split()[1] for ln in lines[2:-1]] == [s["step"] for s in ret["steps"]]
