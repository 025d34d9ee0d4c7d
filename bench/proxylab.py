"""The benchmarks' lab with VM hosts reached by ``vmhost`` proxies over real SSH.

``demo/lab.py``'s lab (one salt-master, one salt-minion per simulated VM host) plus, for each VM
host, one sshd on 127.0.0.1 (``tests/sshhost.py``: host key, client key, known_hosts, the uid-0
alias account ``vpkgsim`` with ``/bin/sh``) and a salt-proxy of proxytype ``vmhost`` reaching it,
configured as the proxy tier of the tests configures them (``tests/integration/labsetup.py``:
``proxy:`` settings in the proxy's config file, ``vpkg.node`` and the command folders in its
pillar, ``saltenv: base``). Both are imported, not copied.

- ``proxies``: ``{proxy id: node}``, the salt-proxies to start;
- ``minions``: whether the lab also runs a salt-minion per node (ids = node names). With both,
  the runner reaches one or the other by its ``vpkg:node_map`` (see ``node_map``);
- ``spawn_proxy`` / ``spawn_deltaproxy`` start more proxies later (``bench_proxy.py``).

Each proxy's control socket folder (``proxy:control_dir``) is under the lab's folder, so the ssh
ControlMaster of a proxy (which daemonises: it is in no process group of ours) is found by its
``ControlPath`` and ended in ``stop()``, after the salt daemons and before the sshds.
Needs root, as the SSH tests do.
"""

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
for _folder in (ROOT / "tests", ROOT / "tests" / "integration"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

import common  # noqa: E402

BIN = pathlib.Path(sys.executable).parent
PROXY_PREFIX = "px-"


def proxy_ids(nodes, prefix=PROXY_PREFIX):
    """``{proxy id: node}`` for ``nodes``: the node's name with ``prefix``."""
    return {f"{prefix}{node}": node for node in nodes}


def node_map(proxies):
    """The runner's ``vpkg:node_map`` that reaches each node through its proxy (``{node: proxy id}``)."""
    return {node: pid for pid, node in proxies.items()}


def process_tree(pid):
    """``pid`` and every live descendant (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            ppid = int(data[data.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current not in found and os.path.exists(f"/proc/{current}"):
            found.append(current)
            todo.extend(children.get(current, ()))
    return found


def memory_kb(pid):
    """``(rss, pss)`` of one process in KiB (``/proc/PID/smaps_rollup``), ``(0, 0)`` if gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0])
    except OSError:
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", 0)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def make_proxy_lab(base_lab):
    """The proxy lab class on top of ``base_lab`` (``common.lab_class(...)``)."""

    class ProxyLab(base_lab):
        def __init__(self, cluster, base=None, proxies=None, minions=True, **kwargs):
            super().__init__(cluster, base=base, **kwargs)
            self.proxies = dict(proxies or {})
            self.minions = minions
            self.hosts = {}
            self.proxy_procs = {}  # proxy id (or the deltaproxy's) -> Popen
            self.pillars = {}

        # -- the VM hosts' sshds ---------------------------------------------------------------
        def start_hosts(self):
            """Start one sshd per node (once; ``start()`` calls it, or call it first for the ports)."""
            import sshhost

            if self.hosts:
                return self.hosts

            sshhost.ensure_openssh()
            user = sshhost.ensure_account()
            key = sshhost.make_client_key(self.base / "ssh-client")
            for node in self.cluster.nodes:
                host = sshhost.SshHost(
                    self.base / "ssh-hosts" / node,
                    key,
                    user=user,
                    name=node,
                    path_dirs=[self.cluster.bindir(node)],
                )
                self.hosts[node] = host
                host.start()
            return self.hosts

        def proxy_settings(self, proxy_id, node):
            """The ``proxy:`` settings of ``proxy_id`` (labsetup's, control folder in the lab)."""
            import labsetup

            control = self.base / proxy_id / "ssh-control"
            control.mkdir(mode=0o700, parents=True, exist_ok=True)
            return {**labsetup.vmhost_proxy(self.hosts[node]), "control_dir": str(control)}

        def pillar_for(self, node, with_proxy=None):
            """What an operator writes in a proxy's pillar (``with_proxy``: its ``proxy:`` too)."""
            import labsetup

            pillar = labsetup.vmhost_pillar(node, self.cluster)
            if with_proxy is not None:
                pillar["proxy"] = with_proxy
            return pillar

        def master_config(self):
            import labsetup

            config = super().master_config()
            for pid, node in self.proxies.items():
                self.pillars.setdefault(pid, self.pillar_for(node))
            config["pillar_roots"] = labsetup.write_pillar(self.base / "pillar", self.pillars)
            return config

        def add_pillars(self, pillars):
            """More proxies' pillars (before ``start()``: the master reads pillar_roots at start)."""
            self.pillars.update(pillars)

        # -- processes -------------------------------------------------------------------------
        def start(self, timeout=180):
            try:
                self.start_hosts()
                self.master_conf = self._write(self.master_id, "master", self.master_config())
                self._spawn("salt-master", self.master_conf, self.master_id)
                self.minion_confs = {}
                if self.minions:
                    for node in self.cluster.nodes:
                        self.minion_confs[node] = self._write(node, "minion", self.minion_config(node))
                        self._spawn("salt-minion", self.minion_confs[node], node)
                for pid, node in self.proxies.items():
                    self.spawn_proxy(pid, node)
                self.wait_for(self.ids(), timeout)
            except BaseException:
                self.stop()
                raise
            return self

        def ids(self):
            return (list(self.cluster.nodes) if self.minions else []) + list(self.proxies)

        def proxy_config(self, proxy_id, extra):
            import labsetup

            config = self._common(proxy_id)
            config.pop("interface")
            config.update(
                {
                    "id": proxy_id,
                    "master": "127.0.0.1",
                    "master_port": self.ports["ret_port"],
                    **labsetup.proxy_dirs(),
                    "saltenv": "base",  # without it the start-up sync_all never returns
                    "multiprocessing": True,
                }
            )
            config.update(extra)
            return config

        def spawn_proxy(self, proxy_id, node):
            """Start one salt-proxy for ``node`` (its ``proxy:`` settings in its config file)."""
            extra = {"proxy": self.proxy_settings(proxy_id, node)}
            return self._spawn_proxy(proxy_id, self.proxy_config(proxy_id, extra))

        def spawn_deltaproxy(self, controller, proxies):
            """Start one deltaproxy ``controller`` for ``proxies`` (``{id: node}``; their pillars
            must name their ``proxy:`` settings, see ``deltaproxy_pillars``)."""
            extra = {
                "metaproxy": "deltaproxy",
                "proxy": {"proxytype": "deltaproxy", "ids": list(proxies), "parallel_startup": False},
            }
            return self._spawn_proxy(controller, self.proxy_config(controller, extra))

        def deltaproxy_pillars(self, proxies):
            """``{id: pillar}`` for a deltaproxy's ids: each names its ``proxy:`` settings."""
            return {
                pid: self.pillar_for(node, self.proxy_settings(pid, node)) for pid, node in proxies.items()
            }

        def _spawn_proxy(self, proxy_id, config):
            confdir = self._write(proxy_id, "proxy", config)
            log = open(self.base / f"{proxy_id}.salt-proxy.out", "w")  # noqa: SIM115 - closed in stop()
            proc = subprocess.Popen(
                [str(BIN / "salt-proxy"), "-c", str(confdir), f"--proxyid={proxy_id}", "-l", "quiet"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append((proc, log))
            self.proxy_procs[proxy_id] = proc
            return proc

        def stop_proxy(self, proxy_id):
            """Stop one proxy started by ``spawn_proxy``/``spawn_deltaproxy`` and its ssh masters."""
            proc = self.proxy_procs.pop(proxy_id)
            for entry in [e for e in self.procs if e[0] is proc]:
                self.procs.remove(entry)
                _end(proc)
                entry[1].close()
            self.end_ssh_masters()

        def wait_for(self, wanted, timeout):
            """Until every id in ``wanted`` answers ``test.ping`` (none: until the master answers)."""
            deadline = time.monotonic() + timeout
            wanted = set(wanted)
            while time.monotonic() < deadline:
                target = ["-L", ",".join(sorted(wanted))] if wanted else ["*"]
                out = self.salt(*target, "test.ping", "--out=yaml", "--timeout=5", check=False)
                if not wanted and "No minions matched" in out.stdout + out.stderr:
                    return  # the master is up and nothing has its key yet
                try:
                    answers = yaml.safe_load(out.stdout)
                except yaml.YAMLError:
                    answers = None  # the master is not listening yet
                up = {k for k, v in answers.items() if v is True} if isinstance(answers, dict) else set()
                if wanted <= up and isinstance(answers, dict):
                    return
                time.sleep(1)
            raise RuntimeError(
                f"{sorted(wanted - up)} did not come up within {timeout} s (logs in {self.base})"
            )

        def ssh_masters(self):
            """Pids of the ssh ControlMasters of this lab's proxies (their ControlPath is in the lab)."""
            marker = f"ControlPath={self.base}".encode()
            found = []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    argv = cmdline(int(entry))
                    if argv and b"-M" in argv and any(a.startswith(marker) for a in argv):
                        found.append(int(entry))
            return found

        def processes(self, marker=None):
            """Pids of live processes whose command line holds ``marker`` (default: the lab's folder).

            Finds what left every process group of ours: a Salt job process that daemonised, an
            ssh ControlMaster. Never this process.
            """
            marker = (marker or str(self.base)).encode()
            found = []
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) != os.getpid():
                    if any(marker in a for a in cmdline(int(entry))):
                        found.append(int(entry))
            return found

        def end_ssh_masters(self):
            for pid in self.ssh_masters():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        def stop(self):
            try:
                super().stop()
            finally:
                self.proxy_procs = {}
                self.end_ssh_masters()
                for host in self.hosts.values():
                    with contextlib.suppress(Exception):
                        host.stop()
                self.hosts = {}
                self._end_leftovers()

        def _end_leftovers(self):
            """SIGTERM, then SIGKILL, to any process still running from the lab's folder."""
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = self.processes()
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                deadline = time.monotonic() + 5
                while self.processes() and time.monotonic() < deadline:
                    time.sleep(0.05)

    return ProxyLab


def _end(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def proxy_lab_class(minion_threads=False):
    """``ProxyLab`` over ``common.lab_class(minion_threads)``."""
    return make_proxy_lab(common.lab_class(minion_threads))
