"""Pure decisions of an online move of a guest package (no Salt, no commands).

The host-side ``vpkg.move`` runs the commands; this module decides what their results mean:
where the guest is after a migration, what switching must be put back, and what to tell the
operator when it cannot be put back safely; and, for the master, whether switching that a move
left off may be re-enabled because the source node went down and the guest runs nowhere.  Kept
pure so every branch is tested on data.
"""

import pathlib
import shlex

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_results, vpkg_vm
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_results
    import vpkg_vm


def switching_snapshot(package):
    """Record a package's switching (global AUTO_RUN and per node) before we touch it."""
    return {
        "autorun": bool(package.get("autorun")),
        "switching": dict(package.get("switching") or {}),
    }


def command_line(argv):
    """An argument list as an operator would type it (for messages only, never executed)."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def recovery_commands(package, guest, source, target):
    """What an operator runs when the guest's location could not be established."""
    return [
        command_line(vpkg_vm.where_is_it_command(guest))
        + f"    # on {source} and on {target}: where is it On?",
        command_line(["cmrunpkg", "-n", "<node where the guest is On>", package]),
        command_line(["cmmodpkg", "-e", package]),
    ]


def unknown_location_message(package, guest, source, target, detail):
    """The error for the one case where switching is deliberately left disabled."""
    steps = "; then ".join(recovery_commands(package, guest, source, target))
    return (
        f"Package {package}: the location of guest {guest} could not be established after the "
        f"online migration from {source} to {target} ({detail}). Package switching is LEFT "
        f"DISABLED so that Serviceguard cannot start a second copy. To restore protection: {steps}"
    )


def wrong_node_message(expected, here):
    """A VM host asked to act for node ``expected`` takes itself for node ``here``."""
    return (
        f"This VM host was asked to act for Serviceguard node {expected}, but it takes itself for node "
        f"{here} (vpkg.node, else its hostname); nothing was done. If it is node {expected}, set "
        f"'vpkg.node: {expected}' in its minion config (or grains, or pillar); if it is not, map node "
        f"{expected} to its own minion in the master's vpkg:node_map."
    )


# The adopt step's commands, in order; what is left of them names the operator's recovery.
DETACH = "detach"  # cmhaltpkg -d PACKAGE: Serviceguard lets go of the guest on the source
RUN = "run"  # cmrunpkg -n TARGET PACKAGE: Serviceguard adopts the running guest on the target
ADOPTED = "adopted"
# Attempts of the adopt step, and the pauses between them. The guest already runs on the target,
# so a transient refusal (cmcld busy, a lock held by another command) is worth a few seconds:
# giving up leaves the package unprotected until an operator acts.
ADOPT_PAUSES = (0.5, 1.5, 3.0)


def adopt_next(package, source, target):
    """The adopt command still to run, from the package as Serviceguard shows it after a failure.

    DETACH while the package still runs on the source (the detach did not happen),
    RUN once it is detached, ADOPTED when it already runs on the target (the command failed after
    acting), None for anything else (halted, failed, on a third node): not ours to guess.
    """
    state, node = package.get("state"), package.get("node")
    if state == "running" and node in (source, target):
        return ADOPTED if node == target else DETACH
    if state == "detached":
        return RUN
    return None


def adopt_failed_message(package, guest, target, detail, remaining=RUN):
    """The error when the guest runs on the target but Serviceguard did not adopt it there.

    ``remaining`` is what :func:`adopt_next` said is left to do; the recovery starts there.
    """
    commands = []
    if remaining not in (DETACH, RUN):
        commands.append(command_line(["cmviewcl", "-v", "-p", package]) + "    # its state now")
    if remaining == DETACH:
        commands.append(command_line(["cmhaltpkg", "-d", package]))
    commands += [command_line(["cmrunpkg", "-n", target, package]), command_line(["cmmodpkg", "-e", package])]
    return (
        f"Package {package}: guest {guest} now runs on {target}, but Serviceguard did not start the "
        f"package there ({detail}). Package switching is LEFT DISABLED. Once {target} can take the "
        f"package, restore protection with: " + "; then ".join(commands)
    )


