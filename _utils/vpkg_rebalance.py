"""Rebalancing plans: spread the load (``balance``) or pack the guests onto fewer nodes (``pack``).

Pure, on the planner's ``State`` (``vpkg_plan_state``); ``vpkg_plan`` registers them as the
``balanced`` and ``minimal`` strategies of the ``rebalance`` goal. See ``docs/planner.md``.
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_plan_state
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_plan_state

# A rebalance move must lower the busier of its two nodes by at least this much relative
# utilisation: it keeps the planner from shuffling guests for gains nobody would notice.
BALANCE_TOLERANCE = 0.005


def _movable_units(state, source):
    # A guest moves at most once per plan: a second hop is a move the first should have made.
    moved = {m.package for m in state.moves}
    names = [p for p in state.on[source] if p not in moved]
    return [u for u in vpkg_plan_state.units(state, names) if not any(state.why_not_movable(p) for p in u)]


def balance(state, max_moves=None):
    """Lower the most utilised node first, one improving move at a time (see docs/planner.md).

    A move is taken only when the busier of its two nodes ends below the source's utilisation by
    BALANCE_TOLERANCE: the sorted vector of utilisations then decreases at every step, so the loop
    ends, and no move is pointless.
    """
    limit = len(state.where) if max_moves is None else max_moves
    nodes = list(state.up)
    utils = {n: state.util(n) for n in nodes}
    # Sources with no improving move, each with the nodes its guests may go to: it stays stuck until
    # one of those nodes gets lighter (a move's source) or it receives a guest (a move's target).
    stuck = {}
    while len(state.moves) < limit:
        by_load = sorted(nodes, key=lambda n: (-utils[n], state.order[n]))
        ascending = by_load[::-1]
        for source in by_load:
            if source in stuck:
                continue
            move = _best_relief(state, source, utils, ascending)
            if move is None:
                stuck[source] = frozenset().union(
                    *(state.static_targets(u) for u in _movable_units(state, source))
                )
                continue
            state.apply(*move)
            target = move[1]
            utils[source], utils[target] = state.util(source), state.util(target)
            stuck.pop(target, None)
            stuck = {
                n: t
                for n, t in stuck.items()
                if source not in t or utils[source] >= utils[n] - BALANCE_TOLERANCE
            }
            break
        else:
            return


def _best_relief(state, source, utils, ascending):
    """The move off ``source`` that leaves the busier of its two nodes least utilised, if it improves."""
    ceiling = utils[source] - BALANCE_TOLERANCE
    if utils[ascending[0]] >= ceiling:
        return None  # no node is low enough to take anything from this one
    best, best_key = None, None
    for unit in _movable_units(state, source):
        need = state.need(unit)
        allowed = state.static_targets(unit)
        if not any(utils[n] < ceiling for n in allowed if n != source):
            continue
        after_source = state.util(source, need if state.caps[source] else unit, -1)
        if after_source >= ceiling:
            continue
        for node in ascending:
            if utils[node] >= ceiling or (best_key and utils[node] > best_key[0]):
                break  # ascending: no later node can do better
            if node == source or node not in allowed or not state.can_take(unit, node, need):
                continue
            after = max(after_source, state.util(node, need if state.caps[node] else unit))
            key = (after, -vpkg_plan_state.priority_key(state, unit[0])[0], unit[0])
            if after < ceiling and (best_key is None or key < best_key):
                best, best_key = (unit, node), key
    return best


def pack(state):
    """Empty the least loaded nodes onto the others, whole nodes only (no partial, pointless moves).

    Candidates are tried from the least utilised; a node is emptied only if every guest on it finds
    a place (best fit: the fullest node that takes it), else its tentative moves are undone. A node
    that received guests is kept, so no guest moves twice.
    """
    kept, tried = set(), set()
    while True:
        loaded = [n for n in state.up if n not in kept and n not in tried and state.on[n]]
        if not loaded:
            return
        node = min(loaded, key=lambda n: (state.util(n), len(state.on[n]), state.order[n]))
        tried.add(node)
        on_node = list(state.on[node])
        if any(state.why_not_movable(p) for p in on_node):
            continue
        emptied = _emptied(state) | {node}
        targets = [n for n in state.up if n not in emptied and state.on[n]]
        applied = []
        for unit in sorted(
            vpkg_plan_state.units(state, on_node), key=lambda u: vpkg_plan_state.unit_key(state, u)
        ):
            target = _fullest_fit(state, unit, targets)
            if target is None:
                break
            applied.append(state.apply(unit, target))
        else:
            kept.update(m.target for m in state.moves)
            continue
        for done in reversed(applied):
            state.undo(done)


def _emptied(state):
    return {m.source for m in state.moves}


def _fullest_fit(state, unit, targets):
    """Best fit: the eligible node left with the least relative headroom; ties: configuration order."""
    need = state.need(unit)
    best, best_key = None, None
    for node in targets:
        if state.unit_problem(unit, node, need) is None:
            key = (state.headroom(node, need), state.order[node])
            if best_key is None or key < best_key:
                best, best_key = node, key
    return best
