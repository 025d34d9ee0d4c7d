"""The host-side ``vpkg`` module through Salt's loader against the simulator (seed cluster)."""

import contextvars
import fcntl
import os
import pathlib
import shlex
import stat
import threading
import time
from unittest.mock import patch

import pytest
from hostloaders import host_loaders
from salt.exceptions import CommandExecutionError, SaltInvocationError

from sgsim import example_path
from sgsim.testing import SimCluster


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


@pytest.fixture
def xyzo1(salt_factories, sim):
    loaders = host_loaders(salt_factories, sim)
    yield loaders.modules
    loaders.reset_state()


def _lock_dir(xyzo1):
    """The host's lock folder (vpkg_hostlocks), made if need be, for a test to hold a lock in."""
    lock_dir = pathlib.Path(xyzo1.opts["cachedir"]) / "vpkg" / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return lock_dir


def _package(sim, name):
    return sim.state()["packages"][name]


def test_check_then_move(xyzo1, sim):
    pre = xyzo1.vpkg.check("slvm1", "xyzo2")
    assert pre["result"] is True and pre["guest"] == "slvm1" and pre["source"] == "xyzo1"
    assert {"capacity:memory", "online_migration", "hpvmmigrate:storage"} <= {
        c["name"] for c in pre["checks"]
    }
    ret = xyzo1.vpkg.move("slvm1", "xyzo2")
    assert ret["result"] is True and 0 < ret["unprotected_seconds"] < ret["seconds"]
    steps = ["preflight", "disable_switching", "migrate", "verify", "adopt", "restore_switching"]
    assert [s["step"] for s in ret["steps"]] == steps
    assert all(s["result"] is True for s in ret["steps"]), ret["steps"]
    assert 0 < sum(s["seconds"] for s in ret["steps"]) <= ret["seconds"] + 0.01  # each rounded to 1 ms
    lock = pathlib.Path(xyzo1.opts["cachedir"]) / "vpkg" / "locks" / "slvm1.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert _package(sim, "slvm1")["node"] == "xyzo2" and _package(sim, "slvm1")["autorun"] is True


def test_refused_move_changes_nothing(xyzo1, sim):
    before = sim.state()["packages"]
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("ora1", "xyzo2")  # weight 16, xyzo2 has 12 of memory available
    assert "capacity:memory" in str(err.value) and err.value.info["steps"][0]["step"] == "preflight"
    # Integrity VM's checks (hpvmmigrate -s) run only once Serviceguard's pass.
    names = {c["name"] for c in err.value.info["steps"][0]["checks"]}
    assert "capacity:memory" in names
    assert not any(n == "online_migration" or n.startswith("hpvmmigrate:") for n in names), names
    assert sim.state()["packages"] == before


def test_unexpected_error_after_disabling_switching_says_so(xyzo1, sim):
    def boom(*args, **kwargs):
        raise RuntimeError("migration engine exploded")

    with patch.dict(xyzo1, {"hpvm.migrate": boom}), pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("slvm1", "xyzo2")
    message = err.value.error
    assert "LEFT DISABLED" in message and "cmmodpkg -e slvm1" in message and "exploded" in message
    assert _package(sim, "slvm1")["autorun"] is False  # what the message says is true


def test_second_move_of_a_package_is_refused_not_queued(xyzo1, salt_factories, sim):
    lock_dir = _lock_dir(xyzo1)
    with open(lock_dir / "slvm1.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"pid {os.getpid()}")
        held.flush()
        with pytest.raises(CommandExecutionError, match="already in progress"):
            xyzo1.vpkg.move("slvm1", "xyzo2")
    assert _package(sim, "slvm1")["node"] == "xyzo1"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("-f", "xyzo2"), {}), (("slvm1", "x;y"), {}), (("slvm1", "xyzo2"), {"timeout": 0}), ((None, "a"), {})],
)
def test_bad_arguments(xyzo1, sim, args, kwargs):
    before = sim.state()["packages"]
    with pytest.raises(SaltInvocationError):
        xyzo1.vpkg.move(*args, **kwargs)
    assert sim.state()["packages"] == before


def _fail_next(sim, command, times):
    for _ in range(times):
        message = f"{command}: Unable to contact cmcld."
        ret = sim.sgsim("fault", "add", "command-fail", command, "--message", message)
        assert ret.returncode == 0, ret.stderr


def _guest_on(sim):
    return {g: info["runs_on"] for g, info in sim.state()["guests"].items()}


def test_a_refused_cmmodpkg_d_changes_nothing_and_says_so(xyzo1, sim):
    before = sim.state()["packages"]
    _fail_next(sim, "cmmodpkg", 1)
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("slvm1", "xyzo2")
    message = err.value.error
    assert message.startswith("Package slvm1: could not disable package switching, nothing was changed: ")
    assert message.endswith("/cmmodpkg -d slvm1 failed (exit status 1): cmmodpkg: Unable to contact cmcld.")
    steps = [(s["step"], s["result"]) for s in err.value.info["steps"]]
    assert steps == [("preflight", True), ("disable_switching", False)]
    assert sim.state()["packages"] == before and _guest_on(sim)["slvm1"] == "xyzo1"


@pytest.mark.parametrize("command", ["cmhaltpkg", "cmrunpkg"])
def test_a_transient_refusal_in_the_adopt_step_is_retried(xyzo1, sim, command):
    _fail_next(sim, command, 1)
    ret = xyzo1.vpkg.move("slvm1", "xyzo2")
    adopt = next(s for s in ret["steps"] if s["step"] == "adopt")
    assert ret["result"] is True and adopt["result"] is True
    assert "after 1 failed attempt(s)" in adopt["comment"] and "Unable to contact cmcld" in adopt["comment"]
    pkg = _package(sim, "slvm1")
    assert pkg["node"] == "xyzo2" and pkg["state"] == "running" and pkg["autorun"] is True
    assert _guest_on(sim)["slvm1"] == "xyzo2"


