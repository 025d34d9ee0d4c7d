"""Name validation shared by every salt-vpkg module, runner and state.

Names reach Serviceguard and Integrity VM commands as argv elements. A list never goes through a
shell, but a name like ``-f`` would still be read as an option, and ``../x`` or a newline has no
business in a package name. So every name is checked against Serviceguard's own rule before any
command runs: letters, digits, ``.``, ``-`` and ``_``, at most 39 characters, starting and ending
with a letter or digit (the rule of CAPACITY_NAME, package and node names in the Managing
Serviceguard manuals). ASCII only: Serviceguard rejects anything else.

Host names (``hpvmmigrate -h``) follow RFC 1123 host names or are IP addresses.

Standard library only; no Salt dunders (see docs/installing.md).
"""

import ipaddress
import math
import re

MAX_NAME = 39
MAX_HOST = 253

# fullmatch, not match + "$": "$" also matches before a trailing newline.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _shown(value):
    """A short, printable rendering of a refused value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _require_str(value, what):
    # bool is an int subclass and YAML turns "yes" into True: refuse every non-str explicitly.
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__} {_shown(value)}")
    if not value:
        raise ValueError(f"{what} must not be empty")


def check_name(value, what="name"):
    """Return ``value`` if it is a valid Serviceguard name, else raise ValueError naming ``what``."""
    _require_str(value, what)
    if len(value) > MAX_NAME:
        raise ValueError(f"{what} {_shown(value)} is longer than {MAX_NAME} characters")
    if not _NAME_RE.fullmatch(value):
        raise ValueError(
            f"{what} {_shown(value)} is not a valid Serviceguard name: use letters, digits, '.', '-' "
            "and '_', starting and ending with a letter or digit"
        )
    return value


def is_valid_name(value):
    """True if ``value`` is a valid Serviceguard name (see :func:`check_name`)."""
    try:
        check_name(value)
    except ValueError:
        return False
    return True


def check_host(value, what="host"):
    """Return ``value`` if it is a valid host name or IP address, else raise ValueError."""
    _require_str(value, what)
    if len(value) > MAX_HOST:
        raise ValueError(f"{what} {_shown(value)} is longer than {MAX_HOST} characters")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        # ipaddress accepts any text as an IPv6 scope ("fe80::1%$(x)"): refuse scopes outright.
        if "%" not in value:
            return value
        raise ValueError(f"{what} {_shown(value)}: IPv6 scope ids are not accepted")
    labels = value.split(".")
    # An all-digit last label would make "10.0.0.300" a host name; it is a mistyped address.
    if all(_LABEL_RE.fullmatch(label) for label in labels) and not labels[-1].isdigit():
        return value
    raise ValueError(
        f"{what} {_shown(value)} is not a valid host name or IP address: use letters, digits and '-' "
        "in dot-separated labels"
    )


def check_seconds(value, what="timeout"):
    """A positive, finite number of seconds (int, float or numeric text), else ValueError.

    bool is refused although it is an int (``timeout=True`` is a typo, not one second), and so are
    nan and inf: ``nan <= 0`` is False, so a plain comparison would let them through.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a number of seconds, got {type(value).__name__} {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number of seconds, not {_shown(value)}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} must be a positive, finite number of seconds, not {_shown(value)}")
    return number


def check_reserved(value, what="reserved"):
    """The master's moves in flight, checked (None: nothing); else ValueError.

    The runner passes them to the host-side preflight so that the host's fresh view counts the
    capacity that moves started by other runners will take on their targets: a list of
    ``{package, target, weights: {capacity: amount}}`` (``vpkg_capacity.held`` nets them against
    the host's view), or, as older runners sent it, ``{node: {capacity: amount}}``.
    """
    if value is None:
        return {}
    if isinstance(value, list):
        moves = []
        for entry in value:
            if not isinstance(entry, dict):
                raise ValueError(f"{what} entries must be mappings, got {_shown(entry)}")
            package = check_name(entry.get("package"), f"{what} package")
            target = check_name(entry.get("target"), f"{what} target")
            weights = _amounts(entry.get("weights") or {}, f"{what} {package}")
            moves.append({"package": package, "target": target, "weights": weights})
        return moves
    if not isinstance(value, dict):
        raise ValueError(
            f"{what} must be a list of moves in flight (or a mapping of node to capacity): {_shown(value)}"
        )
    return {
        check_name(node, f"{what} node"): _amounts(amounts, f"{what} {node}")
        for node, amounts in value.items()
    }


def _amounts(value, what):
    """``{capacity: amount}`` with names checked and amounts finite and not negative."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping of capacity to amount")
    amounts = {}
    for capacity, amount in value.items():
        check_name(capacity, f"{what} capacity")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            raise ValueError(f"{what}/{capacity} must be a number, not {_shown(amount)}")
        if amount < 0:
            raise ValueError(f"{what}/{capacity} must not be negative, not {_shown(amount)}")
        amounts[capacity] = float(amount)
    return amounts
