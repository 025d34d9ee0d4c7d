"""
Online move of an HP Serviceguard VM guest package, run on the VM host where the guest runs.

This is ``cmmovevpkg -P PKG -h HOST`` done through Salt: disable package switching, migrate the
guest online (``hpvmmigrate -o``), make Serviceguard show the package on the target (live
application detach: ``cmhaltpkg -d`` here, ``cmrunpkg -n TARGET`` adopts the running guest there)
and put switching back exactly as it was. Every step is checked; when the guest's location cannot
be established, switching stays off and the error says so and names the restoring commands.

:depends: the ``serviceguard`` and ``hpvm`` execution modules of this project
:configuration: Optional settings (minion config, grains or pillar):

    .. code-block:: yaml

        vpkg.node: xyzo1            # this VM host's Serviceguard node name (default: grains host)
        vpkg.migrate_timeout: 3600  # seconds an online migration may take before it is aborted
        vpkg.events: true           # fire progress events under vpkg/move/ on the master bus
"""

import concurrent.futures
import contextlib
import contextvars
import errno
import fcntl
import hmac
import json
import logging
import os
import secrets
import time

import salt.utils.args
from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    import vpkg_capacity
    import vpkg_files
    import vpkg_move  # synced from file_roots: Salt puts extmods/utils on sys.path while loading
    import vpkg_names
except ImportError as synced:
    try:
        from saltext.vpkg.utils import vpkg_capacity, vpkg_files, vpkg_move, vpkg_names  # pip-installed
    except ImportError as installed:  # neither: the module was synced without its utils
        raise ImportError(
            f"salt-vpkg's utils are missing ({synced}; {installed}): run saltutil.sync_utils "
            "(or saltutil.sync_all) for this minion, or pip install salt-vpkg"
        ) from None

log = logging.getLogger(__name__)

__virtualname__ = "vpkg"


def __virtual__():
    for needed in ("serviceguard.cluster", "hpvm.guest"):
        if needed not in __salt__:
            return (
                False,
                f"The vpkg module needs {needed} (the serviceguard and hpvm modules failed to load)",
            )
    return __virtualname__


def _config(key, default):
    return __salt__["config.get"](f"vpkg.{key}", default)


def local_node():
    """
    The Serviceguard node name of this VM host.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.local_node
    """
    return str(_config("node", None) or __grains__.get("host") or __grains__.get("id"))


def _validate(package, target):
    try:
        vpkg_names.check_name(package, "package")
        vpkg_names.check_name(target, "target")
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def _internal(kwargs, allowed):
    """The internal keyword arguments the master's runner passes (kept out of ``sys.argspec``).

    Salt's ``__pub_*`` keys are dropped; any other unknown keyword is refused.
    """
    kwargs = salt.utils.args.clean_kwargs(**kwargs)
    unknown = {key: value for key, value in kwargs.items() if key not in allowed}
    if unknown:
        salt.utils.args.invalid_kwargs(unknown)
    return kwargs


def _acting_as(expected_node):
    """Refuse, before any command runs, to act for a node this VM host does not take itself for.

    The runner names the node it asks this host to act for: a host whose hostname is not its
    Serviceguard node name, without ``vpkg.node`` set, would otherwise check and move as the
    wrong node.
    """
    if expected_node is None:
        return
    try:
        vpkg_names.check_name(expected_node, "expected_node")
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    here = local_node()
    if here != expected_node:
        raise CommandExecutionError(vpkg_move.wrong_node_message(expected_node, here))


def _fire(package, phase, data):
    """Progress on the master's event bus; a lost event must never fail a move."""
    if not _config("events", True) or __opts__.get("file_client") == "local":
        return
    payload = {"package": package, "phase": phase}
    payload.update(data)
    try:
        __salt__["event.send"](
            f"vpkg/move/{package}/{phase.lower().replace('/', '').replace(' ', '_')}", payload
        )
    except Exception:  # noqa: BLE001 - events are best effort by design
        log.warning("Could not send progress event for package %s", package, exc_info=True)


