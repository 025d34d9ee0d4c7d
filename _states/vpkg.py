"""
Keep HP Serviceguard VM guest packages on the nodes you choose.

.. code-block:: yaml

    slvm1:
      vpkg.placed:
        - node: xyzo2

Apply it in a highstate on the VM hosts: the host that runs the package asks the master to
move it (every other host reports that the move is not its to make). The move is the master's
``vpkg.move``, run by the same engine as ``salt-run vpkg.move``: with its reservations, locks,
audit entry and failover handling. The host asks through Salt's peer runner publishing, which
the master must allow for the VM hosts' minion ids (nothing else is needed; without it the
state fails and says what to configure, it never moves the guest behind the master's back):

.. code-block:: yaml

    # master config
    peer_run:
      'xyzo[0-9]+':             # the VM hosts' minion (or proxy) ids, a regular expression
        - vpkg_peer\\..*          # the vpkg_peer runner: vpkg_peer.place and vpkg_peer.result

``sls/vpkg/placement.sls`` in this project renders these states from a pillar map
``vpkg:placement: {package: node}``.

:depends: the ``vpkg`` and ``serviceguard`` execution modules of this project, Salt's
    ``publish`` module, and the ``vpkg`` runner on the master
:configuration: ``peer_run`` on the master, as above
"""

import re
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "vpkg"

# The master's runner functions the state calls (peer_run must allow both).
PLACE, RESULT = "vpkg_peer.place", "vpkg_peer.result"
# Seconds between two questions whether the master's move has ended, and beyond its migration
# timeout to wait for its answer.
POLL, GRACE = 1.0, 180

# Letters, digits, '.', '-', '_'; at most 39; starting and ending with a letter or digit.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?")


def __virtual__():
    if "vpkg.move" in __salt__:
        return __virtualname__
    return (False, "The vpkg state needs the vpkg execution module (serviceguard and hpvm commands)")


def _valid(value):
    """Serviceguard's name rule (the state may only call __salt__, so the rule is restated here)."""
    return isinstance(value, str) and bool(_NAME.fullmatch(value))


