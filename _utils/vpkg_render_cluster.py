"""The ``vpkg`` outputter's drawings of the cluster (``vpkg.status``) and the audit trail (``vpkg.history``).

Which packages a capacity bar shows is ``vpkg_capacity``'s rule (``is_counted``), the one the
planner and the preflight count by.
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_capacity
    from saltext.vpkg.utils import vpkg_render_text as text
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_capacity
    import vpkg_render_text as text


def status(data, paint):
    """``vpkg.status``: a block per node (capacity bars, guests), then the rest of the packages.

    Of several clusters: a line of figures per cluster, then each cluster's drawing in turn.
    """
    if "clusters" in data:
        return _site(data, paint)
    if set(data) <= text.SENTENCE_KEYS | {"cluster"}:
        return text.sentence(data, paint)  # a cluster of several that did not answer
    nodes, packages = data["nodes"], data["packages"]
    head = f"cluster {data.get('cluster')}  {data.get('status', '')}"
    if data.get("reported_by"):
        head += f"  (as seen from {data['reported_by']})"
    lines = [paint(head, "LIGHT_CYAN")]
    reserved = _reserved(data.get("in_flight") or [])
    placed = set()
    for name, node in nodes.items():
        mine = [p for p, pkg in packages.items() if pkg.get("node") == name]
        placed.update(mine)
        lines.append("")
        lines.extend(_node_block(name, node, {p: packages[p] for p in mine}, reserved.get(name, {}), paint))
    rest = {p: pkg for p, pkg in packages.items() if p not in placed}
    halted = {p: pkg for p, pkg in rest.items() if pkg.get("state") == "halted"}
    elsewhere = {p: pkg for p, pkg in rest.items() if p not in halted}
    for title, group in (("halted", halted), ("not running on any node", elsewhere)):
        if group:
            lines.extend(["", paint(title, "LIGHT_YELLOW")])
            lines.extend(_package_lines(group, paint, with_node_list=True))
    if data.get("in_flight"):
        lines.extend(["", paint("moves in flight", "LIGHT_YELLOW")])
        for entry in data["in_flight"]:
            why = f"  ({entry['operation']})" if entry.get("operation") else ""
            lines.append(f"  {entry.get('package')}  {entry.get('source')} -> {entry.get('target')}{why}")
    lines.extend(_interrupted(data.get("interrupted") or [], paint))
    lines.extend(text.extra(data, _STATUS_KEYS))
    up = sum(1 for n in nodes.values() if n.get("status") == "up")
    running = sum(1 for p in packages.values() if vpkg_capacity.is_counted(p))
    lines.extend(
        [
            "",
            f"{up} of {len(nodes)} nodes up; {running} of {len(packages)} packages running, "
            f"{len(halted)} halted, {len(elsewhere)} elsewhere",
        ]
    )
    return lines


def _site(data, paint):
    lines = []
    for figures in data.get("summary") or []:
        if "comment" in figures:
            silent = paint("NO ANSWER", "LIGHT_RED")
            lines.append(f"{paint(figures['cluster'], 'LIGHT_CYAN')}  {silent}  {figures['comment']}")
            continue
        used = ", ".join(
            f"{cap} {t['used']:g}/{t['capacity']:g}"
            for cap, t in sorted((figures.get("capacity") or {}).items())
        )
        lines.append(
            f"{paint(figures['cluster'], 'LIGHT_CYAN')}  {figures['nodes_up']}/{figures['nodes']} nodes up, "
            f"{figures['packages_running']}/{figures['packages']} packages running"
            + (f", capacity used: {used}" if used else "")
        )
    for cluster in data["clusters"]:
        lines.extend(["", *status(cluster, paint)])
    return lines


_STATUS_KEYS = text.COMMON_KEYS | {"cluster", "status", "reported_by", "nodes", "packages", "in_flight"}
_STATUS_KEYS |= {"interrupted"}


def _interrupted(journals, paint):
    """Operations whose runner died: what each had done, and the command that resumes it."""
    lines = []
    for journal in journals:
        operation, node = journal.get("operation"), journal.get("node")
        started = journal.get("started")
        when = text.when(started) if isinstance(started, int | float) else started
        lines.extend(
            [
                "",
                paint(f"INTERRUPTED {operation} of {node}", "LIGHT_RED")
                + f"  (started {when}, id {journal.get('id')})",
                f"  resume it with: salt-run vpkg.{operation}"
                + ("" if operation == "rebalance" else f" {node}"),
            ]
        )
        moves = journal.get("moves") or {}
        width = max((len(p) for p in moves), default=0)
        for package, fate in moves.items():
            fate = fate if isinstance(fate, dict) else {}  # noqa: PLW2901 - a damaged journal still shows
            lines.append(
                f"  {package:<{width}}  {fate.get('source')} -> {fate.get('target')}  "
                f"{fate.get('status', '?')}  {fate.get('comment') or ''}"
            )
    return lines


def _reserved(in_flight):
    held = {}
    for entry in in_flight:
        node = held.setdefault(entry.get("target"), {})
        for name, amount in (entry.get("weights") or {}).items():
            node.setdefault(name, []).append((entry.get("package"), amount))
    return held


def _node_block(name, node, packages, reserved, paint):
    status, state = node.get("status", "?"), node.get("state", "?")
    healthy = status == "up" and state == "running"
    lines = [f"{paint(name, 'LIGHT_CYAN')}  {paint(status, 'GREEN' if healthy else 'LIGHT_RED')}  {state}"]
    capacities = node.get("capacities") or {}
    if not capacities:
        lines.append("  no capacity defined (unlimited)")
    width = max((len(c) for c in capacities), default=0)
    for cap, figures in capacities.items():
        total, used = figures.get("capacity"), figures.get("used")
        guests = [
            f"{p} {text.num(pkg['weights'][cap])}"
            for p, pkg in packages.items()
            if (pkg.get("weights") or {}).get(cap) and vpkg_capacity.is_counted(pkg)
        ]
        held = [f"+{text.num(amount)} {p} moving in" for p, amount in reserved.get(cap, [])]
        figure = f"{text.num(used)} / {text.num(total)}"
        drawn = text.bar(used, total, paint)
        lines.append(f"  {cap:<{width}}  {drawn}  {figure:<9}  {', '.join(guests + held)}".rstrip())
    lines.extend(_package_lines(packages, paint) or ["  (no packages)"])
    return lines


def _package_lines(packages, paint, with_node_list=False):
    width = max((len(p) for p in packages), default=0)
    lines = []
    for name, pkg in packages.items():
        state = pkg.get("state") or "?"
        notes = []
        if pkg.get("priority") is not None:
            notes.append(f"priority {pkg['priority']}")
        if not pkg.get("vm_name"):
            notes.append("not a guest package")
        if pkg.get("autorun") is False:
            notes.append(paint("switching off", "LIGHT_YELLOW"))
        off = [n for n, on in (pkg.get("switching") or {}).items() if on is False]
        if off:
            notes.append(paint(f"node switching off on {', '.join(off)}", "YELLOW"))
        if with_node_list and pkg.get("node_list"):
            notes.append(f"node list {', '.join(pkg['node_list'])}")
        colour = "GREEN" if state == "running" else "LIGHT_YELLOW"
        lines.append(f"  {name:<{width}}  {paint(state, colour, 9)}  {'  '.join(notes)}".rstrip())
    return lines


def history(data, paint):
    """``vpkg.history``: one line per audit entry, oldest first."""
    entries = data.get("entries") or []
    if not entries:
        return [data.get("comment") or "no audit entries"]
    return [_entry(entry, paint) for entry in entries]


def _entry(entry, paint):
    ok = entry.get("result")
    where = f"{entry.get('source') or ''} -> {entry.get('target')}" if entry.get("target") else ""
    what = entry.get("package") or entry.get("node") or ""
    tail = f"  {entry['error']}" if entry.get("error") else ""
    return (
        f"{entry.get('time')}  {entry.get('operation', ''):<9}  {what:<10}  {where:<22}  "
        f"{paint.verdict(ok, 'ok', 'FAILED', width=6)}  "
        f"{text.secs(entry.get('duration')):>8}  {entry.get('user') or ''}{tail}".rstrip()
    )
