"""The ``serviceguard`` and ``hpvm`` modules through Salt's loader against the simulator.

Each simulated VM host gets its own minion options (``serviceguard.bin_dir`` / ``hpvm.bin_dir``
pointing at that node's command folder) and loads the modules from the checkout
(``module_dirs`` / ``utils_dirs``). Expected values are derived from the cluster's YAML, not
copied from the modules' output.
"""

import pathlib
import uuid

import pytest
import yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError
from saltfactories.utils.functional import Loaders

from sgsim import example_path
from sgsim.testing import SimCluster

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED = yaml.safe_load(example_path("seed").read_text())


@pytest.fixture
def sim(tmp_path):
    return SimCluster.create(tmp_path / "sim", example_path("seed"))


@pytest.fixture
def host(salt_factories, sim):
    """``host(node)`` -> the ``__salt__`` of a minion acting as that simulated VM host."""
    made = []

    def make(node, bin_dirs=True, **overrides):
        config = {
            "file_client": "local",
            "module_dirs": [str(ROOT / "_modules")],
            "utils_dirs": [str(ROOT / "_utils")],
            "serviceguard.timeout": 60,
        }
        if bin_dirs:
            config.update(
                {"serviceguard.bin_dir": str(sim.bindir(node)), "hpvm.bin_dir": str(sim.bindir(node))}
            )
        config.update(overrides)
        factory = salt_factories.salt_minion_daemon(f"{node}-{uuid.uuid4().hex[:6]}", overrides=config)
        loaders = Loaders(factory.config.copy())
        made.append(loaders)
        return loaders.modules

    yield make
    for loaders in made:
        loaders.reset_state()


def _used(node, cname):
    return sum(p["weights"].get(cname, 0) for p in SEED["packages"] if p.get("node") == node)


def test_cluster_matches_the_cluster_yaml(host):
    cluster = host("xyzo1").serviceguard.cluster()
    assert cluster["name"] == SEED["cluster"]
    assert list(cluster["nodes"]) == [n["name"] for n in SEED["nodes"]]
    for node in SEED["nodes"]:
        for cname, value in node["capacities"].items():
            got = cluster["nodes"][node["name"]]["capacities"][cname]
            assert got == {
                "capacity": value,
                "used": _used(node["name"], cname),
                "available": value - _used(node["name"], cname),
            }
    for pkg in SEED["packages"]:
        got = cluster["packages"][pkg["name"]]
        assert (got["node"], got["node_list"], got["vm_name"]) == (
            pkg["node"],
            pkg["node_list"],
            pkg["vm_name"],
        )
        assert got["switching"] == {n: True for n in pkg["node_list"]}


def test_every_node_sees_the_same_cluster(host):
    views = [host(n["name"]).serviceguard.cluster() for n in SEED["nodes"]]
    assert views[0] == views[1] == views[2]


def test_package_node_capacity_agree_with_cluster(host):
    mods = host("xyzo2")
    cluster = mods.serviceguard.cluster()
    assert mods.serviceguard.package("slvm1") == cluster["packages"]["slvm1"]
    assert mods.serviceguard.node("xyzo3") == cluster["nodes"]["xyzo3"]
    assert mods.serviceguard.capacity() == {n: d["capacities"] for n, d in cluster["nodes"].items()}
    assert mods.serviceguard.capacity(node="xyzo2") == {"xyzo2": cluster["nodes"]["xyzo2"]["capacities"]}


def test_unknown_package_and_node(host):
    mods = host("xyzo1")
    with pytest.raises(CommandExecutionError, match="nope is not a configured package name"):
        mods.serviceguard.package("nope")
    with pytest.raises(CommandExecutionError, match="nope is not a configured node name"):
        mods.serviceguard.node("nope")
    with pytest.raises(SaltInvocationError):
        mods.serviceguard.package("-f")


def test_switching_round_trip(host, sim):
    mods = host("xyzo1")
    assert mods.serviceguard.disable_switching("slvm1")["switching"] is False
    assert mods.serviceguard.package("slvm1")["autorun"] is False
    assert mods.serviceguard.disable_switching("slvm1", node="xyzo3")["node"] == "xyzo3"
    pkg = mods.serviceguard.package("slvm1")
    assert pkg["switching"] == {"xyzo1": True, "xyzo2": True, "xyzo3": False}
    assert pkg["node"] == "xyzo1"  # disabling switching never stops the package
    mods.serviceguard.enable_switching("slvm1")
    mods.serviceguard.enable_switching("slvm1", node="xyzo3")
    # The simulator's own state agrees with what the module reported.
    state = sim.state()["packages"]["slvm1"]
    assert state["autorun"] is True
    assert all(state["switching"].values())


