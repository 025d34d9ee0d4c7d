"""The planner's model: the cluster as a plan leaves it so far, and the order guests are placed in.

Pure, like the rest of the planner (``vpkg_plan``): ``State`` starts from the cluster of
``docs/data.md`` and applies planned moves to itself, so each move is checked against the state the
moves before it leave. ``units`` groups the packages that must travel together, ``unit_key`` orders
them (priority, then size).
"""

import math
import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity, vpkg_results
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_results

EPS = vpkg_capacity.EPSILON


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
        self.moves, self.unplaced = [], []  # moves: vpkg_results.PlannedMove
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
            group = [p for p in unit if p != name] if len(unit) > 1 else None
            self.moves.append(vpkg_results.PlannedMove(name, source, node, self.weights[name], group))
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
        moves = [m.to_dict() for m in self.moves]
        return {"goal": goal, "moves": moves, "unplaced": self.unplaced, "capacity": capacity, **extra}


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
