"""Run a plan's moves: as many at once as Integrity VM allows, each reserved, each reported.

The executor is the master-side loop behind ``vpkg.evacuate``, ``vpkg.restore`` and
``vpkg.rebalance``. It starts a move when ``vpkg_schedule.next_runnable`` says its hosts are free
(one online migration per VM host, as source or target) and capacity order allows; reserves its
weights in the registry (so concurrent runners never overbook); publishes the source minion's
``vpkg.move`` without waiting; and reacts to events: ``vpkg/move/<pkg>/migrated`` frees the two
hosts for their next migration while the adopt step finishes, the job's return ends the move.
Pipelining: while a move migrates, the next move from the same source may already be published
(when its target is free); its host does the preflight and waits for its migration slot, so the
next migration begins the moment the previous one ends instead of a job dispatch later.
A failed move is reported and the others go on (one whose source node went down first lets
Serviceguard fail the package over when ``vpkg_failover`` proves it safe); a cancelled or
overdue operation starts nothing new and lets the running moves finish. Nothing here decides
*what* to move: the plan does.
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


class Executor:
    """One operation's moves. ``run()`` returns one outcome per planned move, in plan order."""

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

    # -- the loop ------------------------------------------------------------------------------
    def run(self):
        pending = list(self.moves)
        stop_reason = None
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
            self._finish(move, False, f"not started: {why}", started=None)
        return [self.outcomes[m["package"]] for m in self.moves if m["package"] in self.outcomes]

    def _in_state(self, state):
        return [a["move"] for a in self.active.values() if a["state"] == state]

    def _stop_reason(self):
        if self.cancelled():
            return "the operation was cancelled"
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "the operation's deadline passed"
        return None

    # -- one move ------------------------------------------------------------------------------
    def _start(self, move, state):
        package, source, target = move["package"], move["source"], move["target"]
        with self.registry.locked() as session:
            busy = session.find(package)
            pre = vpkg_capacity.preflight(
                self.view, package, target, reserved=session.reserved(), source=source
            )
            entry = None
            if busy is None and pre["ok"]:
                weights = self.view["packages"][package].get("weights") or {}
                entry = session.add(package, source, target, weights, operation=self.operation)
        if busy is not None:
            self._finish(move, False, f"refused: a move of {package} is already in progress", started=None)
            return
        if entry is None:
            failed = "; ".join(f"{c['name']}: {c['reason']}" for c in pre["checks"] if not c["ok"])
            self._finish(move, False, f"refused, nothing changed: {failed}", started=None)
            return
        pub = self.master.client.run_job(
            self.master.minion(source),
            "vpkg.move",
            arg=[package, target],
            kwarg={"timeout": self.guest_timeout, "expected_node": source},
            timeout=self.guest_timeout + ANSWER_GRACE,
            listen=False,
        )
        if not pub or not pub.get("jid"):
            self.registry.release(entry["id"])
            self._finish(move, False, f"minion of {source} is not connected", started=None)
            return
        self.active[package] = {
            "move": move,
            "jid": pub["jid"],
            "minion": self.master.minion(source),
            "entry": entry,
            "started": time.monotonic(),
            "since": time.monotonic(),
            "state": state,  # queued (waits for its source's migration slot), migrating, finishing
            "final": None,
            "watch": self.master.job_watch(pub["jid"]),  # is the job still running on its minion?
        }
        self.on_outcome(move, "running", f"jid {pub['jid']}")
        self.progress(
            f"{package}: moving {source} -> {target}", package=package, source=source, target=target
        )

    def _on_event(self, tag, data):
        if tag.startswith("vpkg/move/"):
            parts = tag.split("/")
            active = self.active.get(parts[2]) if len(parts) > 3 else None
            if active is None:
                return
            payload = data.get("data", data) if "package" not in data else data
            what = parts[3]
            if what == "start":
                active["state"] = "migrating"  # it has its source's slot: switching goes off now
                active["since"] = time.monotonic()  # the watchdog's clock restarts with the migration
            if what in ("migrated", "failed", "done"):
                active["state"] = "finishing"  # the hosts may take their next online migration
            final = isinstance(payload, dict) and isinstance(payload.get("result"), dict)
            if final:
                active["final"] = payload["result"]
            phase = payload.get("phase", what) if isinstance(payload, dict) else what
            if what not in ("start", "waiting") and self.shown(parts[2], phase, time.monotonic(), final):
                pct = payload.get("percent") if isinstance(payload, dict) else None
                self.progress(
                    f"{parts[2]}: {phase}" + (f" {pct}%" if pct is not None else ""),
                    package=parts[2],
                    phase=what,
                    percent=pct,
                )
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

    def _complete(self, package, active, ok, ret):
        del self.active[package]
        move = active["move"]
        detail = ret if isinstance(ret, dict) else active["final"]
        if not ok and isinstance(detail, dict):
            # The source went down mid-move? Serviceguard may fail the package over (vpkg_failover),
            # perhaps onto the target: its reservation is released only after that.
            detail = vpkg_failover.after_failed_move(self.master, detail, self.progress)
        self.registry.release(active["entry"]["id"])
        if ok:
            self.view["packages"][package]["node"] = move["target"]
            comment = f"moved {move['source']} -> {move['target']}"
        else:
            comment = (detail or {}).get("comment") if isinstance(detail, dict) else None
            comment = comment or str(ret)
        self._finish(move, ok, comment, started=active["started"], detail=detail)

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
                del self.active[package]
                # The reservation stays while this runner lives: the job may still be moving the guest.
                node = active["move"]["source"]
                comment = f"no result: {watch.reason(lost, active['minion'], node)}. "
                self._finish(
                    active["move"], False, comment + self.master.where_now(package), started=active["started"]
                )

    def _watchdog(self):
        now = time.monotonic()
        for package, active in list(self.active.items()):
            # A queued move waits at most guest_timeout for its slot (the host gives up then), and
            # migrates for at most guest_timeout after its start event.
            if now - active["since"] > self.guest_timeout + ANSWER_GRACE:
                del self.active[package]
                # The reservation is kept by the registry only while this runner lives: the move
                # may still be running on the host, so we do not release it early.
                self._finish(
                    active["move"],
                    False,
                    f"no answer from {active['minion']} (jid {active['jid']}); the move may still be running",
                    started=active["started"],
                )

    def _finish(self, move, ok, comment, started, detail=None):
        outcome = vpkg_results.Outcome(
            move["package"],
            move["source"],
            move["target"],
            bool(ok),
            comment,
            seconds=None if started is None else round(time.monotonic() - started, 3),
        )
        if isinstance(detail, dict):
            outcome.unprotected_seconds = detail.get("unprotected_seconds")
            outcome.switching_after = (detail.get("switching") or {}).get("after")
        self.outcomes[move["package"]] = outcome.to_dict()
        self.on_outcome(move, "moved" if ok else "failed", comment)
        self.progress(
            f"{move['package']}: {'moved' if ok else 'NOT moved'} ({comment})",
            package=move["package"],
            result=bool(ok),
        )
