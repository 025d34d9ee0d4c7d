"""``cmviewcl`` output: the ``-f line`` grammar and the table (formats.md is the contract)."""

from sgsim import model
from sgsim.names import fmt_number


def _onoff(flag):
    return "enabled" if flag else "disabled"


def select(st, nodes=(), packages=()):
    """The node and package names to show for ``-n``/``-p`` selections, in configuration order."""
    if packages:
        return [], [p for p in st["packages"] if p in set(packages)]
    if nodes:
        wanted = set(nodes)
        node_names = [n for n in st["nodes"] if n in wanted]
        pkg_names = [p for p, pkg in st["packages"].items() if model.owner(st, pkg) in wanted]
        return node_names, pkg_names
    return list(st["nodes"]), list(st["packages"])


def line_format(st, verbose, level, node_names, pkg_names, selected_nodes=False, selected_pkgs=False):
    """Render ``cmviewcl -f line``; an element fixed on the command line loses its prefix."""
    out = []
    add = out.append
    usage = model.capacity_usage(st) if verbose else None
    owners = {name: model.owner(st, pkg) for name, pkg in st["packages"].items()}
    show_cluster = level in (None, "cluster") and not selected_pkgs
    if show_cluster:
        add(f"name={st['cluster']['name']}")
        add(f"status={model.cluster_status(st)}")
        if verbose:
            for w, value in st["default_weights"].items():
                add(f"weight:{w}|name={w}")
                add(f"weight:{w}|default={fmt_number(value)}")
    if level in (None, "node") and not selected_pkgs:
        drop = level == "node" and len(node_names) == 1 and selected_nodes
        for name in node_names:
            node = st["nodes"][name]
            pre = "" if drop else f"node:{name}|"
            add(f"{pre}name={name}")
            add(f"{pre}status={node['status']}")
            add(f"{pre}state={node['state']}")
            if verbose:
                used = usage[name]
                for cap, value in node["capacities"].items():
                    cpre = f"{pre}capacity:{cap}|"
                    add(f"{cpre}name={cap}")
                    add(f"{cpre}value={fmt_number(value)}")
                    add(f"{cpre}used={fmt_number(used[cap])}")
                    add(f"{cpre}available={fmt_number(value - used[cap])}")
    if level in (None, "package"):
        drop = selected_pkgs and len(pkg_names) == 1
        nodes = st["nodes"]
        for name in pkg_names:
            pkg = st["packages"][name]
            pre = "" if drop else f"package:{name}|"
            state = pkg["state"]
            add(f"{pre}name={name}")
            add(f"{pre}type=failover")
            add(f"{pre}status={'down' if state == 'halted' else 'up'}")
            add(f"{pre}state={state}")
            add(f"{pre}autorun={_onoff(pkg['autorun'])}")
            if owners[name]:
                add(f"{pre}owner={owners[name]}")
            if not verbose:
                continue
            prio = pkg["priority"]
            add(f"{pre}priority={'no_priority' if prio is None else prio}")
            add(f"{pre}failover_policy=configured_node")
            add(f"{pre}failback_policy=manual")
            if pkg["vm_name"]:
                add(f"{pre}vm_name={pkg['vm_name']}")
            for w, value in pkg["weights"].items():
                add(f"{pre}weight:{w}|name={w}")
                add(f"{pre}weight:{w}|value={fmt_number(value)}")
            switching = pkg["switching"]
            for order, n in enumerate(pkg["node_list"], 1):
                npre = f"{pre}node:{n}|"
                add(f"{npre}name={n}")
                add(f"{npre}order={order}")
                add(f"{npre}status={nodes[n]['status']}")
                add(f"{npre}switching={_onoff(switching[n])}")
            for dep in pkg["dependencies"]:
                dpre = f"{pre}dependency:{dep['name']}|"
                add(f"{dpre}name={dep['name']}")
                add(f"{dpre}condition={dep['package']} = {dep['condition']}")
                add(f"{dpre}location={dep['location']}")
    return out


