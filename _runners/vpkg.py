"""
Master-side coordination of HP Serviceguard VM guest packages: status, preflight and online moves.

``salt-run vpkg.move slvm1 xyzo2`` does what ``cmmovevpkg -v -P slvm1 -h xyzo2`` does on a VM
host, with a preflight on the master's view that counts capacity held by moves in flight (two
concurrent moves can never overbook one target), progress events, and a truthful result that
lists every step.

:depends: the ``vpkg``, ``serviceguard`` and ``hpvm`` execution modules on every VM host
:configuration: Optional, in the master config: the ``vpkg`` mapping, every key it reads with
    its default (``vpkg_config.MasterConfig``):

    .. code-block:: yaml

        vpkg:
          node_map: {}            # Serviceguard node name -> minion id, where they differ,
                                  # e.g. {xyzo1: vmhost1.example.com}
          minions: "*"            # the minions asked for the cluster view when node_map is empty
          tgt_type: glob          # how minions matches: glob, or list (a list of minion ids)
          timeout: 30             # seconds to wait for a status or check answer
          view_timeout: 5         # seconds the minion that gave the last view has to answer
                                  # before every minion is asked (at most timeout)
          view_max_age: 60        # seconds a kept cluster view may start a move to a named target
          migrate_timeout: 3600   # seconds an online migration may take (given to each move);
                                  # deprecated name: move_timeout
          job_check_interval: 10  # seconds between asking the source minion whether its move
                                  # still runs (saltutil.find_job; answers awaited for Salt's
                                  # gather_job_timeout); two misses in a row end the wait
          progress_interval: 1    # seconds between two progress lines of one migration phase
          pipeline: true          # publish an evacuation's next move while the previous migrates
          audit_file: null        # the audit trail, one JSON line per move (docs/operator.md);
                                  # nothing is recorded when unset
"""

import logging
import os
import pathlib
import time

import salt.loader
import salt.utils.event
from salt.exceptions import SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "runners"):  # pip-installed
    from saltext.vpkg.utils import (
        vpkg_audit,
        vpkg_capacity,
        vpkg_config,
        vpkg_failover,
        vpkg_master,
        vpkg_move,
        vpkg_names,
        vpkg_operate,
        vpkg_records,
        vpkg_reserve,
        vpkg_results,
    )
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_audit
        import vpkg_capacity
        import vpkg_config
        import vpkg_failover
        import vpkg_master
        import vpkg_move
        import vpkg_names
        import vpkg_operate
        import vpkg_records
        import vpkg_reserve
        import vpkg_results
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt-run saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

log = logging.getLogger(__name__)

__virtualname__ = "vpkg"


def __virtual__():
    return __virtualname__


def _config():
    return vpkg_config.MasterConfig.read(__opts__.get("vpkg"))


def _master():
    return vpkg_master.Master(__opts__, _config(), vpkg_master.ViewCache(_directory()))


def _directory():
    return os.path.join(__opts__["cachedir"], "vpkg")


def _registry():
    return vpkg_reserve.Registry(_directory())


