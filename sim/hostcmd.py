"""Entry point of the per-host command scripts: run one simulated command as one node.

``run(command, home, node, argv)`` returns the exit status. Every failure becomes a message on
stderr in the command's style and status 1; an unexpected exception becomes one line, never a
traceback.
"""

import importlib
import os
import sys

from sgsim import faults
from sgsim.errors import Aborted, SimError
from sgsim.store import Store

# command -> (module, function)
COMMANDS = {
    "cmviewcl": ("sgsim.sgcmds", "cmviewcl"),
    "cmmodpkg": ("sgsim.sgcmds", "cmmodpkg"),
    "cmrunpkg": ("sgsim.sgcmds", "cmrunpkg"),
    "cmhaltpkg": ("sgsim.sgcmds", "cmhaltpkg"),
    "hpvmstatus": ("sgsim.vmcmds", "hpvmstatus"),
    "hpvmmodify": ("sgsim.vmcmds", "hpvmmodify"),
    "hpvmmigrate": ("sgsim.movecmds", "hpvmmigrate"),
    "cmmovevpkg": ("sgsim.movecmds", "cmmovevpkg"),
}


class Context:
    """What a command knows: its name, the node it acts as, the shared state."""

    def __init__(self, command, home, node):
        self.command = command
        self.node = node
        self.store = Store(home)
        self._checked = False

    def transaction(self):
        return _ContextTransaction(self)

    def check(self, tx):
        """First transaction of a command: this node exists; a command-fail fault fires here."""
        if self._checked:
            return
        self._checked = True
        st = tx.state
        if self.node not in st["nodes"]:
            raise SimError(f"{self.command}: {self.node} is not a node of cluster {st['cluster']['name']}.")
        fault = faults.take_command_fault(st, self.command, self.node)
        if fault is not None:
            tx.changed()
            raise SimError(fault["message"], commit=True)

    def unknown_package(self, name):
        return SimError(
            f"{self.command}: Unable to find package {name}. {name} is not a configured package name."
        )

    def unknown_node(self, name):
        return SimError(f"{self.command}: Unable to find node {name}. {name} is not a configured node name.")


class _ContextTransaction:
    def __init__(self, ctx):
        self.ctx = ctx
        self.cm = ctx.store.transaction()

    def __enter__(self):
        tx = self.cm.__enter__()
        try:
            self.ctx.check(tx)
        except BaseException:
            if not self.cm.__exit__(*sys.exc_info()):
                raise
        return tx

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def emit(lines, stream):
    if lines:
        stream.write("\n".join(lines) + "\n")


def run(command, home, node, argv):
    """Run ``command`` as ``node`` of the cluster in ``home``; return the exit status."""
    try:
        module, func = COMMANDS[command]
        impl = getattr(importlib.import_module(module), func)
        status = impl(Context(command, home, node), list(argv))
        sys.stdout.flush()
        return status or 0
    except SimError as exc:
        emit(exc.stdout, sys.stdout)
        sys.stdout.flush()
        emit(exc.lines, sys.stderr)
        return 1
    except (Aborted, KeyboardInterrupt):
        return 1
    except BrokenPipeError:
        # The reader went away (a migration aborts, as a real hpvmmigrate killed by SIGPIPE
        # would). Point stdout at /dev/null so the interpreter's final flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # the promise: one line, never a traceback
        sys.stderr.write(f"{command}: internal error: {type(exc).__name__}: {exc}\n")
        return 1
