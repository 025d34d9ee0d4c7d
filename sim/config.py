"""Cluster description (YAML, already parsed into a dict) -> validated initial state.

Every problem is collected with its place (``packages[2].weights.memory: ...``) so a user fixes a
file in one pass. The rules are Serviceguard's (names, at most 4 capacities, ``package_limit``
alone, weights matching a capacity of the node list, priorities unique) plus the simulator's own
(a running package fits its node).
"""

import uuid

from sgsim.errors import ConfigError
from sgsim.names import valid_sg_name

MAX_VALUE = 1000000
DEFAULT_SIM = {"time_scale": 1.0, "link_mbps": 1000.0}
TOP_KEYS = {"cluster", "sim", "default_weights", "nodes", "packages"}
NODE_KEYS = {"name", "status", "capacities", "memory_mb", "vswitches", "devices", "cpu_family"}
PKG_KEYS = {
    "name", "vm_name", "node_list", "weights", "priority", "autorun", "memory_mb", "vcpus", "devices",
    "vswitches", "online_migration", "node", "switching", "dependencies",
}  # fmt: skip
DEP_KEYS = {"name", "package", "condition", "location"}
LOCATIONS = {"up": ("same_node", "different_node", "any_node"), "down": ("same_node", "all_nodes")}


def load_yaml(path):
    """Parse a cluster YAML file (the only place the simulator imports yaml on a command path)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=loader)
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None


def _bool(value, on=("enabled", "yes", "true", "on"), off=("disabled", "no", "false", "off")):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in on:
        return True
    if isinstance(value, str) and value.lower() in off:
        return False
    return None


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= MAX_VALUE:
        return None
    return float(value)


def _str_list(value):
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


class _Problems(list):
    def add(self, where, message):
        self.append(f"{where}: {message}")


def build_state(doc):
    """Validate a parsed cluster description; return the initial state or raise ConfigError."""
    p = _Problems()
    if not isinstance(doc, dict):
        raise ConfigError(["cluster description: expected a mapping with cluster, nodes and packages"])
    for key in sorted(set(doc) - TOP_KEYS):
        p.add(key, "unknown key")
    name = doc.get("cluster")
    if not valid_sg_name(name):
        p.add("cluster", f"invalid cluster name {name!r} (Serviceguard name rules)")
    sim = _sim(doc.get("sim") or {}, p)
    nodes = _nodes(doc.get("nodes"), p)
    capacity_names = []
    for node in nodes.values():
        for cap in node["capacities"]:
            if cap not in capacity_names:
                capacity_names.append(cap)
    if len(capacity_names) > 4:
        p.add("nodes", f"at most 4 capacities per cluster, found {len(capacity_names)}")
    if "package_limit" in capacity_names and len(capacity_names) > 1:
        p.add("nodes", "package_limit must be the only capacity in the cluster")
    defaults = _default_weights(doc.get("default_weights") or {}, capacity_names, p)
    packages, guests = _packages(doc.get("packages") or [], nodes, capacity_names, defaults, p)
    if not p:
        _check_placement(nodes, packages, guests, p)
    if p:
        raise ConfigError(p)
    return {
        "version": 1,
        "cluster": {"name": name},
        "sim": sim,
        "capacity_names": capacity_names,
        "default_weights": defaults,
        "nodes": nodes,
        "packages": packages,
        "guests": guests,
        "migrations": {},
        "faults": [],
        "next_fault_id": 1,
    }


def _sim(sim, p):
    out = dict(DEFAULT_SIM)
    if not isinstance(sim, dict):
        p.add("sim", "expected a mapping")
        return out
    for key, value in sim.items():
        if key not in out:
            p.add(f"sim.{key}", "unknown key")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            p.add(f"sim.{key}", f"expected a positive number, got {value!r}")
        else:
            out[key] = float(value)
    return out


def _nodes(items, p):
    nodes = {}
    if not isinstance(items, list) or not items:
        p.add("nodes", "expected a non-empty list of nodes")
        return nodes
    for i, item in enumerate(items):
        where = f"nodes[{i}]"
        if not isinstance(item, dict):
            p.add(where, "expected a mapping")
            continue
        for key in sorted(set(item) - NODE_KEYS):
            p.add(f"{where}.{key}", "unknown key")
        name = item.get("name")
        if not valid_sg_name(name):
            p.add(f"{where}.name", f"invalid node name {name!r} (Serviceguard name rules)")
            continue
        if name in nodes:
            p.add(f"{where}.name", f"duplicate node {name}")
        status = item.get("status", "up")
        if status not in ("up", "down"):
            p.add(f"{where}.status", f"expected up or down, got {status!r}")
        caps = {}
        raw_caps = item.get("capacities") or {}
        if not isinstance(raw_caps, dict):
            p.add(f"{where}.capacities", "expected a mapping of capacity name to value")
            raw_caps = {}
        for cap, value in raw_caps.items():
            if not valid_sg_name(cap):
                p.add(f"{where}.capacities", f"invalid capacity name {cap!r} (Serviceguard name rules)")
            elif _number(value) is None:
                p.add(f"{where}.capacities.{cap}", f"expected a number from 0 to {MAX_VALUE}, got {value!r}")
            else:
                caps[cap] = _number(value)
        memory = item.get("memory_mb", 65536)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
            p.add(f"{where}.memory_mb", f"expected a positive integer, got {memory!r}")
        vswitches, devices = _str_list(item.get("vswitches")), _str_list(item.get("devices"))
        if vswitches is None:
            p.add(f"{where}.vswitches", "expected a list of names")
        if devices is None:
            p.add(f"{where}.devices", "expected a list of device paths")
        family = item.get("cpu_family", "itanium2-9300")
        if not isinstance(family, str) or not family:
            p.add(f"{where}.cpu_family", "expected a string")
        nodes[name] = {
            "name": name,
            "status": status,
            "state": "running" if status == "up" else "halted",
            "capacities": caps,
            "memory_mb": memory,
            "vswitches": vswitches or [],
            "devices": devices or [],
            "cpu_family": family,
        }
    return nodes


def _default_weights(raw, capacity_names, p):
    out = {}
    if not isinstance(raw, dict):
        p.add("default_weights", "expected a mapping of weight name to value")
        return out
    for name, value in raw.items():
        if name == "package_limit":
            p.add(
                "default_weights.package_limit",
                "the default weight of package_limit is 1 and cannot be changed",
            )
        elif name not in capacity_names:
            p.add(f"default_weights.{name}", "no node defines a capacity of that name")
        elif _number(value) is None:
            p.add(f"default_weights.{name}", f"expected a number from 0 to {MAX_VALUE}, got {value!r}")
        else:
            out[name] = _number(value)
    return out


def _effective_weights(explicit, capacity_names, defaults):
    out = {}
    for name in capacity_names:
        if name in explicit:
            out[name] = explicit[name]
        elif name in defaults:
            out[name] = defaults[name]
        else:
            out[name] = 1.0 if name == "package_limit" else 0.0
    return out


def _packages(items, nodes, capacity_names, defaults, p):
    packages, guests, priorities = {}, {}, {}
    if not isinstance(items, list):
        p.add("packages", "expected a list of packages")
        return packages, guests
    for i, item in enumerate(items):
        where = f"packages[{i}]"
        if not isinstance(item, dict):
            p.add(where, "expected a mapping")
            continue
        for key in sorted(set(item) - PKG_KEYS):
            p.add(f"{where}.{key}", "unknown key")
        name = item.get("name")
        if not valid_sg_name(name):
            p.add(f"{where}.name", f"invalid package name {name!r} (Serviceguard name rules)")
            continue
        where = f"package {name}"
        if name in packages:
            p.add(where, "duplicate package")
        node_list = item.get("node_list")
        if not isinstance(node_list, list) or not node_list:
            p.add(f"{where}.node_list", "expected a non-empty list of nodes")
            node_list = []
        for n in node_list:
            if n not in nodes:
                p.add(f"{where}.node_list", f"{n!r} is not a configured node")
        if len(set(map(str, node_list))) != len(node_list):
            p.add(f"{where}.node_list", "a node appears twice")
        list_caps = {c for n in node_list if n in nodes for c in nodes[n]["capacities"]}
        explicit = {}
        raw_weights = item.get("weights") or {}
        if not isinstance(raw_weights, dict):
            p.add(f"{where}.weights", "expected a mapping of weight name to value")
            raw_weights = {}
        for wname, value in raw_weights.items():
            num = _number(value)
            if wname not in list_caps:
                p.add(f"{where}.weights.{wname}", "no node of the package's node list defines that capacity")
            elif num is None or round(num, 3) != num:
                p.add(
                    f"{where}.weights.{wname}",
                    f"expected 0 to {MAX_VALUE} with at most 3 decimals, got {value!r}",
                )
            else:
                explicit[wname] = num
        if len(raw_weights) > 4:
            p.add(f"{where}.weights", "at most 4 weights per package")
        priority = item.get("priority", "no_priority")
        if priority in ("no_priority", None):
            priority = None
        elif isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 3000:
            p.add(f"{where}.priority", f"expected no_priority or 1..3000, got {priority!r}")
            priority = None
        elif priority in priorities:
            p.add(f"{where}.priority", f"priority {priority} already used by package {priorities[priority]}")
        else:
            priorities[priority] = name
        autorun = _bool(item.get("autorun", True))
        if autorun is None:
            p.add(f"{where}.autorun", f"expected enabled or disabled, got {item.get('autorun')!r}")
        switching = {n: True for n in node_list if isinstance(n, str)}
        raw_sw = item.get("switching") or {}
        if not isinstance(raw_sw, dict):
            p.add(f"{where}.switching", "expected a mapping of node to enabled/disabled")
            raw_sw = {}
        for n, value in raw_sw.items():
            if n not in switching:
                p.add(f"{where}.switching.{n}", "not in the package's node list")
            elif _bool(value) is None:
                p.add(f"{where}.switching.{n}", f"expected enabled or disabled, got {value!r}")
            else:
                switching[n] = _bool(value)
        node = item.get("node")
        if node is not None and node not in node_list:
            p.add(f"{where}.node", f"{node!r} is not in the package's node list")
        elif node is not None and nodes.get(node, {}).get("status") != "up":
            p.add(f"{where}.node", f"node {node} is down")
        vm_name = item.get("vm_name", name)
        if vm_name is not None:
            _guest(item, where, vm_name, name, node, node_list, guests, p)
        packages[name] = {
            "name": name,
            "type": "failover",
            "vm_name": vm_name,
            "node_list": node_list,
            "weights": _effective_weights(explicit, capacity_names, defaults),
            "priority": priority,
            "autorun": bool(autorun),
            "switching": switching,
            "state": "running" if node else "halted",
            "node": node,
            "dependencies": item.get("dependencies") or [],
        }
    for name, pkg in packages.items():
        pkg["dependencies"] = _dependencies(pkg["dependencies"], f"package {name}", packages, p)
    return packages, guests


def _guest(item, where, vm_name, package, node, node_list, guests, p):
    if not valid_sg_name(vm_name):
        p.add(f"{where}.vm_name", f"invalid guest name {vm_name!r}")
        return
    if vm_name in guests:
        p.add(f"{where}.vm_name", f"guest {vm_name} already belongs to package {guests[vm_name]['package']}")
        return
    memory = item.get("memory_mb", 4096)
    vcpus = item.get("vcpus", 1)
    for key, value in (("memory_mb", memory), ("vcpus", vcpus)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            p.add(f"{where}.{key}", f"expected a positive integer, got {value!r}")
    online = _bool(item.get("online_migration", "enabled"))
    if online is None:
        p.add(
            f"{where}.online_migration", f"expected enabled or disabled, got {item.get('online_migration')!r}"
        )
    devices, vswitches = _str_list(item.get("devices")), _str_list(item.get("vswitches"))
    if devices is None:
        p.add(f"{where}.devices", "expected a list of device paths")
    if vswitches is None:
        p.add(f"{where}.vswitches", "expected a list of vswitch names")
    guests[vm_name] = {
        "name": vm_name,
        "vm_number": len(guests) + 1,
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{vm_name}.sgsim")),
        "package": package,
        "memory_mb": memory,
        "vcpus": vcpus,
        "devices": devices or [],
        "vswitches": vswitches or [],
        "online_migration": bool(online),
        "runs_on": node,
        "hosts": [n for n in node_list if isinstance(n, str)],
        "not_runnable": [],
    }


def _dependencies(items, where, packages, p):
    out = []
    if not isinstance(items, list):
        p.add(f"{where}.dependencies", "expected a list")
        return out
    for i, dep in enumerate(items):
        here = f"{where}.dependencies[{i}]"
        if not isinstance(dep, dict):
            p.add(here, "expected a mapping")
            continue
        for key in sorted(set(dep) - DEP_KEYS):
            p.add(f"{here}.{key}", "unknown key")
        other = dep.get("package")
        condition = str(dep.get("condition", "up")).lower()
        location = dep.get("location", "same_node")
        name = dep.get("name") or f"{other}_dep"
        if other not in packages:
            p.add(f"{here}.package", f"{other!r} is not a configured package")
        elif other == where.split()[-1]:
            p.add(f"{here}.package", "a package cannot depend on itself")
        if condition not in LOCATIONS:
            p.add(f"{here}.condition", f"expected up or down, got {condition!r}")
        elif location not in LOCATIONS[condition]:
            p.add(f"{here}.location", f"expected one of {', '.join(LOCATIONS[condition])}, got {location!r}")
        if not valid_sg_name(name):
            p.add(f"{here}.name", f"invalid dependency name {name!r}")
        out.append({"name": name, "package": other, "condition": condition, "location": location})
    return out


def _check_placement(nodes, packages, guests, p):
    """Running packages must fit: capacities and host memory."""
    for node_name, node in nodes.items():
        here = [pkg for pkg in packages.values() if pkg["node"] == node_name]
        for cap, value in node["capacities"].items():
            used = sum(pkg["weights"].get(cap, 0.0) for pkg in here)
            if used > value + 1e-9:
                names = ", ".join(pkg["name"] for pkg in here)
                p.add(
                    f"node {node_name}",
                    f"weights {cap} of its packages ({names}) total {used:g}, capacity {value:g}",
                )
        memory = sum(g["memory_mb"] for g in guests.values() if g["runs_on"] == node_name)
        if memory > node["memory_mb"]:
            p.add(f"node {node_name}", f"guests need {memory} MB, host has {node['memory_mb']} MB")
