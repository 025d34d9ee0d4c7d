"""The pure decisions of an online move: where the guest is, what the operator is told, and whether
switching a move left off may be re-enabled because its source node went down."""

import pytest
import vpkg_move
import vpkg_vm
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("migrate_ok", "source_state", "expected"),
    [
        (True, "Off (NR)", vpkg_vm.ON_TARGET),
        (False, "On", vpkg_vm.ON_SOURCE),
        # Success claimed but the guest still On here: two copies are possible, so unknown.
        (True, "On", vpkg_vm.UNKNOWN),
        # Failure claimed but the source copy already Not Runnable: the guest may be on the target.
        (False, "Off (NR)", vpkg_vm.UNKNOWN),
        (False, "Off", vpkg_vm.UNKNOWN),
        (True, "Off", vpkg_vm.UNKNOWN),
        (False, None, vpkg_vm.UNKNOWN),
        (True, None, vpkg_vm.UNKNOWN),
        # The outcome is unknown (connection lost, cmmovevpkg stopped half-way): the source copy tells.
        (None, "Off (NR)", vpkg_vm.ON_TARGET),
        (None, "On", vpkg_vm.ON_SOURCE),
        (None, "Off", vpkg_vm.UNKNOWN),
        (None, None, vpkg_vm.UNKNOWN),
    ],
)
def test_guest_location(migrate_ok, source_state, expected):
    assert vpkg_vm.guest_location(migrate_ok, source_state) == expected


def test_switching_snapshot_copies_what_it_records():
    pkg = {"autorun": True, "switching": {"a": True, "b": False}}
    snap = vpkg_move.switching_snapshot(pkg)
    pkg["switching"]["a"] = False
    assert snap == {"autorun": True, "switching": {"a": True, "b": False}}


def test_unknown_location_message_names_every_restoring_command():
    msg = vpkg_move.unknown_location_message("slvm1", "slvm1", "xyzo1", "xyzo2", "hpvmmigrate: lost")
    assert "LEFT DISABLED" in msg
    assert "hpvmstatus -P slvm1" in msg
    assert "cmrunpkg -n" in msg and "cmmodpkg -e slvm1" in msg
    assert "xyzo1" in msg and "xyzo2" in msg and "hpvmmigrate: lost" in msg


def test_adopt_failed_message_names_target_and_commands():
    msg = vpkg_move.adopt_failed_message("p1", "g1", "n2", "capacity")
    assert "cmrunpkg -n n2 p1" in msg and "cmmodpkg -e p1" in msg and "LEFT DISABLED" in msg


def _told(msg):
    return msg.split("restore protection with: ", 1)[1].split("; then ")


def test_adopt_failed_message_starts_the_recovery_where_the_adopt_step_stopped():
    detach = vpkg_move.adopt_failed_message("p1", "g1", "n2", "x", vpkg_move.DETACH)
    assert _told(detach) == ["cmhaltpkg -d p1", "cmrunpkg -n n2 p1", "cmmodpkg -e p1"]
    run = vpkg_move.adopt_failed_message("p1", "g1", "n2", "x", vpkg_move.RUN)
    assert _told(run) == ["cmrunpkg -n n2 p1", "cmmodpkg -e p1"]
    unknown = vpkg_move.adopt_failed_message("p1", "g1", "n2", "x", None)
    assert _told(unknown)[0].startswith("cmviewcl -v -p p1") and _told(unknown)[1:] == _told(run)


@pytest.mark.parametrize(
    ("state", "node", "expected"),
    [
        ("running", "n1", vpkg_move.DETACH),  # cmhaltpkg -d did not happen
        ("detached", "n2", vpkg_move.RUN),  # detached: the guest runs on n2, Serviceguard lets go
        ("running", "n2", vpkg_move.ADOPTED),  # cmrunpkg acted, then failed to say so
        ("halted", None, None),
        ("failed", "n1", None),
        ("starting", "n2", None),
        ("running", "n3", None),  # somewhere else: not ours to guess
    ],
)
def test_adopt_next_reads_what_is_left_from_the_package(state, node, expected):
    assert vpkg_move.adopt_next({"state": state, "node": node}, "n1", "n2") == expected


