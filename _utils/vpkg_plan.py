"""The planner: evacuate a node, restore a recorded placement, rebalance the cluster.

Pure: the cluster of ``docs/data.md`` and a goal in, an ordered list of moves out. Every move is
checked against the state left by the moves before it, so the sequence run one move at a time
never overbooks a node (a move frees its source only once it is done). See ``docs/planner.md``.
"""

import math
import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity

# The single-move decisions live in vpkg_capacity; callers reach them through this module too.
preflight = vpkg_capacity.preflight
choose_target = vpkg_capacity.choose_target
checks_ok = vpkg_capacity.checks_ok

EPS = vpkg_capacity.EPSILON
# A rebalance move must lower the busier of its two nodes by at least this much relative
# utilisation: it keeps the planner from shuffling guests for gains nobody would notice.
BALANCE_TOLERANCE = 0.005
# Node expansions of the exact evacuation search run when the greedy pass leaves a guest behind.
SEARCH_BUDGET = 20000


class State:
    """The cluster as the plan leaves it so far: where each package runs and each node's load."""

    def __init__(self, cluster, reserved=None, migratable=None):
        vpkg_capacity.check_cluster(cluster)
        self.cluster = cluster
        self.packages = cluster["packages"]
        self.order = {name: i for i, name in enumerate(cluster["nodes"])}
        self.caps = {n: vpkg_capacity.node_capacities(node) for n, node in cluster["nodes"].items()}
        self.used = vpkg_capacity.used(cluster)
        if not isinstance(reserved or {}, dict) or not isinstance(migratable or {}, dict):
            raise ValueError("reserved must be {node: {capacity: amount}} and migratable {package: bool}")
        for node, held in (reserved or {}).items():
            for cap, amount in (held or {}).items():
                if cap in self.used.get(node, {}):
                    self.used[node][cap] += vpkg_capacity.number(amount, f"reserved {cap} on {node}")
        self.before = {n: dict(load) for n, load in self.used.items()}
        self.where = vpkg_capacity.where_up(cluster)
        self.index = vpkg_capacity.dependents_index(cluster)
        self.migratable = migratable or {}
        self.up = [
            n
            for n, node in cluster["nodes"].items()
            if node.get("status") == "up" and node.get("state") == "running"
        ]
        self.up_set = frozenset(self.up)
        self.on = {n: {} for n in cluster["nodes"]}  # node -> packages there, kept in step with where
        for name, node in self.where.items():
            self.on.setdefault(node, {})[name] = None
        names = vpkg_capacity.capacity_names(cluster)
        self.weights = {
            p: {c: vpkg_capacity.weight(cluster, pkg, c) for c in names} for p, pkg in self.packages.items()
        }
        self.total_guests = max(1, len(self.where))
        self.moves, self.unplaced = [], []
        self._static, self._need = {}, {}

    # -- what may move, and where -------------------------------------------------------------
    def why_not_movable(self, name):
        """None when the package can be moved online now, else the reason."""
        pkg = self.packages[name]
        if not pkg.get("vm_name"):
            return f"{name} is not a VM guest package"
        if pkg.get("state") != "running" or name not in self.where:
            return f"{name} is {pkg.get('state')}, not running"
        if self.where[name] not in self.up_set:
            return (
                f"{name} runs on {self.where[name]}, which is not up and running: no online migration from it"
            )
        if self.migratable.get(name) is False:
            return f"online migration is disabled for guest {pkg['vm_name']} (hpvmmodify -x online_migration)"
        return None

    def statically_eligible(self, name, node):
        pkg = self.packages[name]
        return (
            node in self.order
            and node in (pkg.get("node_list") or [])
            and (pkg.get("switching") or {}).get(node) is True
            and node in self.up_set
        )

    def static_targets(self, unit):
        """The nodes that every package of ``unit`` may run on (node list, switching, up), cached."""
        key = tuple(unit)
        if key not in self._static:
            allowed = None
            for p in unit:
                pkg = self.packages[p]
                switching = pkg.get("switching") or {}
                mine = {n for n in pkg.get("node_list") or [] if switching.get(n) is True} & self.up_set
                allowed = mine if allowed is None else allowed & mine
            self._static[key] = frozenset(allowed or ())
        return self._static[key]

    def need(self, unit):
        key = tuple(unit)
        if key not in self._need:
            names = next(iter(self.weights.values()), {})
            self._need[key] = {c: sum(self.weights[p][c] for p in unit) for c in names}
        return self._need[key]

    def can_take(self, unit, node, need):
        """Fast form of ``unit_problem(...) is None`` for a node among ``static_targets(unit)``."""
        if not self.fits(need, node):
            return False
        return not any(
            vpkg_capacity.dependency_problems(
                self.cluster, self.where, p, node, moving_with=unit, index=self.index
            )
            for p in unit
            if self.packages[p].get("dependencies") or p in self.index
        )

    def fits(self, need, node):
        used, caps = self.used[node], self.caps[node]
        return all(used[c] + need.get(c, 0.0) <= caps[c] + EPS for c in caps)

    def util(self, node, delta=None, sign=1):
        """Largest relative use of the node's capacities; uncapacitated nodes: share of all guests."""
        caps = self.caps[node]
        if not caps:
            count = len(self.on[node])
            return count / self.total_guests + (sign * len(delta or ()) / self.total_guests)
        used = self.used[node]
        worst = 0.0
        for c, cap in caps.items():
            value = used[c] + (sign * delta.get(c, 0.0) if delta else 0.0)
            worst = max(worst, value / cap if cap > 0 else (math.inf if value > EPS else 0.0))
        return worst

    def headroom(self, node, need):
        caps = self.caps[node]
        avail = {c: caps[c] - self.used[node][c] for c in caps}
        return vpkg_capacity.headroom(caps, avail, need)

    def unit_problem(self, unit, node, need=None):
        """None when every package of ``unit`` may go to ``node`` together now, else the reason."""
        if node in self.static_targets(unit) and self.can_take(unit, node, need or self.need(unit)):
            return None
        for name in unit:
            if not self.statically_eligible(name, node):
                return self._static_reason(name, node)
        if not self.fits(self.need(unit) if need is None else need, node):
            return f"{node} lacks capacity ({self._short(node, need or self.need(unit))})"
        for name in unit:
            problems = vpkg_capacity.dependency_problems(
                self.cluster, self.where, name, node, moving_with=unit, index=self.index
            )
            if problems:
                return problems[0]
        return None

    def _static_reason(self, name, node):
        pkg = self.packages[name]
        if node not in self.up_set:
            return f"{node} is not up and running"
        if node not in (pkg.get("node_list") or []):
            return f"{node} is not in {name}'s node list"
        return f"node switching of {name} is not enabled on {node}"

    def _short(self, node, need):
        caps = self.caps[node]
        return ", ".join(
            f"{c}: {caps[c] - self.used[node][c]:g} available, {need.get(c, 0.0):g} needed"
            for c in caps
            if self.used[node][c] + need.get(c, 0.0) > caps[c] + EPS
        )

    # -- changing the planned state -------------------------------------------------------------
    def apply(self, unit, node):
        """Plan the moves of ``unit`` to ``node``; returns what ``undo`` needs."""
        done = []
        for name in unit:
            source = self.where[name]
            for c, w in self.weights[name].items():
                if c in self.used[source]:
                    self.used[source][c] -= w
                if c in self.used[node]:
                    self.used[node][c] += w
            self.where[name] = node
            del self.on[source][name]
            self.on[node][name] = None
            move = {"package": name, "source": source, "target": node, "weights": dict(self.weights[name])}
            if len(unit) > 1:  # a same_node group: pass these as preflight's moving_with
                move["with"] = [p for p in unit if p != name]
            self.moves.append(move)
            done.append((name, source))
        return done

    def undo(self, done):
        for name, source in reversed(done):
            node = self.where[name]
            for c, w in self.weights[name].items():
                if c in self.used[node]:
                    self.used[node][c] -= w
                if c in self.used[source]:
                    self.used[source][c] += w
            self.where[name] = source
            del self.on[node][name]
            self.on[source][name] = None
            self.moves.pop()

    def report(self, name, reason):
        self.unplaced.append({"package": name, "reason": reason})

    def result(self, goal, **extra):
        capacity = {
            node: {
                c: {"capacity": cap, "before": cap - self.before[node][c], "after": cap - self.used[node][c]}
                for c, cap in caps.items()
            }
            for node, caps in self.caps.items()
            if caps
        }
        return {"goal": goal, "moves": self.moves, "unplaced": self.unplaced, "capacity": capacity, **extra}