def step(name, ok, seconds, comment="", checks=None):
    """One entry of a move's step list (``vpkg_results.Step``)."""
    return vpkg_results.Step(name, bool(ok), seconds, comment, checks).to_dict()


def failed_checks(checks):
    """The reasons of the checks that did not pass."""
    return [f"{c['name']}: {c.get('reason') or 'failed'}" for c in checks if not c.get("ok")]


def refused_before_change(result):
    """True when a failed move stopped at its preflight: nothing was changed, it may be retried."""
    steps = result.get("steps") or []
    return result.get("result") is False and bool(steps) and all(s.get("step") == "preflight" for s in steps)


def shows_progress(output):
    """Whether salt-run's ``--out`` is one a person reads, where each progress event is printed.

    The default (nested) and ``vpkg`` outputters are; json, yaml and every other one are a
    script's, which wants the return as the one document printed.
    """
    return output in (None, "", "nested", "vpkg")


class ProgressFilter:
    """Which of a move's progress events are worth showing to the operator.

    The host fires one event per ``hpvmmigrate`` progress line. Each shown event costs the
    runner about 10 ms of printing (Salt's outputter machinery) in the thread that runs the move,
    so: every new phase, every final event, and otherwise at most one per ``interval`` seconds.
    """

    def __init__(self, interval):
        self.interval = float(interval)
        self.last = {}  # key -> (phase, when shown)

    def __call__(self, key, phase, now, final=False):
        seen = self.last.get(key)
        if final or seen is None or seen[0] != phase or now - seen[1] >= self.interval:
            self.last[key] = (phase, now)
            return True
        return False


# -- the source node went down mid-move: may Serviceguard fail the package over? ---------------

# Verdicts of source_down_failover.
FAILOVER_ENABLE = "enable"  # proven stopped everywhere: re-enable switching, Serviceguard restarts it
FAILOVER_ALREADY = "already"  # switching is already back on (someone else did it): nothing to do
FAILOVER_KEEP = "keep"  # no proof: switching stays off and the move's LEFT DISABLED error stands


def left_off_location_unknown(result):
    """True for a failed move that left switching off because the guest's location was unknown.

    Only that error is a candidate for a failover: the others either restored switching already
    or know where the guest runs (the adopt step failed with the guest On on the target).
    """
    if not isinstance(result, dict) or result.get("result") is not False:
        return False
    if result.get("location") != vpkg_vm.UNKNOWN:
        return False
    switching = result.get("switching") if isinstance(result.get("switching"), dict) else {}
    before = switching.get("before") if isinstance(switching.get("before"), dict) else {}
    after = switching.get("after") if isinstance(switching.get("after"), dict) else {}
    return bool(before.get("autorun")) and after.get("autorun") is False


def node_down(cluster, node):
    """True only if Serviceguard's view shows ``node`` down (not merely unknown or missing)."""
    info = ((cluster or {}).get("nodes") or {}).get(node)
    return isinstance(info, dict) and info.get("status") == "down"


def nodes_to_ask(cluster, package, source, target):
    """Every VM host where the guest could be On: the source, the target, the package's node list."""
    pkg = ((cluster or {}).get("packages") or {}).get(package) or {}
    return list(dict.fromkeys([source, target, *(pkg.get("node_list") or [])]))


def _shown(guest, answer):
    if not isinstance(answer, dict):
        return "could not be asked"
    state = answer.get("state")
    text = f"shows guest {guest} {state}" if state else f"shows guest {guest} in no known state"
    migration = answer.get("migration")
    if migration:
        text += f" and a migration in progress ({migration})"
    return text


