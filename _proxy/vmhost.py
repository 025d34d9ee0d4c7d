"""
A Serviceguard VM host reached over SSH: one proxy minion per VM host, no Salt on the host.

HP-UX VM hosts run no salt-minion. A ``vmhost`` proxy minion (a ``salt-proxy`` process, or one
of many in a ``deltaproxy``) stands for one VM host: the ``serviceguard``, ``hpvm`` and ``vpkg``
execution modules, the ``vpkg.placed`` state and the beacon load on it unchanged, and every
command they run goes through :func:`run` to the host, over one multiplexed OpenSSH connection
(``vpkg_ssh``). The master's runner cannot tell a proxy from a minion.

:depends: the OpenSSH client (``ssh``) on the machine running the proxy; on the VM host only
    sshd, a POSIX login shell for ``user``, and the HP commands
:configuration: The proxy's pillar:

    .. code-block:: yaml

        proxy:
          proxytype: vmhost
          host: xyzo1.example.com        # required: name or address of the VM host
          port: 22
          user: root                     # Serviceguard's commands need root (or SG role-based access)
          identity_file: /etc/salt/pki/vmhost/id_ed25519
          known_hosts_file: /etc/salt/pki/vmhost/known_hosts   # the host key must be in it
          connect_timeout: 10            # seconds to set up the connection
          control_dir: null              # folder of the control socket (default: a private one in /tmp)
        # the same keys a minion on the VM host would have:
        vpkg.node: xyzo1                 # Serviceguard node name (default: host, up to the first dot)
        serviceguard.bin_dir: /usr/sbin
        hpvm.bin_dir: /opt/hpvm/bin

See docs/proxy.md for setting up keys, known_hosts and the salt-proxy or deltaproxy service.
"""

import ipaddress
import logging
import os
import pathlib
import sys

from salt.exceptions import SaltInvocationError

log = logging.getLogger(__name__)

__proxyenabled__ = ["vmhost"]
__virtualname__ = "vmhost"

# Each proxy's connection lives in its own __context__: a deltaproxy runs many VM hosts in one
# process, with one loader (and one __context__) per host, but the same module globals.
_KEY = "vmhost"
vpkg_cmd = vpkg_identity = vpkg_names = vpkg_ssh = None  # our helpers, imported by __virtual__
_SETTINGS = ("port", "user", "identity_file", "known_hosts_file", "connect_timeout", "control_dir")


def __virtual__():
    try:
        _import_helpers()
    except ImportError as exc:
        return (False, f"the vmhost proxy needs the vpkg utils ({exc}): run saltutil.sync_all")
    return __virtualname__


def _import_helpers():
    """Our helpers (``vpkg_cmd`` ...): from the installed package, or from the utils folders.

    ``salt-call --proxyid`` loads proxy modules without the utils folders on ``sys.path`` (the
    salt-proxy daemon has them): they go on it for this import, in the order Salt's loader gives
    other modules (``<extension_modules>/utils``, then ``utils_dirs``), and come off again.
    """
    global vpkg_cmd, vpkg_identity, vpkg_names, vpkg_ssh
    if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "proxy"):  # pip-installed
        from saltext.vpkg.utils import vpkg_cmd, vpkg_identity, vpkg_names, vpkg_ssh

        return
    folders = [os.path.join(__opts__.get("extension_modules") or "", "utils")]
    folders += list(__opts__.get("utils_dirs") or [])
    added = [f for f in dict.fromkeys(folders) if os.path.isdir(f) and f not in sys.path]
    sys.path.extend(added)
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_cmd
            import vpkg_identity
            import vpkg_names
            import vpkg_ssh
    finally:
        for folder in added:
            sys.path.remove(folder)


