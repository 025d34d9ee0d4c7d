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

import functools
import pathlib
import time

from salt.exceptions import SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "runners"):  # pip-installed
    from saltext.vpkg.utils import (
        vpkg_args,
        vpkg_audit,
        vpkg_config,
        vpkg_master,
        vpkg_operate,
        vpkg_progress,
        vpkg_results,
        vpkg_single,
        vpkg_site,
    )
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_args
            import vpkg_audit
            import vpkg_config
            import vpkg_master
            import vpkg_operate
            import vpkg_progress
            import vpkg_results
            import vpkg_single
            import vpkg_site
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt-run saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc


__virtualname__ = "vpkg"


def __virtual__():
    return __virtualname__


def _config():
    return vpkg_config.MasterConfig.read(__opts__.get("vpkg"))


def _site():
    return vpkg_site.Site(__opts__, _config())


def _reporter():
    """This job's progress channel (``vpkg_progress``), taken once when the job starts.

    ``__jid_event__`` is a module global: when the reactor runs two runner jobs in one process,
    the second replaces it and closes it on finishing, so a job that read the global later would
    report under the other job's tag, then fail. One already gone is no failure: no progress.
    """
    return vpkg_progress.for_job(globals().get("__jid_event__"), __opts__, __context__)


def _audited(place, operation, ret, requested_by=None, phase=None):
    """Append the operation to the audit trail (``vpkg:audit_file``); a write error is a warning."""
    user = globals().get("__user__")
    path = _config().audit_file
    return vpkg_audit.audited(path, operation, ret, user, requested_by, phase, cluster=place.name)


def _failed(ret):
    """A runner cannot raise for an operational failure and still return its steps.

    ``retcode`` in the returned dict is what makes ``salt-run`` exit non-zero (salt/cli/run.py);
    the context's retcode marks the job unsuccessful for RunnerClient and the job cache.
    """
    __context__["retcode"] = 1
    ret["retcode"] = 1
    return ret


def status(cluster=None):
    """
    The cluster as Serviceguard sees it: nodes with capacities, guest packages and moves in flight.

    With several clusters and no ``cluster``, every cluster, asked in parallel.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.status
        salt-run vpkg.status cluster=prod
    """
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    site = _site()
    if cluster is None and len(site.names()) > 1:
        ret = vpkg_operate.site_status({p.name: _operations(p) for p in site.every()})
        return ret if ret["result"] else _failed(ret)
    try:
        return _operations(site.one(cluster=cluster)).status()
    except vpkg_operate.Refused as exc:
        return _failed(vpkg_results.refusal("status", str(exc)))


def check(package, target=None, cluster=None):
    """
    Preflight of moving ``package`` to ``target`` (or to the best eligible node); nothing changes.

    The master's checks (capacity net of moves in flight, node list, switching, node status)
    and the source VM host's (online migration enabled, ``hpvmmigrate -s``).

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.check slvm1 xyzo2
        salt-run vpkg.check slvm1 cluster=prod
    """
    package, target, place, crossing = _one_move(package, target, cluster)
    if crossing:
        return _failed(vpkg_results.refusal("check", crossing, package=package, target=target))
    try:
        view, _ = place.master.cluster()
    except vpkg_master.NoClusterView as exc:
        return _failed(vpkg_results.refusal("check", str(exc), package=package))
    ret = vpkg_single.check(place.master, place.registry, view, package, target)
    return ret if ret["result"] else _failed(ret)


def _one_move(package, target, cluster):
    """A single move's names, its cluster's records, and why it would cross clusters (or None)."""
    package = vpkg_args.name(package, "package")
    target = vpkg_args.name(target, "target", optional=True)
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    site = _site()
    place = site.of_package(package=package, cluster=cluster)
    return package, target, place, site.crossing(place.name, target)


def move(package, target=None, test=False, timeout=None, cluster=None):
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
        salt-run vpkg.move slvm1 xyzo2 cluster=prod
    """
    timeout = _timeout(timeout)
    test = vpkg_args.flag(test, "test")
    package, target, place, crossing = _one_move(package, target, cluster)
    if crossing:
        return _failed(vpkg_results.refusal("move", crossing, package=package, target=target))
    progress = _reporter()
    started = time.monotonic()
    try:
        if test:
            view = place.master.cluster()[0]
            ret = vpkg_single.check(place.master, place.registry, view, package, target, kind="move")
            return ret if ret["result"] is None else _failed(ret)
        ret = vpkg_single.move_now(place.master, place.registry, package, target, timeout, progress)
    except vpkg_master.NoClusterView as exc:
        return _failed(vpkg_results.refusal("move", str(exc), package=package))
    if ret.get("steps"):  # the host ran (a refusal on the master's view changed nothing, took no time)
        ret["seconds"] = round(time.monotonic() - started, 3)
    _audited(place, "move", ret)
    return ret if ret["result"] else _failed(ret)


def _timeout(timeout):
    return vpkg_args.timeout(timeout, _config().migrate_timeout)


def _options(test, timeout, deadline):
    """Check an operation's options before it takes a lock or asks a minion; returns ``test``."""
    return vpkg_args.options(test, timeout, deadline, _config().migrate_timeout)


