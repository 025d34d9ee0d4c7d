"""Text helpers of the ``vpkg`` outputter: colour, numbers, durations, capacity bars, leftover keys.

Pure (Salt's colour palette aside): data in, strings out. The drawings of each kind of result are
in ``vpkg_render_cluster`` and ``vpkg_render_moves``; ``vpkg_render`` picks one by ``kind``.
"""

import datetime
import json

import salt.utils.color

BAR = 20  # characters per capacity bar: 5% of a node per character


class Paint:
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


def num(value):
    """28.0 -> '28', 4.5 -> '4.5': capacities and weights as an operator writes them."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def secs(value):
    return "" if value is None else f"{float(value):.2f} s"


def bar(used, total, paint, width=BAR):
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


def indent(text, prefix):
    lines = str(text).splitlines() or [""]
    return lines[0] + "".join(f"\n{prefix}{line}" for line in lines[1:])


def when(epoch):
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def extra(data, known):
    """Whatever else a return carries: shown, never hidden (a newer runner may add keys)."""
    lines = []
    for key, value in data.items():
        if key not in known and value not in (None, [], {}, ""):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            lines.append(f"{key}: {text}")
    return lines


# Every return may carry these besides its own keys, and none is worth a line: its kind, and the
# exit status salt-run takes from it.
COMMON_KEYS = {"kind", "retcode"}
# What a return that only says what happened (a refusal, an ignored request, a cancel) may carry.
SENTENCE_KEYS = COMMON_KEYS | {"result", "comment", "node", "package", "operation", "test", "warnings"}
SENTENCE_KEYS |= {"moved", "not_started", "ignored", "requested_by"}


def is_sentence(data):
    """True for a return whose whole content is its verdict and comment (``vpkg_results.refusal``)."""
    return "comment" in data and "result" in data and set(data) <= SENTENCE_KEYS


def sentence(data, paint):
    ok = data.get("result")
    word = "IGNORED" if data.get("ignored") else {True: "OK", False: "FAILED"}.get(ok, "--")
    lines = [f"{paint(word, {True: 'GREEN', False: 'LIGHT_RED'}.get(ok, 'LIGHT_YELLOW'))}  {data['comment']}"]
    if data.get("moved"):
        lines.append(f"  moved: {', '.join(data['moved'])}")
    if data.get("not_started"):
        lines.append(f"  not started: {', '.join(data['not_started'])}")
    return lines + extra(data, SENTENCE_KEYS - {"warnings"})
