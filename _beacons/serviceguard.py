"""
Serviceguard beacon: an event when a node's or a guest package's status changes.

.. code-block:: yaml

    beacons:
      serviceguard:
        - interval: 10        # seconds between two looks (Salt's own beacon option)

Events (tag ``salt/beacon/<minion>/serviceguard/<kind>/<name>``):

- ``node/<node>``: ``{kind: node, node, old: {status, state}, new: {status, state}}`` when a node
  leaves or joins the cluster;
- ``package/<package>``: ``{kind: package, package, change, old: {status, state, node},
  new: {...}}`` where ``change`` is ``failed_over`` (now up on another node without a move by us),
  ``moved``, ``halted``, ``started`` or ``changed``.

The beacon loads only where the ``serviceguard`` execution module does (its commands are there);
elsewhere Salt logs why. The first look only records the cluster; changes are reported from the
second one on. Every cluster node sees the same cluster, so each change is reported by every node
running the beacon: consumers key on the tag, or run the beacon on one node.

:depends: the ``serviceguard`` execution module of this project
"""

__virtualname__ = "serviceguard"

_LAST = "serviceguard.beacon.last"


def __virtual__():
    # Without Serviceguard there is nothing to look at: not loading says why once, where an
    # error event every interval would not.
    if "serviceguard.cluster" in __salt__:
        return __virtualname__
    return (
        False,
        "The serviceguard beacon needs the serviceguard execution module, which did not load: no "
        "Serviceguard commands on this host (cmviewcl in serviceguard.bin_dir, default /usr/sbin)",
    )


def validate(config):
    """The beacon takes Salt's usual list of single-key dicts; only ``interval`` is meaningful.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 beacons.add serviceguard "[{'interval': 10}]"   # validated before it is added
    """
    if not isinstance(config, list):
        return False, "Configuration for serviceguard beacon must be a list."
    for item in config:
        if not isinstance(item, dict):
            return False, "Configuration for serviceguard beacon must be a list of dicts."
        unknown = set(item) - {"interval", "disable_during_state_run"}
        if unknown:
            return False, f"Unknown option(s) for serviceguard beacon: {', '.join(sorted(unknown))}"
    return True, "Valid beacon configuration"


def _snapshot(cluster):
    nodes = cluster["nodes"].items()
    return {
        "nodes": {n: {"status": v.get("status"), "state": v.get("state")} for n, v in nodes},
        "packages": {
            p: {"status": v.get("status"), "state": v.get("state"), "node": v.get("node")}
            for p, v in cluster["packages"].items()
        },
    }


def _package_change(old, new, nodes_now):
    if old["node"] and not new["node"]:
        return "halted"
    if not old["node"] and new["node"]:
        return "started"
    if old["node"] != new["node"]:
        # Serviceguard fails a package over when its node leaves; an online move leaves it up.
        old_node_up = (nodes_now.get(old["node"]) or {}).get("status") == "up"
        return "moved" if old_node_up else "failed_over"
    return "changed"


def changes(last, now):
    """The events between two snapshots (pure, so it is tested on data)."""
    events = []
    for node, new in now["nodes"].items():
        old = last["nodes"].get(node)
        if old is not None and old != new:
            events.append({"tag": f"node/{node}", "kind": "node", "node": node, "old": old, "new": new})
    for package, new in now["packages"].items():
        old = last["packages"].get(package)
        if old is not None and old != new:
            events.append(
                {
                    "tag": f"package/{package}",
                    "kind": "package",
                    "package": package,
                    "change": _package_change(old, new, now["nodes"]),
                    "old": old,
                    "new": new,
                }
            )
    return events


def beacon(config):
    """Look at the cluster once; return the changes since the previous look.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 beacons.add serviceguard "[{'interval': 10}]"
        salt-run state.event 'salt/beacon/*/serviceguard/*' pretty=True   # watch its events
    """
    try:
        now = _snapshot(__salt__["serviceguard.cluster"]())
    except Exception as exc:  # noqa: BLE001 - a beacon must keep running; say why it could not look
        return [{"tag": "error", "kind": "error", "error": str(exc)}]
    last = __context__.get(_LAST)
    __context__[_LAST] = now
    return [] if last is None else changes(last, now)
