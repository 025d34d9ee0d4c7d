"""A throwaway Salt lab on loopback: one salt-master and one salt-minion per simulated VM host.

Used by ``make demo`` and the benchmarks (the tests use pytest-salt-factories instead). Every
file lives under one temporary directory; ``Lab.stop()`` (or leaving the ``with`` block) ends
every process it started. ``ProxyLab`` is the same lab with a salt-proxy (proxytype ``vmhost``)
per VM host instead, reaching its host over SSH (``make demo PROXY=1``).
"""

import contextlib
import importlib.util
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """Master + minions whose Serviceguard and Integrity VM commands are the simulator's."""

    # The daemon that stands for each VM host, and its config file's name in its conf folder.
    node_daemon = "salt-minion"
    node_conf = "minion"

    def __init__(self, cluster, base=None, master_id="vpkg-master", extra_master=None):
        self.cluster = cluster  # an sgsim.testing.SimCluster
        self.base = pathlib.Path(base or tempfile.mkdtemp(prefix="vpkg-lab-"))
        self.master_id = master_id
        self.extra_master = extra_master or {}
        self.procs = []
        self.ports = {"publish_port": _free_port(), "ret_port": _free_port()}

    # -- configuration -------------------------------------------------------------------------
    def _common(self, name):
        root = self.base / name
        return {
            "root_dir": str(root),
            "pki_dir": str(root / "pki"),
            "cachedir": str(root / "cache"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "log"),
            "log_level_logfile": "info",
            "user": os.environ.get("USER") or "root",
            "interface": "127.0.0.1",
            **self.ports,
        }

    def _write(self, name, kind, config):
        confdir = self.base / name / "conf"
        confdir.mkdir(parents=True, exist_ok=True)
        (confdir / kind).write_text(yaml.safe_dump(config))
        return confdir

    def _file_roots(self):
        """``sls/`` and a folder with only an ``orch/`` link, as /srv/salt would hold them: not the
        checkout, whose virtualenv Salt would list for every orchestration (3x slower)."""
        srv = self.base / "srv"
        srv.mkdir(parents=True, exist_ok=True)
        if not (srv / "orch").exists():
            (srv / "orch").symlink_to(ROOT / "orch")
        return {"base": [str(ROOT / "sls"), str(srv)]}

    def master_config(self):
        config = self._common(self.master_id)
        config.update(
            {
                "id": self.master_id,
                "auto_accept": True,
                "runner_dirs": [str(ROOT / "_runners")],
                "utils_dirs": [str(ROOT / "_utils")],
                "file_roots": self._file_roots(),
                "vpkg": {"timeout": 30},
            }
        )
        config.update(self.extra_master)
        return config

    def minion_config(self, node):
        config = self._common(node)
        config.pop("interface")
        config.update(
            {
                "id": node,
                "master": "127.0.0.1",
                "master_port": self.ports["ret_port"],
                "module_dirs": [str(ROOT / "_modules")],
                "states_dirs": [str(ROOT / "_states")],
                "utils_dirs": [str(ROOT / "_utils")],
                "beacons_dirs": [str(ROOT / "_beacons")],
                "serviceguard.bin_dir": str(self.cluster.bindir(node)),
                "hpvm.bin_dir": str(self.cluster.bindir(node)),
                "vpkg.node": node,
                "multiprocessing": True,
            }
        )
        return config

    # -- processes -----------------------------------------------------------------------------
    def start(self, timeout=90):
        try:
            self.master_conf = self._write(self.master_id, "master", self.master_config())
            self._spawn("salt-master", self.master_conf, self.master_id)
            self.minion_confs = {}
            for node in self.cluster.nodes:
                self.minion_confs[node] = self._write(node, self.node_conf, self.minion_config(node))
                self._spawn(self.node_daemon, self.minion_confs[node], node, *self.node_args(node))
            self._wait_for_minions(timeout)
        except BaseException:
            self.stop()  # whatever went wrong, leave no daemon behind
            raise
        return self

    def node_args(self, node):
        """More command-line arguments of the daemon for ``node``."""
        return ()

    def _spawn(self, program, confdir, name, *args):
        log = open(self.base / f"{name}.{program}.out", "w")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            [str(BIN / program), "-c", str(confdir), "-l", "quiet", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((proc, log))

    def _wait_for_minions(self, timeout):
        deadline = time.monotonic() + timeout
        wanted = set(self.cluster.nodes)
        while time.monotonic() < deadline:
            out = self.salt("*", "test.ping", "--out=yaml", "--timeout=5", check=False)
            try:
                answers = yaml.safe_load(out.stdout)
            except yaml.YAMLError:
                answers = None  # the master is not listening yet
            up = {k for k, v in answers.items() if v is True} if isinstance(answers, dict) else set()
            if wanted <= up:
                return
            time.sleep(1)
        self.stop()
        raise RuntimeError(
            f"minions {sorted(wanted)} did not come up within {timeout} s (logs in {self.base})"
        )

    def salt(self, *args, check=True):
        return self._cli("salt", *args, check=check)

    def salt_run(self, *args, check=True):
        return self._cli("salt-run", *args, check=check)

    def _cli(self, program, *args, check=True):
        return subprocess.run(
            [str(BIN / program), "-c", str(self.master_conf), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def stop(self):
        for proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
        self.procs = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


def _labsetup():
    """``tests/integration/labsetup.py``, by its path: one definition of a proxy's settings."""
    spec = importlib.util.spec_from_file_location(
        "vpkg_demo_labsetup", ROOT / "tests" / "integration" / "labsetup.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ProxyLab(Lab):
    """The same lab, each VM host a salt-proxy (proxytype ``vmhost``) that reaches it over SSH.

    ``ssh_hosts``: ``{node: SshHost}`` (tests/sshhost.py), one running sshd per node whose
    sessions find that node's simulated commands on PATH. What docs/proxy.md has an operator
    write goes where it says: each proxy's ``proxy:`` settings, ``vpkg.node`` and the bin dirs in
    the pillar (one SLS per proxy id), ``saltenv: base`` in the proxy's config file. Each proxy's
    ControlMaster socket lives in its own folder under ``base`` (``proxy:control_dir``), so that
    whatever the lab started can be found by its command line (``leftovers()``).
    """

    node_daemon = "salt-proxy"
    node_conf = "proxy"
    # The keys a minion has in its config file and a proxy has in its pillar.
    PILLAR_KEYS = ("vpkg.node", "serviceguard.bin_dir", "hpvm.bin_dir")

    def __init__(self, cluster, ssh_hosts, **kwargs):
        super().__init__(cluster, **kwargs)
        self.ssh_hosts = ssh_hosts

    def control_dir(self, node):
        return self.base / node / "ssh"

    def proxy_pillar(self, node):
        minion = super().minion_config(node)
        proxy = _labsetup().vmhost_proxy(self.ssh_hosts[node])  # the proxy tier's settings
        return {
            "proxy": {**proxy, "control_dir": str(self.control_dir(node))},
            **{key: minion[key] for key in self.PILLAR_KEYS},
        }

    def _pillar_roots(self):
        """One SLS per proxy id and a top file giving each id its own."""
        root = self.base / "pillar"
        root.mkdir(parents=True, exist_ok=True)
        top = {"base": {}}
        for node in self.cluster.nodes:
            (root / f"{node}.sls").write_text(yaml.safe_dump(self.proxy_pillar(node)))
            top["base"][node] = [node]
        (root / "top.sls").write_text(yaml.safe_dump(top))
        return {"base": [str(root)]}

    def master_config(self):
        config = super().master_config()
        config["pillar_roots"] = self._pillar_roots()
        return config

    def minion_config(self, node):
        """The proxy's config file: the minion's, less what is in the pillar, plus the proxy module."""
        config = super().minion_config(node)
        for key in self.PILLAR_KEYS:
            config.pop(key)
        config["proxy_dirs"] = [str(ROOT / "_proxy")]
        # salt-proxy's start-up sync_all hangs without it on Salt 3007/3008 (docs/proxy.md).
        config["saltenv"] = "base"
        self.control_dir(node).mkdir(mode=0o700, parents=True, exist_ok=True)
        return config

    def node_args(self, node):
        return ("--proxyid", node)

    def leftovers(self):
        """Pids of live processes whose command line names this lab's folder (say, a ControlMaster
        ``ssh -M`` whose proxy died before it could close it)."""
        mark = (str(self.base) + os.sep).encode()
        found = []
        for entry in pathlib.Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if mark in cmdline:
                    found.append(int(entry.name))
        return found

    def stop(self):
        super().stop()
        # A proxy closes its ControlMaster when it stops; one that did not is ended here.
        pids = self.leftovers()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = [pid for pid in pids if pathlib.Path(f"/proc/{pid}").exists()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
