"""Parsers for Serviceguard's ``cmviewcl -f line`` output (pure: text in, data out).

The grammar (cmviewcl(5)) is ``[prefix]attribute=value``, the prefix being ``element:instance``
pairs joined by ``|``; an element fixed on the command line (``-p PKG``, ``-l node -n NODE``) loses
its prefix. :func:`parse_lines` turns any such output into a nested dict; :func:`parse_cluster`,
:func:`parse_package`, :func:`parse_node` and :func:`parse_nodes` shape it as docs/data.md says.

Tolerant of what real clusters add (``summary=``, ``interface:``, ``run_script=`` ... are ignored;
lines in any order; blank lines; values with spaces or ``=``; double-quoted values lose their
quotes), strict about what the data needs: a package without ``status`` is a :class:`ParseError`
that shows the package's lines, not a None that a move would later trust. Text that is not the
line format at all (the default table, ``cmviewcl: illegal option -- f`` from an older release) is
refused at its first line that does not follow the grammar, never read as an empty cluster.

Standard library only; no Salt dunders (see docs/installing.md).
"""

import math
import re

_SWITCH = {"enabled": True, "disabled": False, "yes": True, "no": False, "on": True, "off": False}


class ParseError(ValueError):
    """Output that cannot be turned into the documented data; the message shows where."""


# The part before the first '=': element[:instance] segments joined by '|', then the attribute.
# An instance may hold ':' (``ip_address:fe80::1``); nothing in it is blank, nor is a name.
_PREFIX = re.compile(r"[A-Za-z_][\w.-]*(?::[^|\s]+)?(?:\|[A-Za-z_][\w.-]*(?::[^|\s]+)?)*")
_ATTR = re.compile(r"[A-Za-z_][\w.-]*")


# ---------------------------------------------------------------------------------------------
# The generic line grammar


def parse_lines(text):
    """Parse ``cmviewcl -f line`` text into a nested dict.

    ``node:n1|capacity:c|value=10`` becomes ``{"node": {"n1": {"capacity": {"c": {"value": "10"}}}}}``.
    Values stay strings (everything after the first ``=``; a value wholly in double quotes,
    ``fs_type="vxfs"``, loses them). An element without instance (``first_cluster_lock|...``) nests
    directly; a line without ``=`` gets the value None. A line whose path collides with an
    attribute of the same name is ignored: it cannot be represented, and no field this project
    needs is shaped that way. A line that does not follow the grammar (a table row, a usage
    message) is a :class:`ParseError` naming it: such text is not this format.
    """
    root = {}
    # Most lines share a prefix with the line before: cache each prefix's target dict.
    targets = {"": root}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        prefix, _, attr = key.strip().rpartition("|")
        target = targets.get(prefix)
        # Checked once per prefix (most lines share one), and per attribute (identifiers, mostly).
        known = attr.isidentifier() or _ATTR.fullmatch(attr)
        if not known or (target is None and not _PREFIX.fullmatch(prefix)):
            raise ParseError(
                f"line {number} is not in cmviewcl's line format ([element:instance|...]attribute=value): "
                f"{line!r}"
            )
        if value[:1] == '"' and len(value) > 1 and value[-1] == '"' and '"' not in value[1:-1]:
            value = value[1:-1]
        if target is None:
            target = _descend(root, prefix)
            if target is None:
                continue
            targets[prefix] = target
        if isinstance(target.get(attr), dict):
            continue
        target[attr] = value if sep else None
    return root


def _descend(root, prefix):
    node = root
    for segment in prefix.split("|"):
        element, colon, instance = segment.partition(":")
        for step in (element, instance) if colon else (element,):
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                return None
            node = child
    return node


def _lines_of(prefix, tree, limit=12):
    """Re-create up to ``limit`` lines of a subtree, to show in error messages."""
    out = []

    def walk(pre, sub):
        for key, value in sub.items():
            if len(out) >= limit:
                return
            if isinstance(value, dict):
                for inst, child in value.items():
                    if isinstance(child, dict):
                        walk(f"{pre}{key}:{inst}|", child)
            else:
                out.append(f"{pre}{key}={value}" if value is not None else f"{pre}{key}")

    walk(prefix, tree)
    return out


