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
        vpkg.migrate_timeout: 3600  # seconds an online migration started here may take before it
                                    # is aborted (a runner's move brings the master's own); also
                                    # hpvm.migrate's. Deprecated name: hpvm.migrate_timeout
        vpkg.events: true           # fire progress events under vpkg/move/ on the master bus
        vpkg.driver: steps          # steps (ours, default) or cmmovevpkg (HP's toolkit command)

The procedure itself is plain Python (``vpkg_hostmove``) behind two seams: the cluster manager
(``vpkg_sg``) and the VM layer (``vpkg_vm``); this module builds them from ``__salt__``. On a
``vmhost`` proxy minion the same code runs, every command going to the VM host over SSH.
"""

import logging
import pathlib

import salt.utils.args
from salt.exceptions import CommandExecutionError, SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "modules"):  # pip-installed
    from saltext.vpkg.utils import (
        vpkg_config,
        vpkg_hostevents,
        vpkg_hostlocks,
        vpkg_hostmove,
        vpkg_move,
        vpkg_names,
        vpkg_sg,
        vpkg_tokens,
        vpkg_vm,
    )
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_config
            import vpkg_hostevents
            import vpkg_hostlocks
            import vpkg_hostmove
            import vpkg_move
            import vpkg_names
            import vpkg_sg
            import vpkg_tokens
            import vpkg_vm
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

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
    grains = __grains__.get("vpkg") if isinstance(__grains__.get("vpkg"), dict) else {}
    return str(_config("node", None) or grains.get("node") or __grains__.get("host") or __grains__.get("id"))


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


def _seams():
    return vpkg_sg.Serviceguard(__salt__), vpkg_vm.IntegrityVM(__salt__)


def check(package, target, **kwargs):
    """
    Preflight of an online move of ``package`` from this node to ``target``; nothing changes.

    Returns every check with its verdict and reason: the package is a VM guest package running
    here; the target is up, in the package's node list, with node switching enabled; its
    available capacity covers the package's weight for every capacity; the guest has online
    migration enabled; and ``hpvmmigrate -s`` passes. ``result`` is true when every check passes
    (the check verdict of docs/data.md, ``kind: check``).

    The master's runner also passes ``expected_node``, the node it asks this host to act for:
    a host that takes itself for another node (``vpkg.node``, else its hostname) refuses.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.check slvm1 xyzo2
    """
    _validate(package, target)
    kwargs = _internal(kwargs, ("expected_node",))
    _acting_as(kwargs.get("expected_node"))
    sg, vm = _seams()
    return vpkg_hostmove.check(vm, sg.view(), package, local_node(), target)


def _driver():
    driver = _config("driver", "steps") or "steps"
    if driver not in vpkg_hostmove.DRIVERS:
        choices = ", ".join(vpkg_hostmove.DRIVERS)
        raise SaltInvocationError(f"vpkg.driver must be one of {choices}, not {driver!r}")
    return driver


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
        ``vpkg.migrate_timeout``, 3600; the deprecated ``hpvm.migrate_timeout`` when only it is set).

    The master's runner also passes two internal keyword arguments: ``reserved``,
    ``{node: {capacity: amount}}`` held by other moves in flight, which the capacity preflight
    counts as used on those nodes; and ``expected_node``, the node it asks this host to act for
    (a host that takes itself for another node refuses before any command runs).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 vpkg.move slvm1 xyzo2
    """
    _validate(package, target)
    what = "timeout"
    if timeout is None:
        what = "vpkg.migrate_timeout"
        timeout = vpkg_config.host_setting(__salt__["config.get"], what, vpkg_config.MIGRATE_TIMEOUT)
    try:
        # A configured value is checked here too: hpvm.migrate would refuse it with switching off.
        timeout = vpkg_names.check_seconds(timeout, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    kwargs = _internal(kwargs, ("reserved", "expected_node"))
    try:
        reserved = vpkg_names.check_reserved(kwargs.get("reserved"))
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    _acting_as(kwargs.get("expected_node"))
    source = local_node()
    driver = _driver()
    # Progress goes out from a thread of its own: the steps never wait on the event bus.
    events = vpkg_hostevents.InOrder(lambda phase, data: _fire(package, phase, data))
    ends = {"source": source, "target": target, "percent": 100}
    try:
        procedure = vpkg_hostmove.HostMove(
            package,
            target,
            source,
            _seams(),
            timeout=timeout,
            reserved=reserved,
            driver=driver,
            cachedir=__opts__["cachedir"],
            errors=(CommandExecutionError,),
            fire=events.send,
        )
        with vpkg_hostlocks.package_lock(__opts__["cachedir"], package):
            info = procedure.run()
    except vpkg_hostlocks.Busy as exc:
        raise CommandExecutionError(str(exc)) from None
    except vpkg_hostmove.MoveFailed as exc:
        events.send("failed", dict(ends, result=exc.result))
        raise CommandExecutionError(str(exc), info=exc.result) from None
    else:
        # Sent once the package lock is free: a runner that returns on this event may be asked
        # to move the package again at once.
        events.send("done", dict(ends, result=info))
    finally:
        events.close()  # every event is out before the job returns
    return info


# -- maintenance requests: the reactor's proof that a request came from this host -----------------


def _action(action):
    if action not in vpkg_tokens.ACTIONS:
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
    token = vpkg_tokens.issue(__opts__["cachedir"], action)
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
    return vpkg_tokens.confirm(__opts__["cachedir"], _action(action), token)