def priority_key(state, name):
    """Higher priority first: lower number, ``no_priority`` (None) last; then by name."""
    prio = state.packages[name].get("priority")
    return (math.inf if prio is None else float(prio), name)


def units(state, names):
    """Group packages that must travel together: same_node 'up' dependencies on one node."""
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for name in names:
        for dep in state.packages[name].get("dependencies") or []:
            other = dep.get("package")
            same = str(dep.get("location")).lower() == "same_node"
            up = str(dep.get("condition") or "up").lower() == "up"
            if same and up and other in parent and state.where.get(other) == state.where.get(name):
                parent[find(name)] = find(other)
    groups = {}
    for name in names:
        groups.setdefault(find(name), []).append(name)
    return [sorted(g, key=lambda n: priority_key(state, n)) for g in groups.values()]


def unit_key(state, unit):
    """Placement order: best priority in the unit, then the bigger unit first (decreasing fit)."""
    need = state.need(unit)
    size = 0.0
    for c, w in need.items():
        largest = max((caps[c] for caps in state.caps.values() if c in caps), default=0.0)
        size = max(size, w / largest if largest > 0 else 0.0)
    return (min(priority_key(state, n)[0] for n in unit), -size, unit[0])


def plan(cluster, goal, migratable=None, reserved=None, budget=SEARCH_BUDGET):
    """Plan the moves that reach ``goal``; nothing is changed.

    ``goal`` is ``{"evacuate": node}``, ``{"restore": {package: node}}`` or
    ``{"rebalance": "balanced" | "minimal"}``. ``migratable`` maps packages to their guest's online
    migration flag (False: never moved, reported). ``reserved`` is capacity held by moves in flight.
    Returns ``{"goal", "moves", "unplaced", "capacity", ...}`` (docs/planner.md).
    """
    if not isinstance(goal, dict) or len(goal) != 1:
        raise ValueError(
            "goal must be one of {'evacuate': node}, {'restore': {package: node}}, {'rebalance': strategy}"
        )
    ((kind, arg),) = goal.items()
    state = State(cluster, reserved, migratable)
    if kind == "evacuate":
        if arg not in cluster["nodes"]:
            raise ValueError(f"cannot evacuate {arg!r}: no such node in the cluster")
        search = evacuate(state, arg, budget)
        return state.result(goal, search=search, left=sorted(p for p, n in state.where.items() if n == arg))
    if kind == "restore":
        if not isinstance(arg, dict) or not all(isinstance(x, str) for kv in arg.items() for x in kv):
            raise ValueError("restore needs the recorded placement {package: node}, names as strings")
        restore(state, arg)
        return state.result(goal)
    if kind == "rebalance":
        if arg == "balanced":
            balance(state)
        elif arg == "minimal":
            pack(state)
        else:
            raise ValueError(f"unknown rebalance strategy {arg!r}: use 'balanced' or 'minimal'")
        return state.result(goal)
    raise ValueError(f"unknown goal {kind!r}: use evacuate, restore or rebalance")


