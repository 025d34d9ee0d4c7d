"""The pure decisions of an online move: where the guest is, and what the operator is told."""

import pytest
import vpkg_move


@pytest.mark.parametrize(
    ("migrate_ok", "source_state", "expected"),
    [
        (True, "Off (NR)", vpkg_move.ON_TARGET),
        (False, "On", vpkg_move.ON_SOURCE),
        # Success claimed but the guest still On here: two copies are possible, so unknown.
        (True, "On", vpkg_move.UNKNOWN),
        # Failure claimed but the source copy already Not Runnable: the guest may be on the target.
        (False, "Off (NR)", vpkg_move.UNKNOWN),
        (False, "Off", vpkg_move.UNKNOWN),
        (True, "Off", vpkg_move.UNKNOWN),
        (False, None, vpkg_move.UNKNOWN),
        (True, None, vpkg_move.UNKNOWN),
    ],
)
def test_guest_location(migrate_ok, source_state, expected):
    assert vpkg_move.guest_location(migrate_ok, source_state) == expected


def test_switching_snapshot_copies_what_it_records():
    pkg = {"autorun": True, "switching": {"a": True, "b": False}}
    snap = vpkg_move.switching_snapshot(pkg)
    pkg["switching"]["a"] = False
    assert snap == {"autorun": True, "switching": {"a": True, "b": False}}


@pytest.mark.parametrize(("autorun", "expected"), [(True, [["cmmodpkg", "-e", "p1"]]), (False, [])])
def test_restore_only_what_was_enabled(autorun, expected):
    assert vpkg_move.restore_switching_argv("p1", {"autorun": autorun, "switching": {}}) == expected


def test_unknown_location_message_names_every_restoring_command():
    msg = vpkg_move.unknown_location_message("slvm1", "slvm1", "xyzo1", "xyzo2", "hpvmmigrate: lost")
    assert "LEFT DISABLED" in msg
    assert "hpvmstatus -P slvm1" in msg
    assert "cmrunpkg -n" in msg and "cmmodpkg -e slvm1" in msg
    assert "xyzo1" in msg and "xyzo2" in msg and "hpvmmigrate: lost" in msg


def test_adopt_failed_message_names_target_and_commands():
    msg = vpkg_move.adopt_failed_message("p1", "g1", "n2", "capacity")
    assert "cmrunpkg -n n2 p1" in msg and "cmmodpkg -e p1" in msg and "LEFT DISABLED" in msg


def test_command_line_quotes_what_a_shell_would_split():
    assert vpkg_move.command_line(["cmrunpkg", "-n", "<node where>", "p"]) == "cmrunpkg -n '<node where>' p"


def test_step_and_failed_checks():
    entry = vpkg_move.step("migrate", 0, 1.23456, "x", phase="Copy")
    assert entry == {"step": "migrate", "result": False, "seconds": 1.235, "comment": "x", "phase": "Copy"}
    checks = [{"name": "a", "ok": True, "reason": ""}, {"name": "b", "ok": False, "reason": "full"}]
    assert vpkg_move.failed_checks(checks) == ["b: full"]


def test_refused_before_change_only_when_the_preflight_alone_ran():
    refused = {"result": False, "steps": [vpkg_move.step("preflight", False, 0.1, "capacity")]}
    assert vpkg_move.refused_before_change(refused)
    went_on = {"result": False, "steps": [*refused["steps"], vpkg_move.step("disable_switching", True, 0.1)]}
    assert not vpkg_move.refused_before_change(went_on)
    assert not vpkg_move.refused_before_change({"result": False, "steps": []})
    assert not vpkg_move.refused_before_change({"result": True, "steps": refused["steps"]})


def test_progress_filter_shows_phases_and_ends_and_thins_the_rest():
    show = vpkg_move.ProgressFilter(interval=1.0)
    seen = [
        (t, phase)
        for t, phase, final in [
            (0.0, "Init", False),
            (0.1, "Copy", False),
            (0.2, "Copy", False),  # same phase within the interval: dropped
            (1.2, "Copy", False),  # a second later: shown
            (1.3, "Frozen", False),
            (1.4, "Frozen", True),  # final events always
        ]
        if show("g1", phase, t, final)
    ]
    assert seen == [(0.0, "Init"), (0.1, "Copy"), (1.2, "Copy"), (1.3, "Frozen"), (1.4, "Frozen")]
    assert show("g2", "Copy", 0.25)  # per package