def _name(value, what, optional=False):
    if optional and value is None:
        return None
    try:
        return vpkg_names.check_name(value, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def _reporter():
    """This job's progress channel, taken once when the job starts.

    ``__jid_event__`` is a module global: when the reactor runs two runner jobs in one process,
    the second replaces it and closes it on finishing, so a job that read the global later would
    report under the other job's tag, then fail. Progress must never break an operation.

    salt-run prints every event the job fires through the outputter named by ``--out``: with a
    machine outputter (json, yaml, ...) a script would get one document per event before the
    return. There the events go to the master's event bus only, under the same tag.
    """
    events = globals().get("__jid_event__")
    outputter = _outputter_available()
    fire = None
    if events is not None:
        shown = vpkg_move.shows_progress(__opts__.get("output"))
        fire = events.fire_event if shown else _bus_only(events)

    def progress(message, **data):
        data["message"] = message
        if outputter:
            data["outputter"] = "vpkg"  # one line per event instead of a nested dict
        if fire is None:  # outside a runner job (unit tests, direct calls)
            log.info("%s", message)
            return
        try:
            fire(data, "progress")
        except Exception:  # noqa: BLE001 - see above
            log.debug("vpkg: progress event not sent: %s", message, exc_info=True)

    return progress


def _bus_only(events):
    """Fire as ``events.fire_event`` does, without printing (Salt's NamespacedEvent prints too)."""
    bus, base = getattr(events, "event", None), getattr(events, "base", None)
    if bus is None or base is None:
        return events.fire_event
    return lambda data, suffix: bus.fire_event(data, salt.utils.event.tagify(suffix, base=base))


def _outputter_available():
    """Name the ``vpkg`` outputter in events only where it loads: else Salt logs an error per event."""
    if "vpkg.outputter" not in __context__:
        try:
            __context__["vpkg.outputter"] = "vpkg" in salt.loader.outputters(__opts__)
        except Exception:  # noqa: BLE001 - a missing outputter only costs prettiness
            __context__["vpkg.outputter"] = False
    return __context__["vpkg.outputter"]


def _audited(operation, ret, requested_by=None, phase=None):
    """Append the operation to the audit trail (``vpkg:audit_file``); a write error is a warning."""
    path = _config().audit_file
    if path:
        user = globals().get("__user__")
        who = vpkg_audit.asker(user, requested_by, f"vpkg/maintenance/{phase}" if phase else None)
        try:
            vpkg_audit.record_result(path, operation, ret, who)
        except (vpkg_audit.AuditError, ValueError) as exc:
            log.error("vpkg: audit trail: %s", exc)
            ret.setdefault("warnings", []).append(f"audit trail not written: {exc}")
    return ret


def _failed(ret):
    """A runner cannot raise for an operational failure and still return its steps.

    ``retcode`` in the returned dict is what makes ``salt-run`` exit non-zero (salt/cli/run.py);
    the context's retcode marks the job unsuccessful for RunnerClient and the job cache.
    """
    __context__["retcode"] = 1
    ret["retcode"] = 1
    return ret


def status():
    """
    The cluster as Serviceguard sees it: nodes with capacities, guest packages and moves in flight.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.status
    """
    master = _master()
    try:
        cluster, reporter = master.cluster()
    except vpkg_master.NoClusterView as exc:
        return _failed(vpkg_results.refusal("status", str(exc)))
    return {
        "kind": "status",
        "cluster": cluster["name"],
        "status": cluster["status"],
        "reported_by": reporter,
        "nodes": cluster["nodes"],
        "packages": cluster["packages"],
        "in_flight": _registry().entries(),
        "interrupted": [
            {k: j.get(k) for k in ("id", "operation", "node", "started", "moves")}
            for j in _records().interrupted()
        ],
    }


def _locate(cluster, package):
    pkg = cluster["packages"].get(package)
    if pkg is None:
        return None, f"package {package} is not a configured package name"
    if not pkg.get("node"):
        return None, f"package {package} is not running on any node"
    return pkg["node"], ""


def _plan_move(cluster, package, target, reserved):
    """Pick the target if needed and run the preflight against the capacity still free."""
    source, why = _locate(cluster, package)
    if source is None:
        name = "package" if package not in cluster["packages"] else "running"
        return None, target, {"ok": False, "checks": [{"name": name, "ok": False, "reason": why}]}
    if target is None:
        target, reasons = vpkg_capacity.choose_target(cluster, package, reserved=reserved)
        if target is None:
            checks = [{"name": f"target:{n}", "ok": False, "reason": r} for n, r in reasons.items()]
            return source, None, {"ok": False, "checks": checks or [_no_target(package)]}
    return source, target, vpkg_capacity.preflight(cluster, package, target, reserved=reserved, source=source)


def _no_target(package):
    return {"name": "target", "ok": False, "reason": f"no eligible node for package {package}"}


def check(package, target=None):
    """
    Preflight of moving ``package`` to ``target`` (or to the best eligible node); nothing changes.

    The master's checks (capacity net of moves in flight, node list, switching, node status)
    and the source VM host's (online migration enabled, ``hpvmmigrate -s``).

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.check slvm1 xyzo2
        salt-run vpkg.check slvm1
    """
    package = _name(package, "package")
    target = _name(target, "target", optional=True)
    master = _master()
    try:
        cluster, _ = master.cluster()
    except vpkg_master.NoClusterView as exc:
        return _failed(vpkg_results.refusal("check", str(exc), package=package))
    with _registry().locked() as session:
        reserved = session.reserved()
    source, target, pre = _plan_move(cluster, package, target, reserved)
    ret = _check_result(master, cluster, package, source, target, pre).to_dict()
    return ret if ret["result"] else _failed(ret)


def _check_result(master, cluster, package, source, target, pre, kind="check"):
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


def move(package, target=None, test=False, timeout=None):
    """
    Move the running guest package ``package`` online to ``target`` (or the best eligible node).

    The preflight runs on the master's view, counting capacity reserved by moves in flight; then
    the source VM host's ``vpkg.move`` runs while its progress events are relayed. ``test=True``
    returns the plan and every check without changing anything.

    If the source node goes down during the migration, the move fails; once the guest is proven
    On nowhere (the source down per Serviceguard, the target and the package's other nodes showing
    it Off), package switching is re-enabled, as ``cmmovevpkg`` does, so that Serviceguard fails
    the package over. Without that proof switching stays off and the error says so.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.move slvm1 xyzo2
        salt-run vpkg.move slvm1 test=True
    """
    package = _name(package, "package")
    target = _name(target, "target", optional=True)
    timeout = _timeout(timeout)
    test = _flag(test, "test")
    progress = _reporter()
    started = time.monotonic()
    master = _master()
    # A move to a named target may start from the view the last runner read: the host's
    # preflight re-reads cmviewcl with the reservations passed along and has the last word, and
    # anything the kept view may have wrong is retried once on a fresh view. The best target
    # (no target given) and test mode are chosen on a fresh view.
    kept = None
    if target is not None and not test:
        kept = master.cache.load(float(master.config.view_max_age))
    ret = None
    if kept:
        ret = _move_on(master, kept[0], package, target, False, timeout, progress)
        if ret.pop("stale", False):
            log.info("vpkg.move %s: kept view was stale (%s); reading it afresh", package, ret["comment"])
            ret = None
    if ret is None:
        try:
            cluster, _ = master.cluster()
        except vpkg_master.NoClusterView as exc:
            return _failed(vpkg_results.refusal("move", str(exc), package=package))
        ret = _move_on(master, cluster, package, target, test, timeout, progress)
        ret.pop("stale", None)
    if ret.get("test"):
        return ret if ret["result"] is None else _failed(ret)
    if ret.get("steps"):  # the host ran (a refusal on the master's view changed nothing, took no time)
        ret["seconds"] = round(time.monotonic() - started, 3)
    _audited("move", ret)
    return ret if ret["result"] else _failed(ret)


def _move_on(master, cluster, package, target, test, timeout, progress):
    """Plan, reserve and run one move on ``cluster``; ``stale`` in the result if nothing changed."""
    registry = _registry()
    with registry.locked() as session:
        busy = session.find(package)
        reserved = session.reserved()
        source, target, pre = _plan_move(cluster, package, target, reserved)
        entry = None
        if busy:
            pre["ok"] = False
            pre["checks"].append(
                {
                    "name": "not_moving",
                    "ok": False,
                    "reason": f"a move of package {package} to {busy['target']} is already in progress",
                }
            )
        elif pre["ok"] and not test:
            weights = cluster["packages"][package].get("weights") or {}
            entry = session.add(package, source, target, weights)
    if test:
        return _check_result(master, cluster, package, source, target, pre, kind="move").to_dict()
    if not pre["ok"]:
        return dict(_refused(package, source, target, pre), test=False, stale=not busy)
    try:
        ret = _run_move(master, package, source, target, timeout, progress, reserved)
        # Still holding the reservation: nothing else moves into the target while Serviceguard
        # may be restarting the package there.
        ret = vpkg_failover.after_failed_move(master, ret, progress)
    finally:
        registry.release(entry["id"])
    if ret["result"]:
        master.cache.moved(package, target)
    else:
        master.cache.drop()  # the package may be anywhere now; the next move reads it afresh
    return ret


def _timeout(timeout):
    if timeout is None:
        return _positive(_config().migrate_timeout, "vpkg:migrate_timeout")
    return _positive(timeout, "timeout")


def _options(test, timeout, deadline):
    """Check an operation's options before it takes a lock or asks a minion; returns ``test``."""
    _timeout(timeout)
    if deadline is not None:
        _positive(deadline, "deadline")
    return _flag(test, "test")


def _flag(value, what):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"{what} must be True or False, not {value!r}")
    return value