def _details(opts):
    proxy = opts.get("proxy") if isinstance(opts.get("proxy"), dict) else {}
    host = proxy.get("host")
    if not isinstance(host, str) or not host:
        raise SaltInvocationError("vmhost proxy: proxy:host (the VM host's name or address) is required")
    try:
        vpkg_names.check_host(host, "proxy:host")
    except ValueError as exc:
        raise SaltInvocationError(f"vmhost proxy: {exc}") from None
    settings = {key: proxy.get(key) for key in _SETTINGS}
    for key in ("port", "connect_timeout"):
        value = settings[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SaltInvocationError(f"vmhost proxy: proxy:{key} must be a whole number")
    return host, settings


def _conf(opts, key, default):
    pillar = opts.get("pillar") if isinstance(opts.get("pillar"), dict) else {}
    return vpkg_cmd.early_conf([opts, pillar, pillar.get("proxy")], key, default)


def init(opts):
    """Set up the connection to the VM host (called once when the proxy starts)."""
    host, settings = _details(opts)
    control_dir = settings.pop("control_dir")
    connection = vpkg_ssh.Connection(host, control_dir=control_dir, **settings)
    __context__[_KEY] = {"connection": connection, "opts": opts, "host": host}
    try:
        connection.connect()  # at once: the first command then costs no connection set-up
    except vpkg_ssh.SshError as exc:
        log.warning("vmhost proxy %s: %s; trying again at the next command", opts["id"], exc)
    return True


def _entry():
    return __context__.get(_KEY)


def initialized():
    """True once :func:`init` has run for this proxy."""
    return _entry() is not None


def run(argv, timeout, on_line=None):
    """The command seam on a proxy: run ``argv`` (a list) on the VM host over SSH.

    Returns ``{"retcode", "stdout", "stderr"}`` (plus ``timed_out``, ``lost``, ``unreachable``),
    as ``vpkg_command.run`` does for a minion on the host.
    """
    entry = _entry()
    if entry is None:
        return {"retcode": 255, "stdout": "", "stderr": "vmhost proxy not initialised", "unreachable": True}
    return entry["connection"].run(list(argv), timeout, on_line)


def node_name(opts):
    """The Serviceguard node this proxy stands for: ``vpkg.node``, else the host up to its first dot."""
    node = _conf(opts, "vpkg.node", None)
    if node:
        return str(node)
    host = (opts.get("proxy") or {}).get("host") or opts["id"]
    try:
        ipaddress.ip_address(host)
        return opts["id"]  # an address names no node
    except ValueError:
        return host.split(".", 1)[0]


def grains():
    """Grains of the VM host: ``vpkg:node``, ``vpkg:cluster`` (from ``cmviewcl``), ``os: HP-UX``."""
    entry = _entry()
    opts = entry["opts"] if entry else __opts__
    found = {"os": "HP-UX", "kernel": "HP-UX", "os_family": "HP-UX", "vpkg": {"node": node_name(opts)}}
    if entry is None:
        return found
    bin_dir = str(_conf(opts, "serviceguard.bin_dir", "/usr/sbin"))
    cluster, why = vpkg_identity.cluster_name(
        run(vpkg_cmd.cmviewcl(bin_dir, verbose=False, level="cluster"), 60)
    )
    if cluster:
        found["vpkg"]["cluster"] = cluster
    else:
        log.warning("vmhost proxy %s: cluster name not read: %s", opts["id"], why)
    found["host"] = found["vpkg"]["node"]
    return found


def grains_refresh():
    """Read the grains again."""
    return grains()


def ping():
    """True if the VM host answers a command over SSH."""
    return alive(__opts__)


def alive(opts):  # Salt's signature; the connection is in this proxy's __context__
    """True if the VM host answers a command over SSH (Salt's ``proxy_keep_alive`` asks this)."""
    entry = _entry()
    if entry is None:
        return False
    return entry["connection"].run(["true"], 30)["retcode"] == 0


def shutdown(opts):
    """Close the connection when the proxy stops."""
    entry = __context__.pop(_KEY, None)
    if entry is not None:
        entry["connection"].close()
    return True
