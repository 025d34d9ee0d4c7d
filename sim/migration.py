"""The online migration engine shared by ``hpvmmigrate -o`` and ``cmmovevpkg``.

A migration is recorded in the state (guest, source, target, phase, pid) and the lock is released
while each phase "takes time", so other commands (``hpvmstatus`` showing ``out:xyzo2:Copy``, a
``sgsim node down``) run meanwhile. Each phase re-locks to check that the record is still ours: a
``node down`` of either host deletes it, and a record whose process died is cleared by the next
command (store.py), in both cases with the guest left running on the source (unless the source
itself went down). SIGTERM/SIGINT abort cleanly.
"""

import os
import signal
import sys
import time

from sgsim import faults, model
from sgsim.errors import Aborted, SimError
from sgsim.names import PHASES
from sgsim.store import _critical, process_start_time

# Simulated seconds of the fixed phases; Copy is memory / link bandwidth, Frozen grows with memory.
INIT_S, QUIESCE_S, COMPLETION_S = 2.0, 1.0, 1.0
CHECKS = (
    "target_host",
    "memory",
    "vswitch",
    "storage",
    "cpu_family",
    "online_migration",
    "guest_state",
    "migration_busy",
)


class MigrationFailed(SimError):
    """The migration did not happen; the guest stays on the source (``lines`` say why)."""

    def __init__(self, *lines, by_signal=False, commit=False):
        super().__init__(*lines, commit=commit)
        self.by_signal = by_signal


def aborted_line(phase, source_up=True):
    head = f"hpvmmigrate: Online migration aborted in {phase} phase."
    if source_up:
        return f"{head} Guest remains running on source VM Host."
    return f"{head} Source VM Host is down; guest is not running."


def phase_seconds(memory_mb, link_mbps):
    """Simulated duration of every phase for a guest of ``memory_mb`` over ``link_mbps``."""
    return {
        "Init": INIT_S,
        "Copy": memory_mb * 8.0 / link_mbps,
        "I/O quiesce": QUIESCE_S,
        "Frozen": 0.2 + memory_mb / 16384.0,
        "Completion": COMPLETION_S,
    }


def checks(st, guest_name, source, target):
    """Every check of the reference: ``[(name, passed, reason)]`` in CHECKS order."""
    nodes, guest = st["nodes"], st["guests"][guest_name]
    verdict = {}
    if target not in nodes:
        verdict["target_host"] = f"Target VM Host {target} is not a known VM Host."
    elif target == source:
        verdict["target_host"] = "Target VM Host is the source VM Host."
    elif nodes[target]["status"] != "up":
        verdict["target_host"] = f"Target VM Host {target} is not responding."
    if "target_host" in verdict:
        for name in ("memory", "vswitch", "storage", "cpu_family"):
            verdict[name] = "Target VM Host unavailable."
    else:
        tnode = nodes[target]
        free = model.free_memory(st, target)
        if free < guest["memory_mb"]:
            verdict["memory"] = f"Target VM Host has {free} MB free, guest needs {guest['memory_mb']} MB."
        if any(v not in tnode["vswitches"] for v in guest["vswitches"]):
            verdict["vswitch"] = "Target VM Host error - vswitch validation failed."
        if any(d not in tnode["devices"] for d in guest["devices"]):
            verdict["storage"] = "Target VM Host error - Device does not exist."
        sfam = nodes[source]["cpu_family"]
        if tnode["cpu_family"] != sfam:
            verdict["cpu_family"] = (
                f"Target VM Host CPU family {tnode['cpu_family']} is not compatible "
                f"with source CPU family {sfam}."
            )
    if not guest["online_migration"]:
        verdict["online_migration"] = f"Online migration is disabled for guest {guest_name}."
    if guest["runs_on"] != source:
        verdict["guest_state"] = f"Guest {guest_name} is not running on this VM Host."
    for rec in st["migrations"].values():
        busy = {rec["source"], rec["target"]} & {source, target}
        if busy:
            verdict["migration_busy"] = (
                f"VM Host {sorted(busy)[0]} is already taking part in an online migration."
            )
            break
    return [(name, name not in verdict, verdict.get(name, "")) for name in CHECKS]


def begin(st, guest_name, source, target, package=None):
    """Check and record a migration (inside the caller's transaction); MigrationFailed if a check fails."""
    failed = [reason for _, ok, reason in checks(st, guest_name, source, target) if not ok]
    if failed:
        raise MigrationFailed(*(f"hpvmmigrate: {r}" for r in dict.fromkeys(failed)), aborted_line("Init"))
    slow = faults.take_slow(st, guest_name)
    rec = {
        "guest": guest_name,
        "source": source,
        "target": target,
        "phase": "Init",
        "pid": os.getpid(),
        "pid_start": process_start_time(os.getpid()),
        "package": package,
        "factor": slow["factor"] if slow else 1.0,
        "started": time.time(),
    }
    st["migrations"][guest_name] = rec
    return rec


def _on_signal(signum, frame):
    def abort():
        raise Aborted(signal.Signals(signum).name)

    if _critical["depth"] > 0:
        _critical["pending"] = abort  # raised when the lock is released: never half a write
    else:
        abort()


