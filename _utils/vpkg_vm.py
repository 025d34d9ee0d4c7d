"""The VM layer of a move: HP Integrity VM, the only place that knows its words.

A move needs three things of the VM layer: its checks (the guest is On here, online migration is
enabled, ``hpvmmigrate -s``), the online migration itself with progress, and the guest's state
afterwards, read as *where the guest runs*. Integrity VM's words for that (``On``, ``Off``,
``Off (NR)`` for the source copy Not Runnable once the guest runs on the target, the
``hpvmstatus`` command operators use to look) live here and in ``vpkg_vmparse``; the move
procedure (``vpkg_hostmove``), the failover decision (``vpkg_move``) and the master only see
:data:`ON_TARGET` / :data:`ON_SOURCE` / :data:`UNKNOWN`, :func:`guest_stopped` and the function
names below.

:class:`IntegrityVM` drives the ``hpvm`` execution module of this VM host (``__salt__``).
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_vmparse
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_vmparse

# Where the guest runs after the migration step, as far as the source VM host can tell.
ON_TARGET = "target"
ON_SOURCE = "source"
UNKNOWN = "unknown"

# The execution module functions the master asks a VM host: one guest, every guest.
GUEST_FUNCTION = "hpvm.guest"
GUESTS_FUNCTION = "hpvm.guests"

RUNNING = "On"
NOT_RUNNABLE = "Off (NR)"  # the source copy once the guest runs on the target
STOPPED = ("Off", NOT_RUNNABLE)


def guest_location(migrate_ok, source_state):
    """Decide where the guest runs from the migration's exit and the source copy's state.

    Integrity VM marks the source copy Not Runnable (``Off (NR)``) only once the guest runs on
    the target, and a failed or aborted online migration leaves it running (``On``) on the
    source.  Any other combination (success reported but the guest still On here, failure
    reported but the copy already Not Runnable, the guest gone) means we cannot tell, and the
    caller must not re-enable switching: Serviceguard could then start a second copy.

    ``migrate_ok`` None: the migration's outcome is unknown (the connection to a VM host reached
    over SSH dropped while it ran, or HP's ``cmmovevpkg`` failed; its process has since ended
    there). The source copy alone then tells, as it does for Integrity VM itself: Not Runnable
    once the guest runs on the target, On while it runs here.
    """
    if migrate_ok is None:
        return {NOT_RUNNABLE: ON_TARGET, RUNNING: ON_SOURCE}.get(source_state, UNKNOWN)
    if migrate_ok and source_state == NOT_RUNNABLE:
        return ON_TARGET
    if not migrate_ok and source_state == RUNNING:
        return ON_SOURCE
    return UNKNOWN


def guest_stopped(answer):
    """True only for a :data:`GUEST_FUNCTION` answer showing the guest Off, with no migration in progress."""
    return isinstance(answer, dict) and answer.get("state") in STOPPED and not answer.get("migration")


def where_is_it_command(guest):
    """The command an operator runs on each VM host to see where the guest is On."""
    return ["hpvmstatus", "-P", guest]


def progress_of(line):
    """``{phase, percent}`` of an ``hpvmmigrate`` progress line (also printed by ``cmmovevpkg -v``)."""
    return vpkg_vmparse.parse_migrate_progress(line)


def guest_checks(info, guest, verdict=None):
    """The VM layer's preflight checks from ``hpvm.guest`` ``info`` and, if asked, ``hpvmmigrate -s``."""
    state = info.get("state")
    enabled = bool(info.get("online_migration"))
    checks = [
        {
            "name": "guest_state",
            "ok": state == RUNNING,
            "reason": f"guest {guest} is {state} on this VM host",
        },
        {
            "name": "online_migration",
            "ok": enabled,
            "reason": f"online migration is {'enabled' if enabled else 'disabled'} for guest {guest}",
        },
    ]
    if verdict is None:
        return checks
    for item in verdict.get("checks", []):
        checks.append(
            {
                "name": f"hpvmmigrate:{item['name']}",
                "ok": bool(item.get("passed")),
                "reason": item.get("reason") or ("passed" if item.get("passed") else "failed"),
            }
        )
    if not verdict.get("checks"):
        checks.append({"name": "hpvmmigrate", "ok": bool(verdict.get("migratable")), "reason": ""})
    return checks


class IntegrityVM:
    """The VM layer on this VM host, through the ``hpvm`` execution module (``salt``: ``__salt__``)."""

    def __init__(self, salt):
        self.salt = salt

    def guests(self):
        return self.salt[GUESTS_FUNCTION]()

    def checks(self, guest, target, migrate_check=True, guests=None):
        """Integrity VM's verdicts; ``guests`` is :meth:`guests` when already read.

        A move leaves ``hpvmmigrate -s`` out: ``hpvmmigrate -o`` makes the same checks atomically
        before it changes anything, and a refusal there is the failure path that restores
        switching. Saves one command (about 25 ms) on every move.
        """
        info = (guests or {}).get(guest) or self.salt[GUEST_FUNCTION](guest)
        verdict = self.salt["hpvm.check_migrate"](guest, target) if migrate_check else None
        return guest_checks(info, guest, verdict)

    def migrate(self, guest, target, timeout, progress):
        """The online migration; raises CommandExecutionError as ``hpvm.migrate`` does."""
        return self.salt["hpvm.migrate"](guest, target, online=True, timeout=timeout, progress=progress)

    def state_here(self, guest):
        """The guest's state on this VM host; None while a migration of it is still shown."""
        info = self.salt[GUEST_FUNCTION](guest)
        return None if info.get("migration") else info.get("state")