@contextlib.contextmanager
def _package_lock(package):
    """One move per package at a time on this host: a second one is refused, not queued."""
    lock_dir = os.path.join(__opts__["cachedir"], "vpkg", "locks")
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    path = os.path.join(lock_dir, f"{package}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # owner-only, like every file we keep
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise CommandExecutionError(
                    f"A move of package {package} is already in progress on this node ({holder}); "
                    "refusing to start a second one."
                ) from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


class _MigrationSlot:
    """This VM host's turn at an online migration; released as soon as ``hpvmmigrate -o`` ends."""

    POLL = 0.01  # seconds between tries while another move from this host migrates

    def __init__(self):
        lock_dir = os.path.join(__opts__["cachedir"], "vpkg", "locks")
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(lock_dir, "migration.lock")
        self.fd = None

    def take(self, package, timeout):
        """Wait at most ``timeout`` seconds for the slot; returns the seconds waited.

        Integrity VM runs one online migration per VM host. A move queued behind another one
        from this host (an evacuation publishes the next move while the previous one migrates)
        has done its preflight and waits here, before switching is disabled, so waiting never
        leaves a package unprotected.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        t0 = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            else:
                self.fd = fd
                return time.monotonic() - t0
            if not told:
                _fire(package, "waiting", {"source": local_node(), "percent": 0})
                told = True
            if time.monotonic() - t0 > timeout:
                os.close(fd)
                raise CommandExecutionError(
                    f"Package {package}: another online migration from this VM host did not end "
                    f"within {timeout:.0f} seconds; nothing was changed."
                )
            time.sleep(self.POLL)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _at_once(*calls):
    """Run independent read-only calls concurrently: ``[(value, None) or (None, exception)]``.

    Each call runs its own command process, so a move's preflight reads ``cmviewcl`` and
    ``hpvmstatus`` in the time of one (about 25 ms saved). Salt's loader dunders live in context
    variables: each thread runs in its own copy of this call's context.
    """

    def attempt(fn):
        try:
            return fn(), None
        except CommandExecutionError as exc:
            return None, exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, attempt, fn) for fn in calls]
    return [f.result() for f in futures]


def _guest_checks(guest, target, migrate_check=True, guests=None):
    """Integrity VM's own verdicts: the guest is On here, online migration is enabled, and
    ``hpvmmigrate -s``.

    ``move`` leaves ``hpvmmigrate -s`` out: ``hpvmmigrate -o`` makes the same checks atomically
    before it changes anything, and a refusal there is the failure path that restores switching.
    Saves one command (about 25 ms) on every move. ``guests`` is ``hpvm.guests()`` when already
    read.
    """
    checks = []
    info = (guests or {}).get(guest) or __salt__["hpvm.guest"](guest)
    state = info.get("state")
    checks.append(
        {
            "name": "guest_state",
            "ok": state == "On",
            "reason": f"guest {guest} is {state} on this VM host",
        }
    )
    enabled = bool(info.get("online_migration"))
    checks.append(
        {
            "name": "online_migration",
            "ok": enabled,
            "reason": f"online migration is {'enabled' if enabled else 'disabled'} for guest {guest}",
        }
    )
    if not migrate_check:
        return checks
    verdict = __salt__["hpvm.check_migrate"](guest, target)
    for item in verdict.get("checks", []):
        checks.append(
            {
                "name": f"hpvmmigrate:{item['name']}",
                "ok": bool(item.get("passed")),
                "reason": item.get("reason") or ("passed" if item.get("passed") else "failed"),
            }
        )
    if not verdict.get("checks"):
        checks.append({"name": "hpvmmigrate", "ok": bool(verdict.get("migratable")), "reason": ""})
    return checks


def check(package, target, **kwargs):
    """
    Preflight of an online move of ``package`` from this node to ``target``; nothing changes.

    Returns every check with its verdict and reason: the package is a VM guest package running
    here; the target is up, in the package's node list, with node switching enabled; its
    available capacity covers the package's weight for every capacity; the guest has online
    migration enabled; and ``hpvmmigrate -s`` passes.

    The master's runner also passes ``expected_node``, the node it asks this host to act for:
    a host that takes itself for another node (``vpkg.node``, else its hostname) refuses.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.check slvm1 xyzo2
    """
    _validate(package, target)
    kwargs = _internal(kwargs, ("expected_node",))
    _acting_as(kwargs.get("expected_node"))
    cluster = __salt__["serviceguard.cluster"]()
    return _check(cluster, package, target)


def _check(cluster, package, target, reserved=None, migrate_check=True, guests=None):
    source = local_node()
    result = vpkg_capacity.preflight(cluster, package, target, reserved=reserved, source=source)
    pkg = cluster["packages"].get(package) or {}
    guest = pkg.get("vm_name")
    if result["ok"] and guest:
        # Integrity VM's checks run only when Serviceguard's pass: hpvmmigrate -s on a package
        # that is not ours to move would only add noise.
        result["checks"].extend(_guest_checks(guest, target, migrate_check, guests))
        result["ok"] = all(c["ok"] for c in result["checks"])
    result.update({"package": package, "guest": guest, "source": source, "target": target})
    return result


def move(package, target, timeout=None, **kwargs):
    """
    Move the running guest package ``package`` from this node to ``target``, online.

    Steps: preflight; record switching; disable package switching (``cmmodpkg -d``); online
    migration (``hpvmmigrate -o``) with progress events under ``vpkg/move/<package>/``; verify
    the source copy is Not Runnable; detach here (``cmhaltpkg -d``) and adopt on the target
    (``cmrunpkg -n target``); restore switching as recorded (``cmmodpkg -e``).

    On failure raises ``CommandExecutionError`` whose info holds every step. If the guest is
    verified still running here, switching is restored first; if its location cannot be
    established, switching is left off and the message names the commands that restore it.

    timeout
        Seconds the online migration may take before it is aborted (default
        ``vpkg.migrate_timeout``, 3600).

    The master's runner also passes two internal keyword arguments: ``reserved``,
    ``{node: {capacity: amount}}`` held by other moves in flight, which the capacity preflight
    counts as used on those nodes; and ``expected_node``, the node it asks this host to act for
    (a host that takes itself for another node refuses before any command runs).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.move slvm1 xyzo2
    """
    _validate(package, target)
    if timeout is not None:
        try:
            timeout = vpkg_names.check_seconds(timeout, "timeout")
        except ValueError as exc:
            raise SaltInvocationError(str(exc)) from None
    else:
        timeout = float(_config("migrate_timeout", 3600))
    kwargs = _internal(kwargs, ("reserved", "expected_node"))
    try:
        reserved = vpkg_names.check_reserved(kwargs.get("reserved"))
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    _acting_as(kwargs.get("expected_node"))
    ends = {"source": local_node(), "target": target, "percent": 100}
    try:
        with _package_lock(package):
            info = _move(package, target, timeout, reserved)
    except CommandExecutionError as exc:
        if isinstance(exc.info, dict) and "steps" in exc.info:
            _fire(package, "failed", dict(ends, result=exc.info))
        raise
    # Fired once the package lock is free: a runner that returns on this event may be asked to
    # move the package again at once.
    _fire(package, "done", dict(ends, result=info))
    return info


class _Move:
    """The record of one move: steps, timings, and the final result or error."""

    def __init__(self, package, target):
        self.package = package
        self.target = target
        self.source = local_node()
        self.guest = None
        self.steps = []
        self.started = time.monotonic()
        self.unprotected_since = None
        self.unprotected = None
        self.snapshot = None
        self.location = None  # vpkg_move.ON_SOURCE / ON_TARGET / UNKNOWN once switching is off

    def add(self, name, ok, since, comment="", **extra):
        self.steps.append(vpkg_move.step(name, ok, time.monotonic() - since, comment, **extra))

    def result(self, ok, comment, switching_after=None):
        return {
            "result": ok,
            "package": self.package,
            "guest": self.guest,
            "source": self.source,
            "target": self.target,
            "comment": comment,
            "steps": self.steps,
            "switching": {"before": self.snapshot, "after": switching_after},
            "location": self.location,
            "unprotected_seconds": None if self.unprotected is None else round(self.unprotected, 3),
            "seconds": round(time.monotonic() - self.started, 3),
        }

    def fail(self, comment, switching_after=None):
        raise CommandExecutionError(comment, info=self.result(False, comment, switching_after))


def _move(package, target, timeout, reserved):
    mv = _Move(package, target)
    _preflight(mv, reserved)
    slot = _MigrationSlot()
    try:
        return _switch_off_and_go(mv, slot, timeout, reserved)
    finally:
        slot.release()


def _preflight(mv, reserved, step="preflight"):
    """Serviceguard's and Integrity VM's checks on a fresh view; records the switching to restore."""
    t0 = time.monotonic()
    (cluster, failed), (guests, _) = _at_once(__salt__["serviceguard.cluster"], __salt__["hpvm.guests"])
    if failed is not None:
        raise failed
    # hpvm.guests failing is not final: Integrity VM's checks run only if Serviceguard's pass,
    # and then hpvm.guest asks again and raises with the command's own message.
    preflight = _check(cluster, mv.package, mv.target, reserved, migrate_check=False, guests=guests)
    mv.guest = preflight["guest"]
    failed = vpkg_move.failed_checks(preflight["checks"])
    mv.add(step, not failed, t0, "; ".join(failed), checks=preflight["checks"])
    if failed:
        mv.fail(f"Package {mv.package} cannot move from {mv.source} to {mv.target}: " + "; ".join(failed))
    mv.snapshot = vpkg_move.switching_snapshot(cluster["packages"][mv.package])


def _switch_off_and_go(mv, slot, timeout, reserved):
    package, target = mv.package, mv.target
    t0 = time.monotonic()
    try:
        waited = slot.take(package, timeout)
    except CommandExecutionError as exc:
        mv.add("wait_for_migration_slot", False, t0, _said(exc))
        mv.fail(_said(exc))
    if waited >= _MigrationSlot.POLL:
        mv.add("wait_for_migration_slot", True, t0, "another online migration from this VM host ended")
        # The cluster may have changed meanwhile, however short the wait: the migration that
        # held the slot may have ended because this node went down, and Serviceguard may have
        # failed the package over. Disabling its switching then would leave it unprotected.
        _preflight(mv, reserved, "preflight_again")
    _fire(package, "start", {"source": mv.source, "target": target, "percent": 0})

    t0 = time.monotonic()
    try:
        __salt__["serviceguard.disable_switching"](package)
    except CommandExecutionError as exc:
        mv.add("disable_switching", False, t0, _said(exc))
        mv.fail(f"Package {package}: could not disable package switching, nothing was changed: {_said(exc)}")
    mv.unprotected_since = time.monotonic()
    mv.add("disable_switching", True, t0, "cmmodpkg -d " + package)
    try:
        return _migrate_and_adopt(mv, timeout, slot)
    except CommandExecutionError:
        raise  # already says what happened and what is left to do
    except Exception as exc:  # noqa: BLE001 - switching is off: never leave without saying so
        log.exception("vpkg.move of %s: unexpected error after switching was disabled", package)
        detail = f"unexpected error: {exc}"
        mv.location = vpkg_move.UNKNOWN
        mv.fail(
            vpkg_move.unknown_location_message(package, mv.guest, mv.source, target, detail),
            {"autorun": False, "switching": mv.snapshot["switching"]},
        )


def _migrate_and_adopt(mv, timeout, slot):
    package, target = mv.package, mv.target
    migrate_ok, detail = _migrate(mv, timeout)
    slot.release()  # hpvmmigrate -o has ended: the next move from this host may migrate
    t0 = time.monotonic()
    source_state = _source_state(mv.guest)
    where = mv.location = vpkg_move.guest_location(migrate_ok, source_state)
    mv.add("verify", where != vpkg_move.UNKNOWN, t0, f"source copy: {source_state}; guest on {where}")

    if where == vpkg_move.ON_SOURCE:
        after = _restore_switching(mv, mv.source)
        mv.fail(
            f"Online migration of guest {mv.guest} to {target} failed; the guest still runs on "
            f"{mv.source} and package switching is restored. hpvmmigrate said: {detail}",
            after,
        )
    if where == vpkg_move.UNKNOWN:
        mv.fail(
            vpkg_move.unknown_location_message(
                package, mv.guest, mv.source, target, f"hpvmmigrate: {detail}; source copy: {source_state}"
            ),
            {"autorun": False, "switching": mv.snapshot["switching"]},
        )

    # The hosts are free for their next online migration from here on: an evacuation relays this.
    _fire(package, "migrated", {"source": mv.source, "target": target, "percent": 100})
    t0 = time.monotonic()
    remaining, errors = _adopt(package, mv.source, target)
    if remaining != vpkg_move.ADOPTED:
        detail = "; ".join(errors)
        mv.add("adopt", False, t0, detail)
        mv.fail(
            vpkg_move.adopt_failed_message(package, mv.guest, target, detail, remaining),
            {"autorun": False, "switching": mv.snapshot["switching"]},
        )
    comment = f"cmhaltpkg -d {package}; cmrunpkg -n {target} {package}"
    if errors:
        comment += f" (after {len(errors)} failed attempt(s): {'; '.join(errors)})"
    mv.add("adopt", True, t0, comment)
    _fire(package, "adopted", {"source": mv.source, "target": target, "percent": 100})

    after = _restore_switching(mv, target)
    return mv.result(True, f"Package {package} moved online from {mv.source} to {target}.", after)


def _adopt(package, source, target):
    """Detach the package here and start it on the target, where its guest now runs.

    A failed command is followed by a look at the package (``cmviewcl``) and, after a pause, by
    what is still left to do (``vpkg_move.adopt_next``): the guest is already on the target, so
    giving up at the first transient refusal would leave it unprotected for nothing. Returns
    (``vpkg_move.ADOPTED`` or what is left, the commands' error messages).
    """
    remaining, errors = vpkg_move.DETACH, []
    for pause in (*vpkg_move.ADOPT_PAUSES, None):
        try:
            if remaining == vpkg_move.DETACH:
                __salt__["serviceguard.halt"](package, detach=True)
                remaining = vpkg_move.RUN
            __salt__["serviceguard.run"](package, node=target)
            return vpkg_move.ADOPTED, errors
        except CommandExecutionError as exc:
            errors.append(_said(exc))
        try:  # after the last attempt too: a command may fail after acting
            remaining = vpkg_move.adopt_next(__salt__["serviceguard.package"](package), source, target)
        except CommandExecutionError as exc:
            errors.append(_said(exc))  # keep what was left; the next attempt says more
        if pause is None or remaining in (vpkg_move.ADOPTED, None):
            break
        time.sleep(pause)
    return remaining, errors


def _migrate(mv, timeout):
    """Run the online migration, streaming its progress; returns (ok, what it said)."""
    t0 = time.monotonic()

    def progress(event):
        data = {"source": mv.source, "target": mv.target}
        data.update(event)
        _fire(mv.package, event.get("phase") or "migrate", data)

    try:
        out = __salt__["hpvm.migrate"](mv.guest, mv.target, online=True, timeout=timeout, progress=progress)
    except CommandExecutionError as exc:
        mv.add("migrate", False, t0, _said(exc))
        return False, _said(exc)
    mv.add("migrate", True, t0, out.get("message", "") if isinstance(out, dict) else str(out))
    return True, "Guest migrated successfully."


def _said(exc):
    """A command's own message, without the structured info Salt would append to it."""
    return getattr(exc, "error", None) or str(exc)


def _source_state(guest):
    try:
        return __salt__["hpvm.guest"](guest).get("state")
    except CommandExecutionError as exc:
        log.warning("Could not read the state of guest %s here: %s", guest, exc)
        return None


def _restore_switching(mv, node):
    """Put global switching back as recorded; per-node switching was never changed."""
    t0 = time.monotonic()
    if mv.snapshot["autorun"]:
        try:
            __salt__["serviceguard.enable_switching"](mv.package)
        except CommandExecutionError as exc:
            mv.add("restore_switching", False, t0, _said(exc))
            mv.fail(
                f"Package {mv.package} runs on {node}, but re-enabling package "
                f"switching failed: {_said(exc)}. Switching is LEFT DISABLED; restore it with: "
                + vpkg_move.command_line(["cmmodpkg", "-e", mv.package]),
                {"autorun": False, "switching": mv.snapshot["switching"]},
            )
    if mv.unprotected_since is not None:
        mv.unprotected = time.monotonic() - mv.unprotected_since
    mv.add(
        "restore_switching", True, t0, "cmmodpkg -e " + mv.package if mv.snapshot["autorun"] else "unchanged"
    )
    return dict(mv.snapshot)


# -- maintenance requests: the reactor's proof that a request came from this host -----------------

MAINTENANCE_ACTIONS = ("start", "end")
REQUEST_TTL = 600  # seconds a maintenance request may wait for the master's confirmation


def _request_path(action):
    directory = os.path.join(__opts__["cachedir"], "vpkg")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, f"maintenance-{action}.json")


def _action(action):
    if action not in MAINTENANCE_ACTIONS:
        raise SaltInvocationError(f"action must be 'start' or 'end', not {action!r}")
    return action


def maintenance(action="start"):
    """
    Ask the master to evacuate this VM host (``start``) or to bring its guests back (``end``).

    Sends ``vpkg/maintenance/<action>`` with a one-time token kept here (owner-only, 10 minutes).
    The master's reactor acts only once this host's minion confirms the token
    (``vpkg.confirm_maintenance``): the event's sender id alone is not proof, since Salt re-fires a
    minion's event list with the data that minion wrote.

    CLI Example:

    .. code-block:: bash

        salt-call vpkg.maintenance start
        salt-call vpkg.maintenance end
    """
    action = _action(action)
    token = secrets.token_hex(16)
    path = _request_path(action)
    vpkg_files.write_private_json(path, {"token": token, "time": time.time()})
    sent = __salt__["event.send"](f"vpkg/maintenance/{action}", {"token": token})
    node = local_node()
    return {
        "action": action,
        "node": node,
        "sent": bool(sent),
        "comment": f"maintenance {action} of {node} requested" if sent else "the event could not be sent",
    }


def confirm_maintenance(action, token):
    """
    True if this host asked for maintenance ``action`` with ``token`` in the last 10 minutes.

    The token is spent by a successful confirmation, so a request is acted on once.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.confirm_maintenance start 0123456789abcdef0123456789abcdef
    """
    action = _action(action)
    if not isinstance(token, str) or not token:
        return False
    path = _request_path(action)
    try:
        with open(path, encoding="utf-8") as handle:
            request = json.load(handle)
    except (OSError, ValueError):
        return False
    fresh = time.time() - float(request.get("time", 0)) <= REQUEST_TTL
    if not (fresh and hmac.compare_digest(str(request.get("token", "")), token)):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    return True
