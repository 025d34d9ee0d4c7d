"""The online move of a guest package, as the source VM host runs it (plain Python, no Salt).

``vpkg.move`` (``_modules/vpkg.py``) builds a :class:`HostMove` with the two seams of this VM host,
the cluster manager (``vpkg_sg.Serviceguard``) and the VM layer (``vpkg_vm.IntegrityVM``), and
runs it with one of two drivers:

- ``steps`` (default): preflight; record switching; disable package switching (``cmmodpkg -d``);
  online migration (``hpvmmigrate -o``) with progress; verify the source copy; detach here and
  adopt on the target (``cmhaltpkg -d``, ``cmrunpkg -n``); restore switching as recorded.
- ``cmmovevpkg``: the same preflight, lock and migration slot, then HP's own
  ``cmmovevpkg -v -P PKG -h TARGET`` does the middle, and the same verification follows: where the
  guest and the package are, and switching, are read back, not assumed.

Every step is recorded; when the guest's location cannot be established, switching stays off
and the error says so and names the restoring commands (``vpkg_move``). Errors are
:class:`MoveFailed` carrying the whole result; the loader module turns them into Salt's errors.
"""

import logging
import pathlib
import time

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import (
        vpkg_capacity,
        vpkg_command,
        vpkg_hostlocks,
        vpkg_move,
        vpkg_results,
        vpkg_vm,
    )
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_command
    import vpkg_hostlocks
    import vpkg_move
    import vpkg_results
    import vpkg_vm

log = logging.getLogger(__name__)

DRIVERS = ("steps", "cmmovevpkg")


class MoveFailed(Exception):
    """A move that did not happen as asked; ``result`` says what did."""

    def __init__(self, comment, result):
        super().__init__(comment)
        self.result = result


def said(exc):
    """A command's own message, without the structured info Salt would append to it."""
    return getattr(exc, "error", None) or str(exc)


def check(vm, cluster, package, source, target, reserved=None, migrate_check=True, guests=None):
    """Every preflight verdict of the move, the master's moves in flight (``reserved``) counted."""
    held = vpkg_capacity.held(cluster, reserved, exclude=package)
    result = vpkg_capacity.preflight(cluster, package, target, reserved=held, source=source)
    guest = (cluster["packages"].get(package) or {}).get("vm_name")
    checks = result["checks"]
    if result["ok"] and guest:
        # The VM layer's checks run only when Serviceguard's pass: hpvmmigrate -s on a package
        # that is not ours to move would only add noise.
        checks.extend(vm.checks(guest, target, migrate_check, guests))
    return vpkg_results.Verdict(package, source, target, checks, guest=guest).to_dict()


