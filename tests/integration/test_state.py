"""vpkg.placed through salt-minion state runs, and the pillar-driven placement SLS."""

import invariants
import pytest

pytestmark = pytest.mark.integration


def _single(salt_cli, minion, node, test=False):
    args = ["state.single", "vpkg.placed", "g1", f"node={node}"]
    if test:
        args.append("test=True")
    ret = salt_cli.run(*args, minion_tgt=minion)
    assert ret.data, ret.stdout + ret.stderr
    return next(iter(ret.data.values())), ret.returncode


def test_placed_test_mode_moves_nothing(cluster, salt_cli):
    before = cluster.state()["packages"]
    state, _ = _single(salt_cli, "vmh1", "vmh2", test=True)
    assert state["result"] is None
    assert state["changes"] == {"node": {"old": "vmh1", "new": "vmh2"}}
    assert cluster.state()["packages"] == before


def test_placed_moves_then_reports_no_changes(cluster, salt_cli):
    state, rc = _single(salt_cli, "vmh1", "vmh2")
    assert rc == 0 and state["result"] is True, state
    assert state["changes"] == {"node": {"old": "vmh1", "new": "vmh2"}}
    assert invariants.package(cluster, "g1")["node"] == "vmh2"
    again, rc = _single(salt_cli, "vmh2", "vmh2")
    assert rc == 0 and again["result"] is True and again["changes"] == {}
    other, rc = _single(salt_cli, "vmh1", "vmh2")
    assert other["result"] is True and other["changes"] == {}


def test_placed_refused_move_is_a_failure_with_reason(cluster, salt_cli):
    ret = salt_cli.run("state.single", "vpkg.placed", "big", "node=vmh2", minion_tgt="vmh1")
    state = next(iter(ret.data.values()))
    assert ret.returncode != 0 and state["result"] is False
    assert "capacity" in state["comment"]
    assert invariants.package(cluster, "big")["node"] == "vmh1"


def test_placement_sls_from_pillar_converges(cluster, salt_cli):
    pillar = '{"vpkg": {"placement": {"g1": "vmh3", "w2": "vmh2"}}}'
    for minion in ("vmh1", "vmh2", "vmh3"):
        ret = salt_cli.run("state.apply", "vpkg.placement", f"pillar={pillar}", minion_tgt=minion)
        assert ret.returncode == 0, ret.stdout
    assert invariants.package(cluster, "g1")["node"] == "vmh3"
    ret = salt_cli.run("state.apply", "vpkg.placement", f"pillar={pillar}", minion_tgt="vmh3")
    assert all(not s["changes"] for s in ret.data.values())
