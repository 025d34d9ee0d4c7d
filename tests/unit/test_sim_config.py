"""Cluster YAML validation, the shipped examples and the generator (pure, no processes)."""

import copy

import pytest

import sgsim
from sgsim import config, generate
from sgsim.errors import ConfigError


@pytest.fixture
def seed_doc():
    return config.load_yaml(str(sgsim.example_path("seed")))


def test_examples_load():
    seed = config.build_state(config.load_yaml(str(sgsim.example_path("seed"))))
    assert seed["packages"]["slvm1"]["node"] == "xyzo1"
    assert seed["guests"]["slvm1"]["devices"][0].startswith("/dev/slvm_vg01/")
    assert list(seed["nodes"]) == ["xyzo1", "xyzo2", "xyzo3"]
    demo = config.build_state(config.load_yaml(str(sgsim.example_path("demo"))))
    assert len(demo["nodes"]) == 3 and len(demo["guests"]) == 6


def test_effective_weights_and_defaults(seed_doc):
    seed_doc["default_weights"] = {"memory": 2}
    del seed_doc["packages"][2]["weights"]["memory"]
    st = config.build_state(seed_doc)
    assert st["packages"]["web1"]["weights"] == {"memory": 2.0, "cpu": 2.0}
    assert st["capacity_names"] == ["memory", "cpu"]


def test_package_limit_default_weight_is_one():
    doc = {
        "cluster": "c1",
        "nodes": [{"name": "n1", "capacities": {"package_limit": 2}}],
        "packages": [{"name": "p1", "node_list": ["n1"], "node": "n1"}, {"name": "p2", "node_list": ["n1"]}],
    }
    st = config.build_state(doc)
    assert st["packages"]["p1"]["weights"] == {"package_limit": 1.0}
    assert st["guests"]["p1"]["runs_on"] == "n1" and st["guests"]["p2"]["runs_on"] is None


def _problems(doc):
    with pytest.raises(ConfigError) as info:
        config.build_state(doc)
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(cluster="-bad"), "invalid cluster name"),
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d["nodes"][0]["capacities"].update({"bad name": 3}), "invalid capacity name"),
        (lambda d: d["nodes"][0]["capacities"].update({"x" * 40: 3}), "invalid capacity name"),
        (lambda d: d["nodes"][0]["capacities"].update(memory=-1), "expected a number from 0"),
        (lambda d: d["nodes"][0]["capacities"].update(a=1, b=2, c=3), "at most 4 capacities"),
        (lambda d: d["nodes"][0]["capacities"].update(package_limit=3), "package_limit must be the only"),
        (lambda d: d["nodes"][1].update(name="xyzo1"), "duplicate node"),
        (lambda d: d["nodes"][0].update(status="sideways"), "expected up or down"),
        (lambda d: d["packages"][0].update(node="xyzo9"), "not in the package's node list"),
        (lambda d: d["packages"][1].update(node="xyzo2"), "weights memory of its packages"),
        (lambda d: d["packages"][0]["weights"].update(license=1), "no node of the package's node list"),
        (lambda d: d["packages"][0]["weights"].update(memory=1.2345), "at most 3 decimals"),
        (lambda d: d["packages"][1].update(priority=20), "already used by package slvm1"),
        (lambda d: d["packages"][1].update(priority=5000), "expected no_priority or 1..3000"),
        (lambda d: d["packages"][0].update(node_list=["xyzo1", "nope"]), "'nope' is not a configured node"),
        (lambda d: d["packages"][0].update(online_migration="maybe"), "expected enabled or disabled"),
        (lambda d: d["packages"][1].update(vm_name="slvm1"), "already belongs to package slvm1"),
        (lambda d: d["packages"][0].update(memory_mb=0), "memory_mb: expected a positive integer"),
        (lambda d: d["default_weights"].update(license=1), "no node defines a capacity"),
        (
            lambda d: d["packages"][0].update(dependencies=[{"package": "zzz"}]),
            "'zzz' is not a configured package",
        ),
        (
            lambda d: d["packages"][0].update(dependencies=[{"package": "ora1", "location": "all_nodes"}]),
            "expected one of same_node",
        ),
        (lambda d: d["nodes"][0].update(memory_mb=1024), "guests need"),
        (lambda d: d["sim"].update(time_scale=0), "expected a positive number"),
    ],
)
def test_invalid_descriptions(seed_doc, change, expected):
    doc = copy.deepcopy(seed_doc)
    change(doc)
    assert expected in _problems(doc)


def test_all_problems_reported_at_once(seed_doc):
    seed_doc["cluster"] = "_x"
    seed_doc["packages"][0]["node"] = "nowhere"
    problems = _problems(seed_doc)
    assert "cluster" in problems and "nowhere" in problems


def test_not_a_mapping():
    assert "expected a mapping" in _problems(["a"])


@pytest.mark.parametrize(("nodes", "packages", "caps"), [(16, 300, 4), (3, 10, 0), (64, 5000, 4)])
def test_generator_builds_valid_clusters(nodes, packages, caps):
    st = config.build_state(generate.build(nodes, packages, caps, seed=7))
    assert len(st["nodes"]) == nodes and len(st["packages"]) == packages
    assert len(st["capacity_names"]) == caps
    running = sum(1 for p in st["packages"].values() if p["state"] == "running")
    assert running > packages * 0.8 if packages else True


def test_generator_is_deterministic():
    assert generate.build(4, 20, 2, seed=3) == generate.build(4, 20, 2, seed=3)
    assert generate.build(4, 20, 2, seed=3) != generate.build(4, 20, 2, seed=4)
