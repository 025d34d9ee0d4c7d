"""Evacuation, restore and cancel of a VM host, and the maintenance reactor (four minions)."""

import time

import pytest

from . import invariants, saltrun

pytestmark = pytest.mark.integration

ON_VMH1 = {"g1", "g2", "big", "narrow", "pinned"}


def _on(cluster, node, settled=True):
    cl, _ = invariants.check(cluster, settled=settled)
    return {p for p, pkg in cl["packages"].items() if pkg["node"] == node}


def _fault(cluster, *args):
    ret = cluster.sgsim("fault", "add", *args, "--home", str(cluster.home))
    assert ret.returncode == 0, ret.stderr


def test_plan_changes_nothing(cluster, salt_run):
    before = cluster.state()["packages"]
    ret = salt_run.run("vpkg.plan", "evacuate=vmh1")
    assert ret.returncode == 0, ret.stdout
    assert ret.data["kind"] == "plan"
    assert {m["package"] for m in ret.data["moves"]} == ON_VMH1 - {"pinned"}
    assert [u["package"] for u in ret.data["unplaced"]] == ["pinned"]
    assert cluster.state()["packages"] == before


def test_evacuate_then_restore(cluster, salt_run):
    ret = salt_run.run("vpkg.evacuate", "vmh1")
    data = ret.data
    # pinned (online migration disabled) stays: reported, and the evacuation is not a success.
    assert ret.returncode != 0 and data["result"] is False and data["kind"] == "evacuate"
    assert set(data["moved"]) == ON_VMH1 - {"pinned"}
    assert data["left_on_node"] == ["pinned"]
    assert [u["package"] for u in data["unplaced"]] == ["pinned"]
    assert all(m["result"] for m in data["moves"])  # the sim refuses a 2nd migration on a busy host
    assert _on(cluster, "vmh1") == {"pinned"}
    assert _on(cluster, "vmh4") == {"big"}
    cl, _ = invariants.check(cluster)
    assert all(p["autorun"] for p in cl["packages"].values())

    ret = salt_run.run("vpkg.restore", "vmh1")
    assert ret.returncode == 0, ret.stdout
    assert ret.data["kind"] == "restore" and set(ret.data["moved"]) == ON_VMH1 - {"pinned"}
    assert _on(cluster, "vmh1") == ON_VMH1
    ret = salt_run.run("vpkg.restore", "vmh1")  # the record is gone once restored
    assert ret.returncode != 0 and "no recorded placement" in ret.data["comment"]
    assert ret.data["kind"] == "restore"


def test_a_failing_guest_is_reported_and_the_others_move(cluster, salt_run):
    _fault(cluster, "migration-fail", "g2", "Copy", "--message", "copy link lost")
    started = time.monotonic()
    ret = salt_run.run("vpkg.evacuate", "vmh1", "timeout=60")
    assert time.monotonic() - started < 120  # nothing hangs
    data = ret.data
    assert data["result"] is False
    failed = {f["package"]: f["comment"] for f in data["failed"]}
    assert list(failed) == ["g2"] and "copy link lost" in failed["g2"]
    assert set(data["moved"]) == {"g1", "big", "narrow"}
    assert set(data["left_on_node"]) == {"g2", "pinned"}
    cl, _ = invariants.check(cluster)
    assert cl["packages"]["g2"]["node"] == "vmh1" and cl["packages"]["g2"]["autorun"] is True


def test_the_evacuated_node_going_down_leaves_every_package_protected(cluster, salt_run):
    # vmh1 fails during its first move: Serviceguard fails its other packages over; the one being
    # moved had switching off, and it is re-enabled once its guest is proven On nowhere.
    _fault(cluster, "node-down", "vmh1", "Copy")
    ret = salt_run.run("vpkg.evacuate", "vmh1", "timeout=60")
    data = ret.data
    assert cluster.state()["nodes"]["vmh1"]["status"] == "down"
    went_down = [m for m in data["moves"] if "went down" in m["comment"]]
    assert len(went_down) == 1, data["moves"]
    assert went_down[0]["result"] is False and went_down[0]["switching_after"]["autorun"] is True
    assert not [m for m in data["moves"] if "LEFT DISABLED" in m["comment"]], data["moves"]
    cl, on = invariants.check(cluster)
    assert all(p["autorun"] for p in cl["packages"].values()), cl["packages"]
    assert "vmh1" not in {n for nodes in on.values() for n in nodes}


