"""The runner's ``vpkg.check`` and ``vpkg.move`` of one package: a plan of one move.

The master's checks run on its view of the cluster (capacity net of moves in flight, node list,
switching, node status), then the source VM host's (online migration enabled, ``hpvmmigrate
-s``). A move is then handed to the one move engine (``vpkg_engine.Engine``) as a plan of one
move, exactly as an evacuation hands it many.
"""

import logging
import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity, vpkg_engine, vpkg_results
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_engine
    import vpkg_results

log = logging.getLogger(__name__)


def locate(cluster, package):
    """``(node the package runs on, "")``, or ``(None, why not)``."""
    pkg = cluster["packages"].get(package)
    if pkg is None:
        return None, f"package {package} is not a configured package name"
    if not pkg.get("node"):
        return None, f"package {package} is not running on any node"
    return pkg["node"], ""


def plan(cluster, package, target, reserved):
    """``(source, target, preflight)``: the target picked if none is given, checked against ``reserved``."""
    source, why = locate(cluster, package)
    if source is None:
        name = "package" if package not in cluster["packages"] else "running"
        return None, target, {"ok": False, "checks": [{"name": name, "ok": False, "reason": why}]}
    if target is None:
        target, reasons = vpkg_capacity.choose_target(cluster, package, reserved=reserved)
        if target is None:
            checks = [{"name": f"target:{n}", "ok": False, "reason": r} for n, r in reasons.items()]
            none = {"name": "target", "ok": False, "reason": f"no eligible node for package {package}"}
            return source, None, {"ok": False, "checks": checks or [none]}
    return source, target, vpkg_capacity.preflight(cluster, package, target, reserved=reserved, source=source)


def held(registry, cluster):
    """What the moves in flight hold on their targets, as ``cluster`` shows them."""
    with registry.locked() as session:
        return vpkg_capacity.held(cluster, session.in_flight())


def verdict(master, cluster, package, source, target, pre, kind="check"):
    """The master's checks, then, if they pass, the source VM host's: a ``vpkg_results.Verdict``."""
    checks = list(pre["checks"])
    if pre["ok"]:
        ok, host = master.call(source, "vpkg.check", [package, target], {"expected_node": source})
        if ok and isinstance(host, dict):
            seen = {c["name"] for c in checks}
            checks.extend(c for c in host.get("checks", []) if c["name"] not in seen)
        else:
            checks.append({"name": "source_host", "ok": False, "reason": f"{source}: {host}"})
    guest = (cluster["packages"].get(package) or {}).get("vm_name")
    return vpkg_results.Verdict(package, source, target, checks, guest=guest, kind=kind, test=kind == "move")


def check(master, registry, cluster, package, target, kind="check"):
    """``vpkg.check`` (or ``vpkg.move test=True``, ``kind`` "move"): the verdict as a dict."""
    source, target, pre = plan(cluster, package, target, held(registry, cluster))
    return verdict(master, cluster, package, source, target, pre, kind).to_dict()


def move_now(master, registry, package, target, timeout, progress):
    """``vpkg.move``: the move's result; ``vpkg_master.NoClusterView`` if no view can be read.

    A move to a named target may start from the view the last runner read (a Salt round trip
    saved): the host's preflight re-reads ``cmviewcl`` with the moves in flight passed along and
    has the last word, and a move the kept view got wrong (refused, nothing changed) is tried once
    more on a fresh view. The best target (no target given) is chosen on a fresh view.
    """
    kept = master.cache.load(float(master.config.view_max_age)) if target is not None else None
    if kept:
        ret, unchanged = move(master, registry, kept[0], package, target, timeout, progress)
        if not unchanged:
            return ret
        log.info("vpkg.move %s: kept view was stale (%s); reading it afresh", package, ret["comment"])
    cluster, _ = master.cluster()
    return move(master, registry, cluster, package, target, timeout, progress)[0]


def move(master, registry, cluster, package, target, timeout, progress):
    """Plan one move on ``cluster`` and run it through the engine: ``(result, unchanged)``.

    ``unchanged`` is True when the move certainly changed nothing (refused on the master's view
    or by the host's preflight, or its host was not connected): a caller that planned on a kept
    view may then retry on a fresh one.
    """
    source, target, pre = plan(cluster, package, target, held(registry, cluster))
    if not pre["ok"]:
        return vpkg_engine.refused(package, source, target, pre["checks"]), True
    weights = cluster["packages"][package].get("weights") or {}
    engine = vpkg_engine.Engine(
        master,
        registry,
        cluster,
        [vpkg_results.PlannedMove(package, source, target, weights).to_dict()],
        operation="move",
        guest_timeout=timeout,
        progress=progress,
        pipeline=False,
        progress_interval=master.config.progress_interval,
    )
    engine.run()
    return engine.results[package], package in engine.unchanged


# -- the vpkg.placed state's way in: a VM host asks the master to move its own guest ------------

PEER_USER = "peer:"  # the runner job's user: peer:<minion id>, in the job cache and the audit trail


def place_refusal(master, cluster, asker, package):
    """Why minion ``asker`` may not have ``package`` moved (None: it may): it must run the package.

    The ``vpkg.placed`` state only asks from the VM host that runs the package; a peer that asks
    for a guest running elsewhere is not the state doing its work.
    """
    source, why = locate(cluster, package)
    if source is None:
        return why
    if master.node(asker) != source:
        return (
            f"{asker} may only have the packages running on its own node placed; package {package} "
            f"runs on {source} (an operator moves it with salt-run vpkg.move)"
        )
    return None


def placement(found, jid, asker):
    """The result of the move ``jid`` that ``asker`` started with ``vpkg.place``, from the job cache.

    ``found`` is what ``jobs.lookup_jid JID`` returns; ``result: None, running: True`` while the
    job has no return yet. A job that is not a move this asker started is refused.
    """
    entries = [e for e in (found or {}).values() if isinstance(e, dict)]
    if not entries:
        return {"kind": "move", "result": None, "running": True, "jid": jid, "comment": f"job {jid} runs"}
    entry = entries[0]
    if entry.get("fun") != "runner.vpkg.move" or entry.get("user") != PEER_USER + str(asker):
        return vpkg_results.refusal("move", f"job {jid} is not a move that {asker} started", jid=jid)
    ret = entry.get("return")
    if isinstance(ret, dict) and ret.get("kind") == "move":
        return ret
    said = f"Move job {jid} ended without a move result: {ret}"
    return vpkg_results.MoveResult(False, None, None, None, said).to_dict()
