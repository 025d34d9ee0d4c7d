"""What the ``vpkg`` outputter draws, chosen by the ``kind`` every vpkg return carries.

``RENDERERS`` maps each kind (``vpkg_results.KINDS``) to its drawing: a function of the return and
a ``vpkg_render_text.Paint`` that gives the lines. Besides our returns, two shapes of Salt's own
carry them and are drawn too: a CLI's ``{minion_id: return}`` (``salt HOST vpkg.check ...``) and a
runner's progress event as ``salt-run`` hands it over (``{"suffix": ..., "event": {"message": ...}}``).
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_render_cluster, vpkg_render_moves, vpkg_render_text
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_render_cluster
    import vpkg_render_moves
    import vpkg_render_text

RENDERERS = {
    "status": vpkg_render_cluster.status,
    "check": vpkg_render_moves.verdict,
    "move": vpkg_render_moves.move,
    "plan": vpkg_render_moves.plan,
    "evacuate": vpkg_render_moves.operation,
    "restore": vpkg_render_moves.operation,
    "rebalance": vpkg_render_moves.operation,
    "cancel": vpkg_render_text.sentence,
    "history": vpkg_render_cluster.history,
}

Paint = vpkg_render_text.Paint


def ours(data):
    """True when ``data`` is a vpkg return: a dict whose ``kind`` has a drawing."""
    return isinstance(data, dict) and data.get("kind") in RENDERERS


def render(data, paint, other):
    """The lines that draw ``data``, or None when it is none of ours (the caller then uses ``nested``).

    ``other(value)`` draws, as text, a minion's return beside ours that is not ours.
    """
    if ours(data):
        return draw(data, paint)
    if _is_progress(data):
        event = data["event"]
        colour = {True: "GREEN", False: "LIGHT_RED"}.get(event.get("result"))
        return [paint(str(event["message"]), colour)]
    if isinstance(data, dict) and any(ours(value) for value in data.values()):
        return _per_minion(data, paint, other)
    return None


def draw(data, paint):
    """One of our returns: its kind's drawing, or one line when it only says what happened."""
    if vpkg_render_text.is_sentence(data):
        return vpkg_render_text.sentence(data, paint)  # a refusal, an ignored request, a lost view
    return RENDERERS[data["kind"]](data, paint)


def _is_progress(data):
    return (
        isinstance(data, dict)
        and "suffix" in data
        and isinstance(data.get("event"), dict)
        and "message" in data["event"]
    )


def _per_minion(data, paint, other):
    """``{minion_id: return}``: each minion's return under its id; an error text as it came."""
    lines = []
    for minion, value in data.items():
        lines.append(paint(f"{minion}:", "LIGHT_CYAN"))
        if ours(value):
            body = draw(value, paint)
        elif isinstance(value, str):
            body = value.splitlines() or [""]  # e.g. "ERROR: ..." from a module that raised
        else:
            body = str(other(value)).splitlines()
        lines.extend(f"    {line}" for line in body)
    return lines
