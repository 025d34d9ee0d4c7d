"""The runner's arguments, checked before any lock is taken or any minion is asked.

Each check returns the value to use or raises ``SaltInvocationError`` with the reason: Salt
prints it as a usage error, never a traceback. The rules themselves are ``vpkg_names``'s.
"""

import pathlib
import re

from salt.exceptions import SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_names, vpkg_operate
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_names
    import vpkg_operate

# Salt's job ids: a 20-digit timestamp, with ``_<pid>`` when the master sets unique_jid.
_JID = re.compile(r"[0-9]{20}(?:_[0-9]+)?")


def name(value, what, optional=False):
    """A Serviceguard name (package, node, target); None stays None when ``optional``."""
    if optional and value is None:
        return None
    try:
        return vpkg_names.check_name(value, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def seconds(value, what):
    try:
        return vpkg_names.check_seconds(value, what)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def jid(value):
    """A Salt job id: 20 digits (Salt's jid format)."""
    text = str(value)
    if not _JID.fullmatch(text):
        raise SaltInvocationError(f"jid must be a Salt job id (20 digits), not {value!r}")
    return text


def flag(value, what):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"{what} must be True or False, not {value!r}")
    return value


def timeout(value, configured):
    """A migration timeout: the argument, else the master's ``vpkg:migrate_timeout``."""
    if value is None:
        return seconds(configured, "vpkg:migrate_timeout")
    return seconds(value, "timeout")


def options(test, migrate_timeout, deadline, configured):
    """An operation's options; returns ``test``."""
    timeout(migrate_timeout, configured)
    if deadline is not None:
        seconds(deadline, "deadline")
    return flag(test, "test")


def goal(evacuate=None, restore=None, rebalance=None):
    """``(kind, value)`` of a plan or an operation: a node to evacuate or restore, or a strategy."""
    try:
        kind, value = vpkg_operate.request(evacuate, restore, rebalance)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    return (kind, value) if kind == "rebalance" else (kind, name(value, "node"))