def _refused(package, source, target, pre):
    failed = [f"{c['name']}: {c['reason']}" for c in pre["checks"] if not c["ok"]]
    comment = f"Move of package {package} refused, nothing was changed: " + "; ".join(failed)
    return vpkg_results.MoveResult(False, package, source, target, comment, checks=pre["checks"]).to_dict()


def _run_move(master, package, source, target, timeout, progress, reserved):
    progress(f"{package}: moving from {source} to {target}", package=package, source=source, target=target)

    shown = vpkg_move.ProgressFilter(master.config.progress_interval)

    def relay(tag, data):
        phase = data.get("phase") or tag.rsplit("/", 1)[-1]
        if not shown(package, phase, time.monotonic(), final="result" in data):
            return
        pct = data.get("percent")
        text = f"{package}: {phase}" + (f" {pct}%" if pct is not None else "")
        progress(text, **{k: v for k, v in data.items() if k != "result"})

    # The minion's own migration timeout fires first; ours only covers a lost minion.
    outcome = master.run_with_events(
        source,
        "vpkg.move",
        [package, target],
        {"timeout": timeout, "reserved": reserved, "expected_node": source},
        f"vpkg/move/{package}/",
        relay,
        timeout + 120,
    )
    final = outcome.get("final")
    if outcome["answered"] and outcome["ok"] and isinstance(outcome["return"], dict):
        return outcome["return"]
    if isinstance(final, dict):
        return dict(final, stale=vpkg_move.refused_before_change(final))
    comment = f"Move of package {package} from {source} to {target} failed: {outcome['return']}"
    if not outcome["published"]:
        return {**_refused(package, source, target, {"checks": []}), "comment": comment, "stale": True}
    if not outcome["answered"]:  # the move may have failed, succeeded, or still be running
        comment = f"Move of package {package} from {source} to {target}, no result: {outcome['return']}"
        comment += ". " + master.where_now(package)
    return vpkg_results.MoveResult(False, package, source, target, comment).to_dict()


