"""getopt-style option parsing with the HP-UX commands' error forms."""

import getopt

from sgsim.errors import UsageError


def parse(command, usage, argv, shortopts):
    """Return ``([(opt, value)...], operands)``; bad options raise UsageError in the real style.

    HP-UX commands report ``cmviewcl: illegal option -- x`` / ``option requires an argument -- p``
    followed by their usage lines.
    """
    try:
        return getopt.getopt(argv, shortopts)
    except getopt.GetoptError as exc:
        opt = exc.opt or "?"
        if "requires argument" in exc.msg:
            raise UsageError(f"{command}: option requires an argument -- {opt}", *usage) from None
        raise UsageError(f"{command}: illegal option -- {opt}", *usage) from None


def usage_error(command, usage, message):
    return UsageError(f"{command}: {message}", *usage)
