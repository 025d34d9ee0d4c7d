"""
The ``vpkg`` outputter: the cluster, plans and move results drawn for a person at a terminal.

.. code-block:: bash

    salt-run vpkg.status --out=vpkg
    salt-run vpkg.plan evacuate=xyzo1 --out=vpkg
    salt-run vpkg.move slvm1 xyzo2 --out=vpkg

It recognises the shapes the ``vpkg`` runner returns (docs/data.md, docs/planner.md) and the
runner's progress events; anything else goes to Salt's ``nested`` outputter, so ``--out=vpkg``
is never worse than the default. Colour follows Salt's ``color`` option (``--no-color``,
``--force-color``, plain when the output is not a terminal). The runner's return is unchanged:
scripts keep using ``--out=json`` or ``--out=yaml``.

Salt loads outputters without its utils folders on ``sys.path``, so this file imports nothing of
ours: the standard library and Salt only.
"""

import datetime
import json

import salt.loader
import salt.utils.color

__virtualname__ = "vpkg"

BAR = 20  # characters per capacity bar: 5% of a node per character

# Package states in which a package holds capacity on its node (docs/planner.md).
_HOLDING = ("running", "detached", "starting", "halting", "maintenance")


def __virtual__():
    return __virtualname__


def output(data, **kwargs):
    """Draw ``data`` if it is one of the vpkg runner's shapes, else hand it to ``nested``.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.status --out=vpkg
    """
    paint = _Paint(__opts__.get("color"), __opts__.get("color_theme"))
    render = _renderer(data)
    if render is None:
        return salt.loader.outputters(__opts__)["nested"](data, **kwargs)
    return "\n".join(line.rstrip() for line in render(data, paint))


def _renderer(data, nested=True):
    """The drawing function for ``data``'s shape, or None when it is not ours."""
    if isinstance(data, list):
        return _history if data and all(_is_audit(e) for e in data) else None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("entries"), list) and len(data) == 1:
        return lambda d, paint: _history(d["entries"], paint) if d["entries"] else ["no audit entries"]
    if isinstance(data.get("event"), dict) and "suffix" in data and "message" in data["event"]:
        return _progress
    if isinstance(data.get("nodes"), dict) and isinstance(data.get("packages"), dict) and "cluster" in data:
        return _status
    if isinstance(data.get("moves"), list) and isinstance(data.get("capacity"), dict) and "goal" in data:
        return _plan
    if "operation" in data and isinstance(data.get("moves"), list):
        return _operation
    if "package" in data and (isinstance(data.get("steps"), list) or isinstance(data.get("checks"), list)):
        return _move
    if "comment" in data and "result" in data and set(data) <= _SIMPLE_KEYS:
        return _simple
    if nested and data and all(_renderer(v, nested=False) for v in data.values()):
        return _per_minion  # ``salt 'vmhost*' vpkg.check ...``: one of our shapes per minion
    return None


def _per_minion(data, paint):
    lines = []
    for minion, value in data.items():
        lines.append(paint(f"{minion}:", "LIGHT_CYAN"))
        lines.extend(f"    {line}" for line in _renderer(value, nested=False)(value, paint))
    return lines


_SIMPLE_KEYS = {
    "result",
    "comment",
    "node",
    "package",
    "operation",
    "moved",
    "not_started",
    "retcode",
    "ignored",
    "requested_by",
    "test",
}


# -- small helpers --------------------------------------------------------------------------------
class _Paint:
    """ANSI colours from Salt's palette when ``use`` is true, empty strings otherwise."""

    def __init__(self, use, theme=None):
        self.use = bool(use)
        self.codes = salt.utils.color.get_colors(self.use, theme) if self.use else {}

    def __call__(self, text, colour, width=0):
        """``text`` padded to ``width`` first, so colour codes never upset the columns."""
        text = str(text)
        pad = " " * (width - len(text))
        if not self.use or not colour:
            return text + pad
        return f"{self.codes.get(colour, '')}{text}{self.codes.get('ENDC', '')}{pad}"

    def verdict(self, ok, yes="ok", no="FAIL", none="--", width=0):
        if ok is None:
            return self(none, "LIGHT_YELLOW", width)
        return self(yes, "GREEN", width) if ok else self(no, "LIGHT_RED", width)


