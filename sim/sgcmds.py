"""Serviceguard commands: ``cmviewcl``, ``cmmodpkg``, ``cmrunpkg``, ``cmhaltpkg``."""

import sys

from sgsim import model, opts, sgview
from sgsim.errors import SimError

CMVIEWCL_USAGE = [
    "usage: cmviewcl [-v] [-f format] [-l type] [-c cluster_name] [{-n node_name}... | {-p package_name}...]"
]
CMMODPKG_USAGE = ["usage: cmmodpkg {-e|-d} [-n node_name]... [-v] package_name..."]
CMRUNPKG_USAGE = ["usage: cmrunpkg [-v] [-n node_name] package_name..."]
CMHALTPKG_USAGE = ["usage: cmhaltpkg [-v] [-d] [-n node_name]... package_name..."]


def cmviewcl(ctx, argv):
    pairs, operands = opts.parse("cmviewcl", CMVIEWCL_USAGE, argv, "vf:l:n:p:c:")
    verbose, fmt, level, cluster, nodes, packages = False, "table", None, None, [], []
    for opt, val in pairs:
        if opt == "-v":
            verbose = True
        elif opt == "-f":
            fmt = val
        elif opt == "-l":
            level = val
        elif opt == "-c":
            cluster = val
        elif opt == "-n":
            nodes.append(val)
        else:
            packages.append(val)
    if operands:
        raise opts.usage_error("cmviewcl", CMVIEWCL_USAGE, f"unexpected argument {operands[0]}")
    if fmt not in ("table", "line"):
        raise opts.usage_error("cmviewcl", CMVIEWCL_USAGE, f"Invalid format {fmt}. Use table or line.")
    if level not in (None, "cluster", "node", "package"):
        raise opts.usage_error(
            "cmviewcl", CMVIEWCL_USAGE, f"Invalid type {level}. Use cluster, node or package."
        )
    if nodes and packages:
        raise opts.usage_error("cmviewcl", CMVIEWCL_USAGE, "-n and -p cannot be used together")
    with ctx.transaction() as tx:
        st = tx.state
        if cluster is not None and cluster != st["cluster"]["name"]:
            raise SimError(
                f"cmviewcl: Unable to find cluster {cluster}. {cluster} is not a configured cluster name."
            )
        for p in packages:
            if p not in st["packages"]:
                raise ctx.unknown_package(p)
        for n in nodes:
            if n not in st["nodes"]:
                raise ctx.unknown_node(n)
        node_names, pkg_names = sgview.select(st, nodes, packages)
        if fmt == "line":
            lines = sgview.line_format(st, verbose, level, node_names, pkg_names, bool(nodes), bool(packages))
        else:
            if packages:
                wanted = {model.owner(st, st["packages"][p]) for p in pkg_names}
                node_names = [n for n in st["nodes"] if n in wanted]
            lines = sgview.table_format(st, verbose, level, node_names, pkg_names)
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _packages(ctx, st, names):
    for p in names:
        if p not in st["packages"]:
            raise ctx.unknown_package(p)
    return [st["packages"][p] for p in names]


def _nodes(ctx, st, names):
    for n in names:
        if n not in st["nodes"]:
            raise ctx.unknown_node(n)


def cmmodpkg(ctx, argv):
    pairs, operands = opts.parse("cmmodpkg", CMMODPKG_USAGE, argv, "edn:v")
    flags = [o for o, _ in pairs if o in ("-e", "-d")]
    nodes = [v for o, v in pairs if o == "-n"]
    if len(set(flags)) != 1:
        raise opts.usage_error("cmmodpkg", CMMODPKG_USAGE, "exactly one of -e or -d is required")
    if not operands:
        raise opts.usage_error("cmmodpkg", CMMODPKG_USAGE, "missing package name")
    enable = flags[0] == "-e"
    with ctx.transaction() as tx:
        st = tx.state
        _nodes(ctx, st, nodes)
        pkgs = _packages(ctx, st, operands)
        for pkg in pkgs:
            for n in nodes:
                if n not in pkg["switching"]:
                    raise SimError(f"cmmodpkg: Node {n} is not configured to run package {pkg['name']}.")
        for pkg in pkgs:
            if nodes:
                for n in nodes:
                    pkg["switching"][n] = enable
            else:
                pkg["autorun"] = enable
            # Serviceguard starts a halted package as soon as its switching allows it.
            if enable and pkg["autorun"] and pkg["state"] == "halted":
                target = model.first_eligible(st, pkg)
                if target is not None:
                    model.start_package(st, pkg, target)
        tx.changed()
    print("cmmodpkg: Completed successfully on all packages specified")
    return 0


