"""Pure decisions of an online move of a guest package (no Salt, no commands).

The host-side ``vpkg.move`` runs the commands; this module decides what their results mean:
where the guest is after a migration, what switching must be put back, and what to tell the
operator when it cannot be put back safely.  Kept pure so every branch is tested on data.
"""

import shlex

# Where the guest runs after the migration step, as far as the source VM host can tell.
ON_TARGET = "target"
ON_SOURCE = "source"
UNKNOWN = "unknown"


def switching_snapshot(package):
    """Record a package's switching (global AUTO_RUN and per node) before we touch it."""
    return {
        "autorun": bool(package.get("autorun")),
        "switching": dict(package.get("switching") or {}),
    }


def guest_location(migrate_ok, source_state):
    """Decide where the guest runs from the migration's exit and the source copy's state.

    Integrity VM marks the source copy Not Runnable (``Off (NR)``) only once the guest runs on
    the target, and a failed or aborted online migration leaves it running (``On``) on the
    source.  Any other combination (success reported but the guest still On here, failure
    reported but the copy already Not Runnable, the guest gone) means we cannot tell, and the
    caller must not re-enable switching: Serviceguard could then start a second copy.
    """
    if migrate_ok and source_state == "Off (NR)":
        return ON_TARGET
    if not migrate_ok and source_state == "On":
        return ON_SOURCE
    return UNKNOWN


def command_line(argv):
    """An argument list as an operator would type it (for messages only, never executed)."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def restore_switching_argv(package, snapshot):
    """The commands that put switching back as recorded (global switching only changes)."""
    if snapshot.get("autorun"):
        return [["cmmodpkg", "-e", package]]
    return []


def recovery_commands(package, guest, source, target):
    """What an operator runs when the guest's location could not be established."""
    return [
        command_line(["hpvmstatus", "-P", guest]) + f"    # on {source} and on {target}: where is it On?",
        command_line(["cmrunpkg", "-n", "<node where the guest is On>", package]),
        command_line(["cmmodpkg", "-e", package]),
    ]


def unknown_location_message(package, guest, source, target, detail):
    """The error for the one case where switching is deliberately left disabled."""
    steps = "; then ".join(recovery_commands(package, guest, source, target))
    return (
        f"Package {package}: the location of guest {guest} could not be established after the "
        f"online migration from {source} to {target} ({detail}). Package switching is LEFT "
        f"DISABLED so that Serviceguard cannot start a second copy. To restore protection: {steps}"
    )


def adopt_failed_message(package, guest, target, detail):
    """The error when the guest runs on the target but Serviceguard would not adopt it there."""
    return (
        f"Package {package}: guest {guest} now runs on {target}, but Serviceguard did not start the "
        f"package there ({detail}). Package switching is LEFT DISABLED. Once {target} can take the "
        f"package, restore protection with: "
        f"{command_line(['cmrunpkg', '-n', target, package])}; then "
        f"{command_line(['cmmodpkg', '-e', package])}"
    )


def step(name, ok, seconds, comment="", **extra):
    """One entry of a move's step list."""
    entry = {"step": name, "result": bool(ok), "seconds": round(float(seconds), 3), "comment": comment}
    entry.update(extra)
    return entry


def failed_checks(checks):
    """The reasons of the checks that did not pass."""
    return [f"{c['name']}: {c.get('reason') or 'failed'}" for c in checks if not c.get("ok")]


def refused_before_change(result):
    """True when a failed move stopped at its preflight: nothing was changed, it may be retried."""
    steps = result.get("steps") or []
    return result.get("result") is False and bool(steps) and all(s.get("step") == "preflight" for s in steps)


class ProgressFilter:
    """Which of a move's progress events are worth showing to the operator.

    The host fires one event per ``hpvmmigrate`` progress line. Each shown event costs the
    runner about 10 ms of printing (Salt's outputter machinery) in the thread that runs the move,
    so: every new phase, every final event, and otherwise at most one per ``interval`` seconds.
    """

    def __init__(self, interval=1.0):
        self.interval = float(interval)
        self.last = {}  # key -> (phase, when shown)

    def __call__(self, key, phase, now, final=False):
        seen = self.last.get(key)
        if final or seen is None or seen[0] != phase or now - seen[1] >= self.interval:
            self.last[key] = (phase, now)
            return True
        return False
