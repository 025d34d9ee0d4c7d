"""The same answers whichever way the modules reach the minion.

Three minions, each a fresh ``salt-call --local`` process against the same simulated host:

- ``checkout``: ``module_dirs`` / ``utils_dirs`` pointing at this checkout;
- ``synced``: ``_modules`` and ``_utils`` in the file_roots, ``saltutil.sync_all`` run first
  (synced helpers are imported by name from ``<extmods>/utils``);
- ``package``: the ``saltext.vpkg`` package laid out as pip installs it (``modules``, ``utils``
  subpackages) first on ``PYTHONPATH``, found through the installed ``salt.loader`` entry point
  (helpers imported as ``saltext.vpkg.utils.*``). This stands in for the pip-installed copy;
  ``test_installed_copy_is_current`` checks that the installed copy is the checkout.

Then the two ways a sync can go wrong while the package is installed too (docs/installing.md): a
synced helper that fails to import, and modules synced without their helpers. Neither may fall
back to the installed package's helpers.
"""

import configparser
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
CALLS = [
    ("serviceguard.cluster", []),
    ("serviceguard.package", ["slvm1"]),
    ("serviceguard.node", ["xyzo2"]),
    ("serviceguard.capacity", []),
    ("hpvm.guests", []),
    ("hpvm.guest", ["ora1"]),
    ("hpvm.check_migrate", ["slvm1", "xyzo2"]),
    ("hpvm.check_migrate", ["ora1", "xyzo3"]),
]

