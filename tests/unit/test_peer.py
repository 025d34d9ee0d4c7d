"""What the vpkg_peer runner decides for a VM host's ``vpkg.placed``: who may place, which result."""

import pytest
import vpkg_args
import vpkg_master
import vpkg_single
from salt.exceptions import SaltInvocationError

CLUSTER = {
    "packages": {
        "slvm1": {"node": "xyzo1"},
        "down1": {"node": None},
    }
}
JID = "20261202012407378802"


def _master(node_map=None):
    return vpkg_master.Master({}, {"node_map": node_map or {}})


def test_only_the_host_that_runs_the_package_may_have_it_placed():
    assert vpkg_single.place_refusal(_master(), CLUSTER, "xyzo1", "slvm1") is None
    refused = vpkg_single.place_refusal(_master(), CLUSTER, "xyzo2", "slvm1")
    assert "xyzo2 may only have the packages running on its own node placed" in refused
    assert "runs on xyzo1" in refused
    # a mapped minion id speaks for its node
    mapped = _master({"xyzo1": "vmhost1.example.com"})
    assert vpkg_single.place_refusal(mapped, CLUSTER, "vmhost1.example.com", "slvm1") is None
    assert "not running on any node" in vpkg_single.place_refusal(_master(), CLUSTER, "xyzo1", "down1")
    assert "not a configured package" in vpkg_single.place_refusal(_master(), CLUSTER, "xyzo1", "nope")


def _job(user, ret, fun="runner.vpkg.move"):
    return {"master_master": {"fun": fun, "jid": JID, "user": user, "return": ret, "success": True}}


def test_the_result_of_a_move_is_given_to_the_host_that_started_it_only():
    moved = {"kind": "move", "result": True, "package": "slvm1", "steps": []}
    assert vpkg_single.placement(_job("peer:xyzo1", moved), JID, "xyzo1") == moved
    other = vpkg_single.placement(_job("peer:xyzo2", moved), JID, "xyzo1")
    assert other["result"] is False and "not a move that xyzo1 started" in other["comment"]
    evacuation = vpkg_single.placement(_job("peer:xyzo1", moved, fun="runner.vpkg.evacuate"), JID, "xyzo1")
    assert evacuation["result"] is False and "not a move" in evacuation["comment"]


def test_a_move_job_without_a_return_yet_is_running_and_one_without_a_move_result_failed():
    running = vpkg_single.placement({}, JID, "xyzo1")
    assert running["result"] is None and running["running"] is True
    broken = vpkg_single.placement(_job("peer:xyzo1", "Traceback ..."), JID, "xyzo1")
    assert broken["result"] is False and "without a move result" in broken["comment"]


@pytest.mark.parametrize("value", [JID, int(JID), JID + "_4242"])
def test_job_ids(value):
    assert vpkg_args.jid(value) == str(value)


@pytest.mark.parametrize("value", ["", "2026", JID + "x", "../" + JID, None, [JID]])
def test_hostile_job_ids_are_refused(value):
    with pytest.raises(SaltInvocationError, match="jid must be a Salt job id"):
        vpkg_args.jid(value)
