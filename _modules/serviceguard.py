"""
HP Serviceguard: the cluster as one VM host sees it, and the package commands.

Reads the cluster with ``cmviewcl -v -f line`` and drives packages with ``cmmodpkg``,
``cmrunpkg`` and ``cmhaltpkg``. Every command is an argument list run without a shell; every name
is checked against Serviceguard's naming rule before anything runs.

:depends: HP Serviceguard A.11.19 or later (capacities and weights), or the ``sgsim`` simulator
:configuration: Set in the minion config, grains or pillar (read with ``config.get``):

    .. code-block:: yaml

        serviceguard.bin_dir: /usr/sbin   # folder of cmviewcl, cmmodpkg, cmrunpkg, cmhaltpkg
        serviceguard.timeout: 300         # seconds allowed to one command
"""

import logging
import os
import pathlib

from salt.exceptions import CommandExecutionError, SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "modules"):  # pip-installed
    from saltext.vpkg.utils import vpkg_cmd, vpkg_command, vpkg_names, vpkg_sgparse
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_cmd
            import vpkg_command
            import vpkg_names
            import vpkg_sgparse
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

log = logging.getLogger(__name__)

__virtualname__ = "serviceguard"

DEFAULT_BIN_DIR = "/usr/sbin"  # where HP-UX installs the cm* commands
DEFAULT_TIMEOUT = 300  # cmrunpkg waits for the package's start script; cmviewcl is far quicker


def _early_conf(key, default):
    # __virtual__ may run before __salt__ is complete: read config where config.get would.
    sources = [globals().get(d) for d in ("__opts__", "__grains__", "__pillar__")]
    return vpkg_cmd.early_conf(sources, key, default)


def __virtual__():
    if vpkg_command.on_vmhost_proxy(globals().get("__opts__")):
        return __virtualname__  # the commands are on the VM host, reached through the proxy
    bin_dir = _early_conf("serviceguard.bin_dir", DEFAULT_BIN_DIR)
    cmviewcl = os.path.join(str(bin_dir), "cmviewcl")
    if not os.path.isfile(cmviewcl) or not os.access(cmviewcl, os.X_OK):
        return (
            False,
            f"serviceguard: {cmviewcl} is missing or not executable (set serviceguard.bin_dir)",
        )
    return __virtualname__


# ---------------------------------------------------------------------------------------------
# Plumbing: configuration, validation, running


def _salt(function):
    return __salt__[function]  # noqa: F821 - packed into the module by Salt's loader


def _bin_dir():
    return str(_salt("config.get")("serviceguard.bin_dir", DEFAULT_BIN_DIR) or DEFAULT_BIN_DIR)


