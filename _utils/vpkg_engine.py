"""The master's one move engine: every move a runner makes goes through ``Engine.run``.

``salt-run vpkg.move`` hands it a plan of one move; ``vpkg.evacuate``, ``vpkg.restore`` and
``vpkg.rebalance`` a bigger plan; the ``vpkg.placed`` state reaches it through ``vpkg.move`` (peer
runner publishing). For each move, in plan order: **reserve** its weights on its target in the
registry, under the registry's lock and after a preflight on the engine's view that counts every
other reservation (two runners can never overbook a node); **publish** the source VM host's
``vpkg.move`` (a minion or a ``vmhost`` proxy alike), with the moves in flight for its own
preflight and the node it is asked to act for; **watch** it: its ``vpkg/move/<pkg>/*`` events,
its job's return, and whether its minion still runs the job (``vpkg_watch``); **relay** its
progress (thinned by ``vpkg_move.ProgressFilter``); after a failure, the **failover hook**
(``vpkg_failover``: the source node went down) while the reservation still holds the target;
then **release** the reservation and update the kept view. The runner writes the audit entry.

As many moves run at once as Integrity VM allows: a move starts when ``vpkg_schedule.next_runnable``
says its hosts are free (one online migration per VM host, as source or target).
``vpkg/move/<pkg>/migrated`` frees the two hosts for their next migration while the adopt step
finishes. Pipelining: while a move migrates, the next move from the same source may already be
published (when its target is free); its host does the preflight and waits for its migration
slot, so the next migration begins the moment the previous one ends, not a job dispatch later.
A failed move is reported and the others go on; a cancelled or overdue operation starts nothing
new and lets the running moves finish. Nothing here decides *what* to move: the plan does.
"""

import logging
import pathlib
import time

import salt.utils.event

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity, vpkg_failover, vpkg_move, vpkg_results, vpkg_schedule
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_failover
    import vpkg_move
    import vpkg_results
    import vpkg_schedule

log = logging.getLogger(__name__)

# Seconds the runner waits for a minion's answer beyond the migration timeout it gave it.
ANSWER_GRACE = 120


def refused(package, source, target, checks):
    """The result of a move refused on the master's view: nothing ran, nothing changed."""
    comment = f"Move of package {package} refused, nothing was changed: " + "; ".join(
        vpkg_move.failed_checks(checks)
    )
    return vpkg_results.MoveResult(False, package, source, target, comment, checks=checks).to_dict()


