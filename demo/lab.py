"""A throwaway Salt lab on loopback: one salt-master and one salt-minion per simulated VM host.

Used by ``make demo`` and the benchmarks (the tests use pytest-salt-factories instead). Every
file lives under one temporary directory; ``Lab.stop()`` (or leaving the ``with`` block) ends
every process it started.
"""

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
                self.minion_confs[node] = self._write(node, "minion", self.minion_config(node))
                self._spawn("salt-minion", self.minion_confs[node], node)
            self._wait_for_minions(timeout)
        except BaseException:
            self.stop()  # whatever went wrong, leave no daemon behind
            raise
        return self

    def _spawn(self, program, confdir, name):
        log = open(self.base / f"{name}.{program}.out", "w")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            [str(BIN / program), "-c", str(confdir), "-l", "quiet"],
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