def cmrunpkg(ctx, argv):
    pairs, operands = opts.parse("cmrunpkg", CMRUNPKG_USAGE, argv, "vn:")
    verbose = any(o == "-v" for o, _ in pairs)
    nodes = [v for o, v in pairs if o == "-n"]
    if len(nodes) > 1:
        raise opts.usage_error(
            "cmrunpkg", CMRUNPKG_USAGE, "only one -n option is allowed for failover packages"
        )
    if not operands:
        raise opts.usage_error("cmrunpkg", CMRUNPKG_USAGE, "missing package name")
    out, errors = [], []
    with ctx.transaction() as tx:
        st = tx.state
        _nodes(ctx, st, nodes)
        node = nodes[0] if nodes else ctx.node
        for pkg in _packages(ctx, st, operands):
            name = pkg["name"]
            if pkg["state"] == "running":
                errors.append(
                    f"Unable to run package {name} on node {node}. "
                    f"Package is already running on node {pkg['node']}."
                )
                continue
            reason = model.start_refusal(st, pkg, node)
            if reason:
                errors.append(f"Unable to run package {name} on node {node}. {reason}")
                continue
            if verbose:
                out.append(f"Running package {name} on node {node}")
            model.start_package(st, pkg, node)
            tx.changed()
            if verbose:
                out.append(f"Successfully started package {name} on node {node}.")
    if errors:
        raise SimError(*errors, "cmrunpkg: Unable to start some package or package instances", stdout=out)
    out.append("cmrunpkg: Completed successfully on all packages specified")
    print("\n".join(out))
    return 0


def cmhaltpkg(ctx, argv):
    pairs, operands = opts.parse("cmhaltpkg", CMHALTPKG_USAGE, argv, "vdn:")
    verbose = any(o == "-v" for o, _ in pairs)
    detach = any(o == "-d" for o, _ in pairs)
    nodes = [v for o, v in pairs if o == "-n"]
    if not operands:
        raise opts.usage_error("cmhaltpkg", CMHALTPKG_USAGE, "missing package name")
    out = []
    with ctx.transaction() as tx:
        st = tx.state
        _nodes(ctx, st, nodes)
        pkgs = _packages(ctx, st, operands)
        for pkg in pkgs:
            name, where = pkg["name"], model.owner(st, pkg)
            if pkg["state"] not in ("running", "detached"):
                raise SimError(f"cmhaltpkg: Package {name} is not running.")
            if detach and pkg["state"] == "detached":
                raise SimError(f"cmhaltpkg: Package {name} is already detached.")
            if nodes and where not in nodes:
                raise SimError(f"cmhaltpkg: Package {name} is not running on node {', '.join(nodes)}.")
            if pkg["vm_name"] and pkg["vm_name"] in st["migrations"]:
                raise SimError(f"cmhaltpkg: Guest {pkg['vm_name']} of package {name} is being migrated.")
        for pkg in pkgs:
            name, where = pkg["name"], model.owner(st, pkg)
            if verbose:
                out.append(f"{'Detaching' if detach else 'Halting'} package {name} on node {where}")
            model.halt_package(st, pkg, detach=detach)
            if verbose:
                out.append(
                    f"Successfully {'detached' if detach else 'halted'} package {name} on node {where}."
                )
        tx.changed()
    out.append("cmhaltpkg: Completed successfully on all packages specified")
    print("\n".join(out))
    return 0
