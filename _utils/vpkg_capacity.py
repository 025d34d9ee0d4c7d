"""Serviceguard capacity model and the preflight of one guest package move.

Pure functions on the cluster shape of ``docs/data.md``: nothing here runs a command or touches
Salt. The planner (``vpkg_plan``) builds on the same rules, so a move it plans passes ``preflight``
in the state it plans it for.

Serviceguard's rules (hp-cli.md section 4): a node with no capacity defined has infinite capacity;
a package that has no weight for a capacity name weighs the cluster default (``WEIGHT_DEFAULT``),
else 0, except ``package_limit`` whose default is 1; available = capacity - the weights of the
packages that hold the node (running, and the transitional states that still occupy it).
"""

import math

PACKAGE_LIMIT = "package_limit"

# States in which a package occupies its node's capacity. Halted and failed ones do not; a package
# in maintenance, detached, or between start and halt still does (hp-cli.md section 4).
COUNTED_STATES = frozenset(
    {
        "running",
        "detached",
        "starting",
        "start_wait",
        "halting",
        "halt_wait",
        "failing",
        "fail_wait",
        "relocate_wait",
        "maintenance",
    }
)

# Weights have at most 3 decimals; sums of floats must not refuse an exact fit.
EPSILON = 1e-6


def check_cluster(cluster):
    """Raise ``ValueError`` with a clear message unless ``cluster`` has the data.md shape we need."""
    if not isinstance(cluster, dict):
        raise ValueError(f"cluster data must be a dict, got {type(cluster).__name__}")
    for key in ("nodes", "packages"):
        if not isinstance(cluster.get(key), dict):
            raise ValueError(f"cluster data has no '{key}' mapping (expected serviceguard.cluster() output)")
    for name, node in cluster["nodes"].items():
        if not isinstance(node, dict):
            raise ValueError(f"node {name}: expected a dict, got {type(node).__name__}")
        for cap, entry in (node.get("capacities") or {}).items():
            number(entry.get("capacity") if isinstance(entry, dict) else None, f"node {name} capacity {cap}")
    for name, pkg in cluster["packages"].items():
        if not isinstance(pkg, dict):
            raise ValueError(f"package {name}: expected a dict, got {type(pkg).__name__}")
        for wname, value in (pkg.get("weights") or {}).items():
            number(value, f"package {name} weight {wname}")
        if not isinstance(pkg.get("node_list") or [], list):
            raise ValueError(f"package {name}: node_list must be a list")
        if pkg.get("priority") is not None:
            number(pkg["priority"], f"package {name} priority")
    for wname, value in (cluster.get("default_weights") or {}).items():
        number(value, f"default weight {wname}")


def number(value, what):
    """``value`` as a float, or ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{what} is not a number: {value!r}")
    return float(value)


def is_counted(package):
    """True when the package occupies capacity on ``package["node"]``."""
    return package.get("node") is not None and package.get("state") in COUNTED_STATES


def node_capacities(node):
    """``{capacity name: capacity value}`` of a node; empty means infinite."""
    return {name: float(entry["capacity"]) for name, entry in (node.get("capacities") or {}).items()}


def weight(cluster, package, name):
    """The package's effective weight for capacity ``name`` (explicit, cluster default, or 0/1)."""
    value = (package.get("weights") or {}).get(name)
    if value is None:
        value = (cluster.get("default_weights") or {}).get(name)
    if value is None:
        value = 1.0 if name == PACKAGE_LIMIT else 0.0
    return float(value)


def capacity_names(cluster):
    """Every capacity name defined on some node, in configuration order."""
    names = {}
    for node in cluster["nodes"].values():
        for name in node.get("capacities") or {}:
            names.setdefault(name, None)
    return list(names)


def weights(cluster, package):
    """``{capacity name: weight}`` for every capacity name of the cluster."""
    return {name: weight(cluster, package, name) for name in capacity_names(cluster)}


def used(cluster):
    """``{node: {capacity: sum of weights of the packages counted there}}`` for capacitated nodes."""
    caps = {name: node_capacities(node) for name, node in cluster["nodes"].items()}
    load = {name: dict.fromkeys(c, 0.0) for name, c in caps.items()}
    for pkg in cluster["packages"].values():
        node = pkg.get("node")
        if node in load and is_counted(pkg):
            for cap in load[node]:
                load[node][cap] += weight(cluster, pkg, cap)
    return load


def held(cluster, reserved, exclude=None):
    """Capacity held by moves in flight on their targets, ``{node: {capacity: amount}}``.

    ``reserved`` is either that mapping already, or the moves themselves as the master's registry
    keeps them (``[{package, target, weights}]``). A move holds its weights on its target until
    Serviceguard shows its package counted there; from then on ``used`` counts it, so it is never
    counted twice (an evacuation's next preflight may run while the previous move's reservation is
    still held). ``exclude`` is the package being checked: its own entry is its need, not a hold.
    """
    if not reserved:
        return {}
    if isinstance(reserved, dict):
        return reserved
    out = {}
    for entry in reserved:
        if entry["package"] == exclude:
            continue
        pkg = cluster["packages"].get(entry["package"]) or {}
        if pkg.get("node") == entry["target"] and is_counted(pkg):
            continue
        node = out.setdefault(entry["target"], {})
        for cap, amount in (entry.get("weights") or {}).items():
            node[cap] = node.get(cap, 0.0) + float(amount)
    return out


