"""Output forms of formats.md, rendered from a state (pure)."""

import pytest

import sgsim
from sgsim import config, faults, migration, names, sgview, vmview


@pytest.fixture
def st():
    return config.build_state(config.load_yaml(str(sgsim.example_path("seed"))))


def test_number_and_memory_formats():
    assert names.fmt_number(10.0) == "10"
    assert names.fmt_number(2.5) == "2.5"
    assert names.fmt_number(0.125) == "0.125"
    assert names.fmt_memory(16384) == "16 GB"
    assert names.fmt_memory(512, sep="") == "512MB"


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ("copy", "Copy"),
        ("I/O quiesce", "I/O quiesce"),
        ("io_quiesce", "I/O quiesce"),
        ("FROZEN", "Frozen"),
        ("x", None),
    ],
)
def test_phase_names(text, phase):
    assert names.phase_name(text) == phase


@pytest.mark.parametrize("name", ["a", "node1", "a.b-c_d", "x" * 39])
def test_valid_sg_names(name):
    assert names.valid_sg_name(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "a b", "x" * 40, "a/b", None, "é"])
def test_invalid_sg_names(name):
    assert not names.valid_sg_name(name)


def test_line_format_grammar(st):
    lines = sgview.line_format(st, True, None, list(st["nodes"]), list(st["packages"]))
    assert lines[:2] == ["name=seed", "status=up"]
    assert "node:xyzo2|capacity:memory|available=12" in lines
    assert "package:slvm1|owner=xyzo1" in lines
    assert "package:slvm1|node:xyzo2|switching=enabled" in lines
    assert "package:slvm1|node:xyzo3|order=3" in lines
    assert "package:web1|priority=no_priority" in lines
    assert "package:slvm1|weight:cpu|value=2" in lines
    for line in lines:
        key = line.split("=", 1)[0]
        assert "=" in line and all(":" in part for part in key.split("|")[:-1]), line


def test_line_format_single_package_drops_prefix(st):
    lines = sgview.line_format(st, False, None, [], ["slvm1"], selected_pkgs=True)
    assert lines == [
        "name=slvm1",
        "type=failover",
        "status=up",
        "state=running",
        "autorun=enabled",
        "owner=xyzo1",
    ]


def test_line_format_single_node_level_drops_prefix(st):
    lines = sgview.line_format(st, True, "node", ["xyzo2"], [], selected_nodes=True)
    assert lines[:3] == ["name=xyzo2", "status=up", "state=running"]
    assert "capacity:cpu|used=2" in lines


def test_halted_package_has_no_owner_line(st):
    st["packages"]["ora1"].update(state="halted", node=None)
    lines = sgview.line_format(st, False, "package", [], ["ora1", "slvm1"], selected_pkgs=True)
    assert "package:ora1|status=down" in lines
    assert not any(line.startswith("package:ora1|owner") for line in lines)


def test_table_matches_reference_layout(st):
    lines = sgview.table_format(st, False, None, list(st["nodes"]), list(st["packages"]))
    assert lines[0] == "CLUSTER              STATUS"
    assert lines[1] == "seed                 up"
    assert lines[2] == "  NODE           STATUS       STATE"
    assert lines[3] == "  xyzo1          up           running"
    assert "    PACKAGE        STATUS           STATE            AUTO_RUN    NODE" in lines
    assert "    slvm1          up               running          enabled     xyzo1" in lines


def test_hpvmstatus_table_matches_reference_layout(st):
    lines = vmview.table(st, "xyzo1")
    assert lines[:3] == vmview.TABLE_HEADER
    assert lines[3] == "slvm1                    1 HPUX    On (OS)        2     2     1    4 GB        0"


