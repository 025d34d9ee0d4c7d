"""Capacity reserved by moves in flight, shared through a locked file."""

import multiprocessing
import os
import stat

import vpkg_capacity
import vpkg_reserve

# What vpkg_capacity.held reads of a cluster: where each package runs (none of these yet).
NOWHERE = {"packages": {}}


def test_reserve_sum_and_release(tmp_path):
    reg = vpkg_reserve.Registry(str(tmp_path / "r"))
    with reg.locked() as s:
        a = s.add("p1", "n1", "n3", {"package_limit": 1, "mem": 2.5})
        s.add("p2", "n2", "n3", {"package_limit": 1})
        s.add("p3", "n1", "n2", {"mem": 4})
    with reg.locked() as s:
        held = vpkg_capacity.held(NOWHERE, s.in_flight())
        assert held == {"n3": {"package_limit": 2.0, "mem": 2.5}, "n2": {"mem": 4.0}}
        # p1 is already running on its target: Serviceguard counts it there, the registry no more
        arrived = {"packages": {"p1": {"node": "n3", "state": "running"}}}
        assert vpkg_capacity.held(arrived, s.in_flight()) == {
            "n3": {"package_limit": 1.0},
            "n2": {"mem": 4.0},
        }
        assert vpkg_capacity.held(NOWHERE, s.in_flight(), exclude="p3") == {
            "n3": {"package_limit": 2.0, "mem": 2.5}
        }
        assert s.find("p2")["target"] == "n3"
        assert s.find("nope") is None
    reg.release(a["id"])
    assert {e["package"] for e in reg.entries()} == {"p2", "p3"}


def test_files_are_owner_only(tmp_path):
    reg = vpkg_reserve.Registry(str(tmp_path / "r"))
    with reg.locked() as s:
        s.add("p1", "n1", "n2", {})
    assert stat.S_IMODE(os.stat(reg.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(reg.lock_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(reg.directory).st_mode) == 0o700


def test_an_entry_whose_runner_cannot_be_told_dead_keeps_its_hold():
    # Overcounting a target is safe, undercounting overbooks it: only a pid certainly gone drops.
    assert vpkg_reserve.pid_alive(os.getpid())
    assert vpkg_reserve.pid_alive(None)
    assert vpkg_reserve.pid_alive("not a pid")


def test_a_session_that_changes_nothing_writes_nothing(tmp_path):
    # Every move's preflight reads the registry under its lock: only a change rewrites the file.
    reg = vpkg_reserve.Registry(str(tmp_path / "r"))
    with reg.locked() as s:
        s.add("p1", "n1", "n2", {})
    before = os.stat(reg.path)
    with reg.locked() as s:
        assert s.find("p1") is not None
        s.remove("no such id")
    assert [e["package"] for e in reg.entries()] == ["p1"]
    after = os.stat(reg.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_dead_runner_reservation_is_dropped(tmp_path):
    reg = vpkg_reserve.Registry(str(tmp_path / "r"))
    proc = multiprocessing.get_context("fork").Process(target=lambda: None)
    proc.start()
    proc.join()
    with reg.locked() as s:
        s.add("p1", "n1", "n2", {"x": 1})
        s.entries[-1]["pid"] = proc.pid  # a runner that has exited
        s.add("p2", "n1", "n2", {"x": 1})
    assert [e["package"] for e in reg.entries()] == ["p2"]


def test_damaged_registry_does_not_block(tmp_path):
    reg = vpkg_reserve.Registry(str(tmp_path / "r"))
    os.makedirs(reg.directory)
    with open(reg.path, "w") as fh:
        fh.write("{not json")
    with reg.locked() as s:
        assert s.entries == []
        s.add("p1", "n1", "n2", {})
    assert len(reg.entries()) == 1


def _reserve_if_fits(path, capacity, barrier, results):
    reg = vpkg_reserve.Registry(path)
    barrier.wait()
    try:
        _reserve(reg, capacity, results)
    finally:
        barrier.wait()  # a reservation lives as long as its process: stay until all have tried


def _reserve(reg, capacity, results):
    with reg.locked() as s:
        held = vpkg_capacity.held(NOWHERE, s.in_flight()).get("n2", {}).get("slots", 0.0)
        if held + 1 <= capacity:
            s.add(f"p{os.getpid()}", "n1", "n2", {"slots": 1})
            results.put(True)
        else:
            results.put(False)


def test_concurrent_reservations_never_overbook(tmp_path):
    path = str(tmp_path / "r")
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_reserve_if_fits, args=(path, 2, barrier, results)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    granted = sum(results.get() for _ in procs)
    assert granted == 2