def test_command_line_quotes_what_a_shell_would_split():
    assert vpkg_move.command_line(["cmrunpkg", "-n", "<node where>", "p"]) == "cmrunpkg -n '<node where>' p"


def test_step_and_failed_checks():
    entry = vpkg_move.step("migrate", 0, 1.23456, "x")
    assert entry == {"step": "migrate", "result": False, "seconds": 1.235, "comment": "x"}
    checks = [{"name": "package", "ok": True, "reason": "package g1 exists"}]
    assert vpkg_move.step("preflight", True, 0.1, checks=checks)["checks"] == checks
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
    assert not show("g1", "Frozen", 1.5)  # not final unless told so: within the interval, dropped
    assert show("g3", "Copy", 10.0) and not show("g3", "Copy", 10.5) and show("g3", "Copy", 11.0)


# -- the source node went down mid-move ---------------------------------------------------------

OFF = {"name": "g1", "state": "Off", "migration": None}


def _left_off(**overrides):
    """A host's failed move of g1 (vmh1 -> vmh2) that left switching off, location unknown."""
    result = {
        "result": False,
        "package": "g1",
        "guest": "g1",
        "source": "vmh1",
        "target": "vmh2",
        "location": vpkg_vm.UNKNOWN,
        "comment": "Package g1: ... LEFT DISABLED ...",
        "steps": [
            {"step": "migrate", "result": False, "comment": "hpvmmigrate: Source VM Host vmh1 is down."}
        ],
        "switching": {
            "before": {"autorun": True, "switching": {"vmh1": True, "vmh2": True, "vmh3": True}},
            "after": {"autorun": False, "switching": {"vmh1": True, "vmh2": True, "vmh3": True}},
        },
    }
    result.update(overrides)
    return result


def _cluster(source="down", state="halted", autorun=False, node=None, vmh3="up"):
    return {
        "nodes": {
            "vmh1": {"status": source},
            "vmh2": {"status": "up"},
            "vmh3": {"status": vmh3},
            "vmh4": {"status": "up"},
        },
        "packages": {
            "g1": {
                "state": state,
                "node": node,
                "autorun": autorun,
                "vm_name": "g1",
                "node_list": ["vmh1", "vmh2", "vmh3"],
            }
        },
    }


def _everywhere(state="Off", **per_node):
    guests = {n: dict(OFF, state=state) for n in ("vmh1", "vmh2", "vmh3")}
    guests.update(per_node)
    return guests


def test_failover_when_the_source_is_down_and_the_guest_is_off_everywhere():
    verdict, reason = vpkg_move.source_down_failover(_left_off(), _cluster(), _everywhere())
    assert verdict == vpkg_move.FAILOVER_ENABLE
    assert (
        reason == "Serviceguard shows vmh1 down and guest g1 is On nowhere (vmh1: Off, vmh2: Off, vmh3: Off)"
    )


def test_a_down_source_need_not_answer_and_off_nr_is_stopped():
    guests = _everywhere(vmh1=None, vmh2=dict(OFF, state="Off (NR)"))
    verdict, reason = vpkg_move.source_down_failover(_left_off(), _cluster(), guests)
    assert verdict == vpkg_move.FAILOVER_ENABLE
    assert "(vmh1: down, vmh2: Off (NR), vmh3: Off)" in reason


def test_a_down_third_node_need_not_answer():
    guests = _everywhere(vmh3=None)
    verdict, _ = vpkg_move.source_down_failover(_left_off(), _cluster(vmh3="down"), guests)
    assert verdict == vpkg_move.FAILOVER_ENABLE


