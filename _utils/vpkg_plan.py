"""The planner: evacuate a node, restore a recorded placement, rebalance the cluster.

Pure: the cluster of ``docs/data.md`` and a goal in, an ordered list of moves out. Every move is
checked against the state left by the moves before it (``vpkg_plan_state``), so the sequence run
one move at a time never overbooks a node (a move frees its source only once it is done). The
strategies are registered in ``STRATEGIES``: one entry per way of planning, which the runner, the
node-level operations and the docs take from there. See ``docs/planner.md``.
"""

import dataclasses
import math
import pathlib
from collections.abc import Callable

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity, vpkg_plan_state, vpkg_rebalance
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_plan_state
    import vpkg_rebalance

# The single-move decisions live in vpkg_capacity; callers reach them through this module too.
preflight = vpkg_capacity.preflight
choose_target = vpkg_capacity.choose_target
checks_ok = vpkg_capacity.checks_ok

# Node expansions of the exact evacuation search run when the greedy pass leaves a guest behind.
SEARCH_BUDGET = 20000


@dataclasses.dataclass(frozen=True)
class Strategy:
    """One way of planning, registered in ``STRATEGIES`` under its name."""

    goal: str  # the key of the goal it reaches: {"evacuate": node}, {"rebalance": "balanced"}, ...
    # What the goal's value is when the strategy is named after its goal ("node"), else None: the
    # value then names the strategy ({"rebalance": "minimal"}).
    argument: str | None
    plan: Callable  # (state, value, budget) -> the result's own keys; ValueError for a bad value
    sources: Callable  # (cluster, value) -> the nodes whose guests the plan may move


def _evacuate(state, node, budget):
    if not isinstance(node, str) or node not in state.cluster["nodes"]:
        raise ValueError(f"cannot evacuate {node!r}: no such node in the cluster")
    search = evacuate(state, node, budget)
    return {"search": search, "left": sorted(p for p, n in state.where.items() if n == node)}


def _restore(state, placement, _budget):
    if not isinstance(placement, dict) or not all(isinstance(x, str) for kv in placement.items() for x in kv):
        raise ValueError("restore needs the recorded placement {package: node}, names as strings")
    restore(state, placement)
    return {}


def _balanced(state, _value, _budget):
    vpkg_rebalance.balance(state)
    return {}


def _minimal(state, _value, _budget):
    vpkg_rebalance.pack(state)
    return {}


def _running_nodes(cluster, _value):
    return {pkg["node"] for pkg in cluster["packages"].values() if pkg.get("node")}


def _placed_nodes(cluster, placement):
    """Where the packages of a recorded placement run now: the guests a restore moves leave those."""
    packages = cluster["packages"]
    return {packages[p].get("node") for p in placement if p in packages} - {None}


STRATEGIES = {
    "evacuate": Strategy("evacuate", "node", _evacuate, lambda _cluster, node: {node}),
    "restore": Strategy("restore", "{package: node}", _restore, _placed_nodes),
    "balanced": Strategy("rebalance", None, _balanced, _running_nodes),
    "minimal": Strategy("rebalance", None, _minimal, _running_nodes),
}


def named(goal):
    """The names of the strategies that reach ``goal`` (a goal's key), in registry order."""
    return [name for name, s in STRATEGIES.items() if s.goal == goal]


def goals():
    """The goals the registered strategies reach, in registry order."""
    return list(dict.fromkeys(s.goal for s in STRATEGIES.values()))


def _forms():
    def value(goal):
        return STRATEGIES[goal].argument if goal in STRATEGIES else " | ".join(map(repr, named(goal)))

    return ", ".join(f"{{{goal!r}: {value(goal)}}}" for goal in goals())


