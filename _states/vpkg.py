"""
Keep HP Serviceguard VM guest packages on the nodes you choose.

.. code-block:: yaml

    slvm1:
      vpkg.placed:
        - node: xyzo2

Apply it in a highstate on the VM hosts: the host that runs the package moves it online (see
the ``vpkg`` execution module); every other host reports that the move is not its to make.
``sls/vpkg/placement.sls`` in this project renders these states from a pillar map
``vpkg:placement: {package: node}``.

:depends: the ``vpkg`` and ``serviceguard`` execution modules of this project
"""

import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "vpkg"

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

    try:
        moved = __salt__["vpkg.move"](name, node)
    except CommandExecutionError as exc:
        info = exc.info if isinstance(exc.info, dict) else {}
        ret["comment"] = getattr(exc, "error", str(exc))
        if info.get("steps"):
            ret["comment"] += "\nSteps: " + ", ".join(
                f"{s['step']}={'ok' if s['result'] else 'FAILED'}" for s in info["steps"]
            )
        # A move can fail half-way (the guest migrated, the adopt step failed): say what changed.
        now, unread = _node_now(name)
        ret["changes"] = _failed_move_changes(info, where, None if unread else (now,))
        if unread:
            ret["comment"] += f"\nThe package could not be read afterwards: {unread}"
        return ret
    except SaltInvocationError as exc:
        ret["comment"] = str(exc)
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
