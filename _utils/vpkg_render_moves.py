"""The ``vpkg`` outputter's drawings of moves: a check, a move, a plan, an operation on a node.

``vpkg_render`` picks one by the return's ``kind`` (``vpkg_results.KINDS``).
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_render_text as text
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_render_text as text

_PLAN_KEYS = text.COMMON_KEYS | {"goal", "moves", "unplaced", "capacity", "search", "left", "result", "test"}
_PLAN_KEYS |= {"operation", "comment"}
_OPERATION_KEYS = text.COMMON_KEYS | {"operation", "node", "moves", "moved", "failed", "unplaced", "seconds"}
_OPERATION_KEYS |= {"left_on_node", "result", "comment", "resumed"}
_VERDICT_KEYS = text.COMMON_KEYS | {"result", "package", "guest", "source", "target", "checks", "comment"}
_VERDICT_KEYS |= {"test"}
_MOVE_KEYS = text.COMMON_KEYS | {"result", "package", "guest", "source", "target", "comment", "steps"}
_MOVE_KEYS |= {
    "checks",
    "switching",
    "unprotected_seconds",
    "seconds",
    "test",
    "location",
    "failover",
    "driver",
}


# -- a plan: vpkg.plan and test=True runs ---------------------------------------------------------
def plan(data, paint):
    """``vpkg.plan``, and a test run of an operation: the moves in order, what is not placed, capacity."""
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
        for number, entry in enumerate(moves, 1):
            weights = ", ".join(f"{k} {text.num(v)}" for k, v in (entry.get("weights") or {}).items())
            with_ = f"  with {', '.join(entry['with'])}" if entry.get("with") else ""
            lines.append(
                f"  {number}. {entry.get('package', ''):<{width}}  {entry.get('source')} -> "
                f"{entry.get('target')}  {weights}{with_}".rstrip()
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
    return lines + text.extra(data, _PLAN_KEYS)


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
                f"  {label}  {cap:<8} {text.bar(before, total, paint, 10)} {text.num(before):>4} -> "
                f"{text.bar(after, total, paint, 10)} {text.num(after):>4} / {text.num(total)}"
            )
    return lines


# -- node-level results: evacuate, restore, rebalance ---------------------------------------------
def operation(data, paint):
    """``vpkg.evacuate``, ``vpkg.restore``, ``vpkg.rebalance``: each move's fate (a test run: its plan)."""
    if data.get("test"):
        return plan(data, paint)
    ok = data.get("result")
    head = f"{paint.verdict(ok, 'OK', 'INCOMPLETE', 'TEST')}  {data.get('comment', data.get('operation'))}"
    if data.get("seconds") is not None:
        head += f"  ({text.secs(data['seconds'])})"
    lines = [head]
    outcomes = data["moves"]
    width = max((len(o.get("package", "")) for o in outcomes), default=0)
    for outcome in outcomes:
        fate = paint.verdict(outcome.get("result"), "moved", "NOT moved", "planned", width=10)
        why = (
            ""
            if outcome.get("result")
            else "  " + text.indent(outcome.get("comment", ""), " " * (width + 16))
        )
        lines.append(
            f"  {fate}  {outcome.get('package', ''):<{width}}  {outcome.get('source')} -> "
            f"{outcome.get('target')}  {text.secs(outcome.get('seconds'))}{why}".rstrip()
        )
    for item in data.get("unplaced") or []:
        package = f"{item.get('package', ''):<{width}}"
        lines.append(f"  {paint('not placed', 'LIGHT_YELLOW', 10)}  {package}  {item.get('reason', '')}")
    if data.get("resumed"):
        lines.append(f"resumed the interrupted {', '.join(map(str, data['resumed']))}")
    if data.get("left_on_node") is not None:
        left = ", ".join(data["left_on_node"]) or "none"
        lines.append(f"left on {data.get('node')}: {paint(left, None if left == 'none' else 'LIGHT_YELLOW')}")
    return lines + text.extra(data, _OPERATION_KEYS)


# -- one package: vpkg.check, vpkg.move ----------------------------------------------------------
def verdict(data, paint):
    """``vpkg.check`` (on the master or a VM host) and ``vpkg.move test=True``: every check."""
    ok = data.get("result")
    word = "would move" if ok is None else "can move" if ok else "cannot move"
    note = "  (test: nothing changed)" if data.get("test") else ""
    lines = [_head(data, paint, word) + note]
    checks = data.get("checks") or []
    shown = checks if ok is not False else [c for c in checks if not c.get("ok")]
    lines.extend(_check_lines(shown, paint))
    if len(checks) > len(shown):
        lines.append(f"  ({len(checks) - len(shown)} other checks passed)")
    if data.get("comment") and ok is not False:  # a failed verdict's comment repeats its failed checks
        lines.append("  " + text.indent(data["comment"], "  "))
    return lines + text.extra(data, _VERDICT_KEYS)


def move(data, paint):
    """``vpkg.move``: every step with its outcome, or the checks that refused it."""
    if data.get("test"):
        return verdict(data, paint)
    ok, steps = data.get("result"), data.get("steps") or []
    if ok:
        word, note = "moved", ""
    elif not steps and any(not c.get("ok") for c in data.get("checks") or []):
        word, note = "REFUSED", "  (nothing changed)"
    else:
        word, note = "FAILED", ""
    timing = []
    if data.get("seconds") is not None:
        timing.append(text.secs(data["seconds"]))
    if data.get("unprotected_seconds") is not None:
        timing.append(f"unprotected {text.secs(data['unprotected_seconds'])}")
    lines = [_head(data, paint, word) + note + (f"  ({', '.join(timing)})" if timing else "")]
    width = max((len(s.get("step", "")) for s in steps), default=0)
    for step in steps:
        failed = [c for c in step.get("checks") or [] if not c.get("ok")]
        comment = step.get("comment") or (
            f"{len(step['checks'])} checks passed" if step.get("checks") and not failed else ""
        )
        lines.append(
            f"  {paint.verdict(step.get('result'), width=4)}  "
            f"{step.get('step', ''):<{width}}  {text.secs(step.get('seconds')):>7}  "
            + text.indent(comment, " " * (width + 19))
        )
        lines.extend(_check_lines(failed, paint, indent="        "))
    if not steps and data.get("checks"):
        failed = [c for c in data["checks"] if not c.get("ok")]
        lines.extend(_check_lines(failed, paint))
        if len(data["checks"]) > len(failed):
            lines.append(f"  ({len(data['checks']) - len(failed)} other checks passed)")
    switching = data.get("switching") or {}
    before, after = switching.get("before") or {}, switching.get("after") or {}
    if before.get("autorun") and after and not after.get("autorun"):
        lines.append(
            paint("  package switching is LEFT OFF: read the comment before anything else", "LIGHT_RED")
        )
    if data.get("comment") and word != "REFUSED":  # a refusal's comment repeats the failed checks
        lines.append("  " + text.indent(data["comment"], "  "))
    return lines + text.extra(data, _MOVE_KEYS)


def _head(data, paint, word):
    colour = {True: "GREEN", False: "LIGHT_RED"}.get(data.get("result"), "LIGHT_YELLOW")
    return f"{data.get('package')}: {data.get('source')} -> {data.get('target')}  {paint(word, colour)}"


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