def test_machine_line_fields(st):
    st["migrations"]["slvm1"] = {
        "guest": "slvm1",
        "source": "xyzo1",
        "target": "xyzo2",
        "phase": "I/O quiesce",
    }
    fields = vmview.machine_line(st, st["guests"]["slvm1"], "xyzo1").split(":")
    assert len(fields) == 21
    assert fields[0] == "slvm1" and fields[10] == "On" and fields[11] == "Manual"
    assert fields[19].split(";")[0] == "2" and fields[20] == "4GB"
    assert fields[18] == "out;xyzo2;I/O quiesce"
    target = vmview.machine_line(st, st["guests"]["slvm1"], "xyzo2").split(":")
    assert target[10] == "Off" and target[18] == "in;xyzo1;I/O quiesce"


def test_migration_checks(st):
    verdicts = dict((n, (ok, why)) for n, ok, why in migration.checks(st, "slvm1", "xyzo1", "xyzo2"))
    assert list(verdicts) == list(migration.CHECKS) and all(ok for ok, _ in verdicts.values())
    st["nodes"]["xyzo2"]["vswitches"] = []
    st["nodes"]["xyzo2"]["devices"] = []
    st["nodes"]["xyzo2"]["cpu_family"] = "itanium2-9500"
    st["nodes"]["xyzo2"]["memory_mb"] = 4096
    st["guests"]["slvm1"]["online_migration"] = False
    verdicts = dict((n, (ok, why)) for n, ok, why in migration.checks(st, "slvm1", "xyzo1", "xyzo2"))
    assert verdicts["vswitch"] == (False, "Target VM Host error - vswitch validation failed.")
    assert verdicts["storage"] == (False, "Target VM Host error - Device does not exist.")
    assert verdicts["memory"] == (False, "Target VM Host has 2048 MB free, guest needs 4096 MB.")
    assert not verdicts["cpu_family"][0] and not verdicts["online_migration"][0]
    assert verdicts["target_host"][0] and verdicts["guest_state"][0]


def test_migration_phase_durations():
    secs = migration.phase_seconds(4096, 1000)
    assert secs["Copy"] == pytest.approx(32.768)
    assert list(secs) == list(names.PHASES)


def test_fault_bookkeeping(st):
    f1 = faults.add(st, "migration-fail", "slvm1", "copy", "boom")
    f2 = faults.add(st, "command-fail", "cmviewcl", message="cmviewcl: down", node="xyzo2")
    assert (f1["id"], f2["id"]) == (1, 2) and f1["phase"] == "Copy"
    assert faults.take_command_fault(st, "cmviewcl", "xyzo1") is None
    assert faults.take_command_fault(st, "cmviewcl", "xyzo2")["message"] == "cmviewcl: down"
    assert faults.take_phase_fault(st, "slvm1", "Init", ("xyzo1", "xyzo2")) is None
    assert faults.take_phase_fault(st, "slvm1", "Copy", ("xyzo1", "xyzo2"))["message"] == "boom"
    assert st["faults"] == []
    with pytest.raises(sgsim.errors.SimError):
        faults.add(st, "migration-slow", "slvm1", "fast")
    with pytest.raises(sgsim.errors.SimError):
        faults.add(st, "node-down", "xyzo9", "copy")


def test_dependency_and_detached_lines():
    doc = {
        "cluster": "dep",
        "default_weights": {"cpu": 1},
        "nodes": [{"name": "n1", "capacities": {"cpu": 4}}, {"name": "n2", "capacities": {"cpu": 4}}],
        "packages": [
            {"name": "db", "node_list": ["n1", "n2"], "node": "n1"},
            {
                "name": "app",
                "node_list": ["n1", "n2"],
                "node": "n1",
                "dependencies": [
                    {"name": "needs_db", "package": "db", "condition": "up", "location": "same_node"}
                ],
            },
        ],
    }
    st = config.build_state(doc)
    st["packages"]["db"]["state"] = "detached"
    lines = sgview.line_format(st, True, None, list(st["nodes"]), list(st["packages"]))
    assert "weight:cpu|default=1" in lines
    assert "package:app|dependency:needs_db|condition=db = up" in lines
    assert "package:app|dependency:needs_db|location=same_node" in lines
    assert "package:db|state=detached" in lines and "package:db|status=up" in lines
    assert "package:db|owner=n1" in lines
    assert "node:n1|capacity:cpu|used=2" in lines
