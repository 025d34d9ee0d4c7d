"""The ``vpkg`` outputter draws by ``kind``, the shape every vpkg return names (vpkg_results.KINDS).

Returns are built as the runner and the host build them (``vpkg_results``), or taken from the
recorded runner returns of test_output.py. The last tests load the outputter in a fresh Python,
the way the ``salt`` CLI does: without our utils on ``sys.path``.
"""

import copy
import json
import pathlib
import subprocess
import sys

import pytest
import salt.config
import salt.loader
import vpkg_capacity
import vpkg_render
import vpkg_results

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.fixture
def plain(tmp_path):
    opts = copy.deepcopy(salt.config.DEFAULT_MINION_OPTS)
    opts.update(
        {
            "outputter_dirs": [str(ROOT / "_output")],
            "extension_modules": str(tmp_path / "extmods"),
            "cachedir": str(tmp_path / "cache"),
            "color": False,
        }
    )
    return salt.loader.outputters(opts)


def _data(name):
    return json.loads((DATA / name).read_text())


def _host_check(ok):
    """A VM host's ``vpkg.check`` answer: Serviceguard's checks, then Integrity VM's if they pass."""
    checks = [
        {"name": "package", "ok": True, "reason": "package db1 exists"},
        {"name": "capacity:memory", "ok": ok, "reason": "vmhost2 has 8 of memory available, needs 24"},
        {"name": "hpvmmigrate:storage", "ok": True, "reason": "passed"},
    ]
    return vpkg_results.Verdict("db1", "vmhost1", "vmhost2", checks, guest="db1").to_dict()


def test_every_kind_has_a_drawing():
    assert set(vpkg_render.RENDERERS) == set(vpkg_results.KINDS)


def test_a_minions_failed_check_says_cannot_move_and_nothing_else(plain):
    text = plain["vpkg"]({"vmhost1": _host_check(False)})
    assert text.splitlines() == [
        "vmhost1:",
        "    db1: vmhost1 -> vmhost2  cannot move",
        "      FAIL  capacity:memory  vmhost2 has 8 of memory available, needs 24",
        "      (2 other checks passed)",
    ]


def test_a_minions_passing_check_lists_every_check(plain):
    lines = plain["vpkg"]({"vmhost1": _host_check(True)}).splitlines()
    assert lines[1] == "    db1: vmhost1 -> vmhost2  can move"
    assert "      ok    capacity:memory  vmhost2 has 8 of memory available, needs 24" in lines
    assert "      ok    hpvmmigrate      storage passed" in lines
    assert lines[-1] == "      Package db1 can move from vmhost1 to vmhost2."


def test_the_kind_not_the_keys_chooses_the_drawing(plain):
    test_move = _data("runner_move_app1_test.json")
    assert plain["vpkg"](test_move).splitlines()[0] == (
        "app1: vmhost1 -> vmhost3  would move  (test: nothing changed)"
    )
    as_check = dict(test_move, kind="check", result=True)
    del as_check["test"]
    assert plain["vpkg"](as_check).splitlines()[0] == "app1: vmhost1 -> vmhost3  can move"
    # The same keys without a kind are not ours: nested draws them.
    del as_check["kind"]
    assert plain["vpkg"](as_check) == plain["nested"](as_check)
    # A test run of an operation is its plan; the run itself is drawn per move.
    plan = _data("runner_evacuate_vmhost3_test.json")
    assert plain["vpkg"](plan).startswith("plan: evacuate vmhost3  (test: nothing changed)")
    assert plain["vpkg"](dict(plan, kind="plan", result=None)).startswith("plan: evacuate vmhost3")


@pytest.mark.parametrize(
    ("ret", "expected"),
    [
        (vpkg_results.refusal("status", "No cluster node answered"), "FAILED  No cluster node answered"),
        (vpkg_results.refusal("check", "no view", package="app1"), "FAILED  no view"),
        (vpkg_results.refusal("plan", "vmhost9 is not a node", operation="evacuate"),
         "FAILED  vmhost9 is not a node"),
        (
            {"kind": "evacuate", "result": True, "ignored": True, "node": "vmhost1",
             "requested_by": "vmhost2", "comment": "ignored: vmhost2 may not ask for node vmhost1"},
            "IGNORED  ignored: vmhost2 may not ask for node vmhost1",
        ),
        (dict(vpkg_results.refusal("rebalance", "busy", operation="rebalance"), retcode=1), "FAILED  busy"),
    ],
)  # fmt: skip
def test_a_return_that_only_says_why_is_one_line_whatever_its_kind(plain, ret, expected):
    assert plain["vpkg"](ret) == expected


@pytest.mark.parametrize("state", sorted(vpkg_capacity.COUNTED_STATES))
def test_every_state_the_capacity_model_counts_is_drawn_in_its_nodes_bar(plain, state):
    status = _data("runner_status_demo.json")
    status["packages"]["app1"]["state"] = state
    text = plain["vpkg"](status)
    memory = next(ln for ln in text.split("\nvmhost1  ", 1)[1].splitlines() if ln.startswith("  memory"))
    assert memory.endswith("db1 24, app1 4")
    assert "6 of 6 packages running" in text


@pytest.mark.parametrize("state", ["halted", "failed", "unknown"])
def test_a_state_it_does_not_count_is_left_out_of_the_bar(plain, state):
    status = _data("runner_status_demo.json")
    status["packages"]["app1"]["state"] = state
    text = plain["vpkg"](status)
    memory = next(ln for ln in text.split("\nvmhost1  ", 1)[1].splitlines() if ln.startswith("  memory"))
    assert memory.endswith("db1 24") and "5 of 6 packages running" in text


LOAD = """
import json, sys, salt.config, salt.loader
sys.modules["saltext.vpkg.utils"] = None  # not pip-installed: only the folders below may serve
opts = salt.config.DEFAULT_MASTER_OPTS.copy()
opts.update(json.loads(sys.argv[1]))
outputters = salt.loader.outputters(opts)
status = json.load(open(sys.argv[2]))
drawn = outputters["vpkg"](status) if "vpkg" in outputters else None
left = [p for p in sys.path if p.endswith("utils")]
print(json.dumps({"drawn": drawn, "nested": outputters["nested"](status), "left_on_path": left}))
"""


def _load_in_a_fresh_python(tmp_path, **opts):
    opts = {"outputter_dirs": [str(ROOT / "_output")], "cachedir": str(tmp_path / "cache"), **opts}
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, json.dumps(opts), str(DATA / "runner_status_demo.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_outputter_finds_the_utils_in_utils_dirs(tmp_path):
    got = _load_in_a_fresh_python(tmp_path, utils_dirs=[str(ROOT / "_utils")], extension_modules="")
    assert got["drawn"] + "\n" == (DATA / "golden_status_demo.txt").read_text()
    assert got["left_on_path"] == []  # put on sys.path for the import only, as Salt's loader does


def test_the_outputter_finds_the_utils_synced_to_the_extension_modules(tmp_path):
    utils = tmp_path / "extmods" / "utils"
    utils.mkdir(parents=True)
    for path in (ROOT / "_utils").glob("vpkg_*.py"):
        (utils / path.name).symlink_to(path)
    got = _load_in_a_fresh_python(tmp_path, extension_modules=str(tmp_path / "extmods"))
    assert got["drawn"] + "\n" == (DATA / "golden_status_demo.txt").read_text()


def test_without_the_utils_the_outputter_stands_aside_for_nested(tmp_path):
    got = _load_in_a_fresh_python(tmp_path, extension_modules=str(tmp_path / "extmods"))
    assert got["drawn"] is None and got["nested"]
