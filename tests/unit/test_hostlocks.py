"""The VM host's locks: one move per package, one online migration per VM host at a time.

Two MigrationSlot objects open the lock file separately, as two job processes do: flock locks of
separate open files conflict within one process too.
"""

import os
import threading
import time

import pytest
import vpkg_hostlocks


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_a_free_slot_is_taken_at_once_without_waiting(tmp_path):
    slot = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    told = []
    assert slot.take(5, lambda: told.append(1)) < vpkg_hostlocks.MigrationSlot.POLL
    assert told == []
    slot.release()
    assert slot.fd is None


def test_a_move_waits_for_the_migration_before_it_and_gets_the_slot_when_it_ends(tmp_path):
    first = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    second = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    assert first.take(5) < vpkg_hostlocks.MigrationSlot.POLL
    told, waited = [], []
    waiter = threading.Thread(target=lambda: waited.append(second.take(10, lambda: told.append(1))))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and told == [1]  # told once that it waits, and still waiting
    first.release()
    waiter.join(5)
    assert not waiter.is_alive() and waited[0] >= 0.25
    third = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    with pytest.raises(vpkg_hostlocks.Busy):
        third.take(0.05)  # the second move holds it now
    second.release()
    assert third.take(5) < vpkg_hostlocks.MigrationSlot.POLL
    third.release()


def test_the_slot_of_another_node_is_not_this_one(tmp_path):
    mine = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    other = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo2")  # a deltaproxy's other VM host
    assert max(mine.take(5), other.take(5)) < vpkg_hostlocks.MigrationSlot.POLL
    mine.release()
    other.release()


def test_a_wait_that_times_out_says_so_and_never_holds_the_slot_later(tmp_path):
    holder = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    assert holder.take(5) < vpkg_hostlocks.MigrationSlot.POLL
    before = _open_fds()
    late = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    with pytest.raises(vpkg_hostlocks.Busy, match="did not end within 0 seconds; nothing was changed"):
        late.take(0.1)
    assert late.fd is None
    holder.release()
    # The move that gave up holds nothing: the next one gets the slot once the holder lets go.
    after = vpkg_hostlocks.MigrationSlot(str(tmp_path), "xyzo1")
    assert after.take(2) < 1.0
    after.release()
    deadline = time.monotonic() + 2
    while _open_fds() > before - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _open_fds() == before - 1  # the holder's descriptor and the late one's are closed


def test_a_second_move_of_a_package_is_refused_and_named(tmp_path):
    with vpkg_hostlocks.package_lock(str(tmp_path), "slvm1"):
        with pytest.raises(vpkg_hostlocks.Busy, match=rf"slvm1 is already in progress .*pid {os.getpid()}"):
            with vpkg_hostlocks.package_lock(str(tmp_path), "slvm1"):
                pass  # pragma: no cover - never entered
        with vpkg_hostlocks.package_lock(str(tmp_path), "slvm2"):
            pass  # another package moves beside it
    lock_file = tmp_path / "vpkg" / "locks" / "slvm1.lock"
    assert lock_file.read_text() == "" and oct(lock_file.stat().st_mode & 0o777) == "0o600"
    with vpkg_hostlocks.package_lock(str(tmp_path), "slvm1"):
        assert "pid" in lock_file.read_text()