def find(goal):
    """The ``Strategy`` that reaches ``goal`` and the goal's value; ValueError with the accepted forms."""
    if not isinstance(goal, dict) or len(goal) != 1:
        raise ValueError(f"goal must be one of {_forms()}")
    ((key, value),) = goal.items()
    choices = named(key)
    if not choices:
        raise ValueError(f"unknown goal {key!r}: use {', '.join(goals())}")
    if key in choices:
        return STRATEGIES[key], value
    if isinstance(value, str) and value in choices:
        return STRATEGIES[value], value
    raise ValueError(f"unknown {key} strategy {value!r}: use {' or '.join(map(repr, choices))}")


def sources(cluster, goal):
    """The nodes whose guests a plan for ``goal`` may move (their online migration flags matter)."""
    strategy, value = find(goal)
    return strategy.sources(cluster, value)


def plan(cluster, goal, migratable=None, reserved=None, budget=SEARCH_BUDGET):
    """Plan the moves that reach ``goal``; nothing is changed.

    ``goal`` is ``{"evacuate": node}``, ``{"restore": {package: node}}`` or
    ``{"rebalance": "balanced" | "minimal"}`` (``STRATEGIES``). ``migratable`` maps packages to
    their guest's online migration flag (False: never moved, reported). ``reserved`` is capacity
    held by moves in flight. Returns ``{"goal", "moves", "unplaced", "capacity", ...}``
    (docs/planner.md).
    """
    strategy, value = find(goal)
    state = vpkg_plan_state.State(cluster, reserved, migratable)
    return state.result(goal, **strategy.plan(state, value, budget))


# -- evacuation -------------------------------------------------------------------------------
def evacuate(state, node, budget=SEARCH_BUDGET):
    """Move every guest off ``node``; returns how the placement was found ("greedy" / "exact" / ...)."""
    on_node = list(state.on[node])
    movable = []
    for group in vpkg_plan_state.units(state, on_node):
        blocked = {p: why for p in group if (why := state.why_not_movable(p))}
        if not blocked:
            movable.append(group)
            continue
        first = next(iter(blocked))
        for p in group:
            state.report(p, blocked.get(p) or f"moves together with {first} (same_node), which cannot move")
    movable.sort(key=lambda u: vpkg_plan_state.unit_key(state, u))
    targets = [n for n in state.up if n != node]
    assignment = []
    for unit in movable:
        best = _best_target(state, unit, targets)
        if best is not None:
            assignment.append((unit, best, state.apply(unit, best)))
    how = "greedy"
    if len(assignment) < len(movable):
        for _unit, _node, done in reversed(assignment):
            state.undo(done)
        chosen, how = _exact(state, movable, targets, [(u, n) for u, n, _ in assignment], budget)
        for unit, target in chosen:
            state.apply(unit, target)
        assignment = [(u, n, None) for u, n in chosen]
    placed = {id(u) for u, _n, _d in assignment}
    for unit in movable:
        if id(unit) not in placed:
            for p in unit:
                state.report(p, _why_nowhere(state, unit, targets))
    return how


def _best_target(state, unit, targets):
    """The eligible node left with the most relative headroom; ties go to node-list order."""
    need = state.need(unit)
    best, best_key = None, None
    rank = {n: i for i, n in enumerate(state.packages[unit[0]].get("node_list") or [])}
    for node in targets:
        if state.unit_problem(unit, node, need) is None:
            key = (state.headroom(node, need), -rank.get(node, len(rank) + state.order[node]))
            if best_key is None or key > best_key:
                best, best_key = node, key
    return best


def _why_nowhere(state, unit, targets):
    """Why no node takes the unit: a reason for every other node of its node list."""
    here = state.where.get(unit[0])
    listed = [n for n in state.packages[unit[0]].get("node_list") or [] if n != here]
    if not listed:
        return f"{unit[0]}'s node list has no other node"
    return "no node can take it: " + "; ".join(
        f"{n}: {state.unit_problem(unit, n) if n in state.order else 'not a node of the cluster'}"
        for n in listed
    )