def _num(value):
    """28.0 -> '28', 4.5 -> '4.5': capacities and weights as an operator writes them."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _secs(value):
    return "" if value is None else f"{float(value):.2f} s"


def _bar(used, total, paint, width=BAR):
    """``[########............]`` filled in proportion; red once a node is 90% full or over."""
    try:
        ratio = float(used) / float(total) if float(total) > 0 else 1.0
    except (TypeError, ValueError):
        return "[" + "?" * width + "]"
    filled = min(width, max(0, round(ratio * width)))
    if used and filled == 0:
        filled = 1  # a guest's weight is never drawn as nothing
    colour = "GREEN" if ratio < 0.75 else "YELLOW" if ratio < 0.9 else "LIGHT_RED"
    fill = ("!" if ratio > 1 + 1e-9 else "#") * filled
    return "[" + paint(fill, colour) + "." * (width - filled) + "]"


def _indent(text, prefix):
    lines = str(text).splitlines() or [""]
    return lines[0] + "".join(f"\n{prefix}{line}" for line in lines[1:])


# -- progress events ------------------------------------------------------------------------------
def _progress(data, paint):
    event = data["event"]
    colour = {True: "GREEN", False: "LIGHT_RED"}.get(event.get("result"))
    return [paint(str(event["message"]), colour)]


# -- the cluster: vpkg.status ---------------------------------------------------------------------
def _status(data, paint):
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
    lines.extend(_extra(data, _STATUS_KEYS))
    up = sum(1 for n in nodes.values() if n.get("status") == "up")
    running = sum(1 for p in packages.values() if p.get("node") and p.get("state") in _HOLDING)
    lines.extend(
        [
            "",
            f"{up} of {len(nodes)} nodes up; {running} of {len(packages)} packages running, "
            f"{len(halted)} halted, {len(elsewhere)} elsewhere",
        ]
    )
    return lines


_STATUS_KEYS = {"cluster", "status", "reported_by", "nodes", "packages", "in_flight", "interrupted"}


def _interrupted(journals, paint):
    """Operations whose runner died: what each had done, and the command that resumes it."""
    lines = []
    for journal in journals:
        operation, node = journal.get("operation"), journal.get("node")
        started = journal.get("started")
        when = _when(started) if isinstance(started, int | float) else started
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


def _when(epoch):
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _extra(data, known):
    """Whatever else a return carries: shown, never hidden (a newer runner may add keys)."""
    lines = []
    for key, value in data.items():
        if key not in known and value not in (None, [], {}, ""):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            lines.append(f"{key}: {text}")
    return lines


_PLAN_KEYS = {
    "goal",
    "moves",
    "unplaced",
    "capacity",
    "search",
    "left",
    "result",
    "test",
    "operation",
    "comment",
}
_OPERATION_KEYS = {"operation", "node", "moves", "moved", "failed", "unplaced", "seconds", "left_on_node"}
_OPERATION_KEYS |= {"result", "comment", "retcode", "resumed"}
_MOVE_KEYS = {"result", "package", "guest", "source", "target", "comment", "steps", "checks", "switching"}
_MOVE_KEYS |= {"unprotected_seconds", "seconds", "retcode", "test", "location", "failover"}


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
            f"{p} {_num(pkg['weights'][cap])}"
            for p, pkg in packages.items()
            if (pkg.get("weights") or {}).get(cap) and pkg.get("state") in _HOLDING
        ]
        held = [f"+{_num(amount)} {p} moving in" for p, amount in reserved.get(cap, [])]
        figure = f"{_num(used)} / {_num(total)}"
        lines.append(
            f"  {cap:<{width}}  {_bar(used, total, paint)}  {figure:<9}  {', '.join(guests + held)}".rstrip()
        )
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


