"""The capacity model and the single-move preflight (``_utils/vpkg_capacity.py``)."""

import pytest
import vpkg_capacity as cap
from plan_helpers import cluster, node, package


def demo():
    return cluster(
        [node("n1", {"memory": 10, "cpu": 8}), node("n2", {"memory": 10, "cpu": 8}), node("n3")],
        [
            package("g1", "n1", ["n1", "n2", "n3"], {"memory": 4, "cpu": 2}),
            package("g2", "n2", ["n2", "n1"], {"memory": 7, "cpu": 2}),
            package("g3", "n1", ["n1", "n2"], {"memory": 3}),
        ],
    )


def failed(result):
    return {c["name"] for c in result["checks"] if not c["ok"]}


# -- the capacity model ---------------------------------------------------------------------------
def test_weight_falls_back_to_cluster_default_then_zero_and_package_limit_to_one():
    c = cluster([node("n1", {"memory": 10, "package_limit": 3})], [], default_weights={"memory": 2.5})
    pkg = package("g", "n1", ["n1"], {})
    assert cap.weight(c, pkg, "memory") == 2.5
    assert cap.weight(c, pkg, "package_limit") == 1.0
    assert cap.weight(c, pkg, "cpu") == 0.0
    pkg["weights"]["package_limit"] = 0.5
    assert cap.weight(c, pkg, "package_limit") == 0.5


def test_used_counts_running_detached_starting_halting_but_not_halted_or_failed():
    states = ["running", "detached", "starting", "halting", "halted", "failed"]
    pkgs = [package(f"g{i}", "n1", ["n1"], {"memory": 2**i}, state=s) for i, s in enumerate(states)]
    c = cluster([node("n1", {"memory": 100})], pkgs)
    assert cap.used(c)["n1"]["memory"] == 1 + 2 + 4 + 8
    assert cap.available(c, "n1")["memory"] == 100 - 15


def test_a_move_in_flight_holds_its_weights_on_its_target_until_counted_there():
    c = demo()
    moves = [{"package": "g3", "target": "n2", "weights": {"memory": 3}}]
    # Still running on its source: counted on n1, so the target must hold its weight.
    assert cap.held(c, moves) == {"n2": {"memory": 3.0}}
    # Running on the target: Serviceguard counts it there, the hold would count it twice.
    c["packages"]["g3"]["node"] = "n2"
    assert cap.held(c, moves) == {}
    # On the target but not counted (halted there): the hold stands.
    c["packages"]["g3"]["state"] = "halted"
    assert cap.held(c, moves) == {"n2": {"memory": 3.0}}
    # A mapping is already what held() computes; the move checked is its own need, not a hold.
    assert cap.held(c, {"n1": {"memory": 1}}) == {"n1": {"memory": 1}}
    assert cap.held(c, moves, exclude="g3") == {}


def test_available_subtracts_reserved_and_uncapacitated_node_has_nothing_to_count():
    c = demo()
    assert cap.available(c, "n1") == {"memory": 3.0, "cpu": 6.0}
    assert cap.available(c, "n1", reserved={"n1": {"memory": 2}}) == {"memory": 1.0, "cpu": 6.0}
    assert cap.available(c, "n3") == {}
    assert cap.headroom({}, {}, {"memory": 99}) == float("inf")


def test_bad_cluster_data_is_a_clear_value_error():
    with pytest.raises(ValueError, match="no 'nodes'"):
        cap.preflight({"packages": {}}, "g", "n")
    c = demo()
    c["packages"]["g1"]["weights"]["memory"] = "lots"
    with pytest.raises(ValueError, match="g1 weight memory is not a number"):
        cap.preflight(c, "g1", "n2")
    with pytest.raises(ValueError, match="must be a dict"):
        cap.preflight(["not", "a", "cluster"], "g", "n")
    c = demo()
    c["default_weights"] = {"memory": "some"}
    with pytest.raises(ValueError, match="default weight memory is not a number"):
        cap.preflight(c, "g1", "n2")
    c = demo()
    c["nodes"]["n2"]["capacities"]["cpu"]["capacity"] = None
    with pytest.raises(ValueError, match="node n2 capacity cpu is not a number"):
        cap.preflight(c, "g1", "n2")
    c = demo()
    c["packages"]["g3"]["node_list"] = "n1 n2"
    with pytest.raises(ValueError, match="package g3: node_list must be a list"):
        cap.preflight(c, "g1", "n2")


