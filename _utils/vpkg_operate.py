"""Node-level operations of the vpkg runner: plan, then evacuate, restore or rebalance.

The runner's public functions validate their arguments and call ``Operations``; this module
does the procedure: one cluster view, the plan (``vpkg_plan``), the placement record, the
journal, the move engine (``vpkg_engine``), and a truthful summary read back from the cluster.
"""

import concurrent.futures
import logging
import pathlib
import time

import salt.utils.event

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import (
        vpkg_capacity,
        vpkg_engine,
        vpkg_master,
        vpkg_names,
        vpkg_plan,
        vpkg_records,
        vpkg_results,
        vpkg_vm,
    )
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_engine
    import vpkg_master
    import vpkg_names
    import vpkg_plan
    import vpkg_records
    import vpkg_results
    import vpkg_vm

log = logging.getLogger(__name__)


class Refused(Exception):
    """The operation cannot start; the message says why (nothing changed)."""


def request(evacuate=None, restore=None, rebalance=None):
    """The operation a runner call asks for, ``(kind, value)``; ValueError unless exactly one is given.

    ``evacuate`` and ``restore`` name a node (the runner checks the name); ``rebalance`` names one
    of the planner's rebalance strategies (``vpkg_plan.STRATEGIES``).
    """
    strategies = vpkg_plan.named("rebalance")
    given = {k: v for k, v in (("evacuate", evacuate), ("restore", restore), ("rebalance", rebalance)) if v}
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of evacuate=NODE, restore=NODE or rebalance={'|'.join(strategies)}"
        )
    ((kind, value),) = given.items()
    if kind == "rebalance" and value not in strategies:
        raise ValueError(f"rebalance must be {' or '.join(map(repr, strategies))}, not {value!r}")
    return kind, value


def site_status(operations, ask=None):
    """``vpkg.status`` of several clusters (``{name: Operations}``), asked at once.

    One ``serviceguard.cluster`` job goes to one VM host of each cluster (the one that answered
    last), so the runner's one event listener unpacks each cluster's view once; a cluster whose
    host does not answer in time is then asked as ``vpkg.status cluster=NAME`` would ask it (every
    VM host of that cluster), in parallel with the others. ``kind: status`` with ``clusters``, one
    status per cluster in name order (or the refusal of one that did not answer), and ``summary``.
    ``ask``: how the views are asked at once (``vpkg_master.views_at_once``).
    """
    names = sorted(operations)
    views = (ask or vpkg_master.views_at_once)({name: operations[name].master for name in names})

    def one(name):
        try:
            if name in views:
                return dict(operations[name].status_of(*views[name]), cluster=name)
            return dict(operations[name].status(), cluster=name)
        except Refused as exc:
            return {"kind": "status", "cluster": name, "result": False, "comment": str(exc)}

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(names) - len(views))) as pool:
        clusters = list(pool.map(one, names))
    summary = [_summary(c) for c in clusters]
    failed = [c["cluster"] for c in clusters if c.get("result") is False]
    ret = {"kind": "status", "clusters": clusters, "summary": summary, "result": not failed}
    if failed:
        ret["comment"] = f"no answer from cluster(s) {', '.join(failed)}"
    return ret


def _summary(status):
    """One cluster's figures: nodes up, packages running, capacity used of each capacity."""
    if status.get("result") is False:
        return {"cluster": status["cluster"], "comment": status["comment"]}
    nodes, packages = status["nodes"], status["packages"]
    used = {}
    for node in nodes.values():
        for cap, figures in (node.get("capacities") or {}).items():
            total = used.setdefault(cap, {"used": 0.0, "capacity": 0.0})
            total["used"] += float(figures.get("used") or 0.0)
            total["capacity"] += float(figures.get("capacity") or 0.0)
    return {
        "cluster": status["cluster"],
        "nodes_up": sum(1 for n in nodes.values() if n.get("status") == "up"),
        "nodes": len(nodes),
        "packages_running": sum(1 for p in packages.values() if vpkg_capacity.is_counted(p)),
        "packages": len(packages),
        "capacity": used,
    }