class Engine:
    """Drives one recorded migration through its phases. ``say`` receives progress lines."""

    def __init__(self, ctx, rec, say, on_commit=None):
        self.ctx = ctx
        self.guest = rec["guest"]
        self.source = rec["source"]
        self.target = rec["target"]
        self.factor = rec["factor"]
        self.pid = rec["pid"]
        self.say = say
        self.on_commit = on_commit
        self.phase = "Init"
        self.committed = False
        self.clock = None  # time.monotonic() at which the current simulated step ends

    def run(self, st_first):
        """Run all phases; the Init phase's faults were not yet looked at. Returns on success."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _on_signal)
        try:
            sim = st_first["sim"]
            memory = st_first["guests"][self.guest]["memory_mb"]
            secs = phase_seconds(memory, sim["link_mbps"])
            scale = sim["time_scale"] * self.factor
            # Phases are timed against one clock started here: the state transactions of the
            # phase changes happen within the phases' simulated durations, not on top of them, as
            # a real migration's bookkeeping does not lengthen its copy.
            self.clock = time.monotonic()
            for phase in PHASES:
                self._enter(phase)
                self._progress(phase, secs, scale, memory)
            self._commit()
        except Aborted:
            self._cleanup()
            raise MigrationFailed(aborted_line(self.phase), by_signal=True) from None
        except MigrationFailed:
            raise
        except BaseException:
            self._cleanup()
            raise

    def _ours(self, st):
        rec = st["migrations"].get(self.guest)
        return rec is not None and rec["pid"] == self.pid

    def _lost(self, st, commit=False):
        """The record vanished: a node went down (or someone reaped us). Say what happened."""
        nodes = st["nodes"]
        lines = []
        if nodes[self.source]["status"] != "up":
            lines.append(f"hpvmmigrate: Source VM Host {self.source} is down.")
        elif nodes[self.target]["status"] != "up":
            lines.append(f"hpvmmigrate: Target VM Host {self.target} is down.")
        else:
            lines.append("hpvmmigrate: The migration was cancelled.")
        lines.append(aborted_line(self.phase, nodes[self.source]["status"] == "up"))
        return MigrationFailed(*lines, commit=commit)

    def _enter(self, phase):
        self.phase = phase
        hang = False
        with self.ctx.store.transaction() as tx:
            st = tx.state
            if not self._ours(st):
                raise self._lost(st)
            st["migrations"][self.guest]["phase"] = phase
            tx.changed()
            fault = faults.take_phase_fault(st, self.guest, phase, (self.source, self.target))
            if fault is not None and fault["kind"] == "migration-fail":
                del st["migrations"][self.guest]
                raise MigrationFailed(f"hpvmmigrate: {fault['message']}", aborted_line(phase), commit=True)
            if fault is not None and fault["kind"] == "node-down":
                model.node_down(st, fault["node"])
                raise self._lost(st, commit=True)
            hang = fault is not None
        while hang:  # migration-hang: until a signal aborts us
            time.sleep(3600)

    def _until(self, seconds):
        """Sleep until ``seconds`` of simulated time have passed since the migration's clock started."""
        self.clock += seconds
        left = self.clock - time.monotonic()
        if left > 0:
            time.sleep(left)

    def _progress(self, phase, secs, scale, memory):
        duration = secs[phase] * scale
        if phase == "Copy":
            for quarter in (1, 2, 3, 4):
                self._until(duration / 4)
                done = memory * quarter // 4
                self.say(f"hpvmmigrate: Copy phase: {quarter * 25}% complete ({done} MB of {memory} MB).")
            return
        self._until(duration)
        if phase == "Frozen":
            self.say(
                f"hpvmmigrate: Frozen phase: 100% complete (frozen {secs['Frozen'] * self.factor:.2f} s)."
            )
        elif phase != "Completion":
            self.say(f"hpvmmigrate: {phase} phase: 100% complete.")

    def _commit(self):
        try:
            self._commit_state()
        except Aborted:
            # A signal deferred while the lock was held fires on release: after the commit was
            # written, the migration has happened and is reported as such.
            if not self.committed:
                raise
        self.say("hpvmmigrate: Completion phase: 100% complete.")
        self.say("hpvmmigrate: Guest migrated successfully.")

    def _commit_state(self):
        with self.ctx.store.transaction() as tx:
            st = tx.state
            if not self._ours(st):
                raise self._lost(st)
            guest = st["guests"][self.guest]
            guest["runs_on"] = self.target
            if self.target not in guest["hosts"]:
                guest["hosts"].append(self.target)
            if self.target in guest["not_runnable"]:
                guest["not_runnable"].remove(self.target)
            if self.source not in guest["not_runnable"]:
                guest["not_runnable"].append(self.source)
            del st["migrations"][self.guest]
            if self.on_commit is not None:
                self.on_commit(st)
            tx.changed()
            self.committed = True

    def _cleanup(self):
        """Abort: drop our record; the guest never left the source."""
        with self.ctx.store.transaction() as tx:
            if self._ours(tx.state):
                del tx.state["migrations"][self.guest]
                tx.changed()


def printer(stream=None):
    """A ``say`` that writes and flushes each line (callers stream the output)."""

    def say(line):
        out = stream or sys.stdout
        out.write(line + "\n")
        out.flush()

    return say
