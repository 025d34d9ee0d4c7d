"""The audit trail (``_utils/vpkg_audit.py``): entries, atomic appends, reading back, filters."""

import datetime
import json
import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import pytest
import vpkg_audit

DATA = pathlib.Path(__file__).resolve().parent / "data"
UTILS = pathlib.Path(vpkg_audit.__file__).resolve().parent
NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)


def _recorded(name):
    return json.loads((DATA / name).read_text())


# -- entries ------------------------------------------------------------------------------------
def test_an_entry_has_every_field_in_order():
    entry = vpkg_audit.make_entry(
        "move",
        "alice",
        package="app1",
        source="vmhost1",
        target="vmhost3",
        result=True,
        duration=1.23456,
        time=NOW,
    )
    assert list(entry) == list(vpkg_audit.FIELDS)
    assert entry["time"] == "2026-11-26T12:00:00.000Z"
    assert entry["duration"] == 1.235
    assert (entry["node"], entry["error"]) == (None, None)


@pytest.mark.parametrize(
    ("operation", "fields", "message"),
    [
        ("delete", {}, "unknown audit operation"),
        ("move", {"password": "x"}, "unknown audit field"),
    ],
)
def test_bad_entries_are_refused_with_a_clear_error(operation, fields, message):
    with pytest.raises(ValueError, match=message):
        vpkg_audit.make_entry(operation, "alice", **fields)


def test_long_errors_are_cut():
    entry = vpkg_audit.make_entry("move", "alice", error="x" * 10000)
    assert len(entry["error"]) == vpkg_audit.MAX_ERROR


def test_who_asked():
    assert vpkg_audit.asker("alice") == "alice"
    assert vpkg_audit.asker(None) == "unknown"
    assert (
        vpkg_audit.asker("root", requested_by="vmhost2", tag="vpkg/maintenance/start")
        == "reactor:vpkg/maintenance/start from vmhost2"
    )


def test_entries_from_a_move_result():
    ok = _recorded("runner_move_app1.json")
    (entry,) = vpkg_audit.entries_from_result("move", ok, "alice")
    assert (entry["package"], entry["source"], entry["target"]) == (ok["package"], ok["source"], ok["target"])
    assert entry["result"] is True and entry["error"] is None and entry["duration"] == ok["seconds"]
    refused = _recorded("runner_move_db1_refused.json")
    (entry,) = vpkg_audit.entries_from_result("move", refused, "bob")
    assert entry["result"] is False and entry["error"] == refused["comment"]


def test_test_runs_and_plans_are_not_recorded():
    assert vpkg_audit.entries_from_result("move", _recorded("runner_move_app1_test.json"), "a") == []
    assert (
        vpkg_audit.entries_from_result("evacuate", _recorded("runner_evacuate_vmhost3_test.json"), "a") == []
    )


def test_entries_from_an_evacuation_one_per_guest_and_one_for_the_whole():
    ret = _recorded("runner_evacuate_vmhost2.json")
    entries = vpkg_audit.entries_from_result("evacuate", ret, "alice")
    by_package = {e["package"]: e for e in entries}
    for move in ret["moves"]:
        assert by_package[move["package"]]["result"] is move["result"]
        assert by_package[move["package"]]["target"] == move["target"]
    for item in ret["unplaced"]:
        assert by_package[item["package"]]["result"] is False
        assert item["reason"] in by_package[item["package"]]["error"]
    whole = by_package[None]
    assert whole["node"] == "vmhost2" and whole["result"] is False and whole["error"] == ret["comment"]
    assert entries[-1] is whole


def test_an_ignored_reactor_request_is_recorded_as_not_done():
    ret = {"result": True, "ignored": True, "node": "vmhost1", "comment": "ignored: vmhost2 may not ask"}
    (entry,) = vpkg_audit.entries_from_result("evacuate", ret, vpkg_audit.asker(None, "vmhost2"))
    assert entry["result"] is False and entry["error"] == ret["comment"]


def test_a_return_that_is_not_a_dict_is_a_failure():
    (entry,) = vpkg_audit.entries_from_result("cancel", "Exception: boom", "alice")
    assert entry["result"] is False and entry["error"] == "Exception: boom"


# -- the file -----------------------------------------------------------------------------------
def test_record_and_read_back(tmp_path):
    path = tmp_path / "audit" / "vpkg.jsonl"
    written = vpkg_audit.record_result(path, "evacuate", _recorded("runner_evacuate_vmhost2.json"), "alice")
    vpkg_audit.record(path, vpkg_audit.make_entry("cancel", "bob", node="vmhost2", result=True))
    entries = vpkg_audit.read(path)
    assert entries == written + entries[len(written) :]
    assert entries[-1]["operation"] == "cancel"
    assert all(line.endswith("}") for line in path.read_text().splitlines())