# -- preflight, one check at a time -------------------------------------------------------------
def test_a_move_that_fits_passes_every_check_with_a_reason():
    result = cap.preflight(demo(), "g1", "n3")
    assert result["ok"] and result["source"] == "n1" and result["target"] == "n3"
    names = [c["name"] for c in result["checks"]]
    assert names == [
        "package",
        "guest",
        "running",
        "target",
        "node_list",
        "switching",
        "capacity",
        "dependencies",
    ]
    assert all(c["reason"] for c in result["checks"])


def test_unknown_package_fails_every_check_without_raising():
    result = cap.preflight(demo(), "nope", "n2")
    assert not result["ok"]
    assert failed(result) == {c["name"] for c in result["checks"]}
    assert "no package nope" in result["checks"][0]["reason"]


def test_not_a_guest_package():
    c = demo()
    c["packages"]["g1"]["vm_name"] = None
    assert failed(cap.preflight(c, "g1", "n3")) == {"guest"}


def test_not_running_and_wrong_source():
    c = demo()
    c["packages"]["g1"]["state"] = "detached"
    assert "running" in failed(cap.preflight(c, "g1", "n3"))
    c["packages"]["g1"]["state"] = None
    running = next(x for x in cap.preflight(c, "g1", "n3")["checks"] if x["name"] == "running")
    assert running["reason"] == "g1 is in an unknown state, not running"
    result = cap.preflight(demo(), "g1", "n3", source="n2")
    assert failed(result) == {"running"}
    assert "runs on n1, not on n2" in next(c["reason"] for c in result["checks"] if c["name"] == "running")


@pytest.mark.parametrize(
    ("change", "target", "expected"),
    [
        (lambda c: None, "n9", {"target", "node_list", "switching", "capacity"}),
        (lambda c: None, "n1", {"target", "capacity:memory"}),
        (lambda c: c["nodes"]["n3"].update(status="down", state="unknown"), "n3", {"target"}),
        (lambda c: c["nodes"]["n3"].update(state="halted"), "n3", {"target"}),
    ],
)
def test_target_must_exist_differ_from_source_and_be_up_and_running(change, target, expected):
    c = demo()
    change(c)
    assert expected <= failed(cap.preflight(c, "g1", target))


def test_target_outside_the_node_list_or_with_switching_off():
    c = demo()
    assert failed(cap.preflight(c, "g2", "n3")) == {"node_list", "switching"}
    c["packages"]["g1"]["switching"]["n3"] = False
    result = cap.preflight(c, "g1", "n3")
    assert failed(result) == {"switching"}
    assert result["checks"][5]["reason"] == "node switching of g1 is disabled on n3 (cmmodpkg -e -n n3 g1)"
    del c["packages"]["g1"]["switching"]["n3"]
    unknown = cap.preflight(c, "g1", "n3")["checks"][5]["reason"]
    assert unknown == "node switching of g1 is not known on n3 (cmmodpkg -e -n n3 g1)"
    c["packages"]["g2"]["node_list"] = None
    assert cap.preflight(c, "g2", "n3")["checks"][4]["reason"] == "n3 is not in g2's node list []"


@pytest.mark.parametrize(("package", "target"), [("g2", "n3"), ("g1", "n9")])
def test_a_target_outside_the_node_list_is_not_told_a_switching_command(package, target):
    # cmmodpkg -e -n only works for a node of the package's node list: suggesting it there misleads.
    result = cap.preflight(demo(), package, target)
    switching = next(c for c in result["checks"] if c["name"] == "switching")
    assert switching["ok"] is False
    assert "cmmodpkg" not in switching["reason"]
    assert switching["reason"] == f"not checked: {target} is not in {package}'s node list"
    # In the node list, with switching not known or disabled, the command that enables it is named.
    c = demo()
    del c["packages"]["g1"]["switching"]["n3"]
    unknown = next(x for x in cap.preflight(c, "g1", "n3")["checks"] if x["name"] == "switching")
    assert unknown["reason"].endswith("(cmmodpkg -e -n n3 g1)")