# -- a plan: vpkg.plan and test=True runs ---------------------------------------------------------
def _plan(data, paint):
    goal = data.get("goal") or {}
    what = ", ".join(f"{k} {v if not isinstance(v, dict) else 'placement'}" for k, v in goal.items())
    head = f"plan: {what or data.get('operation', '?')}"
    if data.get("test"):
        head += "  (test: nothing changed)"
    lines = [paint(head, "LIGHT_CYAN")]
    moves = data["moves"]
    if moves:
        lines.append(f"moves, in order ({len(moves)}):")
        width = max(len(m.get("package", "")) for m in moves)
        for number, move in enumerate(moves, 1):
            weights = ", ".join(f"{k} {_num(v)}" for k, v in (move.get("weights") or {}).items())
            with_ = f"  with {', '.join(move['with'])}" if move.get("with") else ""
            lines.append(
                f"  {number}. {move.get('package', ''):<{width}}  {move.get('source')} -> "
                f"{move.get('target')}  {weights}{with_}".rstrip()
            )
    else:
        lines.append("no moves")
    if data.get("unplaced"):
        lines.append(paint(f"not placed ({len(data['unplaced'])}):", "LIGHT_YELLOW"))
        width = max(len(u.get("package", "")) for u in data["unplaced"])
        lines.extend(f"  {u.get('package', ''):<{width}}  {u.get('reason', '')}" for u in data["unplaced"])
    lines.extend(_capacity_changes(data["capacity"], moves, paint))
    if "left" in data:
        node = goal.get("evacuate", "the node")
        lines.append(f"left on {node}: {', '.join(data['left']) or 'none'}")
    if data.get("comment"):
        lines.append(str(data["comment"]))
    return lines + _extra(data, _PLAN_KEYS)


def _capacity_changes(capacity, moves, paint):
    """Used capacity before -> after the plan, for every node a move leaves or enters."""
    targets = {m.get("target") for m in moves}
    touched = [n for n in capacity if n in targets or n in {m.get("source") for m in moves}]
    if not touched:
        return []
    lines = ["capacity used, before -> after:"]
    width = max(len(n) for n in touched)
    for node in touched:
        role = "target" if node in targets else "source"
        for index, (cap, fig) in enumerate(capacity[node].items()):
            total = fig.get("capacity") or 0
            before, after = total - (fig.get("before") or 0), total - (fig.get("after") or 0)
            label = f"{node:<{width}}  {role:<6}" if index == 0 else " " * (width + 8)
            lines.append(
                f"  {label}  {cap:<8} {_bar(before, total, paint, 10)} {_num(before):>4} -> "
                f"{_bar(after, total, paint, 10)} {_num(after):>4} / {_num(total)}"
            )
    return lines


# -- node-level results: evacuate, restore, rebalance ---------------------------------------------
def _operation(data, paint):
    ok = data.get("result")
    head = f"{paint.verdict(ok, 'OK', 'INCOMPLETE', 'TEST')}  {data.get('comment', data.get('operation'))}"
    if data.get("seconds") is not None:
        head += f"  ({_secs(data['seconds'])})"
    lines = [head]
    moves = data["moves"]
    width = max((len(m.get("package", "")) for m in moves), default=0)
    for move in moves:
        verdict = paint.verdict(move.get("result"), "moved", "NOT moved", "planned", width=10)
        comment = "" if move.get("result") else "  " + _indent(move.get("comment", ""), " " * (width + 16))
        lines.append(
            f"  {verdict}  {move.get('package', ''):<{width}}  "
            f"{move.get('source')} -> {move.get('target')}  {_secs(move.get('seconds'))}{comment}".rstrip()
        )
    for item in data.get("unplaced") or []:
        package = f"{item.get('package', ''):<{width}}"
        lines.append(f"  {paint('not placed', 'LIGHT_YELLOW', 10)}  {package}  {item.get('reason', '')}")
    if data.get("resumed"):
        lines.append(f"resumed the interrupted {', '.join(map(str, data['resumed']))}")
    if data.get("left_on_node") is not None:
        left = ", ".join(data["left_on_node"]) or "none"
        lines.append(f"left on {data.get('node')}: {paint(left, None if left == 'none' else 'LIGHT_YELLOW')}")
    return lines + _extra(data, _OPERATION_KEYS)


