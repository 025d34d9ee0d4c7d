"""The ``sgsim`` administration command: init, install-host, node, show, generate, python -m."""

import os
import pathlib
import stat
import subprocess
import sys

import pytest
import yaml

import sgsim
from sgsim.testing import SimCluster

SIM_DIR = pathlib.Path(sgsim.__file__).resolve().parent


@pytest.fixture
def sgsim_env(tmp_path):
    """Run ``python -m sgsim`` against this checkout's sim/ (not an installed copy)."""
    path = tmp_path / "pyroot"
    path.mkdir()
    (path / "sgsim").symlink_to(SIM_DIR)
    env = dict(os.environ, PYTHONPATH=str(path), SGSIM_HOME=str(tmp_path / "home"))
    return env


def run_module(env, *args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sgsim", *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


def test_python_m_init_install_and_run(sgsim_env, tmp_path):
    proc = run_module(sgsim_env, "init", "seed")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"sgsim: cluster seed initialised in {tmp_path / 'home'}\n"
    home = tmp_path / "home"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "state.json").stat().st_mode) == 0o600
    proc = run_module(sgsim_env, "install-host", "xyzo2", str(tmp_path / "bin2"))
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (tmp_path / "bin2").iterdir())
    assert written == sorted(
        [
            "cmviewcl",
            "cmmodpkg",
            "cmrunpkg",
            "cmhaltpkg",
            "cmmovevpkg",
            "hpvmstatus",
            "hpvmmigrate",
            "hpvmmodify",
        ]
    )
    script = (tmp_path / "bin2" / "cmviewcl").read_text()
    assert script.startswith(f"#!{os.path.abspath(sys.executable)} -IS\n")
    assert str(home) in script and "'xyzo2'" in script and str(SIM_DIR) in script
    # the scripts work from anywhere, with an empty environment
    out = subprocess.run(
        [str(tmp_path / "bin2" / "hpvmstatus")], capture_output=True, text=True, env={}, cwd="/", check=False
    )
    assert out.returncode == 0 and "web1                     3 HPUX    On (OS)" in out.stdout


def test_home_option_before_or_after(tmp_path):
    c = SimCluster.create(tmp_path / "a", "seed")
    other = tmp_path / "other"
    assert c.sgsim("init", "demo", "--home", str(other)).returncode == 0
    assert (other / "state.json").exists()
    proc = subprocess.run(
        [str(c.base / "bin" / "sgsim"), "--home", str(other), "show"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert yaml.safe_load(proc.stdout)["cluster"]["name"] == "demo"


def test_show_is_yaml_of_the_state(tmp_path):
    c = SimCluster.create(tmp_path, "demo")
    proc = c.sgsim("show")
    assert proc.returncode == 0
    shown = yaml.safe_load(proc.stdout)
    assert shown == c.state()


def test_node_down_and_up(tmp_path):
    c = SimCluster.create(tmp_path, "demo")
    proc = c.sgsim("node", "down", "vmhost1")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "sgsim: node vmhost1 is down"
    st = c.state()
    # db1 (memory 24) does not fit vmhost2 (16 available), so the next node of its list
    assert st["packages"]["db1"]["node"] == "vmhost3"
    assert all(p["node"] != "vmhost1" for p in st["packages"].values())
    assert "already down" in c.sgsim("node", "down", "vmhost1").stderr
    line = c.run("vmhost2", ["cmviewcl", "-f", "line", "-l", "node"]).stdout
    assert "node:vmhost1|status=down" in line
    assert c.sgsim("node", "up", "vmhost1").returncode == 0
    st = c.state()
    assert st["nodes"]["vmhost1"]["status"] == "up"
    assert all(p["node"] != "vmhost1" for p in st["packages"].values())


def test_cluster_down_when_every_node_is_down(tmp_path):
    c = SimCluster.create(tmp_path, "seed")
    for node in c.nodes:
        assert c.sgsim("node", "down", node).returncode == 0
    out = c.run("xyzo1", ["cmviewcl", "-f", "line", "-l", "cluster"]).stdout
    assert out.splitlines() == ["name=seed", "status=down"]
    assert all(p["state"] == "halted" for p in c.state()["packages"].values())


def test_generate_and_init_large(tmp_path):
    c = SimCluster.create(tmp_path / "c", "seed")
    out = tmp_path / "big.yaml"
    proc = c.sgsim(
        "generate", "--nodes", "16", "--packages", "300", "--capacities", "4", "--seed", "3", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    proc = c.sgsim("--home", str(tmp_path / "h"), "init", str(out))
    assert proc.returncode == 0, proc.stderr
    from sgsim.store import Store

    with Store(str(tmp_path / "h")).transaction() as tx:
        assert len(tx.state["nodes"]) == 16 and len(tx.state["packages"]) == 300
        assert len(tx.state["capacity_names"]) == 4


def test_testing_helpers(tmp_path):
    c = SimCluster.create(tmp_path, str(sgsim.example_path("seed")))
    assert c.nodes == ["xyzo1", "xyzo2", "xyzo3"]
    assert (c.bindir("xyzo3") / "cmmovevpkg").exists()
    assert c.state()["cluster"]["name"] == "seed"
    assert sgsim.examples_dir().joinpath("demo.yaml").exists()
