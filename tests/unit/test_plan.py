"""The planner and the scheduler: hand-built cases for every goal, then properties on random clusters."""

import copy

import pytest
import vpkg_capacity
import vpkg_plan
import vpkg_schedule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_helpers import cluster, node, overbooked, package, replay


def three_nodes(caps=(10, 10, 10)):
    return [node(f"n{i + 1}", {"memory": c}) for i, c in enumerate(caps)]


def moved(result):
    return {m["package"]: m["target"] for m in result["moves"]}


def unplaced(result):
    return {u["package"]: u["reason"] for u in result["unplaced"]}


# -- evacuation ------------------------------------------------------------------------------------
def test_evacuation_moves_every_guest_and_reports_capacity_before_and_after():
    c = cluster(
        three_nodes(),
        [
            package("a", "n1", ["n1", "n2", "n3"], {"memory": 4}),
            package("b", "n1", ["n1", "n2", "n3"], {"memory": 3}),
            package("c", "n2", ["n2", "n1"], {"memory": 5}),
        ],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert set(moved(result)) == {"a", "b"} and result["unplaced"] == [] and result["left"] == []
    assert all(m["source"] == "n1" for m in result["moves"])
    # a (the bigger) goes first, to the node left with the most room (n3: 10 free); b then to n3
    # again (6 free, 3 left) rather than n2 (5 free, 2 left).
    assert result["moves"][0] == {"package": "a", "source": "n1", "target": "n3", "weights": {"memory": 4.0}}
    after = replay(c, result["moves"])
    for n, caps in result["capacity"].items():
        assert caps["memory"]["before"] == vpkg_capacity.available(c, n)["memory"]
        assert caps["memory"]["after"] == vpkg_capacity.available(after, n)["memory"]


def test_higher_priority_guest_is_placed_first_when_only_one_fits():
    c = cluster(
        three_nodes((10, 6, 0)),
        [
            package("low", "n1", ["n1", "n2"], {"memory": 5}, priority=None),
            package("high", "n1", ["n1", "n2"], {"memory": 6}, priority=100),
            package("mid", "n1", ["n1", "n2"], {"memory": 1}, priority=200),
        ],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert moved(result) == {"high": "n2"}
    assert set(unplaced(result)) == {"low", "mid"}
    assert "n2: n2 lacks capacity" in unplaced(result)["mid"]
    assert result["left"] == ["low", "mid"]


def test_guest_with_online_migration_disabled_is_never_moved_and_reported():
    c = cluster(
        three_nodes(), [package("a", "n1", ["n1", "n2"], {"memory": 1}), package("b", "n1", ["n1", "n2"])]
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"}, migratable={"a": False, "b": True})
    assert moved(result) == {"b": "n2"}
    assert "online migration is disabled" in unplaced(result)["a"]


def test_non_guest_and_not_running_packages_on_the_node_are_reported():
    c = cluster(
        three_nodes(),
        [
            package("plain", "n1", ["n1", "n2"], vm_name=None),
            package("det", "n1", ["n1", "n2"], state="detached"),
        ],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert result["moves"] == []
    assert "not a VM guest package" in unplaced(result)["plain"]
    assert "detached, not running" in unplaced(result)["det"]


def test_node_list_switching_and_down_nodes_are_respected():
    nodes = three_nodes((10, 100, 100))
    nodes[2]["status"], nodes[2]["state"] = "down", "unknown"
    g = package("g", "n1", ["n1", "n2", "n3"], {"memory": 1})
    g["switching"]["n2"] = False
    h = package("h", "n1", ["n1", "n3"], {"memory": 1})
    result = vpkg_plan.plan(cluster(nodes, [g, h]), {"evacuate": "n1"})
    assert result["moves"] == []
    assert "node switching of g is not enabled on n2" in unplaced(result)["g"]
    assert "n3 is not up and running" in unplaced(result)["h"]


def test_reserved_capacity_of_moves_in_flight_is_not_used():
    c = cluster(three_nodes((10, 10, 0)), [package("g", "n1", ["n1", "n2"], {"memory": 4})])
    assert moved(vpkg_plan.plan(c, {"evacuate": "n1"})) == {"g": "n2"}
    result = vpkg_plan.plan(c, {"evacuate": "n1"}, reserved={"n2": {"memory": 7}})
    assert result["moves"] == [] and "lacks capacity" in unplaced(result)["g"]


def test_same_node_dependency_group_moves_together_and_different_node_is_kept_apart():
    app = package("app", "n1", ["n1", "n2", "n3"], {"memory": 2})
    app["dependencies"] = [{"name": "d", "package": "db", "condition": "up", "location": "same_node"}]
    db = package("db", "n1", ["n1", "n2", "n3"], {"memory": 5})
    spare = package("spare", "n1", ["n1", "n2", "n3"], {"memory": 1})
    spare["dependencies"] = [{"name": "x", "package": "db", "condition": "up", "location": "different_node"}]
    c = cluster(three_nodes((10, 6, 8)), [app, db, spare])
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    # app + db (7) fit only on n3; spare must then avoid n3.
    assert moved(result) == {"app": "n3", "db": "n3", "spare": "n2"}
    group = {m["package"]: m.get("with") for m in result["moves"]}
    assert group == {"app": ["db"], "db": ["app"], "spare": None}
    # Alone, neither app nor db may leave: the other needs it on its node.
    assert not vpkg_capacity.preflight(c, "db", "n3")["ok"]
    assert overbooked(replay(c, result["moves"])) == []  # replay passes each move's "with"


def test_exact_search_places_what_worst_fit_leaves_behind():
    # Greedy (most headroom) puts the 7 on n2 (10), then the 6 on n3 (7), and the 4 fits nowhere;
    # 7 -> n3 and 6 + 4 -> n2 places all three.
    c = cluster(
        [node("n1", {"memory": 20}), node("n2", {"memory": 10}), node("n3", {"memory": 7})],
        [package(n, "n1", ["n1", "n2", "n3"], {"memory": w}) for n, w in (("a", 7), ("b", 6), ("c", 4))],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert result["search"] == "exact" and result["unplaced"] == []
    assert moved(result) == {"a": "n3", "b": "n2", "c": "n2"}
    assert overbooked(replay(c, result["moves"])) == []


def test_exact_search_never_gives_up_a_more_important_guest_for_two_others():
    c = cluster(
        [node("n1", {"memory": 20}), node("n2", {"memory": 10})],
        [
            package("vip", "n1", ["n1", "n2"], {"memory": 8}, priority=10),
            package("x", "n1", ["n1", "n2"], {"memory": 5}),
            package("y", "n1", ["n1", "n2"], {"memory": 5}),
        ],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert moved(result) == {"vip": "n2"} and set(unplaced(result)) == {"x", "y"}


def test_a_search_cut_short_by_its_budget_is_never_worse_than_greedy():
    c = cluster(
        [node("n1", {"memory": 20}), node("n2", {"memory": 10}), node("n3", {"memory": 7})],
        [package(n, "n1", ["n1", "n2", "n3"], {"memory": w}) for n, w in (("a", 7), ("b", 6), ("c", 4))],
    )
    result = vpkg_plan.plan(c, {"evacuate": "n1"}, budget=1)
    assert result["search"] == "exact-budget"
    assert moved(result) == {"a": "n2", "b": "n3"}  # the greedy placement stands
    assert set(unplaced(result)) == {"c"}


def test_guests_of_a_node_that_is_down_are_reported_not_moved():
    nodes = three_nodes()
    nodes[0]["status"], nodes[0]["state"] = "down", "unknown"
    c = cluster(nodes, [package("g", "n1", ["n1", "n2"], {"memory": 1})])
    result = vpkg_plan.plan(c, {"evacuate": "n1"})
    assert result["moves"] == [] and "not up and running" in unplaced(result)["g"]


def test_bad_goals_are_clear_errors():
    c = cluster(three_nodes(), [])
    for goal, text in [
        ({"evacuate": "n9"}, "no such node"),
        ({"rebalance": "random"}, "unknown rebalance strategy"),
        ({"restore": ["n1"]}, "recorded placement"),
        ({"restore": {"g": ["n1"]}}, "names as strings"),
        ({"teleport": 1}, "unknown goal"),
        ("evacuate n1", "goal must be"),
    ]:
        with pytest.raises(ValueError, match=text):
            vpkg_plan.plan(c, goal)


# -- restore ---------------------------------------------------------------------------------------
def test_restore_moves_back_in_an_order_that_frees_capacity_first():
    c = cluster(
        three_nodes((8, 8, 8)),
        [
            package("a", "n2", ["n1", "n2", "n3"], {"memory": 6}),
            package("b", "n3", ["n1", "n2", "n3"], {"memory": 2}),
            package("c", "n1", ["n1", "n2", "n3"], {"memory": 7}),
        ],
    )
    placement = {"a": "n1", "b": "n1", "c": "n2"}
    # a and c would swap n1 and n2: neither fits before the other leaves, and b needs a's room gone
    # too. Nothing is moved and each is reported.
    result = vpkg_plan.plan(c, {"restore": placement})
    assert result["moves"] == [] and set(unplaced(result)) == {"a", "b", "c"}
    assert "cannot go back to n1: n1 lacks capacity" in unplaced(result)["a"]
    # With c parked on a roomy n3 instead, a sequence exists: a and b home first, then c into the
    # room a left on n2.
    c["nodes"]["n3"]["capacities"]["memory"]["capacity"] = 20.0
    c["packages"]["c"]["node"] = "n3"
    result = vpkg_plan.plan(c, {"restore": placement})
    assert moved(result) == placement and result["unplaced"] == []
    order = [m["package"] for m in result["moves"]]
    assert order.index("a") < order.index("c")
    assert overbooked(replay(c, result["moves"])) == []


def test_restore_reports_what_it_cannot_do_and_skips_what_is_in_place():
    c = cluster(
        three_nodes(),
        [
            package("home", "n1", ["n1", "n2"], {"memory": 1}),
            package("off", None, ["n1", "n2"], {"memory": 1}),
            package("frozen", "n2", ["n1", "n2"], {"memory": 1}),
        ],
    )
    placement = {"home": "n1", "off": "n1", "frozen": "n1", "gone": "n1", "odd": "n7"}
    c["packages"]["odd"] = package("odd", "n2", ["n1", "n2"])
    result = vpkg_plan.plan(c, {"restore": placement}, migratable={"frozen": False})
    reasons = unplaced(result)
    assert result["moves"] == [] and "home" not in reasons
    assert "halted" in reasons["off"] and "online migration is disabled" in reasons["frozen"]
    assert "no longer a package" in reasons["gone"] and "not a node of the cluster" in reasons["odd"]


# -- rebalance -------------------------------------------------------------------------------------
def max_util(c):
    load = vpkg_capacity.used(c)
    return max(
        load[n][k] / v for n, nd in c["nodes"].items() for k, v in vpkg_capacity.node_capacities(nd).items()
    )


def test_balanced_lowers_the_peak_with_few_moves():
    everywhere = ["n1", "n2", "n3"]
    c = cluster(three_nodes(), [package(f"g{i}", "n1", everywhere, {"memory": 2}) for i in range(4)])
    result = vpkg_plan.plan(c, {"rebalance": "balanced"})
    after = replay(c, result["moves"])
    assert max_util(c) == 0.8 and max_util(after) == pytest.approx(0.4)
    assert len(result["moves"]) == 2  # 8 memory over three 10s: 4/2/2 is as flat as 2-weight guests go
    again = vpkg_plan.plan(after, {"rebalance": "balanced"})
    assert again["moves"] == []  # balanced already: nothing pointless


def test_balanced_without_capacities_spreads_the_guest_count():
    everywhere = ["n1", "n2", "n3"]
    c = cluster([node("n1"), node("n2"), node("n3")], [package(f"g{i}", "n1", everywhere) for i in range(6)])
    after = replay(c, vpkg_plan.plan(c, {"rebalance": "balanced"})["moves"])
    counts = sorted(sum(p["node"] == n for p in after["packages"].values()) for n in everywhere)
    assert counts == [2, 2, 2]


def test_restore_moves_a_same_node_group_back_together():
    app = package("app", "n2", ["n1", "n2"], {"memory": 2})
    app["dependencies"] = [{"name": "d", "package": "db", "condition": "up", "location": "same_node"}]
    c = cluster(three_nodes((10, 10, 10)), [app, package("db", "n2", ["n1", "n2"], {"memory": 5})])
    result = vpkg_plan.plan(c, {"restore": {"app": "n1", "db": "n1"}})
    assert moved(result) == {"app": "n1", "db": "n1"}
    assert all(m.get("with") for m in result["moves"])
    replay(c, result["moves"])


def test_minimal_empties_the_lightest_node_onto_the_others():
    everywhere = ["n1", "n2", "n3"]
    c = cluster(
        three_nodes(),
        [
            package("a", "n1", everywhere, {"memory": 6}),
            package("b", "n2", everywhere, {"memory": 5}),
            package("c", "n3", everywhere, {"memory": 2}),
            package("d", "n3", everywhere, {"memory": 2}),
        ],
    )
    result = vpkg_plan.plan(c, {"rebalance": "minimal"})
    after = replay(c, result["moves"])
    used_nodes = {p["node"] for p in after["packages"].values()}
    assert len(used_nodes) == 2 and overbooked(after) == []
    assert {m["source"] for m in result["moves"]} == {"n3"}  # the lightest node is the one emptied
    assert vpkg_plan.plan(after, {"rebalance": "minimal"})["moves"] == []


def test_minimal_leaves_a_node_alone_when_one_of_its_guests_cannot_move():
    c = cluster(three_nodes(), [package("a", "n1", ["n1", "n2"], {"memory": 1}), package("b", "n1", ["n1"])])
    c["packages"]["z"] = package("z", "n2", ["n2", "n1"], {"memory": 9})
    result = vpkg_plan.plan(c, {"rebalance": "minimal"})
    assert all(m["source"] != "n1" for m in result["moves"])


def test_plans_are_deterministic():
    c = random_cluster_example()
    for goal in ({"evacuate": "n0"}, {"rebalance": "balanced"}, {"rebalance": "minimal"}):
        assert vpkg_plan.plan(copy.deepcopy(c), goal) == vpkg_plan.plan(copy.deepcopy(c), goal)


# -- scheduler -------------------------------------------------------------------------------------
def mv(p, s, t):
    return {"package": p, "source": s, "target": t, "weights": {}}


def waves(moves):
    """Start every runnable move, wait for all of them, repeat: what an executor does at worst."""
    pending, out = list(moves), []
    while pending:
        wave = vpkg_schedule.next_runnable(pending)
        assert wave, f"nothing runnable among {pending}"
        pending = [m for m in pending if all(m is not w for w in wave)]
        out.append(wave)
    return out


def test_disjoint_host_pairs_run_together_and_one_migration_per_host():
    moves = [mv("a", "n1", "n2"), mv("b", "n3", "n4"), mv("c", "n1", "n3"), mv("d", "n5", "n6")]
    assert [[m["package"] for m in w] for w in waves(moves)] == [["a", "b", "d"], ["c"]]


def test_a_move_into_a_node_waits_for_the_earlier_move_out_of_it():
    # x leaves n2 (for n3) to make room for y coming from n1: y must not start first.
    moves = [mv("x", "n2", "n3"), mv("y", "n1", "n2"), mv("z", "n4", "n5")]
    assert [[m["package"] for m in w] for w in waves(moves)] == [["x", "z"], ["y"]]
    # Moves out of a node need not wait for earlier moves into it.
    moves = [mv("p", "n1", "n2"), mv("q", "n3", "n4"), mv("r", "n5", "n3")]
    first = vpkg_schedule.next_runnable(moves)
    assert [m["package"] for m in first] == ["p", "q"]
    assert vpkg_schedule.next_runnable(moves[2:], running=[moves[1]]) == []  # n3 busy with q
    assert vpkg_schedule.next_runnable(moves[2:]) == [moves[2]]


def test_pipelining_queues_one_move_behind_a_migrating_source():
    a, b, c = mv("a", "n1", "n2"), mv("b", "n1", "n3"), mv("c", "n1", "n4")
    # Without pipelining, n1 is busy while a migrates.
    assert vpkg_schedule.next_runnable([b, c], running=[a]) == []
    # With it, b may wait on n1 for the slot (its target n3 is free); c may not queue behind b.
    assert vpkg_schedule.next_runnable([b, c], running=[a], queued=[]) == [b]
    assert vpkg_schedule.next_runnable([c], running=[a], queued=[b]) == []
    # Once b migrates (a finishing), c may queue behind it.
    assert vpkg_schedule.next_runnable([c], running=[b], queued=[]) == [c]


def test_pipelining_never_queues_on_a_busy_target_or_a_source_that_receives():
    a = mv("a", "n1", "n2")
    assert vpkg_schedule.next_runnable([mv("b", "n1", "n2")], running=[a], queued=[]) == []  # n2 busy
    assert vpkg_schedule.next_runnable([mv("b", "n2", "n3")], running=[a], queued=[]) == []  # n2 receives
    q = mv("q", "n5", "n3")
    assert vpkg_schedule.next_runnable([mv("b", "n1", "n3")], running=[a], queued=[q]) == []  # n3 held by q
    # A queued move's source may not queue another one, even with its own target free.
    assert vpkg_schedule.next_runnable([mv("c", "n5", "n6")], running=[a], queued=[q]) == []
    # Rule 2 still holds: a move into a node an earlier pending move touches waits.
    assert vpkg_schedule.next_runnable(
        [mv("x", "n3", "n4"), mv("y", "n1", "n3")], running=[a], queued=[]
    ) == [mv("x", "n3", "n4")]


def test_next_runnable_holds_a_move_whose_target_lacks_capacity_now():
    c = cluster(
        three_nodes((10, 5, 10)),
        [package("x", "n2", ["n2", "n3"], {"memory": 5}), package("y", "n1", ["n1", "n2"], {"memory": 4})],
    )
    plan_ = [mv("x", "n2", "n3"), mv("y", "n1", "n2")]
    # x failed and is still on n2: y must not be started into a full n2.
    assert vpkg_schedule.next_runnable(plan_[1:], cluster=c) == []
    c["packages"]["x"]["node"] = "n3"
    assert vpkg_schedule.next_runnable(plan_[1:], cluster=c) == plan_[1:]
    c["packages"]["y"]["weights"]["memory"] = 5.0  # exactly n2's 5 available: it fits
    assert vpkg_schedule.next_runnable(plan_[1:], cluster=c) == plan_[1:]
    # A package or a target the view no longer has is not started (and does not raise).
    assert vpkg_schedule.next_runnable([mv("y", "n1", "n9")], cluster=c) == []
    assert vpkg_schedule.next_runnable([mv("gone", "n1", "n2")], cluster=c) == []


# -- properties on random clusters ---------------------------------------------------------------
@st.composite
def random_clusters(draw):
    n_nodes = draw(st.integers(2, 5))
    names = [f"n{i}" for i in range(n_nodes)]
    cap_names = draw(st.sampled_from([[], ["memory"], ["memory", "cpu"], ["package_limit"]]))
    nodes = []
    for name in names:
        caps = {c: draw(st.integers(0, 12)) for c in cap_names} if draw(st.integers(0, 5)) else {}
        down = draw(st.integers(0, 7)) == 0
        nodes.append(node(name, caps, "down" if down else "up", "unknown" if down else "running"))
    packages = []
    for i in range(draw(st.integers(0, 9))):
        node_list = draw(st.lists(st.sampled_from(names), min_size=1, max_size=n_nodes, unique=True))
        pkg = package(
            f"g{i}",
            draw(st.sampled_from([*node_list, None])),
            node_list,
            {c: draw(st.integers(0, 6)) for c in cap_names if c != "package_limit"},
            priority=draw(st.sampled_from([None, None, 10 * (i + 1)])),
        )
        pkg["switching"] = {n: draw(st.booleans()) or draw(st.booleans()) for n in node_list}
        packages.append(pkg)
    c = cluster(nodes, packages, default_weights={"cpu": 1} if "cpu" in cap_names else {})
    # Serviceguard never lets a package run on a down node, nor start one past a capacity.
    for pkg in packages:
        if pkg["node"] and (c["nodes"][pkg["node"]]["status"] != "up" or overbooked(c)):
            pkg["node"], pkg["state"] = None, "halted"
    while overbooked(c):
        victim = next(p for p in packages if p["node"] in {n for n, _ in overbooked(c)})
        victim["node"], victim["state"] = None, "halted"
    for pkg in packages:  # a few Serviceguard dependencies, some already unmet (the planner must cope)
        if len(packages) > 1 and draw(st.integers(0, 4)) == 0:
            other = draw(st.sampled_from([p["name"] for p in packages if p is not pkg]))
            location = draw(st.sampled_from(["same_node", "different_node"]))
            pkg["dependencies"] = [{"name": "dep", "package": other, "condition": "up", "location": location}]
    migratable = {p["name"]: draw(st.integers(0, 5)) > 0 for p in packages}
    goal = draw(
        st.sampled_from(
            [
                {"evacuate": names[0]},
                {"evacuate": names[-1]},
                {"rebalance": "balanced"},
                {"rebalance": "minimal"},
            ]
        )
    )
    return c, migratable, goal


def random_cluster_example():
    nodes = [node(f"n{i}", {"memory": 16, "cpu": 8}) for i in range(4)]
    pkgs = [
        package(f"g{i}", f"n{i % 3}", [f"n{(i + k) % 4}" for k in range(3)], {"memory": 1 + i % 5, "cpu": 1})
        for i in range(12)
    ]
    return cluster(nodes, pkgs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_clusters())
def test_plans_never_overbook_and_respect_every_rule(case):
    c, migratable, goal = case
    before = copy.deepcopy(c)
    result = vpkg_plan.plan(c, goal, migratable=migratable)
    assert c == before  # pure: the input is not changed
    names = [m["package"] for m in result["moves"]]
    assert len(names) == len(set(names))  # every package ends on one node, moved at most once
    for m in result["moves"]:
        pkg = c["packages"][m["package"]]
        assert migratable[m["package"]] and pkg["vm_name"]
        assert m["target"] in pkg["node_list"] and pkg["switching"][m["target"]]
        assert c["nodes"][m["target"]]["status"] == "up"
    # Every prefix is feasible: replay checks each move's preflight in the state it meets.
    after = replay(c, result["moves"])
    assert overbooked(after) == []
    reported = {u["package"] for u in result["unplaced"]}
    assert not reported & set(names)
    if "evacuate" in goal:
        left = {p for p, pkg in after["packages"].items() if pkg["node"] == goal["evacuate"]}
        left = {p for p in left if vpkg_capacity.is_counted(after["packages"][p])}
        assert left == reported == set(result["left"])  # everything left behind is reported
    # The scheduler keeps every wave feasible too: run the waves in order, each wave at once.
    state = copy.deepcopy(c)
    for wave in waves(result["moves"]):
        hosts = [h for m in wave for h in (m["source"], m["target"])]
        assert len(hosts) == len(set(hosts))
        load = vpkg_capacity.used(state)
        for m in wave:  # started together: each target must cover it before any of them finishes
            avail = vpkg_capacity.available(state, m["target"], load=load)
            assert all(m["weights"].get(k, 0.0) <= a + 1e-6 for k, a in avail.items())
        for m in wave:
            state["packages"][m["package"]]["node"] = m["target"]