def _timeout():
    return _salt("config.get")("serviceguard.timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT


def _name(value, what):
    try:
        return vpkg_names.check_name(value, what)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def _optional_name(value, what):
    return None if value is None else _name(value, what)


def _run(argv):
    """Run ``argv`` (a list, no shell) on this VM host through the command seam; return stdout,
    raise CommandExecutionError on failure."""
    result = vpkg_command.run_on_host(globals().get("__proxy__"), argv, _timeout())
    if result.get("retcode") != 0:
        raise CommandExecutionError(*vpkg_command.failure(argv, result, said=vpkg_cmd.said))
    return result.get("stdout") or ""


def _parse(parser, argv, text, *args):
    try:
        return parser(text, *args)
    except ValueError as err:
        raise CommandExecutionError(f"Cannot read the output of {' '.join(argv)}: {err}") from None


def _acted(argv, **fields):
    return {**fields, "message": _run(argv).strip()}


# ---------------------------------------------------------------------------------------------
# Reading the cluster


def cluster():
    """
    The whole cluster from one ``cmviewcl -v -f line``: name, status, nodes with their
    capacities (capacity, used, available), default weights, and packages with status, state,
    owner node, autorun, per-node switching, weights, priority, node list and dependencies.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.cluster
    """
    argv = vpkg_cmd.cmviewcl(_bin_dir(), verbose=True)
    return _parse(vpkg_sgparse.parse_cluster, argv, _run(argv))


def package(name):
    """
    One package, from ``cmviewcl -v -f line -l package -p NAME``.

    name
        The package name.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.package slvm1
    """
    name = _name(name, "package")
    argv = vpkg_cmd.cmviewcl(_bin_dir(), verbose=True, level="package", packages=[name])
    return _parse(vpkg_sgparse.parse_package, argv, _run(argv), name)


def node(name):
    """
    One node (status, state, capacities), from ``cmviewcl -v -f line -l node -n NAME``.

    name
        The node name.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.node xyzo2
    """
    name = _name(name, "node")
    argv = vpkg_cmd.cmviewcl(_bin_dir(), verbose=True, level="node", nodes=[name])
    return _parse(vpkg_sgparse.parse_node, argv, _run(argv), name)


def capacity(node=None):  # pylint: disable=redefined-outer-name
    """
    Capacities per node: ``{node: {capacity name: {capacity, used, available}}}``. A node with
    no capacity defined has an empty dict (Serviceguard: infinite capacity).

    node
        Only this node (the result keeps the same shape, with one key).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.capacity
        salt xyzo1 serviceguard.capacity node=xyzo2
    """
    node = _optional_name(node, "node")
    argv = vpkg_cmd.cmviewcl(_bin_dir(), verbose=True, level="node", nodes=[node] if node else [])
    text = _run(argv)
    if node:
        return {node: _parse(vpkg_sgparse.parse_node, argv, text, node)["capacities"]}
    return {n: data["capacities"] for n, data in _parse(vpkg_sgparse.parse_nodes, argv, text).items()}


# ---------------------------------------------------------------------------------------------
# Package commands


def enable_switching(package, node=None):  # pylint: disable=redefined-outer-name
    """
    Enable package switching (``cmmodpkg -e``): global switching (AUTO_RUN) without ``node``,
    node switching for that node with it (``cmmodpkg -e -n NODE``).

    package
        The package name.

    node
        Enable this node for the package instead of global switching.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.enable_switching slvm1
        salt xyzo1 serviceguard.enable_switching slvm1 node=xyzo2
    """
    package = _name(package, "package")
    node = _optional_name(node, "node")
    argv = vpkg_cmd.cmmodpkg(_bin_dir(), package, enable=True, node=node)
    return _acted(argv, package=package, node=node, switching=True)


def disable_switching(package, node=None):  # pylint: disable=redefined-outer-name
    """
    Disable package switching (``cmmodpkg -d``): global switching (AUTO_RUN) without ``node``,
    node switching for that node with it (``cmmodpkg -d -n NODE``). The package keeps running.

    package
        The package name.

    node
        Disable this node for the package instead of global switching.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.disable_switching slvm1
        salt xyzo1 serviceguard.disable_switching slvm1 node=xyzo2
    """
    package = _name(package, "package")
    node = _optional_name(node, "node")
    argv = vpkg_cmd.cmmodpkg(_bin_dir(), package, enable=False, node=node)
    return _acted(argv, package=package, node=node, switching=False)


def run(package, node=None):  # pylint: disable=redefined-outer-name
    """
    Start a package (``cmrunpkg [-n NODE] PACKAGE``). Serviceguard refuses a node that is not
    eligible or lacks capacity for the package's weights: that refusal is raised as an error
    with the command's message.

    package
        The package name.

    node
        The node to start it on (default: Serviceguard's choice, the local node).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.run slvm1
        salt xyzo1 serviceguard.run slvm1 node=xyzo2
    """
    package = _name(package, "package")
    node = _optional_name(node, "node")
    return _acted(vpkg_cmd.cmrunpkg(_bin_dir(), package, node=node), package=package, node=node)


def halt(package, detach=False):
    """
    Halt a package (``cmhaltpkg [-d] PACKAGE``). Halting turns its global switching (AUTO_RUN)
    off. With ``detach=True`` (live application detach) the package halts while its guest keeps
    running.

    package
        The package name.

    detach
        Detach instead of halting the guest (``-d``).

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.halt slvm1
        salt xyzo1 serviceguard.halt slvm1 detach=True
    """
    package = _name(package, "package")
    if not isinstance(detach, bool):
        raise SaltInvocationError(f"detach must be True or False, got {detach!r}")
    return _acted(vpkg_cmd.cmhaltpkg(_bin_dir(), package, detach=detach), package=package, detach=detach)


def move_vpkg(package, node, timeout=None, progress=None):  # pylint: disable=redefined-outer-name
    """
    Move a running VM guest package online with HP's own toolkit command
    (``cmmovevpkg -v -P PACKAGE -h NODE``, Serviceguard Integrity Virtual Server toolkit): it
    disables package switching, migrates the guest (``hpvmmigrate -o``), adopts the package on
    ``node`` and re-enables switching. Returns ``{package, node, output, message}``; a failure
    raises with the command's own messages (``vpkg.move`` with ``vpkg.driver: cmmovevpkg`` then
    looks where the guest and the package are).

    package
        The VM guest package.

    node
        The node to move it to.

    timeout
        Seconds allowed (default ``serviceguard.timeout``); the command is stopped after that.

    progress
        From Python only (another loader module): a callable given each line as it is printed.

    CLI Example:

    .. code-block:: bash

        salt xyzo1 serviceguard.move_vpkg slvm1 xyzo2
    """
    package = _name(package, "package")
    node = _name(node, "node")
    if timeout is not None:
        try:
            timeout = vpkg_names.check_seconds(timeout, "timeout")
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
    if progress is not None and not callable(progress):
        raise SaltInvocationError("progress must be a callable")
    argv = vpkg_cmd.cmmovevpkg(_bin_dir(), package, node)
    result = vpkg_command.run_on_host(globals().get("__proxy__"), argv, timeout or _timeout(), progress)
    if result.get("retcode") != 0:
        raise CommandExecutionError(*vpkg_command.failure(argv, result))
    lines = [line.strip() for line in (result.get("stdout") or "").splitlines() if line.strip()]
    return {"package": package, "node": node, "output": lines, "message": lines[-1] if lines else ""}
