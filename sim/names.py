"""Serviceguard naming rules and the migration phase vocabulary."""

import re

# Serviceguard: letters, digits, '.', '-', '_'; starts and ends with a letter or digit; at most 39.
_SG_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?$")

PHASES = ("Init", "Copy", "I/O quiesce", "Frozen", "Completion")
_PHASE_KEYS = {re.sub(r"[^a-z]", "", p.lower()): p for p in PHASES}
_PHASE_KEYS["quiesce"] = "I/O quiesce"


def valid_sg_name(name):
    """True when ``name`` follows Serviceguard's rules for node, package and capacity names."""
    return isinstance(name, str) and bool(_SG_NAME.match(name))


def phase_name(text):
    """Return the canonical phase for ``text`` (``io_quiesce``, ``I/O quiesce``, ``copy``...) or None."""
    if not isinstance(text, str):
        return None
    return _PHASE_KEYS.get(re.sub(r"[^a-z]", "", text.lower()))


def fmt_number(value):
    """Format a capacity or weight as cmviewcl does: ``10``, ``2.5`` (never ``10.0``)."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def fmt_memory(mb, sep=" "):
    """``16 GB`` / ``512 MB`` (hpvmstatus table) or with ``sep=""`` ``4GB`` (hpvmstatus -M)."""
    if mb % 1024 == 0:
        return f"{mb // 1024}{sep}GB"
    return f"{mb}{sep}MB"
