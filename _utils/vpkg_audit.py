"""The audit trail on the master: who moved which guest package where, when, and how it ended.

One JSON object per line, appended to the file named by the master config key
``vpkg:audit_file``. Every move, evacuation, restore, rebalance and cancel is recorded; ``test=True``
runs change nothing and are not. ``salt-run vpkg.history`` reads the file back.

Why the file can be trusted with several runners writing at once: a record is opened with
``O_APPEND`` and written with one ``write()`` of whole lines while an exclusive ``flock`` is held,
so lines never interleave or overwrite each other, whatever the number of writers. A writer that
died mid-line leaves at most one partial line; the next writer starts on a fresh line and the
reader skips what does not parse. The file is created readable by its owner only (0600), in a
folder created 0700, and it is never a symlink (``O_NOFOLLOW``).

Wiring in the runner, after each operation::

    vpkg_audit.record_result(path, "move", ret, vpkg_audit.asker(__user__, requested_by))

Pure apart from the file itself: no Salt, standard library only.
"""

import datetime
import errno
import fcntl
import json
import logging
import os
import re
from datetime import UTC

log = logging.getLogger(__name__)

OPERATIONS = ("move", "evacuate", "restore", "rebalance", "cancel")

# The order of the fields on every line (json keeps insertion order), so the file reads well.
FIELDS = (
    "time",
    "user",
    "cluster",
    "operation",
    "package",
    "source",
    "target",
    "node",
    "result",
    "duration",
    "error",
)

# An error message longer than this is cut: a line must stay a line, not a log.
MAX_ERROR = 2000

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


class AuditError(OSError):
    """The audit file cannot be written or read; the message names the file and the cause."""


# -- entries --------------------------------------------------------------------------------------
def now_iso(now=None):
    """ISO 8601 UTC with milliseconds and a ``Z``: ``2026-11-26T01:22:41.123Z``."""
    moment = now or datetime.datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def asker(user=None, requested_by=None, tag=None):
    """Who asked: the Salt user, or ``reactor:<tag> from <minion>`` when a VM host's event did."""
    if requested_by:
        return f"reactor:{tag or 'vpkg/maintenance'} from {requested_by}"
    return str(user) if user else "unknown"


