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

from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    import vpkg_cmd  # synced from file_roots: Salt puts extmods/utils on sys.path while loading
    import vpkg_names
    import vpkg_sgparse
except ImportError as synced:
    try:
        from saltext.vpkg.utils import vpkg_cmd, vpkg_names, vpkg_sgparse  # pip-installed
    except ImportError as installed:  # neither: the module was synced without its utils
        raise ImportError(
            f"salt-vpkg's utils are missing ({synced}; {installed}): run saltutil.sync_utils "
            "(or saltutil.sync_all) for this minion, or pip install salt-vpkg"
        ) from None

log = logging.getLogger(__name__)

__virtualname__ = "serviceguard"

DEFAULT_BIN_DIR = "/usr/sbin"  # where HP-UX installs the cm* commands
DEFAULT_TIMEOUT = 300  # cmrunpkg waits for the package's start script; cmviewcl is far quicker


def _early_conf(key, default):
    # __virtual__ may run before __salt__ is complete: read config where config.get would.
    sources = [globals().get(d) for d in ("__opts__", "__grains__", "__pillar__")]
    return vpkg_cmd.early_conf(sources, key, default)


def __virtual__():
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
    """Run ``argv`` (a list, no shell); return stdout, raise CommandExecutionError on failure."""
    result = _salt("cmd.run_all")(argv, python_shell=False, timeout=_timeout(), ignore_retcode=True)
    if result.get("retcode") != 0:
        stderr = (result.get("stderr") or "").strip()
        stdout = (result.get("stdout") or "").strip()
        raise CommandExecutionError(
            f"{' '.join(argv)} failed (exit status {result.get('retcode')}): {vpkg_cmd.said(stdout, stderr)}",
            info={"argv": argv, "retcode": result.get("retcode"), "stderr": stderr, "stdout": stdout},
        )
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
