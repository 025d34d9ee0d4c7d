"""The Serviceguard beacon's change detection, on data."""

import importlib.util
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "sg_beacon", pathlib.Path(__file__).resolve().parents[2] / "_beacons" / "serviceguard.py"
)
beacon = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(beacon)


def snap(nodes, packages):
    return {
        "nodes": {n: {"status": s, "state": "running" if s == "up" else "halted"} for n, s in nodes.items()},
        "packages": {
            p: {"status": "up" if n else "down", "state": st, "node": n} for p, (n, st) in packages.items()
        },
    }


def test_no_change_no_event():
    s = snap({"a": "up", "b": "up"}, {"p": ("a", "running")})
    assert beacon.changes(s, s) == []


def test_node_leaving_and_failover():
    before = snap({"a": "up", "b": "up"}, {"p": ("a", "running"), "q": ("a", "running")})
    after = snap({"a": "down", "b": "up"}, {"p": ("b", "running"), "q": (None, "halted")})
    events = {e["tag"]: e for e in beacon.changes(before, after)}
    assert events["node/a"]["new"]["status"] == "down"
    assert events["package/p"]["change"] == "failed_over"
    assert events["package/q"]["change"] == "halted"
    assert set(events) == {"node/a", "package/p", "package/q"}


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        (("a", "running"), ("b", "running"), "moved"),
        ((None, "halted"), ("a", "running"), "started"),
        (("a", "running"), ("a", "detached"), "changed"),
    ],
)
def test_package_changes(old, new, change):
    nodes = {"a": "up", "b": "up"}
    (event,) = beacon.changes(snap(nodes, {"p": old}), snap(nodes, {"p": new}))
    assert event["change"] == change and event["old"]["node"] == old[0] and event["new"]["node"] == new[0]


def test_new_package_is_not_a_change():
    nodes = {"a": "up"}
    assert beacon.changes(snap(nodes, {}), snap(nodes, {"p": ("a", "running")})) == []


@pytest.mark.parametrize(
    ("config", "ok"),
    [([{"interval": 5}], True), ({"interval": 5}, False), ([5], False), ([{"bogus": 1}], False), ([], True)],
)
def test_validate(config, ok):
    assert beacon.validate(config)[0] is ok