# -- evacuation -------------------------------------------------------------------------------
def evacuate(state, node, budget=SEARCH_BUDGET):
    """Move every guest off ``node``; returns how the placement was found ("greedy" / "exact" / ...)."""
    on_node = list(state.on[node])
    movable = []
    for group in units(state, on_node):
        blocked = {p: why for p in group if (why := state.why_not_movable(p))}
        if not blocked:
            movable.append(group)
            continue
        first = next(iter(blocked))
        for p in group:
            state.report(p, blocked.get(p) or f"moves together with {first} (same_node), which cannot move")
    movable.sort(key=lambda u: unit_key(state, u))
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
        key=lambda kv: priority_key(state, kv[0]) if kv[0] in state.packages else (math.inf, kv[0]),
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
        for g in units(state, [p for p in pending if placement[p] == n])
    ]
    groups.sort(key=lambda u: unit_key(state, u))
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


# -- rebalance --------------------------------------------------------------------------------
def _movable_units(state, source):
    # A guest moves at most once per plan: a second hop is a move the first should have made.
    moved = {m["package"] for m in state.moves}
    names = [p for p in state.on[source] if p not in moved]
    return [u for u in units(state, names) if not any(state.why_not_movable(p) for p in u)]


def balance(state, max_moves=None):
    """Lower the most utilised node first, one improving move at a time (see docs/planner.md).

    A move is taken only when the busier of its two nodes ends below the source's utilisation by
    BALANCE_TOLERANCE: the sorted vector of utilisations then decreases at every step, so the loop
    ends, and no move is pointless.
    """
    limit = len(state.where) if max_moves is None else max_moves
    nodes = list(state.up)
    utils = {n: state.util(n) for n in nodes}
    # Sources with no improving move, each with the nodes its guests may go to: it stays stuck until
    # one of those nodes gets lighter (a move's source) or it receives a guest (a move's target).
    stuck = {}
    while len(state.moves) < limit:
        by_load = sorted(nodes, key=lambda n: (-utils[n], state.order[n]))
        ascending = by_load[::-1]
        for source in by_load:
            if source in stuck:
                continue
            move = _best_relief(state, source, utils, ascending)
            if move is None:
                stuck[source] = frozenset().union(
                    *(state.static_targets(u) for u in _movable_units(state, source))
                )
                continue
            state.apply(*move)
            target = move[1]
            utils[source], utils[target] = state.util(source), state.util(target)
            stuck.pop(target, None)
            stuck = {
                n: t
                for n, t in stuck.items()
                if source not in t or utils[source] >= utils[n] - BALANCE_TOLERANCE
            }
            break
        else:
            return