def test_file_is_owner_only_and_its_new_folder_too(tmp_path):
    path = tmp_path / "new" / "audit.jsonl"
    vpkg_audit.record(path, vpkg_audit.make_entry("move", "alice"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_file_open_to_others_is_closed_down(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    vpkg_audit.record(path, vpkg_audit.make_entry("move", "alice"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.write_text("")
    link = tmp_path / "audit.jsonl"
    link.symlink_to(real)
    with pytest.raises(vpkg_audit.AuditError, match="symbolic link"):
        vpkg_audit.record(link, vpkg_audit.make_entry("move", "alice"))
    assert real.read_text() == ""


def test_an_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(vpkg_audit.AuditError, match=f"cannot open the audit file {blocker}/audit.jsonl"):
        vpkg_audit.record(blocker / "audit.jsonl", vpkg_audit.make_entry("move", "alice"))


def test_a_truncated_last_line_is_skipped_and_the_next_entry_starts_fresh(tmp_path):
    path = tmp_path / "audit.jsonl"
    vpkg_audit.record(path, vpkg_audit.make_entry("move", "alice", package="a"))
    with open(path, "a") as handle:
        handle.write('{"time": "2026-11-26T01:00:00Z", "user": "crash", "oper')  # a writer died here
    assert [e["package"] for e in vpkg_audit.read(path)] == ["a"]
    vpkg_audit.record(path, vpkg_audit.make_entry("move", "bob", package="b"))
    assert [e["package"] for e in vpkg_audit.read(path)] == ["a", "b"]


def test_a_missing_file_reads_as_empty(tmp_path):
    assert vpkg_audit.read(tmp_path / "none.jsonl") == []


def test_filters(tmp_path):
    path = tmp_path / "audit.jsonl"
    hour = datetime.timedelta(hours=1)
    for age, package, node, operation in (
        (50, "app1", "vmhost1", "move"),
        (5, "app2", "vmhost2", "evacuate"),
        (0.5, "app1", "vmhost3", "restore"),
    ):
        entry = vpkg_audit.make_entry(operation, "alice", package=package, node=node, time=NOW - age * hour)
        vpkg_audit.record(path, entry)

    def packages(**kw):
        return [e["package"] for e in vpkg_audit.read(path, now=NOW, **kw)]

    assert packages(package="app1") == ["app1", "app1"]
    assert packages(since="1h") == ["app1"]
    assert packages(since="3d") == ["app1", "app2", "app1"]
    assert packages(since="2d") == ["app2", "app1"]
    assert packages(since="6h", package="app1") == ["app1"]
    assert packages(since="2026-11-26T06:00:00Z") == ["app2", "app1"]
    assert packages(since="2026-11-26 06:00") == ["app2", "app1"]  # no zone: UTC
    assert packages(since=datetime.date(2026, 11, 26)) == ["app2", "app1"]
    assert packages(node="vmhost2") == ["app2"]
    assert packages(operation="restore") == ["app1"]


@pytest.mark.parametrize("since", ["yesterday", "1y", "-1h", "", 90, "2026-13-01"])
def test_bad_since_is_a_clear_error(tmp_path, since):
    with pytest.raises(ValueError, match="since must be an ISO 8601 time"):
        vpkg_audit.read(tmp_path / "audit.jsonl", since=since)


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {utils!r})
    import vpkg_audit
    path, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for seq in range(count):
        entries = [
            vpkg_audit.make_entry("move", writer, package=f"{{writer}}-{{seq}}", error="x" * 1500 + str(seq)),
            vpkg_audit.make_entry("evacuate", writer, package=f"{{writer}}-{{seq}}b", node="n", result=True),
        ]
        vpkg_audit.record(path, entries if seq % 2 else entries[0])
    """
)


def test_concurrent_writers_lose_nothing_and_never_interleave(tmp_path):
    path = tmp_path / "audit.jsonl"
    writers, count = 8, 300
    script = WRITER.format(utils=str(UTILS))
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), f"w{n}", str(count)])
        for n in range(writers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # every line parses: no interleaving
    expected = {f"w{n}-{seq}" for n in range(writers) for seq in range(count)}
    expected |= {f"w{n}-{seq}b" for n in range(writers) for seq in range(1, count, 2)}
    packages = [e["package"] for e in parsed]
    assert len(packages) == len(expected) and set(packages) == expected  # none lost, none twice
    for entry in parsed:
        if entry["operation"] == "move":
            assert entry["error"] == "x" * 1500 + entry["package"].split("-")[1]
    # a pair written in one record() stays together
    for index, entry in enumerate(parsed):
        if entry["operation"] == "evacuate":
            assert parsed[index - 1]["package"] + "b" == entry["package"]
    assert len(vpkg_audit.read(path)) == len(parsed)
    assert os.stat(path).st_size == sum(len(line) + 1 for line in lines[:-1])
