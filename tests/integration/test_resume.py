"""An evacuation whose runner dies (master restarted) is shown by vpkg.status and resumed."""

import signal
import time

import pytest

from . import invariants, saltrun

pytestmark = pytest.mark.integration


def _wait(predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _quiet(cluster):
    """No migration in flight, and every running package shown where its guest runs.

    The killed runner's move goes on on the VM host: between its migration and its adopt step the
    package is still shown on the source while the guest already runs on the target.
    """
    state = cluster.state()
    guests = state["guests"]
    placed = all(
        p.get("node") is None or guests[p["vm_name"]]["runs_on"] == p["node"]
        for p in state["packages"].values()
    )
    return (
        not state.get("migrations")
        and placed
        and all(p["state"] != "detached" for p in state["packages"].values())
    )


def test_interrupted_evacuation_is_shown_and_resumed(cluster, salt_master, salt_minions, salt_run):
    for guest in ("g1", "g2", "big", "narrow"):
        ret = cluster.sgsim("fault", "add", "migration-slow", guest, "25", "--home", str(cluster.home))
        assert ret.returncode == 0, ret.stderr
    evacuation = saltrun.start(salt_master, "vpkg.evacuate", "vmh1")
    assert _wait(lambda: cluster.state().get("migrations")), "no migration started"
    evacuation.proc.send_signal(signal.SIGKILL)  # the runner dies with the master
    evacuation.proc.wait()
    with salt_master.stopped():
        pass  # the master restarts: everything it held in memory is gone
    assert _wait(lambda: _quiet(cluster)), "the move in flight did not settle"
    invariants.check(cluster)

    status = salt_run.run("vpkg.status")
    assert status.returncode == 0, status.stdout
    (interrupted,) = status.data["interrupted"]
    assert interrupted["operation"] == "evacuate" and interrupted["node"] == "vmh1"

    ret = salt_run.run("vpkg.evacuate", "vmh1")
    assert ret.data["resumed"] == [interrupted["id"]]
    assert ret.data["left_on_node"] == ["pinned"]
    cl, _ = invariants.check(cluster)
    assert {p for p, pkg in cl["packages"].items() if pkg["node"] == "vmh1"} == {"pinned"}
    assert all(pkg["autorun"] for pkg in cl["packages"].values())
    assert salt_run.run("vpkg.status").data["interrupted"] == []
    # The placement recorded by the interrupted run is what restore uses.
    ret = salt_run.run("vpkg.restore", "vmh1")
    assert ret.returncode == 0, ret.stdout
    cl, _ = invariants.check(cluster)
    assert {p for p, pkg in cl["packages"].items() if pkg["node"] == "vmh1"} == {
        "g1",
        "g2",
        "big",
        "narrow",
        "pinned",
    }
