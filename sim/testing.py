"""Helpers for tests: a simulated cluster in a folder, its host command folders, its state.

cluster = SimCluster.create(tmp_path, "seed")
cluster.run("xyzo1", ["cmviewcl", "-v", "-f", "line"]).stdout
cluster.sgsim("node", "down", "xyzo1")
cluster.state()["packages"]["slvm1"]["node"]
"""

import json
import os
import pathlib
import subprocess

from sgsim import config, example_path, install
from sgsim.store import STATE_FILE, Store


class SimCluster:
    """A simulator home under ``base_dir`` with one command folder per node (``hosts/<node>``)."""

    def __init__(self, base_dir):
        self.base = pathlib.Path(base_dir).resolve()
        self.home = str(self.base / "home")
        self._sgsim = self.base / "bin" / "sgsim"
        with open(os.path.join(self.home, STATE_FILE), "rb") as f:
            self.nodes = list(json.loads(f.read())["nodes"])

    @classmethod
    def create(cls, base_dir, source):
        """Initialise a cluster from a YAML path, a dict, or a shipped example name; install all hosts."""
        base = pathlib.Path(base_dir).resolve()
        base.mkdir(parents=True, exist_ok=True)
        if isinstance(source, dict):
            doc = source
        else:
            path = pathlib.Path(source)
            if not path.is_file() and example_path(str(source)).exists():
                path = example_path(str(source))
            doc = config.load_yaml(str(path))
        home = str(base / "home")
        state = config.build_state(doc)
        Store(home).create(state)
        install.write_sgsim_script(home, base / "bin" / "sgsim")
        for node in state["nodes"]:
            install.install_host(home, node, base / "hosts" / node)
        return cls(base)

    def bindir(self, node):
        """The folder holding ``node``'s commands (cmviewcl, hpvmmigrate, ...)."""
        path = self.base / "hosts" / node
        if not path.exists():
            install.install_host(self.home, node, path)
        return path

    def command(self, node, name):
        return str(self.bindir(node) / name)

    def run(self, node, argv, timeout=None):
        """Run ``argv[0]`` as ``node``; a CompletedProcess with text stdout/stderr."""
        return subprocess.run(
            [self.command(node, argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, node, argv, **kwargs):
        """Start ``argv[0]`` as ``node`` without waiting (for streaming and kill tests)."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        return subprocess.Popen([self.command(node, argv[0]), *argv[1:]], **kwargs)

    def sgsim(self, *args, timeout=60):
        """Run ``sgsim --home HOME ARGS...``."""
        return subprocess.run(
            [str(self._sgsim), "--home", self.home, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def state(self):
        """The current state (read under the lock, like every command)."""
        with Store(self.home).transaction() as tx:
            return tx.state
