"""When each planned move may run: Integrity VM's one-migration-per-host rule and capacity order.

Pure. A plan (``vpkg_plan.plan``) is a sequence that is safe run one move at a time. Running
moves at once is safe when two rules hold (docs/planner.md, "The scheduler"):

1. a VM host takes part in one online migration at a time, as source or as target;
2. a move *into* node X starts only once every move before it in the plan that touches X (into or
   out of X) has finished.

Rule 2 is what keeps capacity safe: when a move into X starts, X's load is at most what the plan
counted at that point (earlier moves touching X are done; later moves into X wait for it; later
moves out of X only free capacity). Moves out of a node need no such wait. The earliest pending
move of the plan is always runnable once the running moves end, so the schedule cannot deadlock.
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity


def _name(move):
    return move["package"] if isinstance(move, dict) else move


def next_runnable(pending, running=(), cluster=None, reserved=None, queued=None):
    """The moves of ``pending`` that may start now, in plan order.

    ``pending`` holds the moves not started yet, in plan order (remove a move when it starts);
    ``running`` the moves in progress (move dicts). Finished moves, successful or not, are simply in
    neither list. With ``cluster`` (the current ``serviceguard.cluster()``) and ``reserved`` (capacity
    held by the running moves, ``{node: {capacity: amount}}``), a move is also held back while its
    target's actual available capacity does not cover it, which protects the cluster when an earlier
    move failed and did not free what the plan counted on.

    ``queued`` (a list, possibly empty) turns on pipelining: the moves already started that wait on
    their source VM host for its migration slot. A move whose source is busy only as the source of
    running migrations may then start too, one per source, when its target is free: the host does
    its preflight meanwhile and migrates the moment the slot frees (``vpkg.move`` on the host).
    Queued moves hold their source and target like running ones.

    When it returns nothing while nothing runs and moves are pending, those moves cannot run: the
    caller reports them (``vpkg_capacity.preflight`` gives the reasons).
    """
    busy, sending, waiting = set(), set(), set()
    for move in running:
        busy.update((move["source"], move["target"]))
        sending.add(move["source"])
    for move in queued or ():
        busy.update((move["source"], move["target"]))
        waiting.add(move["source"])
    # A source may queue a move only while it takes part in migrations as a source alone.
    only_sending = sending - {m["target"] for m in running} - {m["target"] for m in queued or ()}
    touched = set()  # nodes touched by an earlier pending move: a move into them must wait
    load = vpkg_capacity.used(cluster) if cluster is not None else None
    start = []
    for move in pending:
        source, target = move["source"], move["target"]
        free_source = source not in busy or (
            queued is not None and source in only_sending and source not in waiting
        )
        ready = free_source and target not in busy and target not in touched
        if ready and cluster is not None:
            ready = _fits_now(cluster, move, reserved, load)
        if ready:
            start.append(move)
            if source in busy:
                waiting.add(source)
            busy.update((source, target))
        touched.update((source, target))
    return start


def _fits_now(cluster, move, reserved, load):
    if move["target"] not in cluster["nodes"] or move["package"] not in cluster["packages"]:
        return False
    pkg = cluster["packages"][move["package"]]
    avail = vpkg_capacity.available(cluster, move["target"], reserved, load)
    return all(vpkg_capacity.weight(cluster, pkg, c) <= a + vpkg_capacity.EPSILON for c, a in avail.items())
