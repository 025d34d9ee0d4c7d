"""Serviceguard semantics on the state dict: capacity, admission, failover, detach/adopt."""

import pytest

import sgsim
from sgsim import config, model


@pytest.fixture
def st():
    return config.build_state(config.load_yaml(str(sgsim.example_path("seed"))))


def test_capacity_usage(st):
    usage = model.capacity_usage(st)
    assert usage["xyzo1"] == {"memory": 24.0, "cpu": 6.0}
    assert model.available(st, "xyzo2", usage) == {"memory": 12.0, "cpu": 6.0}


def test_start_refusals(st):
    slvm1, ora1, web1 = (st["packages"][p] for p in ("slvm1", "ora1", "web1"))
    model.halt_package(st, ora1)
    assert (
        model.start_refusal(st, ora1, "xyzo2")
        == "Node does not have enough available capacity for weight memory."
    )
    assert model.start_refusal(st, ora1, "xyzo3") == model.NOT_ELIGIBLE  # not in its node list
    assert model.start_refusal(st, ora1, "xyzo1") is None
    ora1["switching"]["xyzo1"] = False
    assert model.start_refusal(st, ora1, "xyzo1") == model.NOT_ELIGIBLE
    # a guest running elsewhere is never started twice
    assert model.start_refusal(st, slvm1, "xyzo2") == "Guest slvm1 is running on node xyzo1."
    model.halt_package(st, web1)
    st["nodes"]["xyzo2"]["status"] = "down"
    assert model.start_refusal(st, web1, "xyzo2") == model.NOT_ELIGIBLE


def test_halting_turns_autorun_off_and_stops_guest(st):
    pkg = st["packages"]["slvm1"]
    model.halt_package(st, pkg)
    assert pkg["autorun"] is False and pkg["state"] == "halted" and pkg["node"] is None
    assert st["guests"]["slvm1"]["runs_on"] is None
    assert model.owner(st, pkg) is None
    assert model.capacity_usage(st)["xyzo1"]["memory"] == 16.0


def test_detach_keeps_guest_and_capacity_then_adopt(st):
    pkg = st["packages"]["slvm1"]
    model.halt_package(st, pkg, detach=True)
    assert pkg["state"] == "detached" and st["guests"]["slvm1"]["runs_on"] == "xyzo1"
    assert model.owner(st, pkg) == "xyzo1"
    assert model.capacity_usage(st)["xyzo1"]["memory"] == 24.0
    # the guest moves (online migration) while detached: capacity follows the guest
    st["guests"]["slvm1"]["runs_on"] = "xyzo2"
    assert model.owner(st, pkg) == "xyzo2"
    assert model.start_refusal(st, pkg, "xyzo1") == "Guest slvm1 is running on node xyzo2."
    assert model.start_refusal(st, pkg, "xyzo2") is None
    model.start_package(st, pkg, "xyzo2")
    assert pkg["state"] == "running" and pkg["node"] == "xyzo2"


def test_node_down_fails_over_in_node_list_order(st):
    moved = model.node_down(st, "xyzo1")
    # slvm1 (priority 20) first: next node xyzo2 has room; ora1 (16) then fits nowhere
    assert moved == {"slvm1": "xyzo2", "ora1": None}
    assert st["packages"]["slvm1"]["node"] == "xyzo2"
    assert st["guests"]["slvm1"]["runs_on"] == "xyzo2"
    assert st["packages"]["ora1"]["state"] == "halted"
    assert st["guests"]["ora1"]["runs_on"] is None
    assert st["nodes"]["xyzo1"]["status"] == "down"
    usage = model.capacity_usage(st)
    for node in st["nodes"]:
        for cap, value in st["nodes"][node]["capacities"].items():
            assert usage[node][cap] <= value


def test_node_down_halts_packages_without_autorun(st):
    st["packages"]["slvm1"]["autorun"] = False
    assert model.node_down(st, "xyzo1")["slvm1"] is None
    assert st["packages"]["slvm1"]["state"] == "halted"


def test_node_down_skips_nodes_with_switching_disabled(st):
    st["packages"]["slvm1"]["switching"]["xyzo2"] = False
    st["packages"]["sap1"]["state"] = "halted"
    st["packages"]["sap1"]["node"] = None
    st["guests"]["sap1"]["runs_on"] = None
    assert model.node_down(st, "xyzo1")["slvm1"] == "xyzo3"


def test_node_down_aborts_migrations(st):
    st["migrations"]["slvm1"] = {"guest": "slvm1", "source": "xyzo1", "target": "xyzo2", "package": "slvm1"}
    assert model.capacity_usage(st)["xyzo2"]["memory"] == 12.0  # reserved by the in-flight move
    model.node_down(st, "xyzo2")
    assert st["migrations"] == {}
    assert st["guests"]["slvm1"]["runs_on"] == "xyzo1"


def test_dependencies():
    doc = {
        "cluster": "dep",
        "nodes": [{"name": "n1"}, {"name": "n2"}],
        "packages": [
            {"name": "db", "node_list": ["n1", "n2"], "node": "n1"},
            {
                "name": "app",
                "node_list": ["n1", "n2"],
                "dependencies": [{"package": "db", "location": "same_node"}],
            },
            {
                "name": "rep",
                "node_list": ["n1", "n2"],
                "dependencies": [{"name": "away", "package": "db", "location": "different_node"}],
            },
        ],
    }
    st = config.build_state(doc)
    app, rep = st["packages"]["app"], st["packages"]["rep"]
    assert model.start_refusal(st, app, "n2") == "Dependency db_dep is not met."
    assert model.start_refusal(st, app, "n1") is None
    assert model.start_refusal(st, rep, "n1") == "Dependency away is not met."
    assert model.first_eligible(st, rep) == "n2"


def test_priority_order(st):
    assert model.priority_order(st, ["web1", "ora1", "slvm1", "sap1"]) == ["slvm1", "ora1", "sap1", "web1"]


def test_memory_admission(st):
    st["nodes"]["xyzo2"]["memory_mb"] = 4096
    pkg = st["packages"]["slvm1"]
    model.halt_package(st, pkg)
    assert model.start_refusal(st, pkg, "xyzo2") == "Node does not have enough free memory for guest slvm1."


def test_guest_views(st):
    guest = st["guests"]["slvm1"]
    assert model.guest_state_on(st, guest, "xyzo1") == "On (OS)"
    assert model.guest_state_on(st, guest, "xyzo2") == "Off"
    guest["not_runnable"].append("xyzo2")
    assert model.guest_state_on(st, guest, "xyzo2") == "Off (NR)"
    assert [g["name"] for g in model.guests_on_host(st, "xyzo3")] == ["slvm1", "web1", "sap1"]
