"""``hpvmmigrate`` (Integrity VM) and ``cmmovevpkg`` (SG IVS toolkit), on the shared engine."""

import sys

from sgsim import migration, model, opts
from sgsim.errors import SimError
from sgsim.names import fmt_number
from sgsim.vmcmds import guest_here

HPVMMIGRATE_USAGE = ["usage: hpvmmigrate -o -P vm-name -h dest-hostname [-s]"]
CMMOVEVPKG_USAGE = ["usage: cmmovevpkg [-v] -P package_name -h node_name"]


def hpvmmigrate(ctx, argv):
    pairs, operands = opts.parse("hpvmmigrate", HPVMMIGRATE_USAGE, argv, "osP:h:")
    if operands:
        raise opts.usage_error("hpvmmigrate", HPVMMIGRATE_USAGE, f"unexpected argument {operands[0]}")
    flags = {o for o, _ in pairs}
    names = [v for o, v in pairs if o == "-P"]
    hosts = [v for o, v in pairs if o == "-h"]
    if len(names) != 1 or len(hosts) != 1:
        raise opts.usage_error(
            "hpvmmigrate", HPVMMIGRATE_USAGE, "exactly one -P vm-name and one -h host are required"
        )
    name, target = names[0], hosts[0]
    say = migration.printer()
    with ctx.transaction() as tx:
        st = tx.state
        guest = guest_here("hpvmmigrate", st, name, ctx.node)
        if "-s" in flags:
            verdicts = migration.checks(st, name, ctx.node, target)
        elif "-o" not in flags:
            if guest["runs_on"] == ctx.node:
                raise SimError(f"hpvmmigrate: Guest '{name}' is running; use -o for an online migration.")
            raise SimError("hpvmmigrate: Offline migration is not simulated; use -o on a running guest.")
        else:
            rec = migration.begin(st, name, ctx.node, target)
            tx.changed()
            first = {"sim": st["sim"], "guests": {name: dict(guest)}}
    if "-s" in flags:
        for check, ok, reason in verdicts:
            say(f"hpvmmigrate: Check {check}: {'passed' if ok else 'failed: ' + reason}")
        ok = all(v[1] for v in verdicts)
        say(f"hpvmmigrate: Guest {'can' if ok else 'cannot'} be migrated.")
        return 0 if ok else 1
    migration.Engine(ctx, rec, say).run(first)
    return 0


def _capacity_refusal(st, pkg, target):
    usage = model.capacity_usage(st)
    short = model.capacity_shortfall(st, pkg, target, usage)
    if short is None:
        return None
    avail = model.available(st, target, usage)[short]
    return (
        f"Node {target} does not have enough available capacity for package {pkg['name']} "
        f"(capacity {short}: available {fmt_number(avail)}, weight {fmt_number(pkg['weights'][short])})."
    )


def _enable(st, pkg):
    """The toolkit's last step, ``cmmodpkg -e``: a halted package is started where it may run."""
    pkg["autorun"] = True
    if pkg["state"] == "halted":
        node = model.first_eligible(st, pkg)
        if node is not None:
            model.start_package(st, pkg, node)


def cmmovevpkg(ctx, argv):
    pairs, operands = opts.parse("cmmovevpkg", CMMOVEVPKG_USAGE, argv, "vP:h:")
    if operands:
        raise opts.usage_error("cmmovevpkg", CMMOVEVPKG_USAGE, f"unexpected argument {operands[0]}")
    verbose = any(o == "-v" for o, _ in pairs)
    names = [v for o, v in pairs if o == "-P"]
    hosts = [v for o, v in pairs if o == "-h"]
    if len(names) != 1 or len(hosts) != 1:
        raise opts.usage_error(
            "cmmovevpkg", CMMOVEVPKG_USAGE, "exactly one -P package and one -h node are required"
        )
    name, target = names[0], hosts[0]
    say = migration.printer() if verbose else (lambda line: None)
    failure = None
    with ctx.transaction() as tx:
        st = tx.state
        pkg = st["packages"].get(name)
        if pkg is None:
            raise ctx.unknown_package(name)
        if target not in st["nodes"]:
            raise ctx.unknown_node(target)
        if not pkg["vm_name"]:
            raise SimError(f"cmmovevpkg: Package {name} is not a VM guest package.")
        if pkg["state"] != "running":
            raise SimError(f"cmmovevpkg: Package {name} is not running.")
        source = pkg["node"]
        if source != ctx.node:
            raise SimError(
                f"cmmovevpkg: Package {name} is not running on this node; run cmmovevpkg on node {source}."
            )
        if target == source:
            raise SimError(f"cmmovevpkg: Package {name} is already running on node {target}.")
        if target not in pkg["node_list"]:
            raise SimError(f"cmmovevpkg: Node {target} is not in the node list of package {name}.")
        if not pkg["switching"][target]:
            raise SimError(f"cmmovevpkg: Node switching is disabled for package {name} on node {target}.")
        refusal = _capacity_refusal(st, pkg, target)
        if refusal:
            raise SimError(refusal)
        pkg["autorun"] = False
        try:
            rec = migration.begin(st, pkg["vm_name"], source, target, package=name)
        except migration.MigrationFailed as exc:
            _enable(st, pkg)
            failure = exc
        tx.changed()
        first = {"sim": st["sim"], "guests": {pkg["vm_name"]: dict(st["guests"][pkg["vm_name"]])}}
    say(f"cmmovevpkg: Disabling package switching for package {name}.")
    say(f"cmmovevpkg: Migrating guest {pkg['vm_name']} to VM host {target}.")
    if failure is None:
        try:
            migration.Engine(ctx, rec, say, on_commit=lambda st: _adopt(st, name, target)).run(first)
        except migration.MigrationFailed as exc:
            if exc.by_signal:
                raise  # killed: switching stays disabled, as the real toolkit would leave it
            failure = exc
            with ctx.transaction() as tx:
                _enable(tx.state, tx.state["packages"][name])
                tx.changed()
    if failure is not None:
        say(f"cmmovevpkg: Enabling package switching for package {name}.")
        raise SimError(*failure.lines)
    say(f"cmmovevpkg: Package {name} is now running on node {target}.")
    with ctx.transaction() as tx:
        tx.state["packages"][name]["autorun"] = True
        tx.changed()
    say(f"cmmovevpkg: Enabling package switching for package {name}.")
    say("cmmovevpkg: Completed successfully.")
    sys.stdout.flush()
    return 0


def _adopt(st, name, target):
    """Live application detach on the source, then ``cmrunpkg -n target`` adopting the guest."""
    pkg = st["packages"][name]
    model.halt_package(st, pkg, detach=True)
    model.start_package(st, pkg, target)