@pytest.mark.parametrize(
    ("guests", "why"),
    [
        # The target runs it (the migration committed before the source died): never a second copy.
        (_everywhere(vmh2=dict(OFF, state="On")), "vmh2 shows guest g1 On"),
        (
            _everywhere(vmh2=dict(OFF, migration={"direction": "in", "peer": "vmh1", "phase": "Copy"})),
            "vmh2 shows guest g1 Off and a migration in progress",
        ),
        # The target cannot be asked: it might run the guest.
        (_everywhere(vmh2=None), "vmh2 could not be asked"),
        ({"vmh1": OFF, "vmh3": OFF}, "vmh2 could not be asked"),
        # A node Serviceguard shows up must answer, and Off.
        (_everywhere(vmh3=None), "vmh3 could not be asked"),
        (_everywhere(vmh3=dict(OFF, state="On")), "vmh3 shows guest g1 On"),
        # Serviceguard says the source is down, its own hpvmstatus says On: believe the worse.
        (_everywhere(vmh1=dict(OFF, state="On")), "vmh1 shows guest g1 On"),
        (_everywhere(vmh2=dict(OFF, state="Crashed")), "vmh2 shows guest g1 Crashed"),
        (_everywhere(vmh2="Off"), "vmh2 could not be asked"),  # not an answer of hpvm.guest
        (None, "vmh2 could not be asked"),
    ],
)
def test_no_failover_while_the_guest_might_run_somewhere(guests, why):
    verdict, reason = vpkg_move.source_down_failover(_left_off(), _cluster(), guests)
    assert verdict == vpkg_move.FAILOVER_KEEP
    assert reason.startswith(why), reason


def test_the_target_must_answer_even_when_serviceguard_shows_it_down():
    cluster = _cluster()
    cluster["nodes"]["vmh2"]["status"] = "down"
    verdict, reason = vpkg_move.source_down_failover(_left_off(), cluster, _everywhere(vmh2=None))
    assert verdict == vpkg_move.FAILOVER_KEEP and reason == "vmh2 could not be asked"


@pytest.mark.parametrize(
    ("cluster", "why"),
    [
        (None, "no cluster node that is up answered"),
        ({"nodes": {}}, "no cluster node that is up answered"),
        (_cluster(source="up"), "Serviceguard shows source node vmh1 up, not down"),
        (_cluster(source="unknown"), "Serviceguard shows source node vmh1 unknown, not down"),
        ({"nodes": {"vmh1": {"status": "down"}}, "packages": {}}, "Serviceguard does not show package g1"),
        (_cluster(state="running", node="vmh3"), "Serviceguard shows package g1 running on vmh3, not halted"),
        (_cluster(state="detached", node="vmh2"), "Serviceguard shows package g1 detached on vmh2"),
    ],
)
def test_no_failover_unless_serviceguard_shows_the_source_down_and_the_package_halted(cluster, why):
    verdict, reason = vpkg_move.source_down_failover(_left_off(), cluster, _everywhere())
    assert verdict == vpkg_move.FAILOVER_KEEP
    assert reason.startswith(why), reason


@pytest.mark.parametrize(
    "result",
    [
        _left_off(location=vpkg_vm.ON_SOURCE),
        _left_off(location=vpkg_vm.ON_TARGET),  # the adopt step failed: the guest runs there
        _left_off(location=None),  # refused before switching was touched
        _left_off(result=True),
        # Switching was off before the move: it is not ours to turn on.
        _left_off(switching={"before": {"autorun": False}, "after": {"autorun": False}}),
        _left_off(switching={"before": {"autorun": True}, "after": {"autorun": True}}),
        _left_off(switching=None),
        "a string",
        None,
    ],
)
def test_only_a_move_that_left_switching_off_with_the_location_unknown_is_a_candidate(result):
    assert not vpkg_move.left_off_location_unknown(result)
    verdict, _ = vpkg_move.source_down_failover(result, _cluster(), _everywhere())
    assert verdict == vpkg_move.FAILOVER_KEEP


def test_switching_enabled_meanwhile_is_left_alone():
    verdict, reason = vpkg_move.source_down_failover(_left_off(), _cluster(autorun=True), _everywhere())
    assert verdict == vpkg_move.FAILOVER_ALREADY and "already enabled" in reason


def test_nodes_to_ask_are_source_target_and_node_list_once_each():
    cluster = _cluster()
    cluster["packages"]["g1"]["node_list"] = ["vmh3", "vmh1", "vmh2"]
    assert vpkg_move.nodes_to_ask(cluster, "g1", "vmh1", "vmh2") == ["vmh1", "vmh2", "vmh3"]
    assert vpkg_move.nodes_to_ask(None, "g1", "vmh1", "vmh2") == ["vmh1", "vmh2"]


STATES = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "state": st.sampled_from(["On", "Off", "Off (NR)", "Unknown", "", None]),
            "migration": st.sampled_from([None, {"direction": "in", "peer": "vmh1", "phase": "Copy"}]),
        }
    ),
)
NODE_STATUS = st.sampled_from(["up", "down", "unknown"])