def available(cluster, node, reserved=None, load=None):
    """``{capacity: available}`` on ``node``, less what ``reserved`` holds there for moves in flight."""
    load = used(cluster) if load is None else load
    held = (reserved or {}).get(node) or {}
    caps = node_capacities(cluster["nodes"][node])
    return {cap: value - load[node][cap] - float(held.get(cap, 0.0)) for cap, value in caps.items()}


def headroom(caps, avail, need):
    """Smallest relative capacity left after adding ``need``: the 'most available' ranking key.

    Relative, so that capacities of different units compare; infinite for an uncapacitated node.
    """
    if not caps:
        return math.inf
    return min(((avail[c] - need.get(c, 0.0)) / caps[c]) if caps[c] > 0 else -math.inf for c in caps)


def dependents_index(cluster):
    """``{package: [(dependent package, dependency dict)]}``: who depends on whom."""
    index = {}
    for name, pkg in cluster["packages"].items():
        for dep in pkg.get("dependencies") or []:
            index.setdefault(dep.get("package"), []).append((name, dep))
    return index


def _rule(dep):
    return (str(dep.get("condition") or "up").lower(), str(dep.get("location") or "").lower())


def dependency_problems(cluster, where, name, target, *, index, moving_with=()):
    """Reasons why ``name`` on ``target`` would break a same_node / different_node dependency.

    ``where`` maps each package that is up to its node; ``moving_with`` names packages that go to
    ``target`` in the same operation (a same_node group). Both directions are checked: the
    package's own dependencies at the target, and the packages that depend on it (``index``, from
    :func:`dependents_index`, built once per view by the caller).
    """
    group = set(moving_with) | {name}

    def at(pkg):
        return target if pkg in group else where.get(pkg)

    problems = []
    for dep in cluster["packages"][name].get("dependencies") or []:
        other, (cond, loc) = dep.get("package"), _rule(dep)
        node = at(other)
        shown = f"on {node}" if node else "not running"
        if cond == "up" and loc == "same_node" and node != target:
            problems.append(f"{name} needs {other} up on the same node; {other} is {shown}")
        elif cond == "up" and loc == "different_node" and node == target:
            problems.append(f"{name} needs {other} up on a different node; {other} runs on {target}")
        elif cond == "down" and loc == "same_node" and node == target:
            problems.append(f"{name} needs {other} down on its node; {other} runs on {target}")
    for other, dep in index.get(name, []):
        node = at(other)
        if node is None:
            continue
        cond, loc = _rule(dep)
        if cond == "up" and loc == "same_node" and node != target:
            problems.append(f"{other} on {node} needs {name} up on the same node; move them together")
        elif cond == "up" and loc == "different_node" and node == target:
            problems.append(f"{other} on {target} needs {name} up on a different node")
        elif cond == "down" and loc == "same_node" and node == target:
            problems.append(f"{other} on {target} needs {name} down on its node")
    return problems


def where_up(cluster):
    """``{package: node}`` for every package that occupies a node."""
    return {name: pkg["node"] for name, pkg in cluster["packages"].items() if is_counted(pkg)}


def checks_ok(checks):
    """A preflight passes when every check passes (and there is at least one)."""
    return bool(checks) and all(check["ok"] for check in checks)


def preflight(cluster, package, target, reserved=None, source=None, *, moving_with=()):
    """Every Serviceguard-level check of moving ``package`` to ``target``; nothing raised for a failure.

    ``reserved`` is ``{node: {capacity: amount}}`` held by moves in flight; ``source``, when given,
    is where the caller believes the package runs; ``moving_with`` names packages moving to the same
    target in the same operation (same_node dependencies). Guest-level checks (online migration,
    ``hpvmmigrate -s``) are the caller's.
    """
    check_cluster(cluster)
    return _preflight(cluster, _context(cluster), package, target, reserved, source, moving_with)


def _context(cluster):
    """What every preflight of one cluster view needs, computed once (choose_target runs many)."""
    return {"load": used(cluster), "where": where_up(cluster), "index": dependents_index(cluster)}


