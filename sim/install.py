"""Writing the per-host command folders (``sgsim install-host``) and a launcher for ``sgsim``.

Each script embeds the absolute simulator home, the node it acts as, the Python that ran
install-host and the folder of the sgsim package that ran it. It runs Python with ``-I -S`` (no
site-packages, no user environment: start-up in a few milliseconds) and loads sgsim from that
folder (a module object made by hand with that ``__path__``), so it works from a checkout and
from an installed copy.
"""

import os
import pathlib
import sys

from sgsim.errors import SimError
from sgsim.hostcmd import COMMANDS

# The package's folder need not be named sgsim: the module object is made by hand, with that
# folder as its __path__, so submodules import (and use their __pycache__) as usual. Not
# importlib.util: its import alone cost each command ~5 ms of start-up.
_LOADER = """\
import sys
_mod = type(sys)("sgsim")
_mod.__file__, _mod.__path__, _mod.__package__ = {init!r}, [{pkg!r}], "sgsim"
sys.modules["sgsim"] = _mod
with open({init!r}, "rb") as _f:
    exec(compile(_f.read(), {init!r}, "exec"), _mod.__dict__)
"""

_HOST_SCRIPT = """\
#!{python} -IS
# Simulated {command} acting as node {node} (written by sgsim install-host).
{loader}
from sgsim.hostcmd import run
sys.exit(run({command!r}, {home!r}, {node!r}, sys.argv[1:]))
"""

_SGSIM_SCRIPT = """\
#!{python} -I
# sgsim for the simulator home {home} (written by sgsim.install).
import os
os.environ.setdefault("SGSIM_HOME", {home!r})
{loader}
from sgsim.cli import main
sys.exit(main())
"""


def _package_dir():
    return pathlib.Path(__file__).resolve().parent


def _loader():
    pkg = _package_dir()
    return _LOADER.format(init=str(pkg / "__init__.py"), pkg=str(pkg))


def _python():
    python = os.path.abspath(sys.executable)
    if any(c.isspace() for c in python):
        raise SimError(f"sgsim: cannot write a #! line for a Python path with spaces: {python}")
    return python


def _write(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install_host(home, node, bindir):
    """Write the eight command scripts for ``node`` into ``bindir``; return their paths."""
    bindir = pathlib.Path(bindir).resolve()
    bindir.mkdir(parents=True, exist_ok=True)
    python, loader = _python(), _loader()
    paths = []
    for command in COMMANDS:
        path = bindir / command
        _write(path, _HOST_SCRIPT.format(python=python, command=command, node=node, home=home, loader=loader))
        paths.append(path)
    return paths


def write_sgsim_script(home, path):
    """Write an ``sgsim`` launcher bound to ``home`` (used by sgsim.testing and the demo)."""
    path = pathlib.Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, _SGSIM_SCRIPT.format(python=_python(), home=home, loader=_loader()))
    return path
