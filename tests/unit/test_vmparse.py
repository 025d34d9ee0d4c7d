"""``vpkg_vmparse``: hpvmstatus (table, -M, -V) and hpvmmigrate (-s, progress), on the reference's
real samples, hand-written contract samples and (when present) outputs recorded from the simulator."""

import pathlib

import pytest
import vpkg_vmparse as vm
from samples import read

DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("4GB", 4096),
        ("512MB", 512),
        ("16 GB", 16384),
        ("1.5 GB", 1536),
        ("2048", 2048),
        ("1TB", 1048576),
        ("2048KB", 2),
        ("8gb", 8192),
        ("4 GiB", 4096),
    ],
)
def test_memory_mb(text, mb):
    assert vm.memory_mb(text) == mb


@pytest.mark.parametrize("text", ["", "GB", "4 XB", "-4GB", "four GB", None, "4GB4"])
def test_memory_mb_refuses(text):
    with pytest.raises(vm.ParseError, match="bad memory size"):
        vm.memory_mb(text)


# --- -M -------------------------------------------------------------------------------------------


def test_machine_lines():
    guests = vm.parse_status_machine(read("hpvmstatus_M_handwritten.txt"))
    assert guests["slvm1"] == {
        "name": "slvm1",
        "vm_number": 1,
        "os_type": "HPUX",
        "state": "On",
        "runnable": True,
        "modifiable": True,
        "visible": True,
        "online_migration": True,
        "boot": "Manual",
        "vcpus": 2,
        "memory_mb": 4096,
        "vswitches": ["vsw1", "vsw2"],
        "devices": ["/dev/rdisk/disk12", "/dev/slvm/lvol1"],
        "cpu_family": "itanium2-9300",
        "migration": None,
    }
    # A migration status holding colons does not shift vCPUs and memory.
    web2 = guests["web2"]
    assert web2["migration"] == {"direction": "out", "peer": "xyzo2", "phase": "Copy"}
    assert (web2["vcpus"], web2["memory_mb"], web2["online_migration"]) == (4, 512, False)
    old = guests["old1"]
    assert (old["state"], old["runnable"], old["visible"]) == ("Off (NR)", False, False)


def test_machine_opensvc_positions_with_unknown_other_fields():
    # Real lines carry other things in the fields we assumed: the confirmed ones still read.
    fields = ["ivm1", "7", "HPUX", "u", "x", "y", "z", "w", "v", "3", "On", "Auto", *["?"] * 7, "4;16", "8GB"]
    guest = vm.parse_status_machine(":".join(fields))["ivm1"]
    assert (guest["state"], guest["boot"], guest["vcpus"], guest["memory_mb"]) == ("On", "Auto", 4, 8192)
    assert guest["runnable"] is None and guest["online_migration"] is None


def test_machine_migration_with_semicolons():
    line = read("hpvmstatus_M_handwritten.txt").splitlines()[0].replace(":-:2;8:", ":in;xyzo1;Frozen:2;8:")
    assert vm.parse_status_machine(line)["slvm1"]["migration"] == {
        "direction": "in",
        "peer": "xyzo1",
        "phase": "Frozen",
    }


@pytest.mark.parametrize(
    "line",
    [
        "slvm1:1:HPUX",  # too few fields
        "slvm1:1:HPUX:u:Runnable:Modify:Visible:enabled:OS:2:Maybe:Manual:1:0:v:d:c:1:-:2;8:4GB",  # state
        "slvm1:1:HPUX:u:Runnable:Modify:Visible:enabled:OS:2:On:Manual:1:0:v:d:c:1:-:two:4GB",  # vcpus
        "slvm1:1:HPUX:u:Runnable:Modify:Visible:enabled:OS:2:On:Manual:1:0:v:d:c:1:-:2;8:lots",  # memory
        ":1:HPUX:u:Runnable:Modify:Visible:enabled:OS:2:On:Manual:1:0:v:d:c:1:-:2;8:4GB",  # name
    ],
)
def test_machine_bad_lines_are_shown(line):
    with pytest.raises(vm.ParseError) as err:
        vm.parse_status_machine("\n" + line + "\n")
    assert line in str(err.value)


# --- -V -------------------------------------------------------------------------------------------


