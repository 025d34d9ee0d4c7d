"""The ``vpkg`` outputter, loaded the way Salt loads it (``outputter_dirs``; the drawings come from
our utils, which tests/conftest.py puts on sys.path; test_output_kinds.py loads it without them).

Golden texts: the runner's returns were recorded once from a lab on the demo cluster
(``tests/unit/data/runner_*.json``: ``salt-run ... --out=json``; the simulator's command folder in
one failure message was replaced by ``/opt/hpvm/bin``; the ``kind`` every return now carries was
added by hand) and their plain rendering is kept in ``tests/unit/data/golden_*.txt``. After an
intended change of the drawing, rewrite them with ``VPKG_REGOLD=1 pytest tests/unit/test_output.py``
and review the diff.
"""

import copy
import json
import os
import pathlib
import re

import pytest
import salt.config
import salt.loader

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "data"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _outputters(tmp_path, color):
    opts = copy.deepcopy(salt.config.DEFAULT_MINION_OPTS)
    opts.update(
        {
            "outputter_dirs": [str(ROOT / "_output")],
            "extension_modules": str(tmp_path / "extmods"),
            "cachedir": str(tmp_path / "cache"),
            "color": color,
        }
    )
    return salt.loader.outputters(opts)


@pytest.fixture
def plain(tmp_path):
    return _outputters(tmp_path, False)


@pytest.fixture
def coloured(tmp_path):
    return _outputters(tmp_path, True)


def _data(name):
    return json.loads((DATA / name).read_text())


GOLDEN = [
    ("runner_status_demo.json", "golden_status_demo.txt"),
    ("runner_evacuate_vmhost3_test.json", "golden_plan_evacuate_vmhost3.txt"),
    ("runner_move_app1.json", "golden_move_app1.txt"),
    ("runner_move_app1_fails.json", "golden_move_app1_fails.txt"),
    ("runner_move_db1_refused.json", "golden_move_db1_refused.txt"),
    ("runner_move_app1_test.json", "golden_move_app1_test.txt"),
    ("runner_evacuate_vmhost2.json", "golden_evacuate_vmhost2.txt"),
]


@pytest.mark.parametrize(("recorded", "golden"), GOLDEN)
def test_plain_rendering_matches_the_golden_text(plain, recorded, golden):
    text = plain["vpkg"](_data(recorded))
    path = DATA / golden
    if os.environ.get("VPKG_REGOLD"):
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text()
    assert not ANSI.search(text)


def test_status_shows_every_node_its_capacity_bars_and_guests(plain):
    status = _data("runner_status_demo.json")
    text = plain["vpkg"](status)
    for name, node in status["nodes"].items():
        block = text.split(f"\n{name}  ", 1)[1].split("\n\n", 1)[0]
        for cap, figures in node["capacities"].items():
            line = next(ln for ln in block.splitlines() if ln.strip().startswith(cap))
            assert f"{figures['used']:g} / {figures['capacity']:g}" in line
        for package, pkg in status["packages"].items():
            assert (f"\n  {package} " in block) == (pkg["node"] == name)


def test_status_sets_apart_halted_and_unowned_packages_and_flags_switching(plain):
    status = _data("runner_status_demo.json")
    status["packages"]["app3"].update(state="halted", status="down", node=None, autorun=False)
    status["packages"]["web2"].update(state="failed", status="down", node=None)
    status["packages"]["app2"]["autorun"] = False
    status["packages"]["web1"]["switching"]["vmhost1"] = False
    status["nodes"]["vmhost2"].update(status="down", state="unknown")
    status["in_flight"] = [
        {"package": "app1", "source": "vmhost1", "target": "vmhost3", "weights": {"memory": 4.0}}
    ]
    text = plain["vpkg"](status)
    halted = text.split("\nhalted\n", 1)[1].split("\n\n", 1)[0]
    assert "app3" in halted and "node list vmhost2, vmhost1" in halted and "switching off" in halted
    elsewhere = text.split("\nnot running on any node\n", 1)[1].split("\n\n", 1)[0]
    assert "web2" in elsewhere and "failed" in elsewhere
    assert "vmhost2  down  unknown" in text
    app2 = next(ln for ln in text.splitlines() if ln.startswith("  app2 "))
    assert "switching off" in app2
    web1 = next(ln for ln in text.splitlines() if ln.startswith("  web1 "))
    assert "node switching off on vmhost1" in web1
    assert "+4 app1 moving in" in text
    assert "app1  vmhost1 -> vmhost3" in text.split("moves in flight", 1)[1]
    assert text.rstrip().endswith("4 of 6 packages running, 1 halted, 1 elsewhere")


