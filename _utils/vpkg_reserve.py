"""Capacity held by moves in flight, shared by every runner process on the master.

Two ``salt-run vpkg.move`` started at once must never both fit into the same free capacity.
Each move reserves its package's weights on its target, under an exclusive file lock, *after*
its preflight passed against the capacity already reserved by the others; the reservation is
released when the move ends. A reservation whose runner process died is dropped, so a killed
runner cannot hold capacity forever.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import time
import uuid

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_files
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_files


def pid_alive(pid):
    """True unless ``pid`` is certainly gone (a pid we may not signal still counts as alive)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


class Registry:
    """The moves in flight, stored as JSON beside a lock file (owner-only permissions)."""

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, "inflight.json")
        self.lock_path = os.path.join(directory, "inflight.lock")

    @contextlib.contextmanager
    def locked(self):
        """Hold the registry for a read-check-reserve sequence; yields a ``Session``."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            session = Session(self._load())
            yield session
            if session.dirty:
                self._save(session.entries)
        finally:
            os.close(fd)

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                entries = json.load(handle)
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            # A damaged registry must not block every move; it is rewritten on the next save.
            return []
        return [e for e in entries if isinstance(e, dict) and pid_alive(e.get("pid"))]

    def _save(self, entries):
        vpkg_files.write_private_json(self.path, entries)

    def release(self, entry_id):
        with self.locked() as session:
            session.remove(entry_id)

    def entries(self):
        with self.locked() as session:
            return list(session.entries)


class Session:
    """The registry's content while the lock is held."""

    def __init__(self, entries):
        self.entries = entries
        self.dirty = False

    def find(self, package):
        return next((e for e in self.entries if e["package"] == package), None)

    def in_flight(self):
        """The moves holding capacity: ``[{package, target, weights}]`` (``vpkg_capacity.held``)."""
        return [{k: e.get(k) for k in ("package", "target", "weights")} for e in self.entries]

    def add(self, package, source, target, weights, operation=None):
        entry = {
            "id": uuid.uuid4().hex,
            "package": package,
            "source": source,
            "target": target,
            "weights": dict(weights or {}),
            "operation": operation,
            "pid": os.getpid(),
            "since": time.time(),
        }
        self.entries.append(entry)
        self.dirty = True
        return entry

    def remove(self, entry_id):
        before = len(self.entries)
        self.entries = [e for e in self.entries if e["id"] != entry_id]
        self.dirty = self.dirty or len(self.entries) != before
