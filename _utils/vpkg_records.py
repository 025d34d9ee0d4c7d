"""What the master remembers between runner calls: placements, maintenance, cancellations, results.

All under ``<cachedir>/vpkg/`` with owner-only permissions, written atomically:

- ``placement/<node>.json``: where each guest package ran before ``vpkg.evacuate NODE``; it is
  what ``vpkg.restore NODE`` moves back, and while it exists the node is *in maintenance*;
- ``cancel/<node>``: asks the evacuation of NODE to start no new move;
- ``last/<operation>-<node>.json``: the last result of an operation, read by ``vpkg.cancel``;
- ``locks/<operation>-<node>.lock``: one evacuation (or restore) of a node at a time;
- ``journal/<id>.json``: each node-level operation's plan and the fate of every move, rewritten
  as moves start and end. A journal still ``running`` whose runner process is gone is an
  *interrupted* operation: ``vpkg.status`` shows it and the next ``vpkg.evacuate`` of that node
  resumes it (re-planned from where the guests are now).
"""

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import time
import uuid

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_files, vpkg_reserve
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_files
    import vpkg_reserve


def _pending(move):
    return {"source": move["source"], "target": move["target"], "status": "pending", "comment": ""}


class Busy(Exception):
    """Another runner holds the operation's lock."""


class Records:
    def __init__(self, directory):
        self.directory = directory

    def _path(self, *parts):
        path = os.path.join(self.directory, *parts)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return path

    def _write(self, path, data):
        vpkg_files.write_private_json(path, data, indent=1, sort_keys=True)

    def _read(self, path, default=None):
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            return default

    # -- placement / maintenance ---------------------------------------------------------------
    def placement(self, node):
        """``{"node", "since", "requested_by", "packages": {package: node}}`` or None."""
        return self._read(self._path("placement", f"{node}.json"))

    def record_placement(self, node, packages, requested_by=None):
        """Remember where ``packages`` ran; an earlier record (a retried evacuation) is kept and extended."""
        record = self.placement(node) or {
            "node": node,
            "since": time.time(),
            "requested_by": requested_by,
            "packages": {},
        }
        for package, where in packages.items():
            record["packages"].setdefault(package, where)
        self._write(self._path("placement", f"{node}.json"), record)
        return record

    def forget_placement(self, node):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path("placement", f"{node}.json"))

    # -- cancellation --------------------------------------------------------------------------
    def cancel(self, node):
        self._write(self._path("cancel", node), {"since": time.time()})

    def cancelled(self, node):
        return os.path.exists(self._path("cancel", node))

    def clear_cancel(self, node):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path("cancel", node))

    # -- last results --------------------------------------------------------------------------
    def save_result(self, operation, node, result):
        self._write(self._path("last", f"{operation}-{node}.json"), result)

    def last_result(self, operation, node):
        return self._read(self._path("last", f"{operation}-{node}.json"))

    # -- one operation per node ----------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self, operation, node):
        fd = os.open(self._path("locks", f"{operation}-{node}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise Busy(f"an {operation} of node {node} is already in progress") from None
                raise
            yield
        finally:
            os.close(fd)

    def running(self, operation, node):
        """True while some runner holds the operation's lock for ``node``."""
        try:
            with self.exclusive(operation, node):
                return False
        except Busy:
            return True

    # -- operation journal ---------------------------------------------------------------------
    def journal_open(self, operation, node, moves, requested_by=None):
        entry = {
            "id": f"{time.strftime('%Y%m%dT%H%M%S')}-{operation}-{node}-{uuid.uuid4().hex[:6]}",
            "operation": operation,
            "node": node,
            "requested_by": requested_by,
            "pid": os.getpid(),
            "started": time.time(),
            "state": "running",
            "moves": {m["package"]: _pending(m) for m in moves},
        }
        self._write(self._path("journal", f"{entry['id']}.json"), entry)
        return entry

    def journal_update(self, entry, package, status, comment=""):
        entry["moves"].setdefault(package, {})
        entry["moves"][package].update({"status": status, "comment": comment})
        self._write(self._path("journal", f"{entry['id']}.json"), entry)

    def journal_close(self, entry, state, comment=""):
        entry.update({"state": state, "ended": time.time(), "comment": comment})
        self._write(self._path("journal", f"{entry['id']}.json"), entry)

    def journals(self):
        folder = os.path.dirname(self._path("journal", "x"))
        out = []
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                entry = self._read(os.path.join(folder, name))
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def interrupted(self, node=None):
        """Operations whose runner died before they ended (crash, kill, master restart)."""
        return [
            j
            for j in self.journals()
            if j.get("state") == "running"
            and not vpkg_reserve.pid_alive(j.get("pid"))
            and (node is None or j.get("node") == node)
        ]
