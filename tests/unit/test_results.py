"""The typed results at the Salt edge (``vpkg_results``): the shapes of docs/data.md, each with its kind."""

import json
import pathlib
import re

import pytest
import vpkg_plan
import vpkg_results
from plan_helpers import cluster, node, package

ROOT = pathlib.Path(__file__).resolve().parents[2]

PASS = {"name": "package", "ok": True, "reason": "package g1 exists"}
FAIL = {"name": "capacity:memory", "ok": False, "reason": "n2 has 2 of memory available"}


def test_a_verdict_passes_only_when_every_check_passes():
    ok = vpkg_results.Verdict("g1", "n1", "n2", [PASS], guest="g1").to_dict()
    assert ok == {
        "kind": "check",
        "result": True,
        "package": "g1",
        "guest": "g1",
        "source": "n1",
        "target": "n2",
        "checks": [PASS],
        "comment": "Package g1 can move from n1 to n2.",
    }
    refused = vpkg_results.Verdict("g1", "n1", "n2", [PASS, FAIL]).to_dict()
    assert refused["result"] is False
    assert refused["comment"] == "capacity:memory: n2 has 2 of memory available"
    assert vpkg_results.Verdict("g1", None, None, []).to_dict()["result"] is False  # nothing checked


def test_a_test_move_is_a_verdict_of_kind_move_that_would_run():
    would = vpkg_results.Verdict("g1", "n1", "n2", [PASS], kind="move", test=True).to_dict()
    assert (would["kind"], would["result"], would["test"]) == ("move", None, True)
    assert would["comment"] == "Package g1 would move online from n1 to n2."
    assert vpkg_results.Verdict("g1", "n1", "n2", [FAIL], kind="move", test=True).to_dict()["result"] is False


def test_a_move_result_always_has_every_key_and_checks_only_when_refused_on_the_master():
    ran = vpkg_results.MoveResult(True, "g1", "n1", "n2", "moved", steps=[], seconds=1.5).to_dict()
    assert list(ran) == [
        "kind",
        "result",
        "package",
        "source",
        "target",
        "comment",
        "steps",
        "guest",
        "switching",
        "location",
        "unprotected_seconds",
        "seconds",
    ]
    assert ran["kind"] == "move"
    refused = vpkg_results.MoveResult(False, "g1", "n1", "n2", "refused", checks=[FAIL]).to_dict()
    assert refused["checks"] == [FAIL] and refused["steps"] == []


def test_a_step_rounds_its_time_and_carries_checks_only_when_it_has_them():
    assert vpkg_results.Step("migrate", True, 1.23456, "ok").to_dict() == {
        "step": "migrate",
        "result": True,
        "seconds": 1.235,
        "comment": "ok",
    }
    assert vpkg_results.Step("preflight", False, 0.1, "", [FAIL]).to_dict()["checks"] == [FAIL]


def test_a_refusal_names_its_kind_and_what_it_was_about():
    assert vpkg_results.refusal("evacuate", "busy", operation="evacuate", node="n1") == {
        "kind": "evacuate",
        "result": False,
        "operation": "evacuate",
        "node": "n1",
        "comment": "busy",
    }


def test_planned_moves_are_plain_dicts_with_with_only_for_a_same_node_group():
    dep = {"name": "d", "package": "db", "condition": "up", "location": "same_node"}
    c = cluster(
        [node("n1", {"memory": 10}), node("n2", {"memory": 10})],
        [
            package("db", "n1", ["n1", "n2"], {"memory": 2}),
            package("app", "n1", ["n1", "n2"], {"memory": 1}, dependencies=[dep]),
            package("solo", "n1", ["n1", "n2"], {"memory": 1}),
        ],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    json.dumps(result)  # serialisable: what Salt returns
    by_name = {m["package"]: m for m in result["moves"]}
    assert by_name["solo"] == {"package": "solo", "source": "n1", "target": "n2", "weights": {"memory": 1.0}}
    assert by_name["app"]["with"] == ["db"] and by_name["db"]["with"] == ["app"]


def test_an_outcome_has_every_key_even_before_its_move_started():
    outcome = vpkg_results.Outcome("g1", "n1", "n2", False, "not started: cancelled", None).to_dict()
    assert outcome == {
        "package": "g1",
        "source": "n1",
        "target": "n2",
        "result": False,
        "comment": "not started: cancelled",
        "seconds": None,
        "unprotected_seconds": None,
        "switching_after": None,
    }


@pytest.mark.parametrize("kind", vpkg_results.KINDS)
def test_every_runner_function_is_a_kind_and_the_data_guide_names_it(kind):
    runner = (ROOT / "_runners" / "vpkg.py").read_text()
    assert re.search(rf"^def {kind}\(", runner, re.M), kind
    guide = (ROOT / "docs" / "data.md").read_text()
    assert re.search(rf"^\| `{kind}` \|", guide, re.M), f"docs/data.md lacks the kind {kind}"
