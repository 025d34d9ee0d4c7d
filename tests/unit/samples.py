"""The sample outputs of ``tests/unit/data``.

A file holding real output (``real_*``) opens with ``#`` lines naming its source; :func:`read` leaves
them out, so the parsers see only what the command printed.
"""

import pathlib

DATA = pathlib.Path(__file__).parent / "data"


def read(name):
    """A sample's text without its leading ``#`` source lines."""
    lines = (DATA / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def real():
    """Every sample of real output."""
    return sorted(DATA.glob("real_*"))
