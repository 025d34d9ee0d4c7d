"""Serviceguard and Integrity VM semantics on the state dict (pure: state in, state changed).

Vocabulary: a package's *owner* is the node Serviceguard counts it on: the node it runs on, or,
for a detached package (live application detach), the node its guest runs on. Capacity used on
a node is the sum of the weights of the packages it owns plus the weights reserved there by an
in-flight ``cmmovevpkg`` migration.
"""

EPSILON = 1e-9

# Why a start is refused; the texts follow formats.md.
NOT_ELIGIBLE = "Node is not eligible."


def owner(st, pkg):
    """The node Serviceguard counts ``pkg`` on, or None."""
    state = pkg["state"]
    if state == "running":
        return pkg["node"]
    if state == "detached":
        guest = st["guests"].get(pkg["vm_name"]) if pkg["vm_name"] else None
        if guest is not None and guest["runs_on"]:
            return guest["runs_on"]
        return pkg["node"]
    return None


def capacity_usage(st):
    """``{node: {capacity: used}}`` for every node, reservations of in-flight moves included."""
    names = st["capacity_names"]
    usage = {n: dict.fromkeys(names, 0.0) for n in st["nodes"]}
    packages = st["packages"]
    for pkg in packages.values():
        node = owner(st, pkg)
        if node is not None:
            _add(usage[node], pkg["weights"])
    for rec in st["migrations"].values():
        if rec.get("package") and rec["target"] in usage:
            _add(usage[rec["target"]], packages[rec["package"]]["weights"])
    return usage


def _add(used, weights):
    for name, value in weights.items():
        if name in used:
            used[name] += value


def available(st, node, usage):
    """``{capacity: available}`` for ``node``; capacities it does not define are absent (infinite)."""
    caps = st["nodes"][node]["capacities"]
    return {name: value - usage[node].get(name, 0.0) for name, value in caps.items()}


def capacity_shortfall(st, pkg, node, usage):
    """The first weight name of ``pkg`` that exceeds ``node``'s available capacity, or None.

    ``pkg`` is excluded from the usage when it is already counted on ``node`` (adoption).
    """
    caps = st["nodes"][node]["capacities"]
    counted_here = owner(st, pkg) == node
    for name, value in caps.items():
        weight = pkg["weights"].get(name, 0.0)
        used = usage[node].get(name, 0.0) - (weight if counted_here else 0.0)
        if weight > value - used + EPSILON:
            return name
    return None


def free_memory(st, node):
    """Host memory minus running guests and guests migrating in."""
    used = sum(g["memory_mb"] for g in st["guests"].values() if g["runs_on"] == node)
    used += sum(
        st["guests"][r["guest"]]["memory_mb"] for r in st["migrations"].values() if r["target"] == node
    )
    return st["nodes"][node]["memory_mb"] - used


def dependency_unmet(st, pkg, node):
    """The name of the first dependency of ``pkg`` not met on ``node``, or None."""
    for dep in pkg["dependencies"]:
        other = st["packages"][dep["package"]]
        where = owner(st, other) if other["state"] == "running" else None
        if dep["condition"] == "up":
            ok = {
                "same_node": where == node,
                "different_node": where is not None and where != node,
                "any_node": where is not None,
            }[dep["location"]]
        else:
            ok = {"same_node": where != node, "all_nodes": where is None}[dep["location"]]
        if not ok:
            return dep["name"]
    return None


def start_refusal(st, pkg, node, usage=None):
    """Why ``pkg`` cannot start (or be adopted) on ``node``, as the text after the node; None if it can."""
    if node not in pkg["node_list"] or st["nodes"][node]["status"] != "up" or not pkg["switching"][node]:
        return NOT_ELIGIBLE
    guest = st["guests"].get(pkg["vm_name"]) if pkg["vm_name"] else None
    if guest is not None:
        if guest["name"] in st["migrations"]:
            return f"Guest {guest['name']} is being migrated."
        if guest["runs_on"] and guest["runs_on"] != node:
            return f"Guest {guest['name']} is running on node {guest['runs_on']}."
    dep = dependency_unmet(st, pkg, node)
    if dep:
        return f"Dependency {dep} is not met."
    short = capacity_shortfall(st, pkg, node, usage if usage is not None else capacity_usage(st))
    if short:
        return f"Node does not have enough available capacity for weight {short}."
    if guest is not None and guest["runs_on"] != node and free_memory(st, node) < guest["memory_mb"]:
        return f"Node does not have enough free memory for guest {guest['name']}."
    return None