def test_capacity_refusal_then_start(host):
    mods = host("xyzo1")
    halted = mods.serviceguard.halt("ora1")
    assert "Completed successfully" in halted["message"]
    pkg = mods.serviceguard.package("ora1")
    assert (pkg["node"], pkg["state"], pkg["autorun"]) == (None, "halted", False)
    # ora1 weighs 16 memory; xyzo2 has 16 - 4 = 12 available: Serviceguard refuses.
    with pytest.raises(CommandExecutionError, match="capacity") as err:
        mods.serviceguard.run("ora1", node="xyzo2")
    assert err.value.info["retcode"] == 1
    assert mods.serviceguard.package("ora1")["node"] is None
    mods.serviceguard.run("ora1", node="xyzo1")
    assert mods.serviceguard.package("ora1")["node"] == "xyzo1"


def test_guests_on_each_host(host):
    for node in ("xyzo1", "xyzo2"):
        guests = host(node).hpvm.guests()
        running = {p["vm_name"] for p in SEED["packages"] if p.get("node") == node}
        assert {g for g, d in guests.items() if d["state"] == "On"} == running
        for pkg in SEED["packages"]:
            if pkg["vm_name"] in guests:
                assert guests[pkg["vm_name"]]["memory_mb"] == pkg["memory_mb"]
                assert guests[pkg["vm_name"]]["vcpus"] == pkg["vcpus"]


def test_guest_and_unknown_guest(host):
    mods = host("xyzo1")
    assert mods.hpvm.guest("slvm1") == mods.hpvm.guests()["slvm1"]
    with pytest.raises(CommandExecutionError, match="nope"):
        mods.hpvm.guest("nope")


def test_check_migrate_verdicts_are_data(host):
    mods = host("xyzo1")
    ok = mods.hpvm.check_migrate("slvm1", "xyzo2")
    assert ok["migratable"] is True and all(c["passed"] for c in ok["checks"])
    mods.hpvm.set_online_migration("slvm1", False)
    assert mods.hpvm.guest("slvm1")["online_migration"] is False
    refused = mods.hpvm.check_migrate("slvm1", "xyzo2")
    assert refused["migratable"] is False
    assert [c["name"] for c in refused["checks"] if not c["passed"]] == ["online_migration"]
    mods.hpvm.set_online_migration("slvm1", True)
    assert mods.hpvm.check_migrate("slvm1", "xyzo2")["migratable"] is True


def test_check_migrate_that_cannot_run_raises(host):
    with pytest.raises(CommandExecutionError):
        host("xyzo1").hpvm.check_migrate("nope", "xyzo2")


def test_migrate_with_progress(host):
    source, target = host("xyzo1"), host("xyzo2")
    seen = []
    result = source.hpvm.migrate("slvm1", "xyzo2", progress=seen.append)
    assert result["migrated"] is True
    assert [s["phase"] for s in seen] == [s["phase"] for s in result["progress"]]
    assert seen[-1]["phase"] == "Completion"
    assert source.hpvm.guest("slvm1")["state"] == "Off (NR)"
    assert target.hpvm.guest("slvm1")["state"] == "On"


def test_migrate_failure_leaves_guest_on_source(host):
    source = host("xyzo1")
    # ora1's disk (/dev/rdisk/disk20) is not visible on xyzo3: hpvmmigrate refuses in its checks.
    with pytest.raises(CommandExecutionError) as err:
        source.hpvm.migrate("ora1", "xyzo3")
    assert err.value.info["retcode"] == 1
    assert source.hpvm.guest("ora1")["state"] == "On"


def test_virtual_refuses_a_host_without_commands(host, tmp_path):
    mods = host("xyzo1", **{"serviceguard.bin_dir": str(tmp_path), "hpvm.bin_dir": str(tmp_path)})
    assert "serviceguard.cluster" not in mods
    assert "hpvm.guests" not in mods
    assert "test.ping" in mods


def test_bin_dir_from_grains(host, sim):
    folder = str(sim.bindir("xyzo2"))
    mods = host("xyzo2", bin_dirs=False, grains={"serviceguard.bin_dir": folder, "hpvm.bin_dir": folder})
    assert mods.serviceguard.node("xyzo2")["name"] == "xyzo2"
    assert "slvm1" in mods.hpvm.guests()