class HostMove:
    """One move from this VM host: its record (steps, timings, switching) and its procedure."""

    def __init__(self, package, target, source, seams, **options):
        self.package, self.target, self.source = package, target, source
        self.sg, self.vm = seams
        self.timeout = options["timeout"]
        self.reserved = options.get("reserved")
        self.errors = options.get("errors", (Exception,))  # what the seams raise for a failed command
        self.fire = options.get("fire") or (lambda phase, data: None)
        self.slot = vpkg_hostlocks.MigrationSlot(options["cachedir"], source)
        self.driver = options.get("driver", "steps")
        self.guest = None
        self.guests = None  # the VM layer's guest list as the first preflight read it
        self.steps = []
        self.started = time.monotonic()
        self.unprotected_since = None
        self.unprotected = None
        self.snapshot = None
        self.location = None  # vpkg_vm.ON_SOURCE / ON_TARGET / UNKNOWN once switching is off

    # -- the record ----------------------------------------------------------------------------
    def add(self, name, ok, since, comment="", checks=None):
        self.steps.append(vpkg_move.step(name, ok, time.monotonic() - since, comment, checks))

    def result(self, ok, comment, switching_after=None):
        return vpkg_results.MoveResult(
            ok,
            self.package,
            self.source,
            self.target,
            comment,
            steps=self.steps,
            guest=self.guest,
            switching={"before": self.snapshot, "after": switching_after},
            location=self.location,
            unprotected_seconds=None if self.unprotected is None else round(self.unprotected, 3),
            seconds=round(time.monotonic() - self.started, 3),
            driver=self.driver,
        ).to_dict()

    def fail(self, comment, switching_after=None):
        raise MoveFailed(comment, self.result(False, comment, switching_after))

    def _left_off(self):
        return {"autorun": False, "switching": self.snapshot["switching"]}

    def _ends(self, **data):
        return {"source": self.source, "target": self.target, **data}

    # -- the procedure -------------------------------------------------------------------------
    def run(self):
        self.preflight()
        try:
            return self._take_slot_and_go()
        finally:
            self.slot.release()

    def preflight(self, step="preflight"):
        """Serviceguard's and the VM layer's checks on a fresh view; records the switching to restore.

        Again after a wait for the migration slot, only Serviceguard's view is read anew (what a
        failover would change); the guest's own state is the first preflight's, as
        ``hpvmmigrate -o`` checks it atomically before it changes anything, and its refusal is
        the failure path that restores switching. One command less between two migrations.
        """
        t0 = time.monotonic()
        if step == "preflight_again":
            cluster, guests = self.sg.view(), self.guests
        else:
            reads = vpkg_command.at_once(self.sg.view, self.vm.guests, errors=self.errors)
            (cluster, failed), (guests, _) = reads
            if failed is not None:
                raise failed
            self.guests = guests
        # The guest list failing is not final: the VM layer's checks run only if Serviceguard's
        # pass, and then ask again and raise with the command's own message.
        pre = check(self.vm, cluster, self.package, self.source, self.target, self.reserved, False, guests)
        self.guest = pre["guest"]
        failed = vpkg_move.failed_checks(pre["checks"])
        self.add(step, not failed, t0, "; ".join(failed), checks=pre["checks"])
        if failed:
            self.fail(
                f"Package {self.package} cannot move from {self.source} to {self.target}: "
                + "; ".join(failed)
            )
        self.snapshot = vpkg_move.switching_snapshot(cluster["packages"][self.package])

    def _take_slot_and_go(self):
        t0 = time.monotonic()
        try:
            waited = self.slot.take(self.timeout, lambda: self.fire("waiting", self._ends(percent=0)))
        except vpkg_hostlocks.Busy as exc:
            self.add("wait_for_migration_slot", False, t0, str(exc))
            self.fail(f"Package {self.package}: {exc}")
        if waited >= vpkg_hostlocks.MigrationSlot.POLL:
            self.add("wait_for_migration_slot", True, t0, "another online migration from this VM host ended")
            # The cluster may have changed meanwhile, however short the wait: the migration that
            # held the slot may have ended because this node went down, and Serviceguard may have
            # failed the package over. Disabling its switching then would leave it unprotected.
            self.preflight("preflight_again")
        self.fire("start", self._ends(percent=0))
        if self.driver == "cmmovevpkg":
            return self._guarded(self._with_cmmovevpkg)
        t0 = time.monotonic()
        try:
            self.sg.disable_switching(self.package)
        except self.errors as exc:
            self.add("disable_switching", False, t0, said(exc))
            self.fail(
                f"Package {self.package}: could not disable package switching, nothing was changed: "
                + said(exc)
            )
        self.unprotected_since = time.monotonic()
        self.add("disable_switching", True, t0, "cmmodpkg -d " + self.package)
        return self._guarded(self._migrate_and_adopt)

    def _guarded(self, go):
        try:
            return go()
        except MoveFailed:
            raise  # already says what happened and what is left to do
        except Exception as exc:  # noqa: BLE001 - switching may be off: never leave without saying so
            log.exception("vpkg.move of %s: unexpected error after switching was disabled", self.package)
            self.location = vpkg_vm.UNKNOWN
            self.fail(
                vpkg_move.unknown_location_message(
                    self.package, self.guest, self.source, self.target, f"unexpected error: {exc}"
                ),
                self._left_off(),
            )

    def _migrate(self):
        """Run the online migration, streaming its progress; returns (ok or None if unknown, what it said)."""
        t0 = time.monotonic()

        def progress(event):
            self.fire(event.get("phase") or "migrate", self._ends(**event))

        try:
            out = self.vm.migrate(self.guest, self.target, self.timeout, progress)
        except self.errors as exc:
            self.add("migrate", False, t0, said(exc))
            info = getattr(exc, "info", None)
            lost = isinstance(info, dict) and info.get("lost") and not info.get("timed_out")
            return (None if lost else False), said(exc)
        self.add("migrate", True, t0, out.get("message", "") if isinstance(out, dict) else str(out))
        return True, "Guest migrated successfully."

    def _source_state(self):
        try:
            return self.vm.state_here(self.guest)
        except self.errors as exc:
            log.warning("Could not read the state of guest %s here: %s", self.guest, exc)
            return None

    def _verify(self, migrate_ok, detail):
        """Where the guest is after the migration; fails unless it is on the target."""
        t0 = time.monotonic()
        source_state = self._source_state()
        where = self.location = vpkg_vm.guest_location(migrate_ok, source_state)
        self.add("verify", where != vpkg_vm.UNKNOWN, t0, f"source copy: {source_state}; guest on {where}")
        if where == vpkg_vm.ON_SOURCE:
            after = self._restore_switching(self.source)
            self.fail(
                f"Online migration of guest {self.guest} to {self.target} failed; the guest still runs on "
                f"{self.source} and package switching is restored. {self._said_by()} said: {detail}",
                after,
            )
        if where == vpkg_vm.UNKNOWN:
            self.fail(
                vpkg_move.unknown_location_message(
                    self.package,
                    self.guest,
                    self.source,
                    self.target,
                    f"{self._said_by()}: {detail}; source copy: {source_state}",
                ),
                self._left_off(),
            )

    def _said_by(self):
        return "cmmovevpkg" if self.driver == "cmmovevpkg" else "hpvmmigrate"

    def _migrate_and_adopt(self):
        migrate_ok, detail = self._migrate()
        self.slot.release()  # the migration has ended: the next move from this host may migrate
        self._verify(migrate_ok, detail)
        # The hosts are free for their next online migration from here on: an evacuation relays this.
        self.fire("migrated", self._ends(percent=100))
        self._adopt_step(vpkg_move.DETACH)
        return self._done(self._restore_switching(self.target))

    def _done(self, after):
        return self.result(
            True, f"Package {self.package} moved online from {self.source} to {self.target}.", after
        )

    def _adopt_step(self, remaining):
        t0 = time.monotonic()
        remaining, errors = self._adopt(remaining)
        if remaining != vpkg_move.ADOPTED:
            detail = "; ".join(errors)
            self.add("adopt", False, t0, detail)
            self.fail(
                vpkg_move.adopt_failed_message(self.package, self.guest, self.target, detail, remaining),
                self._left_off(),
            )
        comment = f"cmhaltpkg -d {self.package}; cmrunpkg -n {self.target} {self.package}"
        if errors:
            comment += f" (after {len(errors)} failed attempt(s): {'; '.join(errors)})"
        self.add("adopt", True, t0, comment)
        self.fire("adopted", self._ends(percent=100))

    def _adopt(self, remaining):
        """Detach the package here and start it on the target, where its guest now runs.

        A failed command is followed by a look at the package (``cmviewcl``) and, after a pause,
        by what is still left to do (``vpkg_move.adopt_next``): the guest is already on the
        target, so giving up at the first transient refusal would leave it unprotected for
        nothing. Returns (``vpkg_move.ADOPTED`` or what is left, the commands' error messages).
        """
        errors = []
        for pause in (*vpkg_move.ADOPT_PAUSES, None):
            try:
                if remaining == vpkg_move.DETACH:
                    self.sg.detach(self.package)
                    remaining = vpkg_move.RUN
                self.sg.adopt(self.package, self.target)
                return vpkg_move.ADOPTED, errors
            except self.errors as exc:
                errors.append(said(exc))
            try:  # after the last attempt too: a command may fail after acting
                remaining = vpkg_move.adopt_next(self.sg.package(self.package), self.source, self.target)
            except self.errors as exc:
                errors.append(said(exc))  # keep what was left; the next attempt says more
            if pause is None or remaining in (vpkg_move.ADOPTED, None):
                break
            time.sleep(pause)
        return remaining, errors

    def _restore_switching(self, node):
        """Put global switching back as recorded; per-node switching was never changed."""
        t0 = time.monotonic()
        if self.snapshot["autorun"]:
            try:
                self.sg.enable_switching(self.package)
            except self.errors as exc:
                self.add("restore_switching", False, t0, said(exc))
                self.fail(
                    f"Package {self.package} runs on {node}, but re-enabling package "
                    f"switching failed: {said(exc)}. Switching is LEFT DISABLED; restore it with: "
                    + vpkg_move.command_line(["cmmodpkg", "-e", self.package]),
                    self._left_off(),
                )
        if self.unprotected_since is not None:
            self.unprotected = time.monotonic() - self.unprotected_since
        comment = "cmmodpkg -e " + self.package if self.snapshot["autorun"] else "unchanged"
        self.add("restore_switching", True, t0, comment)
        return dict(self.snapshot)

    # -- the cmmovevpkg driver -----------------------------------------------------------------
    def _with_cmmovevpkg(self):
        """HP's ``cmmovevpkg`` does the move; we read back where everything is, and finish or recover."""
        t0 = time.monotonic()
        seen = {}

        def progress(line):
            text = line.strip()
            if "Disabling package switching" in text:
                seen["off"] = time.monotonic()
            elif "Enabling package switching" in text and "off" in seen:
                seen["on"] = time.monotonic()
            step = vpkg_vm.progress_of(text)
            if step is not None:
                self.fire(step["phase"], self._ends(**step, line=text))

        try:
            out = self.sg.move_vpkg(self.package, self.target, self.timeout, progress)
            ok, detail = True, out.get("message", "") if isinstance(out, dict) else str(out)
        except self.errors as exc:
            ok, detail = False, said(exc)
        self.slot.release()
        self.add("cmmovevpkg", ok, t0, detail)
        self.unprotected_since = seen.get("off")
        if "off" in seen and "on" in seen:
            self.unprotected = seen["on"] - seen["off"]
        return self._after_cmmovevpkg(ok, detail)

    def _after_cmmovevpkg(self, ok, detail):
        t0 = time.monotonic()
        try:
            pkg = self.sg.package(self.package)
        except self.errors as exc:
            pkg, detail = {}, f"{detail}; then cmviewcl failed: {said(exc)}"
        state, node, autorun = pkg.get("state"), pkg.get("node"), bool(pkg.get("autorun"))
        on_target = state == "running" and node == self.target
        if ok and on_target and (autorun or not self.snapshot["autorun"]):
            self.location = vpkg_vm.ON_TARGET
            self.add(
                "verify", True, t0, f"{self.package} running on {self.target}, switching {_onoff(autorun)}"
            )
            self.fire("migrated", self._ends(percent=100))
            return self._done({"autorun": autorun, "switching": self.snapshot["switching"]})
        if state == "running" and node == self.source and (autorun or not self.snapshot["autorun"]):
            # cmmovevpkg refused, or failed and re-enabled switching: nothing changed.
            self.location = vpkg_vm.ON_SOURCE
            self.add(
                "verify", True, t0, f"{self.package} still running on {self.source}, switching as before"
            )
            self.fail(
                f"cmmovevpkg did not move package {self.package} to {self.target}; it still runs on "
                f"{self.source} with switching as before. cmmovevpkg said: {detail}",
                dict(self.snapshot),
            )
        # Switching was left off (cmmovevpkg stopped half-way): find the guest, then finish the
        # move or put it back, as the steps driver does after its own migration.
        self.add("verify", False, t0, f"{self.package} {state} on {node}, switching {_onoff(autorun)}")
        self.unprotected_since = self.unprotected_since or time.monotonic()
        self._verify(True if on_target else None, detail)
        if not on_target:
            self._adopt_step(vpkg_move.adopt_next(pkg, self.source, self.target) or vpkg_move.RUN)
        return self._done(self._restore_switching(self.target))


def _onoff(autorun):
    return "on" if autorun else "off"