def test_each_capacity_name_is_checked_and_reserved_capacity_counts():
    c = demo()
    # n2: memory 10 - 7 = 3 available, g3 weighs 3: exact fit passes.
    assert cap.preflight(c, "g3", "n2")["ok"]
    assert failed(cap.preflight(c, "g3", "n2", reserved={"n2": {"memory": 0.5}})) == {"capacity:memory"}
    # g1 needs 4 memory on n2: refused with both figures in the reason.
    result = cap.preflight(c, "g1", "n2")
    assert failed(result) == {"capacity:memory"}
    reason = next(x["reason"] for x in result["checks"] if x["name"] == "capacity:memory")
    assert "3 of memory available" in reason and "weight 4" in reason
    c["nodes"]["n2"]["capacities"]["cpu"]["capacity"] = 3.0
    assert cap.preflight(c, "g3", "n2")["ok"]  # g3 weighs cpu 0: 2 used + 0 <= 3
    c["packages"]["g3"]["weights"]["cpu"] = 1.5  # 2 + 1.5 > 3
    assert failed(cap.preflight(c, "g3", "n2")) == {"capacity:cpu"}


def test_default_weight_applies_to_a_package_without_the_weight():
    c = demo()
    c["default_weights"] = {"cpu": 7}
    del c["packages"]["g3"]["weights"]
    # n2: cpu 8, g2 uses 2 explicitly; g3 weighs memory 0 and cpu 7 by default -> 2 + 7 > 8.
    assert failed(cap.preflight(c, "g3", "n2")) == {"capacity:cpu"}


def test_package_limit_defaults_to_one():
    c = cluster(
        [node("n1", {"package_limit": 2}), node("n2", {"package_limit": 1})],
        [package("a", "n1", ["n1", "n2"]), package("b", "n2", ["n2", "n1"])],
    )
    assert failed(cap.preflight(c, "a", "n2")) == {"capacity:package_limit"}
    assert cap.preflight(c, "b", "n1")["ok"]


def test_same_node_and_different_node_dependencies_at_the_target():
    c = demo()
    c["packages"]["g1"]["dependencies"] = [
        {"name": "d", "package": "g2", "condition": "up", "location": "same_node"}
    ]
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 20.0
    assert cap.preflight(c, "g1", "n2")["ok"]
    assert failed(cap.preflight(c, "g1", "n3")) == {"dependencies"}
    c["packages"]["g1"]["dependencies"][0]["location"] = "different_node"
    assert failed(cap.preflight(c, "g1", "n2")) == {"dependencies"}
    assert cap.preflight(c, "g1", "n3")["ok"]


def test_a_package_others_need_elsewhere_cannot_join_them():
    c = demo()
    c["packages"]["g2"]["dependencies"] = [
        {"name": "d", "package": "g1", "condition": "up", "location": "different_node"}
    ]
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 20.0
    result = cap.preflight(c, "g1", "n2")
    assert failed(result) == {"dependencies"}
    assert result["checks"][-1]["reason"] == "g2 on n2 needs g1 up on a different node"
    assert cap.preflight(c, "g1", "n3")["ok"]


def test_a_package_others_need_on_their_node_cannot_leave_alone():
    c = demo()
    c["packages"]["g3"]["dependencies"] = [
        {"name": "d", "package": "g1", "condition": "up", "location": "same_node"}
    ]
    result = cap.preflight(c, "g1", "n3")
    assert failed(result) == {"dependencies"}
    assert "move them together" in result["checks"][-1]["reason"]
    # Moving with g3, the pair stays together (g3's own node list is g3's own preflight's business).
    assert cap.preflight(c, "g1", "n3", moving_with=["g3"])["ok"]
    together = cap.preflight(c, "g1", "n2", moving_with=["g3"])
    assert failed(together) == {"capacity:memory"}  # 4 + 3 > 3 available: the group's weight counts
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 12.0  # 5 available: g1 alone would fit
    assert failed(cap.preflight(c, "g1", "n2", moving_with=["g3"])) == {"capacity:memory"}


