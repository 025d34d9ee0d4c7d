"""
HP Integrity VM: the guests of this VM host and their online migration.

Reads guests with ``hpvmstatus -M`` (machine-readable), checks a migration with
``hpvmmigrate -s``, migrates with ``hpvmmigrate [-o]`` and switches a guest's online migration
with ``hpvmmodify -x online_migration=``. Every command is an argument list run without a shell;
guest and host names are checked before anything runs. Integrity VM specifics stay in this module
and ``vpkg_vmparse``: callers see the guest shape of docs/data.md only.

:depends: HP Integrity VM B.04.20 or later with Online VM Migration (T8718AC), or the ``sgsim``
    simulator
:configuration: Set in the minion config, grains or pillar (read with ``config.get``):

    .. code-block:: yaml

        hpvm.bin_dir: /opt/hpvm/bin   # folder of hpvmstatus, hpvmmigrate, hpvmmodify
        hpvm.timeout: 120             # seconds allowed to hpvmstatus, hpvmmodify, hpvmmigrate -s
        vpkg.migrate_timeout: 3600    # seconds allowed to one migration (copying guest memory)
                                      # when the caller gives none: the vpkg module's setting.
                                      # Deprecated name: hpvm.migrate_timeout
"""

import logging
import os
import pathlib

from salt.exceptions import CommandExecutionError, SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "modules"):  # pip-installed
    from saltext.vpkg.utils import vpkg_cmd, vpkg_command, vpkg_config, vpkg_names, vpkg_vmparse
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_cmd
            import vpkg_command
            import vpkg_config
            import vpkg_names
            import vpkg_vmparse
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

log = logging.getLogger(__name__)

__virtualname__ = "hpvm"

DEFAULT_BIN_DIR = "/opt/hpvm/bin"
DEFAULT_TIMEOUT = 120


def _early_conf(key, default):
    # __virtual__ may run before __salt__ is complete: read config where config.get would.
    sources = [globals().get(d) for d in ("__opts__", "__grains__", "__pillar__")]
    return vpkg_cmd.early_conf(sources, key, default)


def __virtual__():
    if vpkg_command.on_vmhost_proxy(globals().get("__opts__")):
        return __virtualname__  # the commands are on the VM host, reached through the proxy
    bin_dir = _early_conf("hpvm.bin_dir", DEFAULT_BIN_DIR)
    hpvmstatus = os.path.join(str(bin_dir), "hpvmstatus")
    if not os.path.isfile(hpvmstatus) or not os.access(hpvmstatus, os.X_OK):
        return (False, f"hpvm: {hpvmstatus} is missing or not executable (set hpvm.bin_dir)")
    return __virtualname__


# ---------------------------------------------------------------------------------------------
# Plumbing: configuration, validation, running


def _salt(function):
    return __salt__[function]  # noqa: F821 - packed into the module by Salt's loader


def _bin_dir():
    return str(_salt("config.get")("hpvm.bin_dir", DEFAULT_BIN_DIR) or DEFAULT_BIN_DIR)