# -- operations on whole nodes: plan, evacuate, restore, rebalance, cancel -------------------------


def _operations(place):
    return vpkg_operate.Operations(__opts__, place.master, place.registry, place.records, _reporter())


def plan(evacuate=None, restore=None, rebalance=None, cluster=None):
    """
    The moves that would evacuate a node, restore it after maintenance, or rebalance the cluster.

    Nothing changes. Each move lists its package, source and target; guests that cannot be placed
    (no capacity, online migration disabled, node lists) are listed with the reason.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.plan evacuate=xyzo1
        salt-run vpkg.plan restore=xyzo1
        salt-run vpkg.plan rebalance=balanced cluster=prod
    """
    kind, value = vpkg_args.goal(evacuate, restore, rebalance)
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    node = value if kind != "rebalance" else None
    ops = _operations(_site().one(cluster=cluster, node=node, what="vpkg.plan rebalance="))
    try:
        return {"kind": "plan", **ops.plan(ops.cluster(), kind, value)}
    except vpkg_operate.Refused as exc:
        return _failed(vpkg_results.refusal("plan", str(exc), operation=kind))


def _run(place, lock, kind, value, test, timeout, deadline, requested_by=None, phase=None, token=None):  # noqa: PLR0913
    """A node's evacuation or restore, or a rebalance, inside its lock (``lock``: what, of what)."""
    guest_timeout = _timeout(timeout)
    if deadline is not None:
        deadline = time.monotonic() + vpkg_args.seconds(deadline, "deadline")
    audit = functools.partial(_audited, place, kind, requested_by=requested_by, phase=phase)
    request = (requested_by, phase, token)
    ret = _operations(place).run_locked(lock, kind, value, test, guest_timeout, deadline, audit, request)
    return ret if ret["result"] is not False else _failed(ret)


def _guarded(kind, node, test, timeout, deadline, requested_by, phase, token=None, cluster=None):  # noqa: PLR0913
    """One evacuation or restore of a node at a time; the reactor's guard inside that lock."""
    test = _options(test, timeout, deadline)
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    # A node's request is about its own cluster (node names are unique only within a cluster).
    minion = requested_by if isinstance(requested_by, str) else None
    place = _site().one(cluster=cluster, node=node, minion=minion)
    return _run(place, ("evacuate", node), kind, node, test, timeout, deadline, requested_by, phase, token)


def evacuate(node, test=False, timeout=None, deadline=None, requested_by=None, token=None, cluster=None):  # noqa: PLR0913
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
    cluster
        The node's cluster, where the master sees several and the node name is in more than
        one (or the requesting minion's own cluster decides).

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.evacuate xyzo1
        salt-run vpkg.evacuate xyzo1 test=True
        salt-run vpkg.evacuate xyzo1 cluster=prod
    """
    node = vpkg_args.name(node, "node")
    return _guarded("evacuate", node, test, timeout, deadline, requested_by, "start", token, cluster)


def restore(node, test=False, timeout=None, deadline=None, requested_by=None, token=None, cluster=None):  # noqa: PLR0913
    """
    Move the guest packages evacuated from ``node`` back to it, after maintenance.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.restore xyzo1
    """
    node = vpkg_args.name(node, "node")
    return _guarded("restore", node, test, timeout, deadline, requested_by, "end", token, cluster)


def rebalance(strategy="balanced", test=False, timeout=None, deadline=None, cluster=None):
    """
    Spread (``balanced``) or pack (``minimal``) the running guest packages across the nodes.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.rebalance balanced test=True
        salt-run vpkg.rebalance minimal cluster=prod
    """
    kind, value = vpkg_args.goal(rebalance=strategy)
    test = _options(test, timeout, deadline)
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    place = _site().one(cluster=cluster, what="vpkg.rebalance")
    return _run(place, ("rebalance", "cluster"), kind, value, test, timeout, deadline)


def cancel(node, wait=60, cluster=None):
    """
    Stop the evacuation (or restore) of ``node``: moves already running finish, no new one starts.

    Waits up to ``wait`` seconds for the operation to stop and returns what it moved.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.cancel xyzo1
    """
    node = vpkg_args.name(node, "node")
    wait = vpkg_args.seconds(wait, "wait")
    place = _site().one(cluster=vpkg_args.name(cluster, "cluster", optional=True), node=node)
    ret = vpkg_operate.cancel(place.records, node, wait)
    return _audited(place, "cancel", ret) if ret["result"] else _failed(ret)


def history(package=None, since=None, node=None, operation=None, cluster=None):
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
    cluster
        Only entries about this cluster.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.history
        salt-run vpkg.history package=slvm1 since=7d
        salt-run vpkg.history cluster=prod
    """
    package = vpkg_args.name(package, "package", optional=True)
    node = vpkg_args.name(node, "node", optional=True)
    cluster = vpkg_args.name(cluster, "cluster", optional=True)
    try:
        return vpkg_audit.history(_config().audit_file, package, since, node, operation, cluster)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