def _preflight(cluster, ctx, package, target, reserved, source, moving_with):  # noqa: PLR0917
    checks = []

    def add(name, ok, reason):
        checks.append({"name": name, "ok": bool(ok), "reason": reason})

    pkg = cluster["packages"].get(package)
    node = cluster["nodes"].get(target)
    runs_on = pkg.get("node") if pkg else None
    add(
        "package",
        pkg is not None,
        f"package {package} exists" if pkg else f"no package {package} in the cluster",
    )
    if pkg is None:
        for name in ("guest", "running", "target", "node_list", "switching", "capacity", "dependencies"):
            add(name, False, f"not checked: no package {package}")
        return _result(package, source, target, checks)
    guest = pkg.get("vm_name")
    add(
        "guest",
        bool(guest),
        f"{package} is the package of guest {guest}" if guest else f"{package} is not a VM guest package",
    )
    running = pkg.get("state") == "running" and runs_on is not None
    if not running:
        add("running", False, f"{package} is {pkg.get('state') or 'in an unknown state'}, not running")
    elif source is not None and runs_on != source:
        add("running", False, f"{package} runs on {runs_on}, not on {source}")
    else:
        add("running", True, f"{package} runs on {runs_on}")
    source = runs_on if source is None else source
    if node is None:
        add("target", False, f"no node {target} in the cluster")
    elif target == runs_on:
        add("target", False, f"{package} already runs on {target}")
    elif node.get("status") != "up" or node.get("state") != "running":
        add("target", False, f"node {target} is {node.get('status')}/{node.get('state')}, not up/running")
    else:
        add("target", True, f"node {target} is up and running")
    in_list = target in (pkg.get("node_list") or [])
    add(
        "node_list",
        in_list,
        f"{target} is in {package}'s node list"
        if in_list
        else f"{target} is not in {package}'s node list {pkg.get('node_list') or []}",
    )
    switching = (pkg.get("switching") or {}).get(target)
    if not in_list:
        # cmmodpkg -e -n works only for a node of the package's node list: suggest nothing.
        add("switching", False, f"not checked: {target} is not in {package}'s node list")
    else:
        add(
            "switching",
            switching is True,
            f"node switching of {package} is enabled on {target}"
            if switching is True
            else f"node switching of {package} is {'not known' if switching is None else 'disabled'} "
            f"on {target} (cmmodpkg -e -n {target} {package})",
        )
    if node is None:
        add("capacity", False, f"not checked: no node {target}")
    else:
        # Companions already on the target are in its load; the others arrive with this package.
        group = [pkg] + [
            other
            for p in moving_with
            if p != package and (other := cluster["packages"].get(p)) and other.get("node") != target
        ]
        for check in _capacity_checks(cluster, ctx, group, target, reserved):
            add(*check)
    problems = dependency_problems(
        cluster, ctx["where"], package, target, moving_with=moving_with, index=ctx["index"]
    )
    add("dependencies", not problems, "; ".join(problems) or "dependencies respected on " + target)
    return _result(package, source, target, checks)


def _capacity_checks(cluster, ctx, group, target, reserved):
    """One (name, ok, reason) per capacity name of the target, for the packages of ``group``."""
    caps = node_capacities(cluster["nodes"][target])
    if not caps:
        return [("capacity", True, f"{target} defines no capacity (infinite)")]
    avail = available(cluster, target, reserved, ctx["load"])
    out = []
    for cap in caps:
        need = sum(weight(cluster, member, cap) for member in group)
        ok = need <= avail[cap] + EPSILON
        verb = "covers" if ok else "does not cover"
        out.append(
            (
                f"capacity:{cap}",
                ok,
                f"{target} has {_fmt(avail[cap])} of {cap} available (capacity {_fmt(caps[cap])}), "
                f"{verb} the weight {_fmt(need)}",
            )
        )
    return out


def _fmt(value):
    return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def _result(package, source, target, checks):
    return {"ok": checks_ok(checks), "package": package, "source": source, "target": target, "checks": checks}


def choose_target(cluster, package, reserved=None):
    """``(node, reasons)``: the eligible node with the most available capacity, or ``(None, reasons)``.

    Eligible means every ``preflight`` check passes. "Most available" is the largest smallest relative
    headroom left after the move (an uncapacitated node ranks first); ties go to node-list order.
    ``reasons`` maps each ineligible node to the reasons of its failed checks, joined by '; '.
    """
    check_cluster(cluster)
    pkg = cluster["packages"].get(package)
    order = list((pkg or {}).get("node_list") or [])
    order += [n for n in cluster["nodes"] if n not in order]
    ctx = _context(cluster)
    load = ctx["load"]
    best, best_key, reasons = None, None, {}
    for rank, node in enumerate(order):
        if pkg is not None and node == pkg.get("node"):
            continue
        result = _preflight(cluster, ctx, package, node, reserved, None, ())
        if not result["ok"]:
            reasons[node] = "; ".join(c["reason"] for c in result["checks"] if not c["ok"])
            continue
        caps = node_capacities(cluster["nodes"][node])
        key = (headroom(caps, available(cluster, node, reserved, load), weights(cluster, pkg)), -rank)
        if best_key is None or key > best_key:
            best, best_key = node, key
    return best, reasons