def start_package(st, pkg, node):
    """Run ``pkg`` on ``node``: start its guest there, or adopt the guest already running there.

    Starting re-registers the guest on ``node`` (clears an ``Off (NR)`` copy): the SG IVS
    toolkit's start step, an assumption recorded in docs/simulator.md.
    """
    guest = st["guests"].get(pkg["vm_name"]) if pkg["vm_name"] else None
    if guest is not None:
        guest["runs_on"] = node
        if node not in guest["hosts"]:
            guest["hosts"].append(node)
        if node in guest["not_runnable"]:
            guest["not_runnable"].remove(node)
    pkg["state"] = "running"
    pkg["node"] = node


def halt_package(st, pkg, detach=False):
    """Halt ``pkg`` (its guest stops), or with ``detach`` leave the guest running. AUTO_RUN goes off."""
    guest = st["guests"].get(pkg["vm_name"]) if pkg["vm_name"] else None
    pkg["autorun"] = False
    if detach:
        pkg["node"] = owner(st, pkg)
        pkg["state"] = "detached"
        return
    if guest is not None:
        guest["runs_on"] = None
    pkg["state"] = "halted"
    pkg["node"] = None


def first_eligible(st, pkg, exclude=()):
    """The first node of ``pkg``'s node list where it can start now, or None."""
    usage = capacity_usage(st)
    for node in pkg["node_list"]:
        if node not in exclude and start_refusal(st, pkg, node, usage) is None:
            return node
    return None


def priority_order(st, names):
    """Package names by priority (lower number first, no_priority last), then configuration order."""
    order = {name: i for i, name in enumerate(st["packages"])}
    big = 1 << 30

    def key(name):
        prio = st["packages"][name]["priority"]
        return (big if prio is None else prio, order[name])

    return sorted(names, key=key)


def node_down(st, node):
    """A node fails: migrations involving it abort, its guests stop, its packages fail over or halt.

    Returns ``{package: new node or None}`` for every package affected.
    """
    st["nodes"][node]["status"] = "down"
    st["nodes"][node]["state"] = "halted"
    for guest, rec in list(st["migrations"].items()):
        if node in (rec["source"], rec["target"]):
            del st["migrations"][guest]
    affected = [
        name
        for name, pkg in st["packages"].items()
        if owner(st, pkg) == node
        or (pkg["vm_name"] and st["guests"][pkg["vm_name"]]["runs_on"] == node and pkg["state"] == "running")
    ]
    for guest in st["guests"].values():
        if guest["runs_on"] == node:
            guest["runs_on"] = None
    result = {}
    for name in priority_order(st, affected):
        pkg = st["packages"][name]
        guest = st["guests"].get(pkg["vm_name"]) if pkg["vm_name"] else None
        if pkg["state"] == "detached" and guest is not None and guest["runs_on"]:
            continue  # its guest lives on elsewhere
        was_running = pkg["state"] == "running"
        pkg["state"] = "halted"
        pkg["node"] = None
        target = first_eligible(st, pkg, exclude=(node,)) if was_running and pkg["autorun"] else None
        if target is not None:
            start_package(st, pkg, target)
        result[name] = target
    return result


def node_up(st, node):
    """A node rejoins the cluster, running no packages."""
    st["nodes"][node]["status"] = "up"
    st["nodes"][node]["state"] = "running"


def cluster_status(st):
    return "up" if any(n["status"] == "up" for n in st["nodes"].values()) else "down"


def guest_state_on(st, guest, node):
    """``On (OS)``, ``Off (NR)`` or ``Off``: the guest as the VM host ``node`` sees it."""
    if guest["runs_on"] == node:
        return "On (OS)"
    if node in guest["not_runnable"]:
        return "Off (NR)"
    return "Off"


def guests_on_host(st, node):
    """The guests configured on VM host ``node``, in VM-number order."""
    return [g for g in st["guests"].values() if node in g["hosts"] or g["runs_on"] == node]