def test_cancel_stops_starting_new_moves(cluster, salt_master, salt_run):
    for guest in ("g1", "g2", "big", "narrow"):
        _fault(cluster, "migration-slow", guest, "30")
    evacuation = saltrun.start(salt_master, "vpkg.evacuate", "vmh1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not cluster.state().get("migrations"):
        time.sleep(0.2)
    assert cluster.state().get("migrations"), "no migration started"
    ret = salt_run.run("vpkg.cancel", "vmh1", "wait=120")
    assert ret.returncode == 0, ret.stdout
    assert ret.data["kind"] == "cancel"
    result = evacuation.finish()
    assert result.data["result"] is False
    not_started = [m["package"] for m in result.data["moves"] if "cancelled" in m["comment"]]
    assert not_started and set(result.data["moved"]) | set(not_started) == ON_VMH1 - {"pinned"}
    assert set(ret.data["moved"]) == set(result.data["moved"])
    assert _on(cluster, "vmh1") == {"pinned", *not_started}


def _wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_reactor_evacuates_the_asking_host_and_brings_guests_back(cluster, salt_minions, salt_run):
    caller = salt_minions["vmh1"].salt_call_cli(timeout=60)
    seen = {op: _audited(salt_run, op) for op in ("evacuate", "restore")}
    assert caller.run("vpkg.maintenance", "start").returncode == 0
    assert _wait_for(lambda: _on(cluster, "vmh1", settled=False) == {"pinned"}), _on(cluster, "vmh1", False)
    assert _wait_for(lambda: _settled(salt_run, "evacuate", seen)), "the evacuation did not finish"
    assert caller.run("vpkg.maintenance", "end").returncode == 0
    assert _wait_for(lambda: _on(cluster, "vmh1", settled=False) == ON_VMH1), _on(cluster, "vmh1", False)
    assert _wait_for(lambda: _settled(salt_run, "restore", seen)), "the restore did not finish"
    assert _on(cluster, "vmh1") == ON_VMH1


def _audited(salt_run, operation):
    """How many ``operation`` entries of vmh1 the audit trail holds."""
    ret = salt_run.run("vpkg.history", f"operation={operation}", "node=vmh1")
    return len(ret.data["entries"]) if ret.returncode == 0 else None


def _settled(salt_run, operation, seen):
    """The reactor's ``operation`` of vmh1 is over: no move in flight, and one more audit entry.

    Its moves end before the operation does (it reads the cluster back, writes its journal and
    the audit trail, then lets go of the node's lock): a next evacuation of vmh1 started between
    the two would be refused as already in progress.
    """
    ret = salt_run.run("vpkg.status")
    if ret.returncode != 0 or ret.data["in_flight"]:
        return False
    count = _audited(salt_run, operation)
    return count is not None and count > seen[operation]


def test_spoofed_request_for_another_host_does_nothing(cluster, salt_minions, salt_run):
    before = cluster.state()["packages"]
    # What the reactor's orchestration runs for each request below, run first by hand: with the
    # events sent first, the orchestration may hold vmh1's lock (to refuse) while these run.
    ret = salt_run.run("vpkg.evacuate", "vmh1", "requested_by=vmh2")
    assert ret.data.get("ignored") is True and "may not ask" in ret.data["comment"]
    ret = salt_run.run("vpkg.evacuate", "vmh1", "requested_by=vmh1", "token=forged")
    assert ret.data.get("ignored") is True and "did not confirm" in ret.data["comment"]
    caller = salt_minions["vmh2"].salt_call_cli(timeout=60)
    assert caller.run("event.send", "vpkg/maintenance/start", "node=vmh1").returncode == 0
    # A bare event.send carries no token that vmh1's own minion could confirm: not a request.
    own = salt_minions["vmh1"].salt_call_cli(timeout=60)
    assert own.run("event.send", "vpkg/maintenance/start").returncode == 0
    time.sleep(8)  # the reactor's orchestrations had time to act, had they been allowed to
    assert cluster.state()["packages"] == before