def test_an_overbooked_capacity_is_drawn_over_full(plain):
    status = _data("runner_status_demo.json")
    status["nodes"]["vmhost1"]["capacities"]["memory"].update(used=40.0, available=-8.0)
    line = next(
        ln for ln in plain["vpkg"](status).splitlines() if ln.startswith("  memory") and "40 / 32" in ln
    )
    assert "[" + "!" * 20 + "]" in line


def test_colour_follows_the_color_option(plain, coloured):
    status = _data("runner_status_demo.json")
    text = coloured["vpkg"](status)
    assert ANSI.search(text)
    assert ANSI.sub("", text) == plain["vpkg"](status)


def test_progress_event_is_one_line_the_message(plain):
    event = {"suffix": "progress", "event": {"message": "app1: Copy 25%", "percent": 25, "_stamp": "x"}}
    assert plain["vpkg"](event) == "app1: Copy 25%"


def test_what_it_does_not_know_goes_to_nested(plain):
    for data in ({"minion": {"some": "thing"}}, ["a", "b"], "text", {"suffix": "ret", "event": {}}):
        assert plain["vpkg"](data) == plain["nested"](data)


def test_a_plan_lists_moves_in_order_with_target_capacity_before_and_after(plain):
    plan = _data("runner_evacuate_vmhost3_test.json")
    lines = plain["vpkg"](plan).splitlines()
    numbered = [ln for ln in lines if re.match(r"\s+\d+\. ", ln)]
    assert [ln.split()[1] for ln in numbered] == [m["package"] for m in plan["moves"]]
    for node, caps in plan["capacity"].items():
        if node in {m["target"] for m in plan["moves"]}:
            for cap, fig in caps.items():
                before, after = fig["capacity"] - fig["before"], fig["capacity"] - fig["after"]
                assert any(
                    cap in ln and f"{before:g} ->" in ln and f"{after:g} / {fig['capacity']:g}" in ln
                    for ln in lines
                ), (node, cap)


def test_move_result_lists_each_step_with_its_outcome(plain):
    for name in ("runner_move_app1.json", "runner_move_app1_fails.json"):
        ret = _data(name)
        lines = plain["vpkg"](ret).splitlines()
        for step in ret["steps"]:
            line = next(ln for ln in lines if re.match(rf"\s+(ok|FAIL)\s+{step['step']}\s", ln))
            assert line.split()[0] == ("ok" if step["result"] else "FAIL")


def test_switching_left_off_is_shouted(plain):
    ret = _data("runner_move_app1_fails.json")
    ret["switching"]["after"]["autorun"] = False
    assert "package switching is LEFT OFF" in plain["vpkg"](ret)


def test_evacuation_lists_every_guest_with_its_outcome(plain):
    ret = _data("runner_evacuate_vmhost2.json")
    ret["moves"].append(
        {"package": "web9", "source": "vmhost2", "target": "vmhost1", "result": False, "comment": "boom"}
    )
    text = plain["vpkg"](ret)
    assert re.search(r"^  moved\s+app2\s+vmhost2 -> vmhost3", text, re.M)
    assert re.search(r"^  NOT moved\s+web9\s+vmhost2 -> vmhost1.*boom", text, re.M)
    assert re.search(r"^  not placed\s+app3\s+online migration is disabled", text, re.M)
    assert "left on vmhost2: app3" in text
    assert text.startswith("INCOMPLETE")


def test_one_sentence_results_and_audit_history(plain):
    cancelled = {"kind": "cancel", "result": True, "node": "vmhost1", "comment": "cancelled", "moved": ["a"]}
    assert plain["vpkg"](cancelled) == "OK  cancelled\n  moved: a"
    entries = [
        {
            "time": "2026-11-26T01:00:00.000Z",
            "user": "alice",
            "operation": "move",
            "package": "app1",
            "source": "vmhost1",
            "target": "vmhost3",
            "node": "vmhost1",
            "result": False,
            "duration": 1.5,
            "error": "refused",
        }
    ]
    line = plain["vpkg"]({"kind": "history", "entries": entries})
    assert line.split() == [
        "2026-11-26T01:00:00.000Z",
        "move",
        "app1",
        "vmhost1",
        "->",
        "vmhost3",
        "FAILED",
    ] + [
        "1.50",
        "s",
        "alice",
        "refused",
    ]