# Runs in the minion's own process: Caller is what salt-call uses, and it loads modules the same way.
QUERY = textwrap.dedent(
    """
    import json, sys
    import salt.client, salt.config
    opts = salt.config.minion_config(sys.argv[1])
    caller = salt.client.Caller(mopts=opts)
    out = [caller.cmd(fun, *args) for fun, args in json.loads(sys.argv[2])]
    # Which copy of the shared parser the modules imported: synced helpers by name, the package's
    # as saltext.vpkg.utils.vpkg_sgparse.
    where = sys.modules.get("vpkg_sgparse") or sys.modules.get("saltext.vpkg.utils.vpkg_sgparse")
    print(json.dumps({"results": out, "parser": getattr(where, "__file__", None)}))
    """
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return SimCluster.create(tmp_path_factory.mktemp("sim"), example_path("seed"))


def _minion(base, sim, extra):
    root = base / "root"
    conf = base / "conf"
    conf.mkdir(parents=True)
    config = {
        "id": "xyzo1",
        "root_dir": str(root),
        "pki_dir": str(root / "pki"),
        "cachedir": str(root / "cache"),
        "sock_dir": str(root / "sock"),
        "log_file": str(root / "minion.log"),
        "file_client": "local",
        "user": os.environ.get("USER") or None,
        "serviceguard.bin_dir": str(sim.bindir("xyzo1")),
        "hpvm.bin_dir": str(sim.bindir("xyzo1")),
        **extra,
    }
    (conf / "minion").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return conf / "minion"


def _env(pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _script(script, *args, env):
    """Run ``script`` in a Python process of its own; the JSON document it prints last."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _query(config, env):
    return _script(QUERY, config, json.dumps(CALLS), env=env)


def _checkout(base, sim):
    config = _minion(
        base, sim, {"module_dirs": [str(ROOT / "_modules")], "utils_dirs": [str(ROOT / "_utils")]}
    )
    return _query(config, _env())


def _synced(base, sim):
    srv = base / "srv"
    srv.mkdir()
    for folder in ("_modules", "_utils"):
        (srv / folder).symlink_to(ROOT / folder)
    config = _minion(base, sim, {"file_roots": {"base": [str(srv)]}})
    sync = _salt_call(config, "saltutil.sync_all")
    assert sync.returncode == 0, sync.stderr[-3000:]
    synced = json.loads(sync.stdout)["local"]
    assert "modules.serviceguard" in synced["modules"] and "modules.hpvm" in synced["modules"]
    assert "utils.vpkg_sgparse" in synced["utils"]
    # And salt-call itself, once, so the CLI path is covered too.
    cli = _salt_call(config, "serviceguard.package", "slvm1")
    assert cli.returncode == 0, cli.stderr[-3000:]
    result = _query(config, _env())
    assert json.loads(cli.stdout)["local"] == result["results"][1]
    return result


def _package(base, sim):
    site = base / "site" / "saltext" / "vpkg"
    site.mkdir(parents=True)
    shutil.copy(ROOT / "pkg" / "saltext" / "vpkg" / "__init__.py", site / "__init__.py")
    (site / "modules").symlink_to(ROOT / "_modules")
    (site / "utils").symlink_to(ROOT / "_utils")
    config = _minion(base, sim, {})
    return _query(config, _env(base / "site"))


@pytest.fixture(scope="module")
def answers(tmp_path_factory, sim):
    return {
        way: make(tmp_path_factory.mktemp(way), sim)
        for way, make in (("checkout", _checkout), ("synced", _synced), ("package", _package))
    }


def test_each_way_loads_its_own_copy_of_the_helpers(answers):
    assert answers["checkout"]["parser"] == str(ROOT / "_utils" / "vpkg_sgparse.py")
    assert "/extmods/utils/vpkg_sgparse.py" in answers["synced"]["parser"]
    assert answers["package"]["parser"].endswith("/site/saltext/vpkg/utils/vpkg_sgparse.py")


@pytest.mark.parametrize("index", range(len(CALLS)), ids=[f"{f}({','.join(a)})" for f, a in CALLS])
def test_same_answers(answers, index):
    checkout = answers["checkout"]["results"][index]
    assert checkout and not isinstance(checkout, str), checkout  # a real answer, not an error string
    assert answers["synced"]["results"][index] == checkout
    assert answers["package"]["results"][index] == checkout


def test_answers_are_the_simulated_cluster(answers, sim):
    cluster, package = answers["checkout"]["results"][:2]
    state = sim.state()
    assert set(cluster["packages"]) == set(state["packages"])
    assert package["node"] == "xyzo1"
    ok, refused = answers["checkout"]["results"][6:8]
    assert (ok["migratable"], refused["migratable"]) == (True, False)


def _package_dirs():
    """``{installed subfolder: checkout folder}`` from setup.cfg's package_dir (``saltext.vpkg.X = _X``)."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    pairs = [line.split("=") for line in parser["options"]["package_dir"].strip().splitlines()]
    return {name.strip().removeprefix("saltext.vpkg").lstrip("."): ROOT / src.strip() for name, src in pairs}


def _files(folder):
    return {p.relative_to(folder) for p in folder.glob("*.py")}


def test_installed_copy_is_current():
    """The pip-installed package is this checkout: every file, the same bytes, nothing more."""
    spec = subprocess.run(
        [sys.executable, "-c", "import saltext.vpkg, os; print(os.path.dirname(saltext.vpkg.__file__))"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert spec.returncode == 0, f"saltext.vpkg is not installed (make install): {spec.stderr[-500:]}"
    installed = pathlib.Path(spec.stdout.strip())
    folders = _package_dirs()
    assert set(folders) == {
        "",
        "modules",
        "runners",
        "states",
        "beacons",
        "utils",
        "output",
        "proxy",
        "grains",
    }
    for sub, src in folders.items():
        assert _files(installed / sub) == _files(src), f"{installed / sub} holds other files than {src}"
        stale = [str(f) for f in _files(src) if (installed / sub / f).read_bytes() != (src / f).read_bytes()]
        assert not stale, f"the installed {sub or 'package'} differs from {src} ({stale}): run make install"


def _synced_minion(base, sim, utils):
    """A minion whose file_roots hold ``_modules`` and, as ``_utils``, the folder ``utils`` (or none)."""
    srv = base / "srv"
    srv.mkdir(parents=True)
    (srv / "_modules").symlink_to(ROOT / "_modules")
    if utils is not None:
        (srv / "_utils").symlink_to(utils)
    config = _minion(base, sim, {"file_roots": {"base": [str(srv)]}})
    sync = _salt_call(config, "saltutil.sync_all")
    assert sync.returncode == 0, sync.stderr[-3000:]
    return config


def _salt_call(config, *args):
    return subprocess.run(
        [str(BIN / "salt-call"), "--config-dir", str(config.parent), "--local", "--out=json", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )


def test_a_broken_synced_helper_raises_its_own_error(tmp_path, sim):
    utils = tmp_path / "utils"
    shutil.copytree(ROOT / "_utils", utils)
    names = utils / "vpkg_names.py"
    names.write_text('raise ImportError("vpkg_names is broken on purpose")\n' + names.read_text())
    config = _synced_minion(tmp_path / "minion", sim, utils)
    ret = _salt_call(config, "serviceguard.package", "slvm1")
    # The installed package's own vpkg_names would have worked: it must not have been used.
    assert ret.returncode != 0, ret.stdout
    assert "vpkg_names is broken on purpose" in ret.stdout + ret.stderr


def test_modules_synced_without_their_helpers_name_the_sync(tmp_path, sim):
    config = _synced_minion(tmp_path / "minion", sim, None)
    ret = _salt_call(config, "hpvm.guests")
    assert ret.returncode != 0, ret.stdout
    out = ret.stdout + ret.stderr
    assert "salt-vpkg helper vpkg_" in out and "saltutil.sync_utils" in out, out[-2000:]
    assert "No module named 'saltext'" not in out


# One process across a sync, as a minion's own process, a master worker running a peer runner or
# a proxy lives: a helper a sync replaced must not stay in use beside the new modules (salt#15233).
RESYNC = textwrap.dedent(
    """
    import json, pathlib, sys
    import salt.client, salt.config
    opts = salt.config.minion_config(sys.argv[1])
    caller = salt.client.Caller(mopts=opts)
    before = caller.cmd("serviceguard.package", "slvm1")
    first = sys.modules["vpkg_sgparse"].__file__  # the synced copy, imported by name
    helper = pathlib.Path(sys.argv[2])
    helper.write_text(helper.read_text() + "\\nSYNC_PROBE = 2\\n")
    resync = caller.cmd("saltutil.sync_all")
    caller.cmd("sys.reload_modules")
    after = caller.cmd("serviceguard.package", "slvm1")
    where = sys.modules["vpkg_sgparse"]
    print(json.dumps({"first": first, "resync": resync["utils"], "before": before,
                      "after": after, "probe": getattr(where, "SYNC_PROBE", None),
                      "parser": where.__file__}))
    """
)


def test_a_sync_replaces_the_helpers_a_running_process_imported(tmp_path, sim):
    utils = tmp_path / "utils"
    shutil.copytree(ROOT / "_utils", utils, ignore=shutil.ignore_patterns("__pycache__"))
    config = _synced_minion(tmp_path / "minion", sim, utils)  # synced before the process starts
    out = _script(RESYNC, config, utils / "vpkg_sgparse.py", env=_env())
    assert "/extmods/utils/vpkg_sgparse.py" in out["first"] and out["resync"] == ["utils.vpkg_sgparse"]
    assert out["before"]["node"] == out["after"]["node"] == "xyzo1", out
    assert "/extmods/utils/vpkg_sgparse.py" in out["parser"]
    assert out["probe"] == 2, "the modules went on with the helper the sync replaced"
