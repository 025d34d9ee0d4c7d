"""vpkg.placed through salt-minion state runs, and the pillar-driven placement SLS.

The state's moves are the master's ``vpkg.move`` (through the ``vpkg_peer`` runner, which the
lab master's ``peer_run`` allows to vmh1-vmh3): they are reserved, locked and audited there.
"""

import threading
import time

import pytest

from . import invariants

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


def _fail_next(sim, command, times):
    for _ in range(times):
        ret = sim.sgsim(
            "fault", "add", "command-fail", command, "--message", f"{command}: Unable to contact cmcld."
        )
        assert ret.returncode == 0, ret.stderr


def _history(salt_run, package):
    ret = salt_run.run("vpkg.history", f"package={package}", "--out=json")
    assert isinstance(ret.data, dict), ret.stdout
    return [(e.get("operation"), e.get("user"), e.get("target")) for e in ret.data["entries"]]


def test_placed_moves_through_the_master(cluster, salt_cli, salt_run):
    before = _history(salt_run, "g1")  # the audit trail is the test package's, shared
    state, rc = _single(salt_cli, "vmh1", "vmh3")
    assert rc == 0 and state["result"] is True, state
    assert _history(salt_run, "g1") == [*before, ("move", "peer:vmh1", "vmh3")]


def test_placed_is_refused_where_the_master_does_not_allow_it(cluster, salt_cli, salt_run):
    ret = salt_run.run("vpkg.move", "big", "vmh4")
    assert ret.returncode == 0, ret.stdout
    before = cluster.state()["packages"]
    ret = salt_cli.run("state.single", "vpkg.placed", "big", "node=vmh1", minion_tgt="vmh4")
    state = next(iter(ret.data.values()))
    assert ret.returncode != 0 and state["result"] is False and state["changes"] == {}
    assert "peer_run" in state["comment"] and "nothing was moved" in state["comment"]
    assert cluster.state()["packages"] == before


def test_a_move_that_fails_half_way_reports_what_changed(cluster, salt_cli):
    # The guest migrates; Serviceguard keeps refusing to adopt it on the target.
    _fail_next(cluster, "cmrunpkg", 10)
    state, rc = _single(salt_cli, "vmh1", "vmh2")
    assert rc != 0 and state["result"] is False
    assert "LEFT DISABLED" in state["comment"] and "adopt=FAILED" in state["comment"]
    assert cluster.state()["guests"]["g1"]["runs_on"] == "vmh2"
    pkg = invariants.package(cluster, "g1")
    assert (pkg["autorun"], pkg["state"], pkg["node"]) == (False, "detached", "vmh2")
    assert state["changes"] == {
        "guest": {"old": "vmh1", "new": "vmh2"},
        "package_switching": {"old": "enabled", "new": "disabled"},
        "node": {"old": "vmh1", "new": "vmh2"},
    }


def test_the_recheck_after_a_move_does_not_raise(cluster, salt_cli):
    # The move succeeds; cmviewcl fails from the migration on (the move reads it only before), so
    # the state's own re-check cannot confirm where the package runs.
    assert cluster.sgsim("fault", "add", "migration-slow", "g1", "10").returncode == 0
    armed = threading.Event()

    def lose_cmviewcl_once_migrating():
        deadline = time.monotonic() + 60
        while not cluster.state()["migrations"] and time.monotonic() < deadline:
            time.sleep(0.02)
        _fail_next(cluster, "cmviewcl", 3)
        armed.set()

    watcher = threading.Thread(target=lose_cmviewcl_once_migrating, daemon=True)
    watcher.start()
    state, _ = _single(salt_cli, "vmh1", "vmh2")
    watcher.join(60)
    assert armed.is_set()
    assert state["result"] is False
    assert state["changes"] == {"node": {"old": "vmh1", "new": "vmh2"}}  # what vpkg.move reported
    assert (
        "could not be read afterwards" in state["comment"] and "Unable to contact cmcld" in state["comment"]
    )
    assert "Traceback" not in state["comment"]
    assert cluster.state()["packages"]["g1"]["node"] == "vmh2"