def test_verbose_blocks_match_machine_fields():
    verbose = vm.parse_status_verbose(read("hpvmstatus_V_handwritten.txt"))
    machine = vm.parse_status_machine(read("hpvmstatus_M_handwritten.txt"))
    slvm1 = dict(verbose["slvm1"])
    assert slvm1.pop("vswitches") == ["vsw1"]
    expected = dict(machine["slvm1"])
    expected.pop("vswitches")
    assert slvm1 == expected
    old = verbose["old1"]  # runnable_status spelling, "Off (NR)" state
    assert (old["state"], old["runnable"], old["memory_mb"], old["online_migration"]) == (
        "Off (NR)",
        False,
        512,
        False,
    )


def test_verbose_block_without_memory_is_shown():
    text = "Virtual Machine Name : g1\nState : On\nNumber of virtual CPUs : 1\n"
    with pytest.raises(vm.ParseError) as err:
        vm.parse_status_verbose(text)
    assert "'memory'" in str(err.value) and "Virtual Machine Name : g1" in str(err.value)


def test_verbose_ignores_blocks_that_are_not_guests():
    text = "[Authorized Administrators]\nOper Groups : \nAdmin Users : root\n\n" + read(
        "hpvmstatus_V_handwritten.txt"
    )
    assert set(vm.parse_status_verbose(text)) == {"slvm1", "old1"}


# --- output in another form; hosts without guests -----------------------------------------------

TABLE_HEADINGS = "Virtual Machine Name VM #  OS Type State     #VCPUs #Devs #Nets Memory  Runsysid"
FIRST_M_LINE = read("hpvmstatus_M_handwritten.txt").splitlines()[0]


@pytest.mark.parametrize(
    ("parse", "sample", "first"),
    [
        (vm.parse_status_machine, "real_hpvmstatus_table_juanma.txt", "line 1 .*'\\[Virtual Machines\\]'"),
        (vm.parse_status_verbose, "real_hpvmstatus_table_juanma.txt", f"line 2 .*'{TABLE_HEADINGS}'"),
        (vm.parse_status_verbose, "hpvmstatus_M_handwritten.txt", "line 1 .*'slvm1:1:HPUX:"),
        (vm.parse_status_machine, "hpvmstatus_V_handwritten.txt", "line 1 .*'\\[Virtual Machine Details\\]'"),
    ],
    ids=["table as -M", "table as -V", "-M as -V", "-V as -M"],
)
def test_output_in_another_form_is_refused_at_its_first_line(parse, sample, first):
    # Never "a host with no guests": that would tell a move or an evacuation the host is empty.
    with pytest.raises(vm.ParseError, match=first):
        parse(read(sample))


@pytest.mark.parametrize("parse", [vm.parse_status_machine, vm.parse_status_verbose])
@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        read("real_hpvmstatus_no_guests.txt"),
        "hpvmstatus: No vPars or VMs currently configured.\n",
    ],
    ids=["nothing", "blank lines", "no guest message", "prefixed message"],
)
def test_a_host_without_guests_is_empty_not_an_error(parse, text):
    assert parse(text) == {}


def test_machine_fields_with_sub_fields_read_the_first():
    # vCPUs and memory may carry ';'-separated sub-fields; OpenSVC reads the first of each
    # (lib/resContainerHpVm.py: out.split(':')[20].split(';')[0]). What follows is not known.
    fields = ["ivm1", "7", "HPUX", *["?"] * 7, "On", "Auto", *["?"] * 7, "4;16", "8GB;16GB"]
    guest = vm.parse_status_machine(":".join(fields))["ivm1"]
    assert (guest["vcpus"], guest["memory_mb"]) == (4, 8192)


# --- hpvmmigrate -s -------------------------------------------------------------------------------


def test_check_failing_memory():
    verdict = vm.parse_migrate_check(read("hpvmmigrate_s_fail.txt"), "slvm1", "xyzo2")
    assert (verdict["guest"], verdict["host"], verdict["migratable"]) == ("slvm1", "xyzo2", False)
    assert len(verdict["checks"]) == 8
    assert verdict["checks"][1] == {
        "name": "memory",
        "passed": False,
        "reason": "Target VM Host has 2048 MB free, guest needs 4096 MB.",
    }
    assert [c["name"] for c in verdict["checks"] if c["passed"]] == [
        "target_host",
        "vswitch",
        "storage",
        "cpu_family",
        "online_migration",
        "guest_state",
        "migration_busy",
    ]


def test_check_passing():
    verdict = vm.parse_migrate_check(read("hpvmmigrate_s_pass.txt"))
    assert verdict["migratable"] is True
    assert all(c["passed"] for c in verdict["checks"])
    assert verdict["messages"] == []