def _exact(state, movable, targets, greedy, budget):
    """Depth-first branch and bound over the evacuees, started from the greedy placement.

    Objective, lexicographic: each unit holding a prioritised package, in priority order (a more
    important guest is never given up to place less important ones), then the number of packages
    placed. Evacuation only adds load to the targets, so an assignment that fits at the end fits at
    every prefix in the same order. ``budget`` bounds the target checks; the result says whether
    the search finished ("exact") or the greedy-or-better placement stands ("exact-budget").
    """
    # A unit that fits no target before anything is placed fits none later (targets only fill up):
    # it is out of the search, and if that leaves nothing to gain the greedy placement is optimal.
    chosen = {id(u): n for u, n in greedy}
    placeable = [u for u in movable if any(state.unit_problem(u, n) is None for n in targets)]
    if all(id(u) in chosen for u in placeable):
        return greedy, "greedy"
    sizes = [len(u) for u in placeable]
    ranked = [any(state.packages[p].get("priority") is not None for p in u) for u in placeable]
    flags = tuple(1 if id(u) in chosen else 0 for u, r in zip(placeable, ranked, strict=True) if r)
    best = {"key": flags + (sum(s for u, s in zip(placeable, sizes, strict=True) if id(u) in chosen),)}
    best["plan"] = greedy
    left = {"budget": budget}
    path = []

    def dfs(i, flags, count):
        optimistic = (
            flags + tuple(1 for k in range(i, len(placeable)) if ranked[k]) + (count + sum(sizes[i:]),)
        )
        if optimistic <= best["key"] or left["budget"] <= 0:
            return
        if i == len(placeable):
            best["key"], best["plan"] = flags + (count,), list(path)
            return
        unit, need = placeable[i], state.need(placeable[i])
        left["budget"] -= len(targets)
        fitting = [n for n in targets if state.unit_problem(unit, n, need) is None]
        for node in sorted(fitting, key=lambda n: -state.headroom(n, need)):
            done = state.apply(unit, node)
            path.append((unit, node))
            dfs(i + 1, flags + ((1,) if ranked[i] else ()), count + sizes[i])
            path.pop()
            state.undo(done)
        dfs(i + 1, flags + ((0,) if ranked[i] else ()), count)

    dfs(0, (), 0)
    return best["plan"], "exact" if left["budget"] > 0 else "exact-budget"


# -- restore ----------------------------------------------------------------------------------
def restore(state, placement):
    """Move each recorded package back to its recorded node when it runs elsewhere and fits.

    Passes repeat while they make progress, so a guest whose node is still full waits for the
    guests that leave that node earlier in the plan.
    """
    pending = []
    for name, node in sorted(
        placement.items(),
        key=lambda kv: (
            vpkg_plan_state.priority_key(state, kv[0]) if kv[0] in state.packages else (math.inf, kv[0])
        ),
    ):
        if name not in state.packages:
            state.report(name, f"{name} is no longer a package of the cluster")
        elif node not in state.order:
            state.report(name, f"recorded node {node} is not a node of the cluster")
        elif state.where.get(name) == node:
            continue
        elif why := state.why_not_movable(name):
            state.report(name, why)
        else:
            pending.append(name)
    groups = [
        g
        for n in sorted({placement[p] for p in pending}, key=state.order.get)
        for g in vpkg_plan_state.units(state, [p for p in pending if placement[p] == n])
    ]
    groups.sort(key=lambda u: vpkg_plan_state.unit_key(state, u))
    progress = True
    while groups and progress:
        progress, waiting = False, []
        for unit in groups:
            if state.unit_problem(unit, placement[unit[0]]) is None:
                state.apply(unit, placement[unit[0]])
                progress = True
            else:
                waiting.append(unit)
        groups = waiting
    for unit in groups:
        for p in unit:
            state.report(p, f"cannot go back to {placement[p]}: {state.unit_problem(unit, placement[p])}")