def source_down_failover(result, cluster, guests):
    """May package switching, left off by a move whose source node went down, be re-enabled?

    ``result`` is the host's failed move; ``cluster`` Serviceguard's view from a node that is up
    (None if none answered); ``guests`` maps each node of :func:`nodes_to_ask` to that VM host's
    ``hpvm.guest`` answer, or None when its minion could not be asked.

    Re-enabling lets Serviceguard start the package on an eligible node, so it is allowed only
    when the guest provably runs nowhere: the source is down per Serviceguard, the package is
    halted there, the target answered and shows the guest Off (never On, never migrating), and so
    does every other node that answered. A node that does not answer is accepted only if
    Serviceguard shows it down (a down node runs no guest: that is what Serviceguard's own
    failover relies on), never the target. Returns ``(verdict, reason)``.
    """
    if not left_off_location_unknown(result):
        return FAILOVER_KEEP, "the move did not leave switching off with the guest's location unknown"
    package, guest = result.get("package"), result.get("guest")
    source, target = result.get("source"), result.get("target")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("packages"), dict):
        return FAILOVER_KEEP, "no cluster node that is up answered with Serviceguard's view"
    if not node_down(cluster, source):
        status = ((cluster.get("nodes") or {}).get(source) or {}).get("status", "unknown")
        return FAILOVER_KEEP, f"Serviceguard shows source node {source} {status}, not down"
    pkg = cluster["packages"].get(package)
    if not isinstance(pkg, dict):
        return FAILOVER_KEEP, f"Serviceguard does not show package {package}"
    if pkg.get("autorun"):
        return FAILOVER_ALREADY, f"package switching of {package} is already enabled again"
    if pkg.get("state") != "halted":
        where = f" on {pkg['node']}" if pkg.get("node") else ""
        return FAILOVER_KEEP, f"Serviceguard shows package {package} {pkg.get('state')}{where}, not halted"
    seen = []
    for node in nodes_to_ask(cluster, package, source, target):
        answer = guests.get(node) if isinstance(guests, dict) else None
        if answer is None and node != target and node_down(cluster, node):
            seen.append(f"{node}: down")
            continue
        if not vpkg_vm.guest_stopped(answer):
            return FAILOVER_KEEP, f"{node} {_shown(guest, answer)}"
        seen.append(f"{node}: {answer['state']}")
    return (
        FAILOVER_ENABLE,
        f"Serviceguard shows {source} down and guest {guest} is On nowhere ({', '.join(seen)})",
    )


def _migration_said(result):
    for entry in result.get("steps") or []:
        if isinstance(entry, dict) and entry.get("step") == "migrate" and entry.get("comment"):
            return f" ({entry['comment']})"
    return ""


def failover_message(result, verdict, reason, enabled_on=None, pkg_now=None):
    """The comment of a move whose source node went down, once switching is back on.

    ``verdict`` is FAILOVER_ENABLE (we ran ``cmmodpkg -e`` on ``enabled_on``) or FAILOVER_ALREADY;
    ``pkg_now`` is the package as Serviceguard shows it afterwards (None if it could not be read).
    """
    package, guest = result.get("package"), result.get("guest")
    source, target = result.get("source"), result.get("target")
    head = (
        f"Package {package} was not moved: source node {source} went down during the online "
        f"migration of guest {guest} to {target}{_migration_said(result)}, and the guest stopped with it. "
    )
    if verdict == FAILOVER_ENABLE:
        enable = command_line(["cmmodpkg", "-e", package])
        head += (
            f"{reason[:1].upper()}{reason[1:]}, so package switching was re-enabled ({enable}, run on "
            f"{enabled_on}) for Serviceguard to fail the package over"
        )
    else:
        head += f"{reason[:1].upper()}{reason[1:]}"
    pkg_now = pkg_now if isinstance(pkg_now, dict) else {}
    state, node = pkg_now.get("state"), pkg_now.get("node")
    if state == "running" and node:
        return f"{head}: Serviceguard restarted {package} on {node}."
    if node and state in ("starting", "detached"):
        return f"{head}: Serviceguard shows {package} {state} on {node}."
    watch = command_line(["cmviewcl", "-v", "-p", package])
    return (
        f"{head}. Serviceguard has not started it yet (it shows {state or 'no state'}); it starts it on "
        f"the first eligible node of the package's node list as soon as one can take it. Check with: {watch}"
    )


def failover_kept_note(reason):
    """Added to the LEFT DISABLED error when the source is down but the failover is not proven safe."""
    return f" The source node is down, but switching was not re-enabled automatically: {reason}."
