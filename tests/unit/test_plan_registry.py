"""The planner's strategies come from one registry: the planner, the runner's arguments and the docs."""

import pathlib
import re

import pytest
import vpkg_operate
import vpkg_plan
from plan_helpers import cluster, node, package

ROOT = pathlib.Path(__file__).resolve().parents[2]


def small():
    return cluster(
        [node("n1", {"memory": 10}), node("n2", {"memory": 10}), node("n3", {"memory": 10})],
        [
            package("a", "n1", ["n1", "n2", "n3"], {"memory": 6}),
            package("b", "n1", ["n1", "n2"], {"memory": 3}),
            package("c", "n2", ["n2", "n3"], {"memory": 1}),
            package("h", None, ["n1", "n3"], {"memory": 1}),
        ],
    )


def test_the_registry_holds_the_documented_strategies():
    assert {name: s.goal for name, s in vpkg_plan.STRATEGIES.items()} == {
        "evacuate": "evacuate",
        "restore": "restore",
        "balanced": "rebalance",
        "minimal": "rebalance",
    }
    assert vpkg_plan.goals() == ["evacuate", "restore", "rebalance"]
    assert vpkg_plan.named("rebalance") == ["balanced", "minimal"]


def test_a_goal_finds_its_strategy_and_value():
    assert vpkg_plan.find({"evacuate": "n1"}) == (vpkg_plan.STRATEGIES["evacuate"], "n1")
    assert vpkg_plan.find({"restore": {"a": "n2"}}) == (vpkg_plan.STRATEGIES["restore"], {"a": "n2"})
    assert vpkg_plan.find({"rebalance": "minimal"}) == (vpkg_plan.STRATEGIES["minimal"], "minimal")


@pytest.mark.parametrize(
    ("goal", "text"),
    [
        ("evacuate n1", "goal must be one of {'evacuate': node}, {'restore': {package: node}}, "
         "{'rebalance': 'balanced' | 'minimal'}"),
        ({"teleport": "n1"}, "unknown goal 'teleport': use evacuate, restore, rebalance"),
        ({"rebalance": "random"}, "unknown rebalance strategy 'random': use 'balanced' or 'minimal'"),
        ({"rebalance": ["balanced"]}, "unknown rebalance strategy"),
        ({"evacuate": ["n1"]}, "no such node"),
    ],
)  # fmt: skip
def test_bad_goals_name_the_registered_forms(goal, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        vpkg_plan.plan(small(), goal)


def test_sources_are_the_nodes_whose_guests_the_goal_may_move():
    c = small()
    assert vpkg_plan.sources(c, {"evacuate": "n1"}) == {"n1"}
    # Where the recorded packages run now; one no longer in the cluster, one halted: no node.
    assert vpkg_plan.sources(c, {"restore": {"c": "n1", "gone": "n1", "h": "n3"}}) == {"n2"}
    assert vpkg_plan.sources(c, {"rebalance": "balanced"}) == {"n1", "n2"}


def test_a_strategy_added_to_the_registry_is_planned_and_accepted_by_the_runner(monkeypatch):
    def first_to_last(state, _value, _budget):
        """Move the first movable guest of the first node to the last node, if it may go there."""
        here, there = state.up[0], state.up[-1]
        name = next(p for p in state.on[here] if state.why_not_movable(p) is None)
        if state.unit_problem([name], there) is None:
            state.apply([name], there)
        return {"note": "one move"}

    strategy = vpkg_plan.Strategy("rebalance", None, first_to_last, lambda c, _v: set(c["nodes"]))
    monkeypatch.setitem(vpkg_plan.STRATEGIES, "first-to-last", strategy)
    result = vpkg_plan.plan(small(), {"rebalance": "first-to-last"})
    assert [(m["package"], m["source"], m["target"]) for m in result["moves"]] == [("a", "n1", "n3")]
    assert result["note"] == "one move"
    assert vpkg_operate.request(rebalance="first-to-last") == ("rebalance", "first-to-last")
    with pytest.raises(ValueError, match=re.escape("rebalance=balanced|minimal|first-to-last")):
        vpkg_operate.request()


def test_the_runner_request_takes_exactly_one_goal():
    assert vpkg_operate.request(evacuate="n1") == ("evacuate", "n1")
    assert vpkg_operate.request(restore="n1") == ("restore", "n1")
    for bad in ({}, {"evacuate": "n1", "rebalance": "balanced"}):
        with pytest.raises(ValueError, match="give exactly one of"):
            vpkg_operate.request(**bad)
    with pytest.raises(ValueError, match="rebalance must be 'balanced' or 'minimal', not 'random'"):
        vpkg_operate.request(rebalance="random")


def test_the_planner_guide_lists_every_registered_goal():
    guide = (ROOT / "docs" / "planner.md").read_text()
    rows = set(re.findall(r"^\| `(\{[^`]*\})` \|", guide, re.M))
    expected = set()
    for name, strategy in vpkg_plan.STRATEGIES.items():
        value = strategy.argument or f'"{name}"'
        expected.add(f'{{"{strategy.goal}": {value}}}')
    assert rows == expected