def test_the_samples_in_the_operator_guide_are_the_golden_texts():
    guide = (ROOT / "docs" / "operator.md").read_text()
    blocks = re.findall(r"^```text\n(.*?)^```", guide, re.S | re.M)
    for golden in (
        "golden_status_demo.txt",
        "golden_plan_evacuate_vmhost3.txt",
        "golden_move_app1.txt",
        "golden_evacuate_vmhost2.txt",
    ):
        assert (DATA / golden).read_text() in blocks, f"docs/operator.md lacks the current {golden}"


def test_the_history_sample_in_the_operator_guide_is_what_it_draws(plain):
    guide = (ROOT / "docs" / "operator.md").read_text()
    sample = next(b for b in re.findall(r"^```text\n(.*?)^```", guide, re.S | re.M) if " move " in b)
    entries = []
    for line in sample.splitlines():
        time_, operation, package, source, _, target, verdict, seconds, _, user = line.split(None, 9)
        entries.append(
            {
                "time": time_,
                "user": user,
                "operation": operation,
                "package": package,
                "source": source,
                "target": target,
                "node": source,
                "result": verdict == "ok",
                "duration": float(seconds),
                "error": None,
            }
        )
    assert plain["vpkg"]({"kind": "history", "entries": entries}) + "\n" == sample


def test_an_interrupted_operation_and_unknown_keys_are_shown(plain):
    status = _data("runner_status_demo.json")
    status["interrupted"] = [
        {
            "id": "20261126T013000-evacuate-vmhost3-abcdef",
            "operation": "evacuate",
            "node": "vmhost3",
            "started": 1795656600.0,
            "moves": {
                "app1": {"source": "vmhost3", "target": "vmhost2", "status": "moved", "comment": ""},
                "web1": {"source": "vmhost3", "target": "vmhost2", "status": "pending", "comment": ""},
            },
        }
    ]
    status["maintenance"] = {"vmhost2": "since 01:00"}
    text = plain["vpkg"](status)
    assert (
        "INTERRUPTED evacuate of vmhost3  (started 2026-11-26T01:30:00Z, id 20261126T013000-evacuate" in text
    )
    assert "resume it with: salt-run vpkg.evacuate vmhost3" in text
    assert re.search(r"^  web1  vmhost3 -> vmhost2  pending$", text, re.M)
    assert 'maintenance: {"vmhost2": "since 01:00"}' in text


def test_a_move_that_lost_its_answer_is_a_failure_not_a_refusal(plain):
    ret = {
        "kind": "move",
        "result": False,
        "package": "app1",
        "source": "vmhost1",
        "target": "vmhost3",
        "steps": [],
        "comment": "no answer from vmhost1; app1 shows on vmhost1; restore with: cmmodpkg -e app1",
    }
    ret["warnings"] = ["cannot append to the audit file /var/log/x"]
    text = plain["vpkg"](ret)
    assert "FAILED" in text.splitlines()[0] and "REFUSED" not in text
    assert text.splitlines()[-1] == 'warnings: ["cannot append to the audit file /var/log/x"]'
    assert "restore with: cmmodpkg -e app1" in text


def test_minion_returns_of_our_shapes_are_drawn_per_minion(plain):
    move = _data("runner_move_db1_refused.json")
    nothing = {"kind": "cancel", "result": True, "comment": "nothing to do"}
    text = plain["vpkg"]({"vmhost1": move, "vmhost2": nothing})
    lines = text.splitlines()
    assert lines[0] == "vmhost1:" and lines[1] == "    db1: vmhost1 -> vmhost2  REFUSED  (nothing changed)"
    assert lines[-2:] == ["vmhost2:", "    OK  nothing to do"]
    # Beside ours: a minion's error text as it came, anything else as nested draws it.
    text = plain["vpkg"]({"vmhost1": move, "vmhost2": "ERROR: boom", "vmhost3": {"x": 1}})
    assert text.splitlines()[-5:] == ["vmhost2:", "    ERROR: boom", "vmhost3:"] + [
        f"    {line}" for line in plain["nested"]({"x": 1}).splitlines()
    ]


def test_history_wrapped_in_entries(plain):
    assert plain["vpkg"]({"kind": "history", "entries": []}) == "no audit entries"
    unset = {"kind": "history", "entries": [], "comment": "no audit trail: set vpkg:audit_file"}
    assert plain["vpkg"](unset) == "no audit trail: set vpkg:audit_file"