@given(
    st.fixed_dictionaries({n: STATES for n in ("vmh1", "vmh2", "vmh3", "vmh4")}),
    NODE_STATUS,
    NODE_STATUS,
    NODE_STATUS,
    st.sampled_from(["halted", "running", "detached", "failed"]),
    st.booleans(),
)
def test_failover_is_enabled_only_on_proof(guests, source, target, third, state, autorun):
    cluster = _cluster(source=source, vmh3=third, state=state, autorun=autorun)
    cluster["nodes"]["vmh2"]["status"] = target
    verdict, _ = vpkg_move.source_down_failover(_left_off(), cluster, guests)
    if verdict != vpkg_move.FAILOVER_ENABLE:
        return
    # The proof, restated: source down, package halted with switching off, the target answered
    # Off with no migration, and no node of the node list may be running it.
    assert source == "down" and state == "halted" and not autorun
    stopped = lambda g: g is not None and g["state"] in ("Off", "Off (NR)") and not g["migration"]  # noqa: E731
    assert stopped(guests["vmh2"])
    for node, status in (("vmh1", source), ("vmh3", third)):
        assert stopped(guests[node]) or (guests[node] is None and status == "down")


def test_failover_message_when_serviceguard_restarted_the_package():
    msg = vpkg_move.failover_message(
        _left_off(),
        vpkg_move.FAILOVER_ENABLE,
        "serviceguard shows vmh1 down",
        "vmh2",
        {"state": "running", "node": "vmh3"},
    )
    assert msg.startswith("Package g1 was not moved: source node vmh1 went down during the online migration")
    assert "(hpvmmigrate: Source VM Host vmh1 is down.)" in msg
    assert (
        "Serviceguard shows vmh1 down, so package switching was re-enabled (cmmodpkg -e g1, run on vmh2)"
        in msg
    )
    assert msg.endswith("Serviceguard restarted g1 on vmh3.")
    assert "LEFT DISABLED" not in msg


@pytest.mark.parametrize(
    "pkg_now", [{"state": "halted", "node": None}, {"state": "starting", "node": None}, None]
)
def test_failover_message_when_serviceguard_has_not_started_it_yet(pkg_now):
    msg = vpkg_move.failover_message(_left_off(), vpkg_move.FAILOVER_ENABLE, "reason", "vmh2", pkg_now)
    assert "has not started it yet" in msg and msg.endswith("cmviewcl -v -p g1")
    assert f"(it shows {(pkg_now or {}).get('state') or 'no state'})" in msg


def test_failover_message_quotes_what_the_migration_said():
    left = _left_off()
    left["steps"].insert(0, {"step": "preflight", "result": True, "comment": "all checks passed"})
    msg = vpkg_move.failover_message(left, vpkg_move.FAILOVER_ENABLE, "reason", "vmh2", None)
    assert "(hpvmmigrate: Source VM Host vmh1 is down.)" in msg
    assert "all checks passed" not in msg


@pytest.mark.parametrize("state", ["starting", "detached"])
def test_failover_message_when_serviceguard_is_starting_the_package(state):
    pkg_now = {"state": state, "node": "vmh3"}
    msg = vpkg_move.failover_message(_left_off(), vpkg_move.FAILOVER_ENABLE, "reason", "vmh2", pkg_now)
    assert msg.endswith(f"Serviceguard shows g1 {state} on vmh3.")


def test_failover_message_when_switching_was_enabled_by_someone_else():
    msg = vpkg_move.failover_message(
        _left_off(),
        vpkg_move.FAILOVER_ALREADY,
        "package switching of g1 is already enabled again",
        None,
        {"state": "starting", "node": "vmh2"},
    )
    assert "cmmodpkg" not in msg and "Package switching of g1 is already enabled again" in msg
    assert msg.endswith("Serviceguard shows g1 starting on vmh2.")


def test_kept_note_says_why_switching_stays_off():
    assert vpkg_move.failover_kept_note("vmh2 shows guest g1 On") == (
        " The source node is down, but switching was not re-enabled automatically: vmh2 shows guest g1 On."
    )