def test_check_keeps_real_messages_and_failed_check_wins_over_verdict():
    text = (
        read("real_hpvmmigrate_juanma_messages.txt")
        + "hpvmmigrate: Check vswitch: failed: x\nGuest can be migrated.\n"
    )
    verdict = vm.parse_migrate_check(text)
    assert verdict["migratable"] is False
    assert "hpvmmigrate: Target VM Host error - vswitch validation failed." in verdict["messages"]


def test_check_without_verdict_or_checks_is_an_error():
    with pytest.raises(vm.ParseError, match="SSH execution error"):
        vm.parse_migrate_check(read("real_hpvmmigrate_juanma_messages.txt"))


def test_check_verdict_alone():
    assert vm.parse_migrate_check("hpvmmigrate: Guest cannot be migrated.\n")["migratable"] is False


# --- progress -------------------------------------------------------------------------------------


def test_progress_lines():
    steps = [vm.parse_migrate_progress(line) for line in read("hpvmmigrate_o_handwritten.txt").splitlines()]
    assert steps == [
        {"phase": "Init", "percent": 100},
        {"phase": "Copy", "percent": 25},
        {"phase": "Copy", "percent": 100},
        {"phase": "I/O quiesce", "percent": 100},
        {"phase": "Frozen", "percent": 100},
        {"phase": "Completion", "percent": 100},
        None,
    ]


@pytest.mark.parametrize(
    "line", ["", None, "hpvmmigrate: Guest migrated successfully.", "Copy phase", "Warp phase: 10% complete."]
)
def test_progress_other_lines(line):
    assert vm.parse_migrate_progress(line) is None


def test_progress_fraction():
    assert vm.parse_migrate_progress("hpvmmigrate: Copy phase: 12.5% complete.") == {
        "phase": "Copy",
        "percent": 12.5,
    }


# --- recorded from the simulator ------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.glob("sim_hpvmstatus_M_*.txt")), ids=lambda p: p.name)
def test_recorded_machine_output(path):
    guests = vm.parse_status_machine(path.read_text())
    assert guests
    for guest in guests.values():
        assert guest["state"] in ("On", "Off", "Off (NR)")
        assert guest["memory_mb"] > 0 and guest["vcpus"] > 0
        assert guest["online_migration"] in (True, False)


@pytest.mark.parametrize("path", sorted(DATA.glob("sim_hpvmmigrate_s_*.txt")), ids=lambda p: p.name)
def test_recorded_check_output(path):
    verdict = vm.parse_migrate_check(path.read_text())
    assert verdict["checks"]
    assert verdict["migratable"] == all(c["passed"] for c in verdict["checks"])


def test_simulator_status_forms_agree():
    machine = vm.parse_status_machine(read("sim_hpvmstatus_M_seed_xyzo1.txt"))
    assert vm.parse_status_verbose(read("sim_hpvmstatus_V_seed_xyzo1.txt")) == machine
    assert vm.parse_status_verbose(read("sim_hpvmstatus_V_P_slvm1.txt")) == {"slvm1": machine["slvm1"]}


def test_simulator_move_leaves_a_not_runnable_copy():
    before = vm.parse_status_machine(read("sim_hpvmstatus_M_seed_xyzo1.txt"))["slvm1"]
    after = vm.parse_status_machine(read("sim_hpvmstatus_M_seed_xyzo1_after_move.txt"))["slvm1"]
    assert (before["state"], before["runnable"]) == ("On", True)
    assert (after["state"], after["runnable"], after["visible"]) == ("Off (NR)", False, False)


def test_simulator_progress_runs_through_the_phases_in_order():
    lines = read("sim_hpvmmigrate_o_slvm1_xyzo2.txt").splitlines()
    steps = [s for s in map(vm.parse_migrate_progress, lines) if s]
    order = ["Init", "Copy", "I/O quiesce", "Frozen", "Completion"]
    assert [p for p in order if p in {s["phase"] for s in steps}] == order
    ranks = [(order.index(s["phase"]), s["percent"]) for s in steps]
    assert ranks == sorted(ranks)
    assert lines[-1] == "hpvmmigrate: Guest migrated successfully."


def test_simulator_checks():
    ok = vm.parse_migrate_check(read("sim_hpvmmigrate_s_slvm1_xyzo2.txt"))
    refused = vm.parse_migrate_check(read("sim_hpvmmigrate_s_ora1_xyzo3.txt"))
    assert ok["migratable"] is True
    assert refused["migratable"] is False
    assert [c["name"] for c in ok["checks"]] == [c["name"] for c in refused["checks"]]
    assert [c["name"] for c in refused["checks"] if not c["passed"]] == ["storage"]
