"""Integrity VM commands on the local VM host: ``hpvmstatus`` and ``hpvmmodify``."""

import sys

from sgsim import model, opts, vmview
from sgsim.errors import SimError

HPVMSTATUS_USAGE = ["usage: hpvmstatus [-V] [-M] [-P vm-name]"]
HPVMMODIFY_USAGE = ["usage: hpvmmodify -P vm-name -x attribute=value"]
MODIFIABLE = {"online_migration": ("enabled", "disabled"), "register_status": ("enabled", "disabled")}


def guest_here(command, st, name, node):
    """The guest ``name`` as configured on VM host ``node``; the real error if it is not."""
    guest = st["guests"].get(name)
    if guest is None or guest not in model.guests_on_host(st, node):
        raise SimError(f"{command}: Unable to find virtual machine '{name}'.")
    return guest


def hpvmstatus(ctx, argv):
    pairs, operands = opts.parse("hpvmstatus", HPVMSTATUS_USAGE, argv, "VMP:")
    if operands:
        raise opts.usage_error("hpvmstatus", HPVMSTATUS_USAGE, f"unexpected argument {operands[0]}")
    flags = {o for o, _ in pairs}
    names = [v for o, v in pairs if o == "-P"]
    if len(names) > 1:
        raise opts.usage_error("hpvmstatus", HPVMSTATUS_USAGE, "only one -P option is allowed")
    with ctx.transaction() as tx:
        st, node = tx.state, ctx.node
        guests = [guest_here("hpvmstatus", st, names[0], node)] if names else model.guests_on_host(st, node)
        if "-M" in flags:
            lines = [vmview.machine_line(st, g, node) for g in guests]
        elif "-V" in flags:
            lines = []
            for g in guests:
                if lines:
                    lines.append("")
                lines += vmview.verbose_block(st, g, node)
        elif names:
            lines = vmview.detail(st, guests[0], node)
        else:
            lines = vmview.table(st, node)
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def hpvmmodify(ctx, argv):
    pairs, operands = opts.parse("hpvmmodify", HPVMMODIFY_USAGE, argv, "P:x:")
    if operands:
        raise opts.usage_error("hpvmmodify", HPVMMODIFY_USAGE, f"unexpected argument {operands[0]}")
    names = [v for o, v in pairs if o == "-P"]
    attrs = [v for o, v in pairs if o == "-x"]
    if len(names) != 1:
        raise opts.usage_error("hpvmmodify", HPVMMODIFY_USAGE, "exactly one -P vm-name is required")
    if not attrs:
        raise opts.usage_error("hpvmmodify", HPVMMODIFY_USAGE, "nothing to modify: give -x attribute=value")
    changes = []
    for attr in attrs:
        key, sep, value = attr.partition("=")
        if not sep or key not in MODIFIABLE:
            raise SimError(f"hpvmmodify: Invalid attribute '{attr}'.")
        if value not in MODIFIABLE[key]:
            raise SimError(f"hpvmmodify: Invalid value '{value}' for attribute '{key}'.")
        changes.append((key, value == "enabled"))
    with ctx.transaction() as tx:
        st, node = tx.state, ctx.node
        guest = guest_here("hpvmmodify", st, names[0], node)
        if guest["name"] in st["migrations"]:
            raise SimError(f"hpvmmodify: Guest '{guest['name']}' is being migrated; try again later.")
        for key, enabled in changes:
            if key == "online_migration":
                guest["online_migration"] = enabled
            elif enabled:
                if guest["runs_on"] and guest["runs_on"] != node:
                    raise SimError(
                        f"hpvmmodify: Guest '{guest['name']}' is running on VM Host {guest['runs_on']}; "
                        "it cannot be registered here."
                    )
                if node in guest["not_runnable"]:
                    guest["not_runnable"].remove(node)
            else:
                if guest["runs_on"] == node:
                    raise SimError(
                        f"hpvmmodify: Guest '{guest['name']}' is running; it cannot be unregistered."
                    )
                if node not in guest["not_runnable"]:
                    guest["not_runnable"].append(node)
        tx.changed()
    return 0
