"""``vpkg.driver: cmmovevpkg``: HP's own ``cmmovevpkg`` inside our preflight, lock and verification.

Run through Salt's loader against the simulator's ``cmmovevpkg`` (seed cluster), its failure
paths included: a refusal on our preflight runs nothing; a failed migration (the toolkit puts
switching back) and a killed one (it leaves switching off) both end with the guest and the
package where they were and switching on; the result is read back from Serviceguard, not assumed.
"""

import pytest
from hostloaders import host_loaders
from salt.exceptions import CommandExecutionError, SaltInvocationError

from sgsim import example_path
from sgsim.migration import phase_seconds
from sgsim.testing import SimCluster


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


def _loaders(salt_factories, sim, driver):
    return host_loaders(salt_factories, sim, **{"vpkg.driver": driver})


@pytest.fixture
def xyzo1(salt_factories, sim):
    loaders = _loaders(salt_factories, sim, "cmmovevpkg")
    yield loaders.modules
    loaders.reset_state()


def _package(sim, name):
    return sim.state()["packages"][name]


def _runs_on(sim, guest):
    return sim.state()["guests"][guest]["runs_on"]


def _fault(sim, *args):
    ret = sim.sgsim("fault", "add", *args)
    assert ret.returncode == 0, ret.stderr


def test_move_with_cmmovevpkg(xyzo1, sim):
    ret = xyzo1.vpkg.move("slvm1", "xyzo2")
    assert ret["result"] is True and ret["driver"] == "cmmovevpkg"
    assert [s["step"] for s in ret["steps"]] == ["preflight", "cmmovevpkg", "verify"]
    assert all(s["result"] for s in ret["steps"])
    pkg = _package(sim, "slvm1")
    assert (pkg["node"], pkg["state"], pkg["autorun"]) == ("xyzo2", "running", True)
    assert _runs_on(sim, "slvm1") == "xyzo2"
    assert ret["switching"]["after"]["autorun"] is True
    # From cmmovevpkg's own "Disabling ..." to "Enabling package switching" lines: the whole
    # migration (the simulator's own phase formula) lies between them.
    st = sim.state()
    migration = sum(phase_seconds(st["guests"]["slvm1"]["memory_mb"], st["sim"]["link_mbps"]).values())
    assert migration * st["sim"]["time_scale"] < ret["unprotected_seconds"] < ret["seconds"]


def test_refused_on_our_preflight_runs_nothing(xyzo1, sim):
    before = sim.state()
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("ora1", "xyzo2")  # weight 16, xyzo2 has 12 of memory available
    assert "capacity:memory" in str(err.value)
    assert [s["step"] for s in err.value.info["steps"]] == ["preflight"]
    assert sim.state()["packages"] == before["packages"] and sim.state()["guests"] == before["guests"]


def test_failed_migration_leaves_everything_as_it_was(xyzo1, sim):
    _fault(
        sim, "migration-fail", "slvm1", "Copy", "--message", "Target VM Host error - Device does not exist."
    )
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("slvm1", "xyzo2")
    message = err.value.error
    assert "still runs on xyzo1 with switching as before" in message and "Device does not exist" in message
    assert err.value.info["location"] == "source"
    assert [(s["step"], s["result"]) for s in err.value.info["steps"]][-1] == ("verify", True)
    pkg = _package(sim, "slvm1")
    assert (pkg["node"], pkg["state"], pkg["autorun"]) == ("xyzo1", "running", True)
    assert _runs_on(sim, "slvm1") == "xyzo1"


def test_timeout_stops_cmmovevpkg_and_switching_is_restored(xyzo1, sim):
    _fault(sim, "migration-hang", "slvm1", "Copy")
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("slvm1", "xyzo2", timeout=2)
    message = err.value.error
    # Killed half-way, the toolkit leaves switching off; the move finds the guest On here and
    # puts switching back itself.
    assert "still runs on xyzo1 and package switching is restored" in message, message
    steps = {s["step"]: s for s in err.value.info["steps"]}
    assert steps["cmmovevpkg"]["result"] is False and "Timed out" in steps["cmmovevpkg"]["comment"]
    assert steps["restore_switching"]["result"] is True
    # Read back first: switching off, so not finished; then the guest found On here.
    verified = [s["result"] for s in err.value.info["steps"] if s["step"] == "verify"]
    assert verified == [False, True]
    # Unprotected from cmmovevpkg's "Disabling package switching" line, at its start, until our
    # cmmodpkg -e after the 2 s timeout: not from when the move took over.
    assert err.value.info["unprotected_seconds"] > 1.5
    pkg = _package(sim, "slvm1")
    assert (pkg["node"], pkg["state"], pkg["autorun"]) == ("xyzo1", "running", True)
    assert _runs_on(sim, "slvm1") == "xyzo1" and not sim.state()["migrations"]


def test_unknown_driver_is_refused_before_anything_runs(salt_factories, sim):
    loaders = _loaders(salt_factories, sim, "hpvmsg_move")
    try:
        before = sim.state()
        with pytest.raises(SaltInvocationError, match="vpkg.driver must be one of steps, cmmovevpkg"):
            loaders.modules.vpkg.move("slvm1", "xyzo2")
        assert sim.state() == before
    finally:
        loaders.reset_state()