def _best_relief(state, source, utils, ascending):
    """The move off ``source`` that leaves the busier of its two nodes least utilised, if it improves."""
    ceiling = utils[source] - BALANCE_TOLERANCE
    if utils[ascending[0]] >= ceiling:
        return None  # no node is low enough to take anything from this one
    best, best_key = None, None
    for unit in _movable_units(state, source):
        need = state.need(unit)
        allowed = state.static_targets(unit)
        if not any(utils[n] < ceiling for n in allowed if n != source):
            continue
        after_source = state.util(source, need if state.caps[source] else unit, -1)
        if after_source >= ceiling:
            continue
        for node in ascending:
            if utils[node] >= ceiling or (best_key and utils[node] > best_key[0]):
                break  # ascending: no later node can do better
            if node == source or node not in allowed or not state.can_take(unit, node, need):
                continue
            after = max(after_source, state.util(node, need if state.caps[node] else unit))
            key = (after, -priority_key(state, unit[0])[0], unit[0])
            if after < ceiling and (best_key is None or key < best_key):
                best, best_key = (unit, node), key
    return best


def pack(state):
    """Empty the least loaded nodes onto the others, whole nodes only (no partial, pointless moves).

    Candidates are tried from the least utilised; a node is emptied only if every guest on it finds
    a place (best fit: the fullest node that takes it), else its tentative moves are undone. A node
    that received guests is kept, so no guest moves twice.
    """
    kept, tried = set(), set()
    while True:
        loaded = [n for n in state.up if n not in kept and n not in tried and state.on[n]]
        if not loaded:
            return
        node = min(loaded, key=lambda n: (state.util(n), len(state.on[n]), state.order[n]))
        tried.add(node)
        on_node = list(state.on[node])
        if any(state.why_not_movable(p) for p in on_node):
            continue
        emptied = _emptied(state) | {node}
        targets = [n for n in state.up if n not in emptied and state.on[n]]
        applied = []
        for unit in sorted(units(state, on_node), key=lambda u: unit_key(state, u)):
            target = _fullest_fit(state, unit, targets)
            if target is None:
                break
            applied.append(state.apply(unit, target))
        else:
            kept.update(m["target"] for m in state.moves)
            continue
        for done in reversed(applied):
            state.undo(done)


def _emptied(state):
    return {m["source"] for m in state.moves}


def _fullest_fit(state, unit, targets):
    """Best fit: the eligible node left with the least relative headroom; ties: configuration order."""
    need = state.need(unit)
    best, best_key = None, None
    for node in targets:
        if state.unit_problem(unit, node, need) is None:
            key = (state.headroom(node, need), state.order[node])
            if best_key is None or key < best_key:
                best, best_key = node, key
    return best