def make_entry(operation, user, **fields):
    """One audit entry with every field of ``FIELDS`` (None when not known).

    ``fields``: package, source, target, node, result (True/False), duration (seconds), error,
    time (ISO string or aware datetime; default now). Raises ``ValueError`` for an unknown
    operation or field.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown audit operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown audit field(s): {', '.join(sorted(unknown))}")
    when, result, duration, error = (fields.get(k) for k in ("time", "result", "duration", "error"))
    entry = {name: None if fields.get(name) is None else str(fields[name]) for name in FIELDS}
    entry.update(
        time=when if isinstance(when, str) else now_iso(when),
        user=str(user) if user else "unknown",
        operation=operation,
        result=None if result is None else bool(result),
        duration=None if duration is None else round(float(duration), 3),
        error=str(error)[:MAX_ERROR] if error else None,
    )
    return entry


def entries_from_result(operation, ret, user):
    """The entries that record a runner function's return ``ret``; ``[]`` for a test run.

    - ``move``: one entry for the package;
    - ``evacuate`` / ``restore`` / ``rebalance``: one entry per guest move (with its own outcome
      and duration), one per guest the plan could not place (result False, the reason), then one
      for the whole operation (package None; node set, except for a rebalance);
    - ``cancel``: one entry for the node.

    A return that is not a dict (an exception's text) becomes one failed entry.
    """
    if not isinstance(ret, dict):
        return [make_entry(operation, user, result=False, error=str(ret))]
    if ret.get("test") or (ret.get("result") is None and "moves" in ret and "goal" in ret):
        return []  # nothing changed: a test run or a plan
    ok = ret.get("result") and not ret.get("ignored")  # a refused reactor request did nothing
    error = None if ok else ret.get("comment")
    if operation == "move":
        return [
            make_entry(
                operation,
                user,
                package=ret.get("package"),
                source=ret.get("source"),
                target=ret.get("target"),
                node=ret.get("source"),
                result=bool(ok),
                duration=ret.get("seconds"),
                error=error,
            )
        ]
    node = None if operation == "rebalance" else ret.get("node")  # a rebalance's "node" is its strategy
    entries = []
    if operation in ("evacuate", "restore", "rebalance"):
        for move in ret.get("moves") or []:
            if not isinstance(move, dict):
                continue
            entries.append(
                make_entry(
                    operation,
                    user,
                    package=move.get("package"),
                    source=move.get("source"),
                    target=move.get("target"),
                    node=node,
                    result=bool(move.get("result")),
                    duration=move.get("seconds"),
                    error=None if move.get("result") else move.get("comment"),
                )
            )
        for item in ret.get("unplaced") or []:
            if isinstance(item, dict) and item.get("package"):
                reason = f"not placed: {item.get('reason') or 'no reason given'}"
                entries.append(
                    make_entry(
                        operation, user, package=item["package"], node=node, result=False, error=reason
                    )
                )
    entries.append(
        make_entry(operation, user, node=node, result=bool(ok), duration=ret.get("seconds"), error=error)
    )
    return entries


# -- writing --------------------------------------------------------------------------------------
def record(path, entry):
    """Append one entry (a dict) or several (a list of dicts) as JSON lines, atomically.

    Returns the list of entries written. Raises ``AuditError`` when the file cannot be written
    (the message names the file) and ``ValueError`` for an entry that is not JSON data.
    """
    entries = entry if isinstance(entry, list) else [entry]
    if not entries:
        return []
    lines = "".join(json.dumps(e, separators=(", ", ": "), allow_nan=False) + "\n" for e in entries)
    data = lines.encode("utf-8")
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise AuditError(exc.errno, f"cannot open the audit file {path}: {_why(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)  # an audit trail names people: the owner only
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            data = b"\n" + data  # a writer died mid-line: start ours on a fresh line
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise AuditError(exc.errno, f"cannot append to the audit file {path}: {_why(exc)}") from None
    finally:
        os.close(fd)  # also releases the lock
    return entries


def record_result(path, operation, ret, user, cluster=None):
    """``record(path, entries_from_result(operation, ret, user))``, each entry naming ``cluster``."""
    entries = entries_from_result(operation, ret, user)
    for entry in entries:
        entry["cluster"] = cluster
    return record(path, entries)


def audited(path, operation, ret, user=None, requested_by=None, phase=None, cluster=None):  # noqa: PLR0913
    """``ret`` with the operation appended to the trail at ``path`` (None: none kept).

    A write error never fails the operation that happened: it is logged and added to the
    return's ``warnings``.
    """
    if path:
        who = asker(user, requested_by, f"vpkg/maintenance/{phase}" if phase else None)
        try:
            record_result(path, operation, ret, who, cluster)
        except (AuditError, ValueError) as exc:
            log.error("vpkg: audit trail: %s", exc)
            ret.setdefault("warnings", []).append(f"audit trail not written: {exc}")
    return ret


def history(path, package=None, since=None, node=None, operation=None, cluster=None):  # noqa: PLR0913
    """The ``kind: history`` return of the entries at ``path`` that match; ValueError for bad filters."""
    if operation is not None and operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}")
    if not path:
        comment = "no audit trail: set vpkg:audit_file in the master config"
        return {"kind": "history", "entries": [], "comment": comment}
    entries = read(path, package=package, since=since, node=node, operation=operation)
    if cluster is not None:
        entries = [e for e in entries if e.get("cluster") == cluster]
    return {"kind": "history", "entries": entries}


def _why(exc):
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link (refused: the audit file must be a plain file)"
    return exc.strerror or str(exc)


# -- reading --------------------------------------------------------------------------------------
def parse_since(value, now=None):
    """An aware UTC datetime from ISO 8601 text (or a date/datetime), or ``30m``, ``1h``, ``2d``, ``1w`` ago.

    A time without a zone is UTC. Raises ``ValueError`` with the accepted forms otherwise.
    """
    now = now or datetime.datetime.now(UTC)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        match = _RELATIVE.match(value)
        if match:
            return now - datetime.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
        try:
            moment = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError(
        f"since must be an ISO 8601 time (2026-11-26T01:00:00Z, 2026-11-26) or an age such as "
        f"30s, 15m, 1h, 2d, 1w; not {value!r}"
    )


def _entry_time(entry):
    try:
        moment = datetime.datetime.fromisoformat(str(entry.get("time")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read(path, package=None, since=None, node=None, operation=None, now=None):
    """The entries of the audit file, oldest first, filtered; ``[]`` when the file does not exist.

    ``package``, ``node``, ``operation``: exact matches. ``since``: see ``parse_since``. Lines that
    do not parse (a writer that died mid-line) are skipped. Raises ``AuditError`` when the file
    exists but cannot be read, ``ValueError`` for a bad ``since``.
    """
    start = parse_since(since, now) if since is not None else None
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)  # a line being written is not read half
            raw = handle.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AuditError(exc.errno, f"cannot read the audit file {path}: {_why(exc)}") from None
    entries = []
    for line in raw.split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if package is not None and entry.get("package") != package:
            continue
        if node is not None and entry.get("node") != node:
            continue
        if operation is not None and entry.get("operation") != operation:
            continue
        if start is not None:
            moment = _entry_time(entry)
            if moment is None or moment < start:
                continue
        entries.append(entry)
    return entries
