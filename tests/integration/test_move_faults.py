"""A migration that fails in each phase: the guest runs on exactly one node, switching as reported."""

import pytest

from . import invariants

pytestmark = pytest.mark.integration

PHASES = ["Init", "Copy", "I/O quiesce", "Frozen", "Completion"]


@pytest.mark.parametrize("phase", PHASES)
def test_migration_fails_in_phase(cluster, salt_run, phase):
    ret = cluster.sgsim(
        "fault",
        "add",
        "migration-fail",
        "g1",
        phase,
        "--message",
        f"injected in {phase}",
        "--home",
        str(cluster.home),
    )
    assert ret.returncode == 0, ret.stderr
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode != 0
    data = ret.data
    assert data["result"] is False
    assert "still runs on vmh1" in data["comment"] and "switching is restored" in data["comment"]
    assert f"injected in {phase}" in data["comment"]
    steps = {s["step"]: s["result"] for s in data["steps"]}
    assert steps["migrate"] is False and steps["restore_switching"] is True and "adopt" not in steps
    pkg = invariants.package(cluster, "g1")
    assert pkg["node"] == "vmh1" and pkg["autorun"] is True
    assert data["switching"]["after"]["autorun"] is True


def test_command_failure_when_disabling_switching_changes_nothing(cluster, salt_run):
    ret = cluster.sgsim(
        "fault",
        "add",
        "command-fail",
        "cmmodpkg",
        "--message",
        "cmmodpkg: Unable to contact cmcld.",
        "--home",
        str(cluster.home),
    )
    assert ret.returncode == 0, ret.stderr
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode != 0
    assert "Unable to contact cmcld" in str(ret.data)
    pkg = invariants.package(cluster, "g1")
    assert pkg["node"] == "vmh1" and pkg["autorun"] is True


def test_hung_migration_is_aborted_at_the_timeout(cluster, salt_run):
    ret = cluster.sgsim("fault", "add", "migration-hang", "g1", "Copy", "--home", str(cluster.home))
    assert ret.returncode == 0, ret.stderr
    ret = salt_run.run("vpkg.move", "g1", "vmh2", "timeout=3")
    assert ret.returncode != 0
    assert ret.data["result"] is False and "still runs on vmh1" in ret.data["comment"]
    assert "Timed out" in ret.data["comment"]
    pkg = invariants.package(cluster, "g1")
    assert pkg["node"] == "vmh1" and pkg["autorun"] is True