@pytest.mark.parametrize(
    ("command", "first"), [("cmhaltpkg", "cmhaltpkg -d slvm1"), ("cmrunpkg", "cmrunpkg -n xyzo2 slvm1")]
)
def test_an_adopt_step_that_keeps_failing_names_commands_that_restore_protection(xyzo1, sim, command, first):
    _fail_next(sim, command, 10)
    with pytest.raises(CommandExecutionError) as err:
        xyzo1.vpkg.move("slvm1", "xyzo2")
    message = err.value.error
    assert "LEFT DISABLED" in message and "now runs on xyzo2" in message
    assert [s["result"] for s in err.value.info["steps"] if s["step"] == "adopt"] == [False]
    pkg = _package(sim, "slvm1")
    assert pkg["autorun"] is False and _guest_on(sim)["slvm1"] == "xyzo2"
    assert sim.sgsim("fault", "clear").returncode == 0
    # What the message tells the operator to run, run as it is written, restores protection.
    commands = message.split("restore protection with: ", 1)[1].split("; then ")
    assert commands[0].startswith(first) and commands[-1] == "cmmodpkg -e slvm1"
    for line in commands:
        out = sim.run("xyzo2", shlex.split(line))
        assert out.returncode == 0, (line, out.stderr)
    pkg = _package(sim, "slvm1")
    assert pkg["node"] == "xyzo2" and pkg["state"] == "running" and pkg["autorun"] is True
    assert _guest_on(sim)["slvm1"] == "xyzo2"


def _move_waiting_for_the_slot(xyzo1, change):
    """Move slvm1 while another migration from xyzo1 holds the slot; ``change()`` runs during the wait."""
    lock_dir = _lock_dir(xyzo1)
    outcome = {}

    def move():
        try:
            outcome["ret"] = xyzo1.vpkg.move("slvm1", "xyzo2")
        except CommandExecutionError as exc:
            outcome["error"] = exc

    with open(lock_dir / "migration-xyzo1.lock", "a+") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        mover = threading.Thread(target=contextvars.copy_context().run, args=(move,))
        mover.start()
        package_lock = lock_dir / "slvm1.lock"
        deadline = time.monotonic() + 10
        while not (package_lock.exists() and package_lock.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # the first preflight (two commands) is done: the move waits for the slot
        assert mover.is_alive()
        change()
    mover.join(30)
    assert not mover.is_alive()
    return outcome


def test_a_slot_that_stays_taken_refuses_the_move_before_switching_is_touched(xyzo1, sim):
    lock_dir = _lock_dir(xyzo1)
    with open(lock_dir / "migration-xyzo1.lock", "a+") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CommandExecutionError, match="did not end within 0 seconds") as err:
            xyzo1.vpkg.move("slvm1", "xyzo2", timeout=0.3)
    steps = [(s["step"], s["result"]) for s in err.value.info["steps"]]
    assert steps == [("preflight", True), ("wait_for_migration_slot", False)]
    pkg = _package(sim, "slvm1")
    assert (pkg["node"], pkg["autorun"]) == ("xyzo1", True) and _guest_on(sim)["slvm1"] == "xyzo1"


def test_a_failover_during_the_wait_for_the_slot_refuses_the_move(xyzo1, sim):
    def fail_over():
        assert sim.run("xyzo1", ["cmhaltpkg", "slvm1"]).returncode == 0
        assert sim.run("xyzo1", ["cmrunpkg", "-n", "xyzo2", "slvm1"]).returncode == 0
        assert sim.run("xyzo1", ["cmmodpkg", "-e", "slvm1"]).returncode == 0  # as after a failover

    outcome = _move_waiting_for_the_slot(xyzo1, fail_over)
    steps = [s["step"] for s in outcome["error"].info["steps"]]
    assert steps == ["preflight", "wait_for_migration_slot", "preflight_again"], steps
    # The wait itself went well; the second preflight refused.
    assert [s["result"] for s in outcome["error"].info["steps"]] == [True, True, False]
    pkg = _package(sim, "slvm1")
    assert pkg["node"] == "xyzo2" and pkg["autorun"] is True  # switching never touched


def test_a_guest_changed_during_the_wait_is_refused_by_hpvmmigrate_and_switching_restored(xyzo1, sim):
    # The second preflight reads only Serviceguard's view; hpvmmigrate -o checks the guest itself.
    def disable_online_migration():
        ret = sim.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "online_migration=disabled"])
        assert ret.returncode == 0, ret.stderr

    outcome = _move_waiting_for_the_slot(xyzo1, disable_online_migration)
    err = outcome["error"]
    steps = {s["step"]: s["result"] for s in err.info["steps"]}
    assert steps["preflight_again"] is True and steps["migrate"] is False
    assert "still runs on xyzo1 and package switching is restored" in err.error
    assert "hpvmmigrate said: " in err.error and "Online migration is disabled" in err.error
    # The step records hpvmmigrate's own words, not Salt's rendering of the error's info.
    migrate = next(s for s in err.info["steps"] if s["step"] == "migrate")
    assert "Online migration is disabled for guest slvm1." in migrate["comment"]
    assert "Additional info" not in migrate["comment"] and "Additional info" not in err.error
    pkg = _package(sim, "slvm1")
    assert pkg["node"] == "xyzo1" and pkg["state"] == "running" and pkg["autorun"] is True
    assert _guest_on(sim)["slvm1"] == "xyzo1"
