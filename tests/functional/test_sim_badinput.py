"""Bad invocations: one message in the command's style on stderr, exit status 1, never a traceback."""

import pytest

import sgsim
from sgsim import config
from sgsim.testing import SimCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    doc = config.load_yaml(str(sgsim.example_path("seed")))
    doc["sim"]["time_scale"] = 0.001
    c = SimCluster.create(tmp_path_factory.mktemp("bad"), doc)
    assert c.run("xyzo1", ["cmhaltpkg", "web1"]).returncode == 0  # a halted package for the cases below
    return c


HOST_CASES = [
    ["cmviewcl", "-x"],
    ["cmviewcl", "-f", "xml"],
    ["cmviewcl", "-l", "group"],
    ["cmviewcl", "-p"],
    ["cmviewcl", "-p", "nope"],
    ["cmviewcl", "-n", "nope"],
    ["cmviewcl", "-n", "xyzo1", "-p", "slvm1"],
    ["cmviewcl", "extra"],
    ["cmviewcl", "-c", "othercluster"],
    ["cmviewcl", "-p", "\u00e9t\u00e9"],
    ["cmmodpkg"],
    ["cmmodpkg", "-e", "-d", "slvm1"],
    ["cmmodpkg", "-e"],
    ["cmmodpkg", "-e", "nope"],
    ["cmmodpkg", "-e", "-n", "nope", "slvm1"],
    ["cmmodpkg", "-e", "-n", "xyzo3", "ora1"],
    ["cmmodpkg", "-z", "slvm1"],
    ["cmrunpkg"],
    ["cmrunpkg", "-n", "xyzo1", "-n", "xyzo2", "slvm1"],
    ["cmrunpkg", "nope"],
    ["cmrunpkg", "-n", "nope", "web1"],
    ["cmrunpkg", "-q", "web1"],
    ["cmrunpkg", "a\nb"],
    ["cmhaltpkg"],
    ["cmhaltpkg", "nope"],
    ["cmhaltpkg", "-n"],
    ["cmhaltpkg", "web1"],
    ["hpvmstatus", "-P", "nope"],
    ["hpvmstatus", "-Z"],
    ["hpvmstatus", "extra"],
    ["hpvmstatus", "-P", "slvm1", "-P", "ora1"],
    ["hpvmmodify"],
    ["hpvmmodify", "-P", "slvm1"],
    ["hpvmmodify", "-P", "slvm1", "-x", "foo=bar"],
    ["hpvmmodify", "-P", "slvm1", "-x", "online_migration=maybe"],
    ["hpvmmodify", "-P", "slvm1", "-x", "online_migration"],
    ["hpvmmodify", "-P", "nope", "-x", "online_migration=enabled"],
    ["hpvmmigrate"],
    ["hpvmmigrate", "-o", "-P", "slvm1"],
    ["hpvmmigrate", "-o", "-P", "nope", "-h", "xyzo2"],
    ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "nowhere"],
    ["hpvmmigrate", "-k"],
    ["cmmovevpkg"],
    ["cmmovevpkg", "-P", "slvm1"],
    ["cmmovevpkg", "-P", "nope", "-h", "xyzo2"],
    ["cmmovevpkg", "-P", "slvm1", "-h", "nowhere"],
    ["cmmovevpkg", "-v", "-P", "slvm1", "-h", "xyzo2", "extra"],
    ["cmmovevpkg", "-P", "web1", "-h", "xyzo3"],
]


@pytest.mark.parametrize("argv", HOST_CASES, ids=[" ".join(a).replace("\n", "\\n") for a in HOST_CASES])
def test_bad_host_command(cluster, argv):
    before = cluster.state()
    proc = cluster.run("xyzo1", argv)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    first = proc.stderr.splitlines()[0]
    assert first.startswith((f"{argv[0]}:", "Unable to run package", "Node ")), first
    if "option" in first or "usage" in proc.stderr:
        assert proc.stderr.splitlines()[-1].startswith("usage: ")
    after = cluster.state()
    assert after["packages"] == before["packages"] and after["guests"] == before["guests"]


SGSIM_CASES = [
    ["bogus"],
    [],
    ["init", "/nonexistent/cluster.yaml"],
    ["node", "down", "nope"],
    ["node", "sideways", "xyzo1"],
    ["fault", "add", "migration-fail", "nope", "copy"],
    ["fault", "add", "migration-fail", "slvm1", "warp"],
    ["fault", "add", "migration-slow", "slvm1", "abc"],
    ["fault", "add", "node-down", "xyzo1"],
    ["fault", "add", "command-fail", "rm"],
    ["fault", "clear", "x"],
    ["generate", "--nodes", "x", "--packages", "3", "-o", "/tmp/never.yaml"],
    ["generate", "--nodes", "3"],
    ["install-host", "nope", "/tmp/never-sgsim-bin"],
]


@pytest.mark.parametrize("argv", SGSIM_CASES, ids=[" ".join(a) or "(none)" for a in SGSIM_CASES])
def test_bad_sgsim_command(cluster, argv):
    proc = cluster.sgsim(*argv)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(("sgsim", "usage: sgsim")), proc.stderr


def test_invalid_yaml_file(cluster, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: [unclosed\n")
    proc = cluster.sgsim("--home", str(tmp_path / "h"), "init", str(bad))
    assert proc.returncode == 1 and "not valid YAML" in proc.stderr and "Traceback" not in proc.stderr
    bad.write_text("cluster: c1\nnodes: []\n")
    proc = cluster.sgsim("--home", str(tmp_path / "h"), "init", str(bad))
    assert proc.returncode == 1 and "sgsim: nodes: expected a non-empty list of nodes" in proc.stderr


def test_command_on_missing_home(tmp_path):
    from sgsim import install

    install.install_host(str(tmp_path / "nohome"), "xyzo1", tmp_path / "bin")
    import subprocess

    proc = subprocess.run([str(tmp_path / "bin" / "cmviewcl")], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "sgsim init" in proc.stderr
