"""The state store: owner-only files, atomic writes, dead migrations reaped."""

import os
import stat
import subprocess
import sys

import pytest

import sgsim
from sgsim import config
from sgsim.errors import SimError
from sgsim.store import Store, process_alive, process_start_time, resolve_home


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "home"))
    s.create(config.build_state(config.load_yaml(str(sgsim.example_path("seed")))))
    return s


def test_owner_only_permissions(store):
    assert stat.S_IMODE(os.stat(store.home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.lock_path).st_mode) == 0o600


def test_unchanged_transaction_does_not_write(store):
    before = os.stat(store.path).st_mtime_ns, os.stat(store.path).st_ino
    with store.transaction() as tx:
        tx.state["cluster"]["name"] = "changed-but-not-marked"
    assert (os.stat(store.path).st_mtime_ns, os.stat(store.path).st_ino) == before


def test_failed_transaction_leaves_state_alone(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.state["packages"]["slvm1"]["node"] = "xyzo9"
        tx.changed()
        raise RuntimeError("crash half-way")
    with store.transaction() as tx:
        assert tx.state["packages"]["slvm1"]["node"] == "xyzo1"
    assert [f for f in os.listdir(store.home) if f.endswith(".tmp")] == []


def test_committing_error_writes(store):
    with pytest.raises(SimError), store.transaction() as tx:
        tx.state["faults"].append({"id": 9})
        tx.changed()
        raise SimError("consumed", commit=True)
    with store.transaction() as tx:
        assert tx.state["faults"] == [{"id": 9}]


def test_dead_migration_is_reaped(store):
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=False
    )
    dead = int(proc.stdout)
    with store.transaction() as tx:
        tx.state["migrations"]["slvm1"] = {
            "guest": "slvm1",
            "source": "xyzo1",
            "target": "xyzo2",
            "pid": dead,
        }
        tx.state["migrations"]["ora1"] = {
            "guest": "ora1",
            "source": "xyzo1",
            "target": "xyzo3",
            "pid": os.getpid(),
            "pid_start": process_start_time(os.getpid()),
        }
        tx.changed()
    with store.transaction() as tx:
        assert list(tx.state["migrations"]) == ["ora1"]
        assert tx.state["guests"]["slvm1"]["runs_on"] == "xyzo1"


def test_process_alive():
    assert process_alive(os.getpid(), process_start_time(os.getpid()))
    assert not process_alive(os.getpid(), -1)  # same pid, another start time: reused pid
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while child.poll() is None:
        pass
    assert not process_alive(child.pid)


def test_missing_state_and_home(tmp_path, monkeypatch):
    with pytest.raises(SimError, match="sgsim init"), Store(str(tmp_path)).transaction():
        pass
    monkeypatch.delenv("SGSIM_HOME", raising=False)
    with pytest.raises(SimError, match="SGSIM_HOME"):
        resolve_home(None)
    monkeypatch.setenv("SGSIM_HOME", str(tmp_path))
    assert resolve_home(None) == str(tmp_path)