def _missing(what, prefix, tree, field):
    shown = "\n  ".join(_lines_of(prefix, tree)) or "(no lines)"
    return ParseError(f"{what}: no '{field}' line in cmviewcl output; its lines were:\n  {shown}")


def _bad(prefix, attr, value, expected):
    return ParseError(f"bad value in line '{prefix}{attr}={value}': expected {expected}")


def _number(prefix, attr, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise _bad(prefix, attr, value, "a number")
    return number


def _flag(prefix, attr, value):
    flag = _SWITCH.get((value or "").strip().lower())
    if flag is None:
        raise _bad(prefix, attr, value, "enabled or disabled")
    return flag


def _required(tree, field, what, prefix):
    value = tree.get(field)
    if value is None or isinstance(value, dict) or not value.strip():
        raise _missing(what, prefix, tree, field)
    return value.strip()


def _instances(tree, element):
    sub = tree.get(element)
    if not isinstance(sub, dict):
        return {}
    return {inst: child for inst, child in sub.items() if isinstance(child, dict)}


# ---------------------------------------------------------------------------------------------
# Nodes


def _capacities(tree, prefix):
    caps = {}
    for cname, cap in _instances(tree, "capacity").items():
        cpre = f"{prefix}capacity:{cname}|"
        value = _number(cpre, "value", _required(cap, "value", f"capacity {cname}", cpre))
        used = cap.get("used")
        available = cap.get("available")
        used = _number(cpre, "used", used) if used is not None else None
        available = _number(cpre, "available", available) if available is not None else None
        # Derive what is missing from what is there; a running package's weight counts as used.
        if used is None:
            used = value - available if available is not None else 0.0
        if available is None:
            available = value - used
        caps[cname] = {"capacity": value, "used": used, "available": available}
    return caps


def _node(name, tree, prefix):
    what = f"node {name}"
    listed = tree.get("name")
    if isinstance(listed, str) and listed.strip() and listed.strip() != name:
        raise _bad(prefix, "name", listed, f"the node name {name!r}")
    state = tree.get("state")
    return {
        "name": name,
        "status": _required(tree, "status", what, prefix),
        "state": state.strip() if isinstance(state, str) and state.strip() else "unknown",
        "capacities": _capacities(tree, prefix),
    }


def parse_nodes(text):
    """Every node of ``cmviewcl [-v] -f line [-l node]`` output: ``{name: node}`` (docs/data.md).

    A cluster has at least one node: output that lists none is refused, not read as no nodes.
    """
    tree = parse_lines(text)
    nodes = _instances(tree, "node")
    if not nodes:
        shown = "\n  ".join(_lines_of("", tree)) or "(no output)"
        raise ParseError(f"no node in cmviewcl output; its lines were:\n  {shown}")
    return {name: _node(name, sub, f"node:{name}|") for name, sub in nodes.items()}


def parse_node(text, name):
    """One node from ``cmviewcl -v -f line -l node -n NAME`` (prefix dropped) or prefixed output."""
    tree = parse_lines(text)
    nodes = _instances(tree, "node")
    if name in nodes:
        return _node(name, nodes[name], f"node:{name}|")
    if nodes:
        raise ParseError(f"node {name}: not in cmviewcl output (found {', '.join(nodes)})")
    return _node(name, tree, "")


# ---------------------------------------------------------------------------------------------
# Packages


def _priority(prefix, value):
    if value is None or value.strip() in ("", "no_priority"):
        return None
    try:
        return int(value)
    except ValueError:
        raise _bad(prefix, "priority", value, "no_priority or an integer") from None


def _dependency(dname, dep, prefix):
    dpre = f"{prefix}dependency:{dname}|"
    condition = _required(dep, "condition", f"dependency {dname}", dpre)
    package, sep, wanted = condition.rpartition("=")
    if not sep or not package.strip() or not wanted.strip():
        raise _bad(dpre, "condition", condition, "'<package> = up|down'")
    location = dep.get("location")
    return {
        "name": dname,
        "package": package.strip(),
        "condition": wanted.strip().lower(),
        "location": location.strip() if isinstance(location, str) and location.strip() else None,
    }


def _node_list(tree, prefix):
    blocks = _instances(tree, "node")
    order = {}
    for nname, block in blocks.items():
        rank = block.get("order")
        if rank is not None:
            try:
                order[nname] = int(rank)
            except ValueError:
                raise _bad(f"{prefix}node:{nname}|", "order", rank, "an integer") from None
    names = list(blocks)
    if order and len(order) == len(names):
        names.sort(key=order.__getitem__)
    switching = {
        nname: _flag(f"{prefix}node:{nname}|", "switching", blocks[nname]["switching"])
        for nname in names
        if isinstance(blocks[nname].get("switching"), str)
    }
    return names, switching


def _package(name, tree, prefix):
    what = f"package {name}"
    listed = tree.get("name")
    if isinstance(listed, str) and listed.strip() and listed.strip() != name:
        raise _bad(prefix, "name", listed, f"the package name {name!r}")
    owner = tree.get("owner")
    owner = owner.strip() if isinstance(owner, str) and owner.strip() else None
    vm_name = tree.get("vm_name")
    ptype = tree.get("type")
    node_list, switching = _node_list(tree, prefix)
    return {
        "name": name,
        "type": ptype.strip() if isinstance(ptype, str) and ptype.strip() else None,
        "status": _required(tree, "status", what, prefix),
        "state": _required(tree, "state", what, prefix),
        "node": owner,
        "autorun": _flag(prefix, "autorun", _required(tree, "autorun", what, prefix)),
        "priority": _priority(prefix, tree.get("priority")),
        "vm_name": vm_name.strip() if isinstance(vm_name, str) and vm_name.strip() else None,
        "weights": {
            wname: _number(
                f"{prefix}weight:{wname}|",
                "value",
                _required(w, "value", f"{what} weight {wname}", f"{prefix}weight:{wname}|"),
            )
            for wname, w in _instances(tree, "weight").items()
        },
        "node_list": node_list,
        "switching": switching,
        "dependencies": [
            _dependency(dname, dep, prefix) for dname, dep in _instances(tree, "dependency").items()
        ],
    }


def parse_package(text, name):
    """One package from ``cmviewcl [-v] -f line -p NAME``.

    Accepts both the prefix-dropped form (``status=up``, ``node:n1|switching=enabled``) that
    Serviceguard prints when ``-p`` names one package, and prefixed lines.
    """
    tree = parse_lines(text)
    packages = _instances(tree, "package")
    if name in packages:
        return _package(name, packages[name], f"package:{name}|")
    if packages:
        raise ParseError(f"package {name}: not in cmviewcl output (found {', '.join(packages)})")
    return _package(name, tree, "")


# ---------------------------------------------------------------------------------------------
# The cluster


def parse_cluster_name(text):
    """The cluster's name from ``cmviewcl -f line -l cluster`` (or any ``-f line``) output."""
    return _required(parse_lines(text), "name", "cluster", "")


def parse_cluster(text):
    """The whole cluster from ``cmviewcl [-v] -f line`` output, shaped as docs/data.md says."""
    tree = parse_lines(text)
    name = _required(tree, "name", "cluster", "")
    status = _required(tree, "status", f"cluster {name}", "")
    default_weights = {}
    for wname, w in _instances(tree, "weight").items():
        default = w.get("default")
        if default is not None:
            default_weights[wname] = _number(f"weight:{wname}|", "default", default)
    return {
        "name": name,
        "status": status,
        "nodes": {n: _node(n, sub, f"node:{n}|") for n, sub in _instances(tree, "node").items()},
        "default_weights": default_weights,
        "packages": {p: _package(p, sub, f"package:{p}|") for p, sub in _instances(tree, "package").items()},
    }
