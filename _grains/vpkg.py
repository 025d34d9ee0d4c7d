"""
Grains of a VM host's minion: the Serviceguard node and cluster it is.

``vpkg:node`` is ``vpkg.node`` from the minion config, else the host name up to its first dot;
``vpkg:cluster`` is the cluster's name as ``cmviewcl -f line -l cluster`` shows it. The master's
``vpkg`` runner reads them (from its grains cache, without asking the minions) to tell the
clusters of a site apart; users target them: ``salt -C 'G@vpkg:cluster:prod' ...``. A ``vmhost``
proxy has the same grains from its proxy module. Grains are read when the minion starts and on
``saltutil.refresh_grains``.

:depends: HP Serviceguard's ``cmviewcl``, or the ``sgsim`` simulator
:configuration: In the minion config:

    .. code-block:: yaml

        vpkg.node: xyzo1                 # the Serviceguard node name (default: the host name)
        serviceguard.bin_dir: /usr/sbin  # the folder of cmviewcl
"""

import logging
import os
import pathlib
import socket

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "grains"):  # pip-installed
    from saltext.vpkg.utils import vpkg_cmd, vpkg_command, vpkg_identity
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_cmd
            import vpkg_command
            import vpkg_identity
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

log = logging.getLogger(__name__)

__virtualname__ = "vpkg"

CMVIEWCL_TIMEOUT = 30  # seconds: the minion waits for its grains before it starts


def _bin_dir():
    return str(__opts__.get("serviceguard.bin_dir") or "/usr/sbin")


def __virtual__():
    if vpkg_command.on_vmhost_proxy(__opts__):
        return (False, "a vmhost proxy has these grains from its proxy module")
    if not os.access(os.path.join(_bin_dir(), "cmviewcl"), os.X_OK):
        return (False, f"no cmviewcl in {_bin_dir()} (serviceguard.bin_dir): not a Serviceguard node")
    return __virtualname__


def vpkg():
    """``{"vpkg": {"node": ..., "cluster": ...}}``; ``cluster`` left out when cmviewcl cannot tell."""
    node = str(__opts__.get("vpkg.node") or socket.gethostname().split(".", 1)[0])
    argv = vpkg_cmd.cmviewcl(_bin_dir(), verbose=False, level="cluster")
    cluster, why = vpkg_identity.cluster_name(vpkg_command.run(argv, CMVIEWCL_TIMEOUT))
    if cluster is None:
        log.warning("vpkg grains: the cluster name was not read: %s", why)
        return {"vpkg": {"node": node}}
    return {"vpkg": {"node": node, "cluster": cluster}}
