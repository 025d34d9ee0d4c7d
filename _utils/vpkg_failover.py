"""After a move whose source node went down: let Serviceguard fail the package over, when it is safe.

A move turns package switching off for the migration. If the source node goes down meanwhile, the
guest stops with it and the host-side ``vpkg.move`` can only report that it cannot tell where the
guest is: switching stays off, and with it Serviceguard would leave the package down. The native
``cmmovevpkg`` re-enables switching in that case, and Serviceguard restarts the package on an
eligible node. This does the same from the master, but only once the guest is proven On nowhere:
the cluster view comes from a node that is up, every VM host where the guest could be is asked
(the VM layer's ``vpkg_vm.GUEST_FUNCTION``), and ``cmmodpkg -e`` runs on an up node. The decision is
``vpkg_move.source_down_failover``; this module gathers its evidence and acts on it. The result
stays ``result: False`` (the move did not happen); its comment says what happened instead.
"""

import logging
import pathlib
import time

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_master, vpkg_move, vpkg_vm
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_master
    import vpkg_move
    import vpkg_vm

log = logging.getLogger(__name__)


def after_failed_move(master, result, progress=None):
    """``result`` unchanged unless its source node is down; else the failover's outcome added to it."""
    if not vpkg_move.left_off_location_unknown(result):
        return result
    started = time.monotonic()
    package, guest = result.get("package"), result.get("guest")
    source, target = result.get("source"), result.get("target")
    try:
        cluster, reporter = master.cluster(from_up_node=True)
    except vpkg_master.NoClusterView as exc:
        log.warning("vpkg: after the failed move of %s, no up node showed the cluster: %s", package, exc)
        return result  # whether the source is down cannot be told: the error stands as it is
    if not vpkg_move.node_down(cluster, source):
        return result  # the source is up: the guest's location is simply unknown
    if progress is not None:
        progress(
            f"{package}: source node {source} is down; asking where guest {guest} is",
            package=package,
            source=source,
            target=target,
        )
    guests = {}
    for node in vpkg_move.nodes_to_ask(cluster, package, source, target):
        ok, answer = master.call(node, vpkg_vm.GUEST_FUNCTION, [guest])
        guests[node] = answer if ok and isinstance(answer, dict) else None
    verdict, reason = vpkg_move.source_down_failover(result, cluster, guests)
    ret = dict(result, steps=list(result.get("steps") or []))
    if verdict == vpkg_move.FAILOVER_KEEP:
        return _kept(ret, reason, started)
    enabled_on = None
    if verdict == vpkg_move.FAILOVER_ENABLE:
        enabled_on = master.node(reporter)
        ok, answer = master.call(enabled_on, "serviceguard.enable_switching", [package])
        if not ok:
            failed = f"{reason}, but cmmodpkg -e {package} on {enabled_on} failed: {answer}"
            return _kept(ret, failed, started)
    try:
        pkg_now = master.cluster(from_up_node=True)[0]["packages"].get(package)
    except vpkg_master.NoClusterView:
        pkg_now = None
    before = (result.get("switching") or {}).get("before") or {}
    after = (
        vpkg_move.switching_snapshot(pkg_now)
        if isinstance(pkg_now, dict)
        else {"autorun": True, "switching": dict(before.get("switching") or {})}
    )
    ret["comment"] = vpkg_move.failover_message(result, verdict, reason, enabled_on, pkg_now)
    ret["switching"] = {"before": before, "after": after}
    ret["failover"] = {
        "reason": reason,
        "enabled_on": enabled_on,
        "node": (pkg_now or {}).get("node"),
        "state": (pkg_now or {}).get("state"),
    }
    done = f"cmmodpkg -e {package} on {enabled_on}" if enabled_on else "switching already enabled"
    ret["steps"].append(vpkg_move.step("failover", True, time.monotonic() - started, f"{done}; {reason}"))
    return ret


def _kept(ret, reason, started):
    ret["comment"] = f"{ret.get('comment', '')}{vpkg_move.failover_kept_note(reason)}"
    ret["steps"].append(vpkg_move.step("failover", False, time.monotonic() - started, reason))
    return ret
