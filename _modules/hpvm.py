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
        hpvm.migrate_timeout: 3600    # seconds allowed to one migration (copying guest memory)
"""

import logging
import os
import subprocess
import threading

from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    import vpkg_cmd  # synced from file_roots: Salt puts extmods/utils on sys.path while loading
    import vpkg_names
    import vpkg_vmparse
except ImportError as synced:
    try:
        from saltext.vpkg.utils import vpkg_cmd, vpkg_names, vpkg_vmparse  # pip-installed
    except ImportError as installed:  # neither: the module was synced without its utils
        raise ImportError(
            f"salt-vpkg's utils are missing ({synced}; {installed}): run saltutil.sync_utils "
            "(or saltutil.sync_all) for this minion, or pip install salt-vpkg"
        ) from None

log = logging.getLogger(__name__)

__virtualname__ = "hpvm"

DEFAULT_BIN_DIR = "/opt/hpvm/bin"
DEFAULT_TIMEOUT = 120
DEFAULT_MIGRATE_TIMEOUT = 3600  # the Copy phase has no timeout of its own in Integrity VM


def _early_conf(key, default):
    # __virtual__ may run before __salt__ is complete: read config where config.get would.
    sources = [globals().get(d) for d in ("__opts__", "__grains__", "__pillar__")]
    return vpkg_cmd.early_conf(sources, key, default)


def __virtual__():
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


def _timeout(key="hpvm.timeout", default=DEFAULT_TIMEOUT):
    return _salt("config.get")(key, default) or default


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


def _failure(argv, retcode, stderr, stdout):
    stderr, stdout = (stderr or "").strip(), (stdout or "").strip()
    return CommandExecutionError(
        f"{' '.join(argv)} failed (exit status {retcode}): {stderr or stdout}",
        info={"argv": argv, "retcode": retcode, "stderr": stderr, "stdout": stdout},
    )


def _run_all(argv, timeout=None):
    return _salt("cmd.run_all")(argv, python_shell=False, timeout=timeout or _timeout(), ignore_retcode=True)


def _run(argv, timeout=None):
    """Run ``argv`` (a list, no shell); return stdout, raise CommandExecutionError on failure."""
    result = _run_all(argv, timeout)
    if result.get("retcode") != 0:
        raise _failure(argv, result.get("retcode"), result.get("stderr"), result.get("stdout"))
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
        raise _failure(argv, result.get("retcode"), result.get("stderr"), result.get("stdout")) from None
    if result.get("retcode") != 0 and verdict["migratable"]:
        raise _failure(argv, result.get("retcode"), result.get("stderr"), result.get("stdout"))
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
        Seconds allowed (default ``hpvm.migrate_timeout``, 3600).

    progress
        From Python only (another loader module): a callable given ``{phase, percent, line}``
        for each progress line as it is printed. The migration's output is then streamed
        instead of collected by ``cmd.run_all``.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 hpvm.migrate slvm1 xyzo2
    """
    guest = _name(guest, "guest")
    host = _host(host)
    if not isinstance(online, bool):
        raise SaltInvocationError(f"online must be True or False, got {online!r}")
    if timeout is None:
        timeout = _timeout("hpvm.migrate_timeout", DEFAULT_MIGRATE_TIMEOUT)
    timeout = _positive(timeout, "timeout")
    if progress is not None and not callable(progress):
        raise SaltInvocationError("progress must be a callable")
    argv = vpkg_cmd.hpvmmigrate(_bin_dir(), guest, host, online=online)
    if progress is None:
        result = _run_all(argv, timeout)
    else:
        result = _run_streaming(argv, timeout, lambda line: _report(progress, line))
    if result.get("retcode") != 0:
        raise _failure(argv, result.get("retcode"), result.get("stderr"), result.get("stdout"))
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


KILL_GRACE = 10  # seconds a timed-out migration gets to abort cleanly


def _run_streaming(argv, timeout, on_line):
    """Like ``cmd.run_all`` (list argv, no shell) but hands each stdout line to ``on_line`` as
    it is printed: ``cmd.run_all`` only returns once the command ends, and a migration's progress
    is wanted while it runs. On timeout the command is killed, as ``cmd.run_all`` does."""
    try:
        proc = subprocess.Popen(  # noqa: S603 - a validated argv list, never a shell
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
    except OSError as err:
        return {"retcode": 127, "stdout": "", "stderr": f"{argv[0]}: {err.strerror}"}
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    killed = threading.Event()

    def kill():
        # SIGTERM first: hpvmmigrate aborts the migration and leaves the guest on the source;
        # SIGKILL only if it does not exit.
        killed.set()
        proc.terminate()
        try:
            proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            on_line(line)
        retcode = proc.wait()
    finally:
        timer.cancel()
        reader.join(5)
    err = "".join(stderr)
    if killed.is_set():
        err += f"\nTimed out after {timeout} seconds; the command was killed."
    return {"retcode": retcode, "stdout": "".join(out), "stderr": err}


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