def cancel(records, node, wait):
    """Ask the evacuation (or restore) of ``node`` to stop and wait up to ``wait`` s: the return."""
    if not records.running("evacuate", node):
        comment = f"no evacuation or restore of {node} is in progress"
        return {"kind": "cancel", "result": True, "node": node, "comment": comment}
    records.cancel(node)
    end = time.monotonic() + wait
    while records.running("evacuate", node) and time.monotonic() < end:
        time.sleep(0.2)
    if records.running("evacuate", node):
        return {
            "kind": "cancel",
            "result": False,
            "node": node,
            "comment": f"asked to stop; still running after {wait} s",
        }
    last = records.last_result("evacuate", node) or records.last_result("restore", node) or {}
    return {
        "kind": "cancel",
        "result": True,
        "node": node,
        "moved": last.get("moved", []),
        "not_started": [m["package"] for m in last.get("moves", []) if "not started" in m.get("comment", "")],
        "comment": f"cancelled: {len(last.get('moved', []))} guest(s) had moved",
    }


class Operations:
    def __init__(self, opts, master, registry, records, progress):
        self.opts = opts
        self.master = master
        self.registry = registry
        self.records = records
        self.progress = progress

    def fire(self, tag, data):
        """Operation-level progress on the master bus, beside the runner's own progress events."""
        try:
            with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=False) as bus:
                bus.fire_event(data, tag)
        except Exception:  # noqa: BLE001 - progress must never break an operation
            log.warning("Could not fire %s", tag, exc_info=True)

    def cluster(self, prefer=None):
        try:
            return self.master.cluster(prefer=prefer)[0]
        except vpkg_master.NoClusterView as exc:
            raise Refused(str(exc)) from None

    def status(self):
        """The ``kind: status`` return: the cluster view, the moves in flight, interrupted operations."""
        try:
            cluster, reporter = self.master.cluster()
        except vpkg_master.NoClusterView as exc:
            raise Refused(str(exc)) from None
        return self.status_of(cluster, reporter)

    def status_of(self, cluster, reporter):
        """The ``kind: status`` return of the view ``cluster`` that minion ``reporter`` gave."""
        interrupted = [
            {k: j.get(k) for k in ("id", "operation", "node", "started", "moves")}
            for j in self.records.interrupted()
        ]
        return {
            "kind": "status",
            "cluster": cluster["name"],
            "status": cluster["status"],
            "reported_by": reporter,
            "nodes": cluster["nodes"],
            "packages": cluster["packages"],
            "in_flight": self.registry.entries(),
            "interrupted": interrupted,
        }

    # -- planning ------------------------------------------------------------------------------
    def migratable(self, cluster, nodes):
        """``{package: online migration enabled}`` from the VM hosts that run the packages."""
        flags = {}
        for node in nodes:
            ok, guests = self.master.call(node, vpkg_vm.GUESTS_FUNCTION)
            if not ok or not isinstance(guests, dict):
                continue
            for name, pkg in cluster["packages"].items():
                guest = guests.get(pkg.get("vm_name") or "")
                if pkg.get("node") == node and guest is not None:
                    flags[name] = bool(guest.get("online_migration"))
        return flags

    def plan(self, cluster, kind, value):
        if kind in ("evacuate", "restore") and value not in cluster["nodes"]:
            raise Refused(f"{value} is not a configured node name")
        with self.registry.locked() as session:
            reserved = vpkg_capacity.held(cluster, session.in_flight())
        goal = self.goal(cluster, kind, value)
        migratable = self.migratable(cluster, sorted(vpkg_plan.sources(cluster, goal)))
        return vpkg_plan.plan(cluster, goal, migratable=migratable, reserved=reserved)

    def goal(self, cluster, kind, value):
        """The planner's goal; a restore's is the placement recorded when the node was evacuated."""
        if kind != "restore":
            return {kind: value}
        record = self.records.placement(value)
        if not record:
            raise Refused(f"no recorded placement for node {value}: it was not evacuated by vpkg.evacuate")
        return {"restore": {p: n for p, n in record["packages"].items() if p in cluster["packages"]}}

    # -- execution -----------------------------------------------------------------------------
    def run_locked(self, lock, kind, value, test, guest_timeout, deadline, audit, request=(None, None, None)):  # noqa: PLR0913
        """:meth:`run` inside the operation's lock (``lock``: what, of what); ``audit(ret)`` records it.

        ``request`` is the reactor's ``(requested_by, phase, token)``: of a burst of identical
        requests from a node, one acts and the rest are told (the guard runs inside the lock).
        """
        requested_by, phase, token = request
        try:
            with self.records.exclusive(*lock):
                if requested_by is not None:
                    refusal = self.refuse_request(value, requested_by, phase, token)
                    if refusal:
                        return audit({"kind": kind, **refusal})
                try:
                    ret = self.run(kind, value, test, guest_timeout, deadline, requested_by)
                except Refused as exc:
                    ret = vpkg_results.refusal(kind, str(exc), operation=kind, node=value)
                return ret if test else audit(ret)
        except vpkg_records.Busy as exc:
            about = {"node": value} if lock[0] == "evacuate" else {}  # a rebalance is about the cluster
            return vpkg_results.refusal(kind, str(exc), operation=kind, **about)

    def run(self, kind, value, test, guest_timeout, deadline, requested_by=None):
        """Plan, then execute, one node-level operation; returns the truthful summary."""
        started = time.monotonic()
        # The node to evacuate must answer anyway (its guests and moves start there): asked first.
        cluster = self.cluster(prefer=value if kind == "evacuate" else None)
        the_plan = self.plan(cluster, kind, value)
        if test:
            moves, left = len(the_plan["moves"]), len(the_plan["unplaced"])
            comment = f"{moves} move(s) would run; {left} guest(s) stay."
            return {
                "kind": kind,
                **the_plan,
                "result": None,
                "test": True,
                "operation": kind,
                "comment": comment,
            }
        node = value if kind != "rebalance" else "cluster"
        interrupted = self.records.interrupted(node)
        if kind == "evacuate":
            on_node = {p: value for p, pkg in cluster["packages"].items() if pkg.get("node") == value}
            self.records.record_placement(value, on_node, requested_by=requested_by)
        self.records.clear_cancel(node)
        journal = self.records.journal_open(kind, node, the_plan["moves"], requested_by=requested_by)
        for old in interrupted:
            # The interrupted operation is taken over: the new plan starts from where guests are now.
            self.records.journal_close(old, "resumed", f"resumed by {journal['id']}")

        def progress(message, **data):
            self.progress(message, **data)
            self.fire(f"vpkg/{kind}/{node}/progress", dict(data, message=message))

        def outcome(move, status, comment):
            self.records.journal_update(journal, move["package"], status, comment)

        self.fire(f"vpkg/{kind}/{node}/start", {"moves": the_plan["moves"], "unplaced": the_plan["unplaced"]})
        engine = vpkg_engine.Engine(
            self.master,
            self.registry,
            cluster,
            the_plan["moves"],
            operation=f"{kind}:{node}",
            guest_timeout=guest_timeout,
            deadline=deadline,
            progress=progress,
            cancelled=lambda: self.records.cancelled(node),
            on_outcome=outcome,
            pipeline=bool(self.master.config.pipeline),
            progress_interval=self.master.config.progress_interval,
        )
        outcomes = engine.run()
        ret = self.summary(kind, value, the_plan, outcomes, started)
        if interrupted:
            ret["resumed"] = [old["id"] for old in interrupted]
        if kind == "restore" and ret["result"]:
            self.records.forget_placement(value)
        self.records.journal_close(journal, "finished", ret["comment"])
        self.records.save_result(kind, node, ret)
        self.fire(f"vpkg/{kind}/{node}/done", {"result": ret["result"], "comment": ret["comment"]})
        return ret

    def summary(self, kind, value, the_plan, outcomes, started):
        moved = [o for o in outcomes if o["result"]]
        failed = [o for o in outcomes if not o["result"]]
        ret = {
            "kind": kind,
            "operation": kind,
            "node": value,
            "moves": outcomes,
            "moved": [o["package"] for o in moved],
            "failed": [
                {"package": o["package"], "target": o["target"], "comment": o["comment"]} for o in failed
            ],
            "unplaced": the_plan["unplaced"],
            "seconds": round(time.monotonic() - started, 3),
        }
        try:
            cluster = self.master.cluster()[0]
        except vpkg_master.NoClusterView:
            cluster = None
        if kind == "evacuate":
            packages = cluster["packages"] if cluster else {}
            left = sorted(p for p, pkg in packages.items() if pkg.get("node") == value)
            ret["left_on_node"] = left if cluster else None
            ret["result"] = cluster is not None and not left
        else:
            ret["result"] = not failed and not the_plan["unplaced"]
        counts = f"{len(moved)} moved, {len(failed)} failed, {len(the_plan['unplaced'])} not placed"
        left = f", left on {value}: {', '.join(ret['left_on_node'])}" if ret.get("left_on_node") else ""
        ret["comment"] = f"{kind} {value}: {counts}{left}"
        return ret

    # -- the reactor's guard -------------------------------------------------------------------
    def refuse_request(self, node, requested_by, phase, token=None):
        """A cluster node may ask only for itself, once per maintenance, and must confirm it.

        Returns the refusal, or None when the request may go ahead. The last check asks the node's
        own minion to confirm the request's one-time token: the sender id the reactor saw is not
        proof (Salt re-fires a minion's event list with the data that minion wrote).
        """
        mapped = isinstance(requested_by, str) and requested_by in self.master.node_map.values()
        if not (mapped or vpkg_names.is_valid_name(requested_by)):
            # Not a node name and not a mapped minion id: no minion needs to be asked.
            return self._ignored(node, repr(requested_by), phase, "the requester cannot be a cluster node")
        asker = self.master.node(requested_by)
        in_maintenance = bool(self.records.placement(node))
        reason = None
        if asker == node and phase == "start" and in_maintenance:
            # A node repeating its own request is refused from the records alone: a burst of them
            # must not cost a cluster query each (the reactor works through them one at a time).
            reason = f"node {node} is already in maintenance"
        else:
            try:
                nodes = self.master.cluster()[0]["nodes"]
            except vpkg_master.NoClusterView:
                nodes = {}
            if asker not in nodes:
                reason = f"{requested_by} is not a cluster node"
            elif asker != node:
                reason = f"{requested_by} (node {asker}) may not ask for node {node}"
            elif phase == "start" and in_maintenance:
                reason = f"node {node} is already in maintenance"
            elif phase == "end" and not in_maintenance:
                reason = f"node {node} is not in maintenance"
            elif not isinstance(token, str) or not token:
                reason = f"the request carries no token (send it with: salt-call vpkg.maintenance {phase})"
            else:
                ok, confirmed = self.master.call(node, "vpkg.confirm_maintenance", [phase, token])
                if not (ok and confirmed is True):
                    reason = f"node {node} did not confirm the request"
        if reason is None:
            return None
        return self._ignored(node, requested_by, phase, reason)

    @staticmethod
    def _ignored(node, requested_by, phase, reason):
        log.warning("vpkg: ignored maintenance/%s request from %s: %s", phase, requested_by, reason)
        return {
            "result": True,
            "ignored": True,
            "node": node,
            "requested_by": requested_by,
            "comment": f"ignored: {reason}",
        }
