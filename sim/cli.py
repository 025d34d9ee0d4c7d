"""``sgsim``: create a simulated cluster, install host command folders, inject failures."""

import argparse
import os
import sys

from sgsim import faults, model
from sgsim.errors import ConfigError, SimError
from sgsim.store import Store, resolve_home


class _Parser(argparse.ArgumentParser):
    """argparse with exit status 1 on bad input (the simulator's rule for every command)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _parser():
    p = _Parser(prog="sgsim", description="Serviceguard / Integrity VM simulator")
    p.add_argument("--home", help="simulator home (default: $SGSIM_HOME)")
    # --home is accepted before or after the subcommand
    common = _Parser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add = sub.add_parser

    def add_parser(name, **kw):
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser
    s = sub.add_parser("init", help="create a cluster's state from a YAML description or an example name")
    s.add_argument("cluster", help="CLUSTER.yaml, or the name of a shipped example (seed, demo)")
    s = sub.add_parser("install-host", help="write the commands of one node into a folder")
    s.add_argument("node")
    s.add_argument("bindir")
    s = sub.add_parser("node", help="take a node down (failover) or bring it back up")
    s.add_argument("action", choices=("down", "up"))
    s.add_argument("node")
    s = sub.add_parser("fault", help="one-shot faults")
    fsub = s.add_subparsers(dest="fault_command", required=True, parser_class=_Parser)
    _fadd = fsub.add_parser

    def fadd_parser(name, **kw):
        return _fadd(name, parents=[common], **kw)

    fsub.add_parser = fadd_parser
    a = fsub.add_parser("add", help="add a fault")
    a.add_argument("kind", choices=faults.KINDS)
    a.add_argument("target", help="guest (migration-*), node (node-down) or command (command-fail)")
    a.add_argument(
        "value", nargs="?", help="phase (migration-fail/-hang, node-down) or factor (migration-slow)"
    )
    a.add_argument("--message", help="the failure message")
    a.add_argument("--node", dest="on_node", help="command-fail: only when run on this node")
    fsub.add_parser("list", help="list pending faults")
    c = fsub.add_parser("clear", help="clear one fault by id, or all")
    c.add_argument("id", nargs="?", type=int)
    sub.add_parser("show", help="print the state as YAML")
    g = sub.add_parser("generate", help="write a large cluster description")
    g.add_argument("--nodes", type=int, required=True)
    g.add_argument("--packages", type=int, required=True)
    g.add_argument("--capacities", type=int, default=2, choices=range(5), metavar="0..4")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--time-scale", type=float, default=0.001)
    g.add_argument("-o", "--output", required=True)
    return p


def _source_path(source):
    from sgsim import example_path

    if source.isidentifier() and not os.path.isfile(source) and example_path(source).exists():
        return str(example_path(source))
    if os.path.exists(source):
        return source
    raise SimError(f"sgsim: {source}: no such file or shipped example")


def _init(args):
    from sgsim import config

    home = resolve_home(args.home)
    state = config.build_state(config.load_yaml(_source_path(args.cluster)))
    Store(home).create(state)
    print(f"sgsim: cluster {state['cluster']['name']} initialised in {home}")


def _install_host(args):
    from sgsim import install

    home = resolve_home(args.home)
    with Store(home).transaction() as tx:
        if args.node not in tx.state["nodes"]:
            raise SimError(f"sgsim: unknown node {args.node!r}")
    for path in install.install_host(home, args.node, args.bindir):
        print(path)


def _node(args):
    with Store(resolve_home(args.home)).transaction() as tx:
        st = tx.state
        if args.node not in st["nodes"]:
            raise SimError(f"sgsim: unknown node {args.node!r}")
        if args.action == "up":
            model.node_up(st, args.node)
            tx.changed()
            print(f"sgsim: node {args.node} is up")
            return
        if st["nodes"][args.node]["status"] == "down":
            raise SimError(f"sgsim: node {args.node} is already down")
        moved = model.node_down(st, args.node)
        tx.changed()
    print(f"sgsim: node {args.node} is down")
    for pkg, node in moved.items():
        print(f"sgsim: package {pkg} {'failed over to node ' + node if node else 'halted'}")


def _fault(args):
    with Store(resolve_home(args.home)).transaction() as tx:
        st = tx.state
        if args.fault_command == "add":
            fault = faults.add(st, args.kind, args.target, args.value, args.message, args.on_node)
            tx.changed()
            print(faults.describe(fault))
        elif args.fault_command == "list":
            for fault in st["faults"]:
                print(faults.describe(fault))
        else:
            count = faults.clear(st, args.id)
            tx.changed()
            print(f"sgsim: {count} fault(s) cleared")


def _show(args):
    import yaml

    with Store(resolve_home(args.home)).transaction() as tx:
        st = tx.state
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    sys.stdout.write(yaml.dump(st, Dumper=dumper, sort_keys=False, default_flow_style=False))


def _generate(args):
    from sgsim import generate

    if args.nodes < 1 or args.packages < 0:
        raise SimError("sgsim: --nodes must be at least 1 and --packages at least 0")
    generate.write(args.output, args.nodes, args.packages, args.capacities, args.seed, args.time_scale)
    print(f"sgsim: wrote {args.output} ({args.nodes} nodes, {args.packages} packages)")


HANDLERS = {
    "init": _init,
    "install-host": _install_host,
    "node": _node,
    "fault": _fault,
    "show": _show,
    "generate": _generate,
}


def main(argv=None):
    """Console entry point; returns the exit status (0 or 1), never a traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
        HANDLERS[args.command](args)
        return 0
    except SystemExit as exc:
        return 0 if exc.code in (0, None) else 1
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"sgsim: {problem}\n")
        return 1
    except SimError as exc:
        sys.stderr.write("\n".join(exc.lines) + "\n")
        return 1
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # one line, never a traceback
        sys.stderr.write(f"sgsim: internal error: {type(exc).__name__}: {exc}\n")
        return 1
