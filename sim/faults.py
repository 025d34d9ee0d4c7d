"""One-shot faults: recorded in the state by ``sgsim fault add``, consumed when they trigger.

Kinds:
- ``migration-fail``  guest, phase, message: the guest's next migration fails in that phase;
- ``migration-hang``  guest, phase: it stops in that phase until the process is killed;
- ``migration-slow``  guest, factor: every phase of its next migration takes factor times longer;
- ``node-down``       node, phase: the node goes down when the next migration involving it
  (as source or target) reaches that phase;
- ``command-fail``    command, message, optional node: the command's next run fails.
"""

from sgsim.errors import SimError
from sgsim.names import PHASES, phase_name

KINDS = ("migration-fail", "migration-hang", "migration-slow", "node-down", "command-fail")
COMMANDS = (
    "cmviewcl",
    "cmmodpkg",
    "cmrunpkg",
    "cmhaltpkg",
    "cmmovevpkg",
    "hpvmstatus",
    "hpvmmigrate",
    "hpvmmodify",
)


def add(st, kind, target, value=None, message=None, node=None):
    """Validate and record a fault; return it (with its id)."""
    fault = {"kind": kind}
    if kind not in KINDS:
        raise SimError(f"sgsim: unknown fault kind {kind!r} (one of {', '.join(KINDS)})")
    if kind in ("migration-fail", "migration-hang", "migration-slow"):
        if target not in st["guests"]:
            raise SimError(f"sgsim: unknown guest {target!r}")
        fault["guest"] = target
    elif kind == "node-down":
        if target not in st["nodes"]:
            raise SimError(f"sgsim: unknown node {target!r}")
        fault["node"] = target
    else:
        if target not in COMMANDS:
            raise SimError(f"sgsim: unknown command {target!r} (one of {', '.join(COMMANDS)})")
        fault["command"] = target
        if node is not None and node not in st["nodes"]:
            raise SimError(f"sgsim: unknown node {node!r}")
        fault["node"] = node
        fault["message"] = message or f"{target}: Simulated failure."
    if kind == "migration-slow":
        try:
            factor = float(value)
        except (TypeError, ValueError):
            factor = 0.0
        if not factor > 0:
            raise SimError(f"sgsim: migration-slow needs a positive factor, got {value!r}")
        fault["factor"] = factor
    elif kind != "command-fail":
        phase = phase_name(value)
        if phase is None:
            raise SimError(f"sgsim: {kind} needs a phase (one of {', '.join(PHASES)}), got {value!r}")
        fault["phase"] = phase
        if kind == "migration-fail":
            fault["message"] = message or f"Simulated failure in {phase} phase."
    fault["id"] = st["next_fault_id"]
    st["next_fault_id"] += 1
    st["faults"].append(fault)
    return fault


def describe(fault):
    """One line for ``sgsim fault list``."""
    parts = [str(fault["id"]), fault["kind"]]
    for key in ("guest", "node", "command", "phase", "factor", "message"):
        if fault.get(key) is not None:
            parts.append(f"{key}={fault[key]}")
    return " ".join(parts)


def clear(st, fault_id=None):
    """Remove one fault (by id) or all; return how many were removed."""
    before = len(st["faults"])
    if fault_id is None:
        st["faults"] = []
    else:
        st["faults"] = [f for f in st["faults"] if f["id"] != fault_id]
        if len(st["faults"]) == before:
            raise SimError(f"sgsim: no fault with id {fault_id}")
    return before - len(st["faults"])


def _take(st, match):
    for i, fault in enumerate(st["faults"]):
        if match(fault):
            return st["faults"].pop(i)
    return None


def take_command_fault(st, command, node):
    """Consume the command-fail fault for ``command`` run on ``node``, if any."""
    if not st["faults"]:
        return None
    return _take(
        st,
        lambda f: f["kind"] == "command-fail" and f["command"] == command and f["node"] in (None, node),
    )


def take_slow(st, guest):
    return _take(st, lambda f: f["kind"] == "migration-slow" and f["guest"] == guest)


def take_phase_fault(st, guest, phase, hosts):
    """Consume the first fault that triggers when ``guest``'s migration between ``hosts`` enters ``phase``."""
    return _take(
        st,
        lambda f: (
            f.get("phase") == phase
            and (
                (f["kind"] in ("migration-fail", "migration-hang") and f["guest"] == guest)
                or (f["kind"] == "node-down" and f["node"] in hosts)
            )
        ),
    )
