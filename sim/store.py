"""The shared cluster state: one JSON file in the simulator's home, guarded by an fcntl lock.

Every command of every simulated host reads and changes the state inside ``transaction()``: an
exclusive lock on ``home/lock``, a fresh load, and (only when something changed) a write to a
temporary file followed by ``os.replace``, so concurrent commands serialise and a crash never
leaves half a state. Migrations record their process id; a record whose process is gone is an
aborted migration and is cleared by whichever command loads the state next.
"""

import contextlib
import fcntl
import json
import os

from sgsim.errors import SimError

STATE_FILE = "state.json"
LOCK_FILE = "lock"

# Signal handlers of a migrating process defer SIGTERM/SIGINT while the lock is held, so an
# abort never interrupts a write half-way: see migration.py.
_critical = {"depth": 0, "pending": None}


def resolve_home(home=None):
    """Return the absolute simulator home: ``home``, else ``$SGSIM_HOME``; SimError if neither."""
    home = home or os.environ.get("SGSIM_HOME")
    if not home:
        raise SimError("sgsim: no simulator home: set SGSIM_HOME or pass --home DIR")
    return os.path.abspath(home)


def process_start_time(pid):
    """The kernel start time of ``pid`` (guards against pid reuse), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def process_alive(pid, start_time=None):
    """True when ``pid`` runs (not a zombie) and, if given, started at ``start_time``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True  # no /proc: trust kill(0)
    fields = data[data.rfind(b")") + 2 :].split()
    if fields and fields[0] == b"Z":
        return False
    if start_time is not None and len(fields) > 19 and int(fields[19]) != start_time:
        return False
    return True


class Transaction:
    """The loaded state plus a dirty flag; ``changed()`` makes the exit write it back."""

    def __init__(self, state):
        self.state = state
        self.dirty = False

    def changed(self):
        self.dirty = True


class Store:
    """Access to one simulator home."""

    def __init__(self, home):
        self.home = home
        self.path = os.path.join(home, STATE_FILE)
        self.lock_path = os.path.join(home, LOCK_FILE)

    def exists(self):
        return os.path.exists(self.path)

    def create(self, state):
        """Create the home (0700) and write a fresh state (0600), replacing any previous one."""
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        os.chmod(self.home, 0o700)
        with self.transaction(create=True) as tx:
            tx.state = state
            tx.changed()

    @contextlib.contextmanager
    def transaction(self, create=False):
        """Lock, load, yield a Transaction; write back atomically if it changed and nothing raised."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise SimError(
                f"sgsim: no simulator home {self.home}: run 'sgsim init CLUSTER.yaml' first"
            ) from None
        except OSError as exc:
            raise SimError(f"sgsim: cannot open the simulator home {self.home}: {exc.strerror}") from None
        _critical["depth"] += 1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tx = Transaction(None if create else self._load())
            if tx.state is not None and tx.state.get("migrations"):
                _reap_dead_migrations(tx)
            try:
                yield tx
            except SimError as exc:
                # A consumed one-shot fault must stay consumed although the command fails.
                if exc.commit and tx.dirty:
                    self._write(tx.state)
                raise
            if tx.dirty:
                self._write(tx.state)
        finally:
            os.close(fd)  # closing releases the flock
            _critical["depth"] -= 1
            pending = _critical["pending"]
            if pending is not None and _critical["depth"] == 0:
                _critical["pending"] = None
                pending()

    def _load(self):
        try:
            with open(self.path, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            raise SimError(
                f"sgsim: no cluster state in {self.home}: run 'sgsim init CLUSTER.yaml' first"
            ) from None
        except ValueError as exc:
            raise SimError(f"sgsim: the cluster state in {self.path} is unreadable: {exc}") from None

    def _write(self, state):
        # Always written under the home's exclusive lock, so one fixed name cannot be shared by
        # two writers (and tempfile's import alone cost each command ~5 ms of start-up).
        tmp = os.path.join(self.home, ".state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _reap_dead_migrations(tx):
    """Clear migrations whose process died: the guest stays where it was (on the source)."""
    migrations = tx.state["migrations"]
    for guest, rec in list(migrations.items()):
        if not process_alive(rec["pid"], rec.get("pid_start")):
            del migrations[guest]
            tx.changed()