class Engine:
    """One plan's moves. ``run()`` returns one outcome per planned move, in plan order.

    ``results`` then holds each move's whole result (a ``kind: move`` dict: the host's return with
    every step, or the master's refusal or loss of the job), and ``unchanged`` the packages whose
    move certainly changed nothing (refused before any command acted), which a caller that
    planned on a kept view may retry on a fresh one.
    """

    def __init__(self, master, registry, cluster, moves, **options):
        self.master = master
        self.registry = registry
        self.view = cluster  # updated as moves complete, so later preflights see them
        self.moves = list(moves)
        self.operation = options.get("operation")
        self.guest_timeout = float(options.get("guest_timeout") or 3600)
        self.deadline = options.get("deadline")  # monotonic time, or None
        self.progress = options.get("progress") or (lambda message, **data: None)
        self.cancelled = options.get("cancelled") or (lambda: False)
        self.on_outcome = options.get("on_outcome") or (lambda move, status, comment: None)
        self.pipeline = options.get("pipeline", True)
        self.shown = vpkg_move.ProgressFilter(options.get("progress_interval", 1.0))
        self.active = {}
        self.outcomes = {}
        self.results = {}
        self.unchanged = set()
        self.kept = []  # reservations of moves whose job was lost: held until run() ends

    # -- the loop ------------------------------------------------------------------------------
    def run(self):
        try:
            return self._run()
        finally:
            # A lost job may still be moving its guest: its target stays reserved while this
            # engine runs, never longer (a runner thread of the master lives on after it).
            for entry in self.kept + [a["entry"] for a in self.active.values()]:
                self.registry.release(entry["id"])

    def _run(self):
        pending = list(self.moves)
        stop_reason = None
        # Listening before the first publish: no event of a fast host is missed.
        with salt.utils.event.get_master_event(
            self.master.opts, self.master.opts["sock_dir"], listen=True
        ) as bus:
            while True:
                stop_reason = stop_reason or self._stop_reason()
                if stop_reason is None:
                    migrating = self._in_state("migrating")
                    queued = self._in_state("queued") if self.pipeline else None
                    sending = {m["source"] for m in migrating}
                    for move in vpkg_schedule.next_runnable(pending, migrating, queued=queued):
                        pending.remove(move)
                        self._start(move, "queued" if move["source"] in sending else "migrating")
                if not self.active:
                    if stop_reason or not pending or not vpkg_schedule.next_runnable(pending, []):
                        break
                    continue
                event = bus.get_event(wait=0.5, full=True)
                if event:
                    self._on_event(event.get("tag", ""), event.get("data") or {})
                self._check_jobs()
                self._watchdog()
        for move in pending:
            why = stop_reason or "it could not be scheduled"
            self._finish(move, False, f"not started: {why}", started=None, unchanged=True)
        return [self.outcomes[m["package"]] for m in self.moves if m["package"] in self.outcomes]

    def _in_state(self, state):
        return [a["move"] for a in self.active.values() if a["state"] == state]

    def _stop_reason(self):
        if self.cancelled():
            return "the operation was cancelled"
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "the operation's deadline passed"
        return None

    # -- one move: reserve, publish ------------------------------------------------------------
    def _start(self, move, state):
        package, source, target = move["package"], move["source"], move["target"]
        with self.registry.locked() as session:
            busy = session.find(package)
            in_flight = session.in_flight()
            held = vpkg_capacity.held(self.view, in_flight)
            pre = vpkg_capacity.preflight(self.view, package, target, reserved=held, source=source)
            entry = None
            if busy is not None:
                pre["checks"].append(
                    {
                        "name": "not_moving",
                        "ok": False,
                        "reason": f"a move of package {package} to {busy['target']} is already in progress",
                    }
                )
            elif pre["ok"]:
                weights = self.view["packages"][package].get("weights") or {}
                entry = session.add(package, source, target, weights, operation=self.operation)
        if entry is None:
            result = refused(package, source, target, pre["checks"])
            comment = "refused, nothing changed: " + "; ".join(vpkg_move.failed_checks(pre["checks"]))
            # A package already moving is not a stale view's doing: retrying would not help.
            self._finish(move, False, comment, started=None, result=result, unchanged=busy is None)
            return
        minion = self.master.minion(source)
        pub = self.master.client.run_job(
            minion,
            "vpkg.move",
            arg=[package, target],
            kwarg={"timeout": self.guest_timeout, "reserved": in_flight, "expected_node": source},
            timeout=self.guest_timeout + ANSWER_GRACE,
            listen=False,
        )
        if not pub or not pub.get("jid") or minion not in (pub.get("minions") or [minion]):
            self.registry.release(entry["id"])
            said = f"minion {minion} (node {source}) is not connected"
            failed = f"Move of package {package} from {source} to {target} failed: {said}"
            self._finish(move, False, said, started=None, unchanged=True, failed_with=failed)
            return
        now = time.monotonic()
        self.active[package] = {
            "move": move,
            "jid": pub["jid"],
            "minion": minion,
            "entry": entry,
            "started": now,
            "since": now,
            "state": state,  # queued (waits for its source's migration slot), migrating, finishing
            "watch": self.master.job_watch(pub["jid"]),  # is the job still running on its minion?
        }
        self.on_outcome(move, "running", f"jid {pub['jid']}")
        self.progress(
            f"{package}: moving from {source} to {target}", package=package, source=source, target=target
        )

    # -- watch, relay --------------------------------------------------------------------------
    def _on_event(self, tag, data):
        if tag.startswith("vpkg/move/"):
            parts = tag.split("/")
            active = self.active.get(parts[2]) if len(parts) > 3 else None
            if active is not None:
                self._on_move_event(parts[2], active, parts[3], data)
            return
        if tag.startswith("salt/job/") and "/ret/" in tag:
            now = time.monotonic()
            for package, active in list(self.active.items()):
                if tag.endswith(f"/ret/{active['minion']}"):
                    active["watch"].answer(tag.split("/")[2], data.get("return"), now)
                if tag == f"salt/job/{active['jid']}/ret/{active['minion']}":
                    ret = data.get("return")
                    ok = isinstance(ret, dict) and ret.get("result") is True and not data.get("retcode")
                    self._complete(package, active, ok, ret)

    def _on_move_event(self, package, active, what, data):
        payload = data.get("data", data) if "package" not in data else data
        if not isinstance(payload, dict):
            payload = {}
        if what == "start":
            active["state"] = "migrating"  # it has its source's slot: switching goes off now
            active["since"] = time.monotonic()  # the watchdog's clock restarts with the migration
        if what in ("migrated", "failed", "done"):
            active["state"] = "finishing"  # the hosts may take their next online migration
        final = payload.get("result")
        phase = payload.get("phase", what)
        if what not in ("start", "waiting") and self.shown(
            package, phase, time.monotonic(), isinstance(final, dict)
        ):
            pct = payload.get("percent")
            extra = {k: v for k, v in payload.items() if k not in ("result", "phase", "percent", "package")}
            self.progress(
                f"{package}: {phase}" + (f" {pct}%" if pct is not None else ""),
                **extra,
                package=package,
                phase=phase,
                percent=pct,
            )
        if isinstance(final, dict):
            # The host fires its result last, once the move is over and its lock released; the
            # job's own return only follows it through the job cache.
            self._complete(package, active, final.get("result") is True, final)

    def _complete(self, package, active, ok, ret):
        del self.active[package]
        move = active["move"]
        if not isinstance(ret, dict):
            said = f"Move of package {package} from {move['source']} to {move['target']} failed: {ret}"
            ret = vpkg_results.MoveResult(False, package, move["source"], move["target"], said).to_dict()
        elif not ok:
            # The source went down mid-move? Serviceguard may fail the package over (vpkg_failover),
            # perhaps onto the target: its reservation is released only after that.
            ret = vpkg_failover.after_failed_move(self.master, ret, self.progress)
        self.registry.release(active["entry"]["id"])
        if ok:
            self.view["packages"][package]["node"] = move["target"]
            comment = f"moved {move['source']} -> {move['target']}"
        else:
            comment = ret.get("comment") or str(ret)
        unchanged = not ok and vpkg_move.refused_before_change(ret)
        self._finish(move, ok, comment, started=active["started"], result=ret, unchanged=unchanged)

    def _check_jobs(self):
        """Ask each move's minion whether it still runs the job; give up on a job it lost.

        A killed minion (or a killed job process) never returns: without this an evacuation
        would wait ``guest_timeout`` plus grace for it (vpkg_watch has the rules).
        """
        now = time.monotonic()
        for package, active in list(self.active.items()):
            watch = active["watch"]
            if watch.due(now):
                watch.sent(self.master.find_job(active["minion"], active["jid"], watch.answer_wait), now)
            lost = watch.verdict(now)
            if lost:
                node = active["move"]["source"]
                self._lost(package, active, watch.reason(lost, active["minion"], node))

    def _watchdog(self):
        now = time.monotonic()
        for package, active in list(self.active.items()):
            # A queued move waits at most guest_timeout for its slot (the host gives up then), and
            # migrates for at most guest_timeout after its start event.
            if now - active["since"] > self.guest_timeout + ANSWER_GRACE:
                waited = f"no answer from minion {active['minion']} within {now - active['since']:.0f} s"
                self._lost(package, active, f"{waited}; the job may still be running (jid {active['jid']})")

    def _lost(self, package, active, reason):
        """Stop waiting for a move whose job is gone or silent; say where the package is now."""
        del self.active[package]
        self.kept.append(active["entry"])
        move = active["move"]
        comment = (
            f"Move of package {package} from {move['source']} to {move['target']}, no result: {reason}. "
        )
        comment += self.master.where_now(package)
        log.warning("vpkg: stopped waiting for job %s: %s", active["jid"], reason)
        self._finish(move, False, comment, started=active["started"], failed_with=comment)

    def _finish(self, move, ok, comment, started, result=None, unchanged=False, failed_with=None):  # noqa: PLR0913
        package = move["package"]
        seconds = None if started is None else round(time.monotonic() - started, 3)
        if result is None:
            said = (
                failed_with
                or f"Move of package {package} from {move['source']} to {move['target']}: {comment}"
            )
            result = vpkg_results.MoveResult(
                bool(ok), package, move["source"], move["target"], said
            ).to_dict()
        outcome = vpkg_results.Outcome(
            package, move["source"], move["target"], bool(ok), comment, seconds=seconds
        )
        outcome.unprotected_seconds = result.get("unprotected_seconds")
        outcome.switching_after = (result.get("switching") or {}).get("after")
        self.outcomes[package] = outcome.to_dict()
        self.results[package] = result
        if unchanged:
            self.unchanged.add(package)
        cache = getattr(self.master, "cache", None)
        if cache is not None and started is not None:
            if ok:
                cache.moved(package, move["target"])
            else:
                cache.drop()  # the package may be anywhere now: the next move reads it afresh
        self.on_outcome(move, "moved" if ok else "failed", comment)
        self.progress(
            f"{package}: {'moved' if ok else 'NOT moved'} ({comment})", package=package, result=bool(ok)
        )