def test_down_same_node_dependencies_in_both_directions():
    c = demo()
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 20.0
    # g1 needs g2 down on its node: g2 runs on n2, so n2 is refused and n3 is not.
    c["packages"]["g1"]["dependencies"] = [
        {"name": "d", "package": "g2", "condition": "down", "location": "same_node"}
    ]
    result = cap.preflight(c, "g1", "n2")
    assert result["checks"][-1] == {
        "name": "dependencies",
        "ok": False,
        "reason": "g1 needs g2 down on its node; g2 runs on n2",
    }
    assert cap.preflight(c, "g1", "n3")["ok"]
    # The other direction: g2 on n2 needs g1 down on its node.
    c["packages"]["g1"]["dependencies"] = []
    c["packages"]["g2"]["dependencies"] = [
        {"name": "d", "package": "g1", "condition": "down", "location": "same_node"}
    ]
    result = cap.preflight(c, "g1", "n2")
    assert result["checks"][-1]["reason"] == "g2 on n2 needs g1 down on its node"
    assert cap.preflight(c, "g1", "n3")["ok"]


def test_a_dependency_without_a_condition_means_up():
    c = demo()
    c["packages"]["g1"]["dependencies"] = [{"name": "d", "package": "g2", "location": "same_node"}]
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 20.0
    assert cap.preflight(c, "g1", "n2")["ok"]
    assert failed(cap.preflight(c, "g1", "n3")) == {"dependencies"}


def test_a_companion_already_on_the_target_is_in_its_load_not_added_again():
    c = demo()
    c["packages"]["g3"]["node"] = "n2"  # n2: 7 + 3 = 10 of 10 memory used
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 14.0  # 4 left: g1 fits alone
    assert cap.preflight(c, "g1", "n2", moving_with=["g3"])["ok"]
    c["nodes"]["n2"]["capacities"]["memory"]["capacity"] = 13.0
    assert failed(cap.preflight(c, "g1", "n2", moving_with=["g3"])) == {"capacity:memory"}


def test_headroom_is_the_smallest_share_left_a_missing_need_counts_zero():
    caps = {"memory": 10.0, "cpu": 0.5}
    assert cap.headroom(caps, {"memory": 6.0, "cpu": 0.5}, {"memory": 2.0}) == pytest.approx(0.4)
    assert cap.headroom(caps, {"memory": 6.0, "cpu": 0.25}, {"memory": 2.0}) == pytest.approx(0.4)
    assert cap.headroom(caps, {"memory": 6.0, "cpu": 0.1}, {"memory": 2.0}) == pytest.approx(0.2)
    assert cap.headroom({"memory": 0.0}, {"memory": 0.0}, {}) == float("-inf")


def test_no_checks_is_no_pass():
    assert not cap.checks_ok([])
    assert cap.checks_ok(cap.preflight(demo(), "g1", "n3")["checks"])


# -- choose_target ---------------------------------------------------------------------------------
def test_choose_target_takes_the_most_available_node():
    c = cluster(
        [node("a", {"memory": 10}), node("b", {"memory": 10}), node("c", {"memory": 20})],
        [
            package("g", "a", ["a", "b", "c"], {"memory": 2}),
            package("x", "b", ["b"], {"memory": 1}),
            package("y", "c", ["c"], {"memory": 10}),
        ],
    )
    # b keeps 7/10 free after the move, c 8/20: relative headroom picks b.
    assert cap.choose_target(c, "g") == ("b", {})
    c["packages"]["x"]["weights"]["memory"] = 3.0
    # now b keeps 5/10 and c 8/20 = 0.4: still b; make them equal and node-list order decides.
    c["nodes"]["c"]["capacities"]["memory"]["capacity"] = 24.0  # c keeps 12/24 = 0.5 = b's 5/10
    assert cap.choose_target(c, "g")[0] == "b"
    c["packages"]["g"]["node_list"] = ["a", "c", "b"]
    assert cap.choose_target(c, "g")[0] == "c"


def test_choose_target_none_with_reasons_per_node():
    c = demo()
    c["packages"]["g2"]["weights"]["memory"] = 9.0
    target, reasons = cap.choose_target(c, "g2")
    assert target is None
    assert set(reasons) == {"n1", "n3"}
    assert "not in g2's node list" in reasons["n3"]
    assert "does not cover the weight 9" in reasons["n1"]