# -- one package: vpkg.move, vpkg.check -----------------------------------------------------------
def _move(data, paint):
    ok, steps = data.get("result"), data.get("steps")
    if data.get("test") or steps is None:
        word = "would move" if ok is None else "can move" if ok else "cannot move"
        note = "  (test: nothing changed)" if data.get("test") else ""
    elif ok:
        word, note = "moved", ""
    elif not steps and any(not c.get("ok") for c in data.get("checks") or []):
        word, note = "REFUSED", "  (nothing changed)"
    else:
        word, note = "FAILED", ""
    timing = []
    if data.get("seconds") is not None:
        timing.append(_secs(data["seconds"]))
    if data.get("unprotected_seconds") is not None:
        timing.append(f"unprotected {_secs(data['unprotected_seconds'])}")
    head = (
        f"{data.get('package')}: {data.get('source')} -> {data.get('target')}  "
        f"{paint(word, {True: 'GREEN', False: 'LIGHT_RED'}.get(ok, 'LIGHT_YELLOW'))}{note}"
    )
    lines = [head + (f"  ({', '.join(timing)})" if timing else "")]
    if steps:
        width = max(len(s.get("step", "")) for s in steps)
        for step in steps:
            failed = [c for c in step.get("checks") or [] if not c.get("ok")]
            comment = step.get("comment") or (
                f"{len(step['checks'])} checks passed" if step.get("checks") and not failed else ""
            )
            lines.append(
                f"  {paint.verdict(step.get('result'), width=4)}  "
                f"{step.get('step', ''):<{width}}  {_secs(step.get('seconds')):>7}  "
                + _indent(comment, " " * (width + 19))
            )
            lines.extend(_check_lines(failed, paint, indent="        "))
    elif data.get("checks"):
        checks = data["checks"] if ok is not False else [c for c in data["checks"] if not c.get("ok")]
        lines.extend(_check_lines(checks, paint))
        passed = len(data["checks"]) - len(checks)
        if passed:
            lines.append(f"  ({passed} other checks passed)")
    switching = data.get("switching") or {}
    before, after = switching.get("before") or {}, switching.get("after") or {}
    if before.get("autorun") and after and not after.get("autorun"):
        lines.append(
            paint("  package switching is LEFT OFF: read the comment before anything else", "LIGHT_RED")
        )
    if data.get("comment") and word != "REFUSED":  # a refusal's comment repeats the failed checks
        lines.append("  " + _indent(data["comment"], "  "))
    return lines + _extra(data, _MOVE_KEYS)


def _check_lines(checks, paint, indent="  "):
    """One line per check; the guest checks that simply passed are folded into one line."""
    lines, folded = [], {}
    shown = []
    for check in checks:
        group, colon, name = str(check.get("name", "")).partition(":")
        if check.get("ok") and colon and check.get("reason") == "passed":
            folded.setdefault(group, []).append(name)  # e.g. hpvmmigrate:vswitch, hpvmmigrate:storage
        else:
            shown.append(check)
    width = max((len(c.get("name", "")) for c in shown), default=0)
    for check in shown:
        verdict = paint.verdict(check.get("ok"), width=4)
        lines.append(
            f"{indent}{verdict}  {check.get('name', ''):<{width}}  {check.get('reason', '')}".rstrip()
        )
    for group, names in folded.items():
        lines.append(f"{indent}{paint.verdict(True, width=4)}  {group:<{width}}  {', '.join(names)} passed")
    return lines


# -- anything else the runner says in one sentence: cancel, refusals, a lost cluster view --------
def _simple(data, paint):
    ok = data.get("result")
    word = "IGNORED" if data.get("ignored") else {True: "OK", False: "FAILED"}.get(ok, "--")
    lines = [f"{paint(word, {True: 'GREEN', False: 'LIGHT_RED'}.get(ok, 'LIGHT_YELLOW'))}  {data['comment']}"]
    if data.get("moved"):
        lines.append(f"  moved: {', '.join(data['moved'])}")
    if data.get("not_started"):
        lines.append(f"  not started: {', '.join(data['not_started'])}")
    return lines


# -- the audit trail: vpkg.history ----------------------------------------------------------------
def _is_audit(entry):
    return isinstance(entry, dict) and "time" in entry and "operation" in entry


def _history(entries, paint):
    lines = []
    for entry in entries:
        ok = entry.get("result")
        where = f"{entry.get('source') or ''} -> {entry.get('target')}" if entry.get("target") else ""
        what = entry.get("package") or entry.get("node") or ""
        tail = f"  {entry['error']}" if entry.get("error") else ""
        lines.append(
            f"{entry.get('time')}  {entry.get('operation', ''):<9}  {what:<10}  {where:<22}  "
            f"{paint.verdict(ok, 'ok', 'FAILED', width=6)}  "
            f"{_secs(entry.get('duration')):>8}  {entry.get('user') or ''}{tail}".rstrip()
        )
    return lines