def _timeout():
    return _salt("config.get")("hpvm.timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT


def _name(value, what):
    try:
        return vpkg_names.check_name(value, what)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _host(value, what="host"):
    try:
        return vpkg_names.check_host(value, what)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _failure(argv, result):
    return CommandExecutionError(*vpkg_command.failure(argv, result))


def _run_all(argv, timeout=None, on_line=None):
    """The command seam: ``argv`` (a list, no shell) runs on this VM host, here or through the
    ``vmhost`` proxy; ``on_line`` sees each stdout line as it is printed."""
    return vpkg_command.run_on_host(globals().get("__proxy__"), argv, timeout or _timeout(), on_line)


def _run(argv, timeout=None):
    """Run ``argv`` (a list, no shell); return stdout, raise CommandExecutionError on failure."""
    result = _run_all(argv, timeout)
    if result.get("retcode") != 0:
        raise _failure(argv, result)
    return result.get("stdout") or ""


def _parse(parser, argv, text, *args):
    try:
        return parser(text, *args)
    except ValueError as err:
        raise CommandExecutionError(f"Cannot read the output of {' '.join(argv)}: {err}") from None


# ---------------------------------------------------------------------------------------------
# Guests


def guests():
    """
    Every guest of this VM host from ``hpvmstatus -M``: ``{name: guest}`` with state (``On``,
    ``Off``, ``Off (NR)``), runnable, memory (MB), vCPUs, online migration enabled, vswitches,
    devices, CPU family and any migration in progress.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.guests
    """
    argv = vpkg_cmd.hpvmstatus(_bin_dir(), machine=True)
    return _parse(vpkg_vmparse.parse_status_machine, argv, _run(argv))


def guest(name):
    """
    One guest (same shape as an entry of :func:`guests`). Read from ``hpvmstatus -M``; a guest
    that line does not list is asked for with ``hpvmstatus -V -P NAME``, whose own message
    (``Unable to find virtual machine``) is raised when it does not exist.

    name
        The guest (virtual machine) name.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.guest slvm1
    """
    name = _name(name, "guest")
    found = guests().get(name)
    if found is not None:
        return found
    argv = vpkg_cmd.hpvmstatus(_bin_dir(), verbose=True, guest=name)
    detail = _parse(vpkg_vmparse.parse_status_verbose, argv, _run(argv))
    if name not in detail:
        raise CommandExecutionError(f"{' '.join(argv)} printed no details for guest {name}")
    return detail[name]


# ---------------------------------------------------------------------------------------------
# Online migration


def check_migrate(guest, host):  # pylint: disable=redefined-outer-name
    """
    Ask Integrity VM whether ``guest`` can migrate online to ``host``
    (``hpvmmigrate -s -o -P GUEST -h HOST``); nothing changes. Returns every check's verdict:
    ``{guest, host, migratable, checks: [{name, passed, reason}], messages}``. A failing check
    is ``migratable: False``, not an error; only a command that cannot run at all raises.

    guest
        The guest name.

    host
        The target VM host.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.check_migrate slvm1 xyzo2
    """
    guest = _name(guest, "guest")
    host = _host(host)
    argv = vpkg_cmd.hpvmmigrate(_bin_dir(), guest, host, online=True, check_only=True)
    result = _run_all(argv)
    text = "\n".join(filter(None, (result.get("stdout"), result.get("stderr"))))
    try:
        verdict = vpkg_vmparse.parse_migrate_check(text, guest, host)
    except ValueError:
        # No check and no verdict: the command itself failed (unknown guest, bad option, ...).
        raise _failure(argv, result) from None
    if result.get("retcode") != 0 and verdict["migratable"]:
        raise _failure(argv, result)
    return verdict


def _positive(value, what):
    try:
        return vpkg_names.check_seconds(value, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def migrate(guest, host, online=True, timeout=None, progress=None):  # pylint: disable=redefined-outer-name
    """
    Migrate ``guest`` to ``host`` (``hpvmmigrate -o -P GUEST -h HOST``; ``online=False`` drops
    ``-o``: an offline migration of a guest that is not running). Returns ``{guest, host,
    online, migrated: True, progress: [{phase, percent}], message}``; a failed or aborted
    migration raises with Integrity VM's own messages (the guest then still runs on the
    source).

    guest
        The guest name.

    host
        The target VM host.

    online
        Online migration (``-o``), the default.

    timeout
        Seconds allowed (default ``vpkg.migrate_timeout``, 3600: the move's own setting; the
        deprecated ``hpvm.migrate_timeout`` when only it is set).

    progress
        From Python only (another loader module): a callable given ``{phase, percent, line}``
        for each progress line as it is printed.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.migrate slvm1 xyzo2
    """
    guest = _name(guest, "guest")
    host = _host(host)
    if not isinstance(online, bool):
        raise SaltInvocationError(f"online must be True or False, got {online!r}")
    what = "timeout"
    if timeout is None:  # vpkg.move always gives one; a migration asked for here takes the same key
        what = "vpkg.migrate_timeout"
        timeout = vpkg_config.host_setting(_salt("config.get"), what, vpkg_config.MIGRATE_TIMEOUT)
    timeout = _positive(timeout, what)
    if progress is not None and not callable(progress):
        raise SaltInvocationError("progress must be a callable")
    argv = vpkg_cmd.hpvmmigrate(_bin_dir(), guest, host, online=online)
    on_line = None if progress is None else (lambda line: _report(progress, line))
    result = _run_all(argv, timeout, on_line)
    if result.get("retcode") != 0:
        raise _failure(argv, result)
    lines = (result.get("stdout") or "").splitlines()
    steps = [step for step in map(vpkg_vmparse.parse_migrate_progress, lines) if step]
    message = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return {
        "guest": guest,
        "host": host,
        "online": online,
        "migrated": True,
        "progress": steps,
        "message": message,
    }


def _report(progress, line):
    step = vpkg_vmparse.parse_migrate_progress(line)
    if step is None:
        return
    try:
        progress({**step, "line": line.strip()})
    except Exception:  # pylint: disable=broad-except
        # A broken observer must never break a migration that is half-way through.
        log.exception("hpvm.migrate: progress callback failed on %r", line)


def set_online_migration(guest, enabled):  # pylint: disable=redefined-outer-name
    """
    Enable or disable online migration for a guest
    (``hpvmmodify -P GUEST -x online_migration=enabled|disabled``).

    guest
        The guest name.

    enabled
        True to enable, False to disable.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.set_online_migration slvm1 True
        salt xyzo1 hpvm.set_online_migration slvm1 enabled=False
    """
    guest = _name(guest, "guest")
    if not isinstance(enabled, bool):
        raise SaltInvocationError(f"enabled must be True or False, got {enabled!r}")
    argv = vpkg_cmd.hpvmmodify_online_migration(_bin_dir(), guest, enabled)
    _run(argv)
    return {"guest": guest, "online_migration": enabled}