def placed(name, node):
    """
    Ensure the guest package ``name`` runs on Serviceguard node ``node``, moving it online if not.

    name
        The guest package.
    node
        The node it must run on.

    A move that fails half-way (the guest migrated, Serviceguard did not adopt it) is a failure
    whose ``changes`` say what did change: ``guest`` (where it runs), ``package_switching`` (left
    disabled) and ``node`` (where Serviceguard shows the package, when that changed).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 state.single vpkg.placed name=slvm1 node=xyzo2 test=True
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    for value, what in ((name, "package"), (node, "node")):
        if not _valid(value):
            ret["comment"] = f"{what} {value!r} is not a valid Serviceguard name; nothing was run."
            return ret
    try:
        current = __salt__["serviceguard.package"](name)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = str(exc)
        return ret
    where = current.get("node")
    if where == node:
        ret["result"] = True
        ret["comment"] = f"Package {name} already runs on {node}."
        return ret
    if not where:
        ret["comment"] = f"Package {name} is not running on any node; vpkg.placed moves running guests only."
        return ret
    here = __salt__["vpkg.local_node"]()
    if where != here:
        # Only the VM host running the guest can migrate it; its own highstate will.
        ret["result"] = True
        ret["comment"] = (
            f"Package {name} runs on {where}, not here ({here}); {where} makes the move to {node}."
        )
        return ret

    change = {"node": {"old": where, "new": node}}
    if __opts__["test"]:
        try:
            preflight = __salt__["vpkg.check"](name, node)
        except (CommandExecutionError, SaltInvocationError) as exc:
            ret["comment"] = str(exc)
            return ret
        failed = [f"{c['name']}: {c['reason']}" for c in preflight["checks"] if not c["ok"]]
        if failed:
            ret["comment"] = f"Package {name} cannot move from {where} to {node}: " + "; ".join(failed)
            return ret
        ret["result"] = None
        ret["changes"] = change
        ret["comment"] = f"Package {name} would move online from {where} to {node}; every check passes."
        return ret

    moved = _move_through_master(name, node)
    if moved.get("result") is not True:
        ret["comment"] = moved.get("comment") or str(moved)
        if moved.get("steps"):
            ret["comment"] += "\nSteps: " + ", ".join(
                f"{s['step']}={'ok' if s['result'] else 'FAILED'}" for s in moved["steps"]
            )
        # A move can fail half-way (the guest migrated, the adopt step failed): say what changed.
        now, unread = _node_now(name)
        ret["changes"] = _failed_move_changes(moved, where, None if unread else (now,))
        if unread:
            ret["comment"] += f"\nThe package could not be read afterwards: {unread}"
        return ret

    ret["changes"] = change
    now, unread = _node_now(name)
    if unread:
        ret["comment"] = (
            f"vpkg.move reported that package {name} moved to {node}, but the package could not be "
            f"read afterwards to confirm it: {unread}"
        )
        return ret
    if now != node:
        ret["changes"] = {"node": {"old": where, "new": now}} if now != where else {}
        ret["comment"] = f"vpkg.move reported success but package {name} runs on {now}, not {node}."
        return ret
    ret["result"] = True
    ret["comment"] = moved.get("comment", f"Package {name} moved to {node}.")
    return ret


def _peer_refused(fun):
    me = __opts__.get("id")
    return {
        "result": False,
        "comment": (
            f"The master refused {fun} from {me}: vpkg.placed moves guests through the master's "
            f"vpkg.move (reservations, locks, audit trail). Allow it in the master config: "
            f"peer_run: {{'{me}': ['vpkg_peer\\..*']}} (a regular expression matching the VM hosts' "
            "ids serves them all); nothing was moved."
        ),
    }


def _move_through_master(name, node):
    """The master's ``vpkg.move`` of ``name`` to ``node``: its result (``kind: move``).

    Started with ``vpkg.place`` (which returns at once: a peer call may last 60 s at most), then
    asked with ``vpkg.placement`` until it ends. Never raises.
    """
    if __opts__.get("file_client") == "local" or __opts__.get("master_type") == "disable":
        return {
            "result": False,
            "comment": "vpkg.placed moves guests through the master's vpkg.move, and this minion "
            "runs without a master (file_client: local); nothing was moved.",
        }
    started = __salt__["publish.runner"](PLACE, arg=[name, node])
    if started == {}:  # what the master answers a peer call its peer_run does not allow
        return _peer_refused(PLACE)
    if not isinstance(started, dict):
        return {
            "result": False,
            "comment": f"The master did not answer {PLACE}: {started}; nothing was moved.",
        }
    if started.get("result") is not None or not started.get("jid"):
        return started  # refused before the move started
    jid = started["jid"]
    deadline = time.monotonic() + float(started.get("timeout") or 3600) + GRACE
    while time.monotonic() < deadline:
        time.sleep(POLL)
        answer = __salt__["publish.runner"](RESULT, arg=[jid])
        if answer == {}:
            return _peer_refused(RESULT)
        if isinstance(answer, dict) and answer.get("result") is not None:
            return answer
    return {
        "result": False,
        "comment": (
            f"The master's move of package {name} to {node} (runner job {jid}) gave no result in "
            f"time; see salt-run jobs.lookup_jid {jid} and salt-run vpkg.status."
        ),
    }


def _node_now(name):
    """``(node the package runs on, None)``, or ``(None, why it could not be read)``: never raises."""
    try:
        return __salt__["serviceguard.package"](name).get("node"), None
    except (CommandExecutionError, SaltInvocationError) as exc:
        return None, getattr(exc, "error", None) or str(exc)


def _switching(enabled):
    return "enabled" if enabled else "disabled"


def _failed_move_changes(info, was_on, now=None):
    """What a failed ``vpkg.move`` changed, from its error's info (pure, so it is tested on data).

    ``info`` holds ``location`` (vpkg_move's ``target``, ``source`` or ``unknown`` once the
    migration ran, else None) and ``switching`` ``{before, after}`` (``after`` None when switching
    was never touched); ``now`` is ``(node the package runs on,)`` when it could be read
    afterwards, else None. Where the package runs is a change of ours only if the guest may have
    left: a move refused or failed before migrating changes no node.
    """
    changes = {}
    location = info.get("location")
    if location == "target":  # the guest runs on the target
        changes["guest"] = {"old": info.get("source") or was_on, "new": info.get("target")}
    switching = info.get("switching") or {}
    before, after = switching.get("before"), switching.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        if bool(before.get("autorun")) != bool(after.get("autorun")):
            changes["package_switching"] = {
                "old": _switching(before.get("autorun")),
                "new": _switching(after.get("autorun")),
            }
    if location in ("target", "unknown") and now is not None and now[0] != was_on:
        changes["node"] = {"old": was_on, "new": now[0]}
    return changes