# -- operations on whole nodes: plan, evacuate, restore, rebalance, cancel -------------------------


def _records():
    return vpkg_records.Records(_directory())


def _operations(progress=None):
    return vpkg_operate.Operations(__opts__, _master(), _registry(), _records(), progress or _reporter())


def _goal(evacuate=None, restore=None, rebalance=None):
    try:
        kind, value = vpkg_operate.request(evacuate, restore, rebalance)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    return (kind, value) if kind == "rebalance" else (kind, _name(value, "node"))


def _positive(value, what):
    try:
        return vpkg_names.check_seconds(value, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def plan(evacuate=None, restore=None, rebalance=None):
    """
    The moves that would evacuate a node, restore it after maintenance, or rebalance the cluster.

    Nothing changes. Each move lists its package, source and target; guests that cannot be placed
    (no capacity, online migration disabled, node lists) are listed with the reason.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.plan evacuate=xyzo1
        salt-run vpkg.plan restore=xyzo1
        salt-run vpkg.plan rebalance=balanced
    """
    kind, value = _goal(evacuate, restore, rebalance)
    ops = _operations()
    try:
        return {"kind": "plan", **ops.plan(ops.cluster(), kind, value)}
    except vpkg_operate.Refused as exc:
        return _failed(vpkg_results.refusal("plan", str(exc), operation=kind))


def _run(kind, value, test, timeout, deadline, requested_by=None, phase=None, progress=None):
    guest_timeout = _timeout(timeout)
    if deadline is not None:
        deadline = time.monotonic() + _positive(deadline, "deadline")
    try:
        ret = _operations(progress).run(kind, value, test, guest_timeout, deadline, requested_by)
    except vpkg_operate.Refused as exc:
        ret = vpkg_results.refusal(kind, str(exc), operation=kind, node=value)
    if not test:
        _audited(kind, ret, requested_by, phase)
    return ret if ret["result"] is not False else _failed(ret)


def _guarded(kind, node, test, timeout, deadline, requested_by, phase, token=None):
    """One evacuation or restore of a node at a time; the reactor's guard inside that lock."""
    test = _options(test, timeout, deadline)
    progress = _reporter()
    try:
        with _records().exclusive("evacuate", node):
            # Inside the node's lock: of a burst of identical requests, one acts, the rest are told.
            if requested_by is not None:
                refusal = _operations(progress).refuse_request(node, requested_by, phase, token)
                if refusal:
                    return _audited(kind, {"kind": kind, **refusal}, requested_by, phase)
            return _run(kind, node, test, timeout, deadline, requested_by, phase, progress)
    except vpkg_records.Busy as exc:
        return _failed(vpkg_results.refusal(kind, str(exc), operation=kind, node=node))


def evacuate(node, test=False, timeout=None, deadline=None, requested_by=None, token=None):
    """
    Move every guest package off ``node`` online, for maintenance, and remember where they were.

    Moves run in plan order, in parallel across disjoint host pairs (Integrity VM allows one online
    migration per VM host at a time). A guest that cannot move (online migration disabled, no
    capacity) or whose move fails is reported and the others go on. ``vpkg.restore NODE`` moves
    them back; ``vpkg.cancel NODE`` stops starting new moves. An evacuation interrupted by a dead
    runner (shown by ``vpkg.status``) is resumed by the next ``vpkg.evacuate`` of the same node.

    timeout
        Seconds each online migration may take (default ``vpkg:migrate_timeout``).
    deadline
        Seconds the whole evacuation may take; after it no new move starts.
    requested_by, token
        Set by the reactor: the minion that asked and its request's one-time token. Only a
        cluster node may ask, only for itself, once per maintenance, and only if its own minion
        confirms the token (``salt-call vpkg.maintenance start`` makes one).

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.evacuate xyzo1
        salt-run vpkg.evacuate xyzo1 test=True
    """
    node = _name(node, "node")
    return _guarded("evacuate", node, test, timeout, deadline, requested_by, "start", token)


def restore(node, test=False, timeout=None, deadline=None, requested_by=None, token=None):
    """
    Move the guest packages evacuated from ``node`` back to it, after maintenance.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.restore xyzo1
    """
    node = _name(node, "node")
    return _guarded("restore", node, test, timeout, deadline, requested_by, "end", token)


def rebalance(strategy="balanced", test=False, timeout=None, deadline=None):
    """
    Spread (``balanced``) or pack (``minimal``) the running guest packages across the nodes.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.rebalance balanced test=True
    """
    kind, value = _goal(rebalance=strategy)
    test = _options(test, timeout, deadline)
    progress = _reporter()
    try:
        with _records().exclusive("rebalance", "cluster"):
            return _run(kind, value, test, timeout, deadline, progress=progress)
    except vpkg_records.Busy as exc:
        return _failed(vpkg_results.refusal("rebalance", str(exc), operation="rebalance"))


def cancel(node, wait=60):
    """
    Stop the evacuation (or restore) of ``node``: moves already running finish, no new one starts.

    Waits up to ``wait`` seconds for the operation to stop and returns what it moved.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.cancel xyzo1
    """
    node = _name(node, "node")
    wait = _positive(wait, "wait")
    records = _records()
    if not records.running("evacuate", node):
        comment = f"no evacuation or restore of {node} is in progress"
        return {"kind": "cancel", "result": True, "node": node, "comment": comment}
    records.cancel(node)
    end = time.monotonic() + wait
    while records.running("evacuate", node) and time.monotonic() < end:
        time.sleep(0.2)
    if records.running("evacuate", node):
        return _failed(
            vpkg_results.refusal("cancel", f"asked to stop; still running after {wait} s", node=node)
        )
    last = records.last_result("evacuate", node) or records.last_result("restore", node) or {}
    return _audited(
        "cancel",
        {
            "kind": "cancel",
            "result": True,
            "node": node,
            "moved": last.get("moved", []),
            "not_started": [
                m["package"] for m in last.get("moves", []) if "not started" in m.get("comment", "")
            ],
            "comment": f"cancelled: {len(last.get('moved', []))} guest(s) had moved",
        },
    )


def history(package=None, since=None, node=None, operation=None):
    """
    The audit trail: who moved which guest package where, when, and how it ended.

    Read from the file named by ``vpkg:audit_file`` in the master config; newest last.

    package
        Only entries about this package.
    since
        An ISO 8601 time, or a relative one: ``30m``, ``12h``, ``7d``.
    node
        Only entries whose source, target or node is this node.
    operation
        One of move, evacuate, restore, rebalance, cancel.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.history
        salt-run vpkg.history package=slvm1 since=7d
    """
    package = _name(package, "package", optional=True)
    node = _name(node, "node", optional=True)
    if operation is not None and operation not in vpkg_audit.OPERATIONS:
        raise SaltInvocationError(f"operation must be one of {', '.join(vpkg_audit.OPERATIONS)}")
    path = _config().audit_file
    if not path:
        return {
            "kind": "history",
            "entries": [],
            "comment": "no audit trail: set vpkg:audit_file in the master config",
        }
    try:
        entries = vpkg_audit.read(path, package=package, since=since, node=node, operation=operation)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    return {"kind": "history", "entries": entries}