def _cell(text, width):
    text = str(text)
    return text.ljust(width - 1) + " " if len(text) < width else text + " "


PKG_HEADER = (
    "    " + _cell("PACKAGE", 15) + _cell("STATUS", 17) + _cell("STATE", 17) + _cell("AUTO_RUN", 12) + "NODE"
)


def _pkg_row(st, pkg, node):
    status = "down" if pkg["state"] == "halted" else "up"
    return (
        "    "
        + _cell(pkg["name"], 15)
        + _cell(status, 17)
        + _cell(pkg["state"], 17)
        + _cell(_onoff(pkg["autorun"]), 12)
        + (node or "unowned")
    )


def _pkg_details(st, pkg, node, out):
    add = out.append
    add("")
    add("      Policy_Parameters:")
    add("      POLICY_NAME     CONFIGURED_VALUE")
    add("      Failover        configured_node")
    add("      Failback        manual")
    if pkg["weights"]:
        add("")
        add("      Weight_Parameters:")
        add("      WEIGHT_NAME     VALUE")
        for w, value in pkg["weights"].items():
            add("      " + _cell(w, 16) + fmt_number(value))
    add("")
    add("      Node_Switching_Parameters:")
    add("      NODE_TYPE    STATUS       SWITCHING    NAME")
    for i, n in enumerate(pkg["node_list"]):
        row = "      " + _cell("Primary" if i == 0 else "Alternate", 13) + _cell(st["nodes"][n]["status"], 13)
        row += _cell(_onoff(pkg["switching"][n]), 13) + (_cell(n, 13) + "(current)" if n == node else n)
        add(row)
    add("")


def table_format(st, verbose, level, node_names, pkg_names):
    """Render the default ``-f table`` output (the TITAN sample's layout; -v adds the blocks)."""
    out = []
    add = out.append
    owners = {name: model.owner(st, pkg) for name, pkg in st["packages"].items()}
    shown = set(pkg_names)
    if level in (None, "cluster"):
        add(_cell("CLUSTER", 21) + "STATUS")
        add(_cell(st["cluster"]["name"], 21) + model.cluster_status(st))
    if level == "cluster":
        return out
    usage = model.capacity_usage(st) if verbose else None
    if level in (None, "node"):
        for name in node_names:
            node = st["nodes"][name]
            add("  " + _cell("NODE", 15) + _cell("STATUS", 13) + "STATE")
            add("  " + _cell(name, 15) + _cell(node["status"], 13) + node["state"])
            if verbose and node["capacities"]:
                add("")
                add("    Capacity_Parameters:")
                add("    CAPACITY_NAME   VALUE        USED         AVAILABLE")
                for cap, value in node["capacities"].items():
                    used = usage[name][cap]
                    add(
                        "    "
                        + _cell(cap, 16)
                        + _cell(fmt_number(value), 13)
                        + _cell(fmt_number(used), 13)
                        + fmt_number(value - used)
                    )
            if level == "node":
                continue
            here = [p for p in pkg_names if owners[p] == name]
            if here:
                add("")
                add(PKG_HEADER)
                for p in here:
                    add(_pkg_row(st, st["packages"][p], name))
                    if verbose:
                        _pkg_details(st, st["packages"][p], name, out)
                if not verbose:
                    add("")
    if level == "package":
        add(PKG_HEADER)
        for p in pkg_names:
            add(_pkg_row(st, st["packages"][p], owners[p]))
            if verbose:
                _pkg_details(st, st["packages"][p], owners[p], out)
        return out
    unowned = [p for p in st["packages"] if owners[p] is None and p in shown]
    if unowned:
        add("")
        add("UNOWNED_PACKAGES")
        add("")
        add(PKG_HEADER)
        for p in unowned:
            add(_pkg_row(st, st["packages"][p], None))
            if verbose:
                _pkg_details(st, st["packages"][p], None, out)
    return out
