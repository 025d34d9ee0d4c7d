"""
The ``vpkg`` outputter: the cluster, plans and move results drawn for a person at a terminal.

.. code-block:: bash

    salt-run vpkg.status --out=vpkg
    salt-run vpkg.plan evacuate=xyzo1 --out=vpkg
    salt-run vpkg.move slvm1 xyzo2 --out=vpkg
    salt xyzo1 vpkg.check slvm1 xyzo2 --out=vpkg

Every vpkg return says what it is (``kind``, docs/data.md); the drawing of each kind is in
``vpkg_render`` (our utils). Minion returns (``{minion_id: return}``) and the runner's progress
events are drawn too; anything else goes to Salt's ``nested`` outputter, so ``--out=vpkg`` is never
worse than the default. Colour follows Salt's ``color`` option (``--no-color``, ``--force-color``,
plain when the output is not a terminal). The runner's return is unchanged: scripts keep using
``--out=json`` or ``--out=yaml``.

:depends: the vpkg utils (``_utils/vpkg_render*.py``, ``vpkg_capacity.py``), synced to the
    master's extension modules (``salt-run saltutil.sync_all``), in ``utils_dirs``, or installed
    with the package
"""

import os
import pathlib
import sys

import salt.loader

__virtualname__ = "vpkg"

_RENDER = None  # the vpkg_render module, imported by __virtual__


def __virtual__():
    global _RENDER
    try:
        _RENDER = _import_render()
    except ImportError as exc:
        return (False, f"The vpkg outputter needs the vpkg utils ({exc}): salt-run saltutil.sync_all")
    return __virtualname__


def _import_render():
    """``vpkg_render`` from the folders a runner would import our utils from.

    Salt loads outputters without the utils folders on ``sys.path`` (``salt.loader.outputters``),
    and the ``salt`` CLI loads no runner that would have imported them. So they go on it for this
    import, in the order Salt's loader gives a runner (``<extension_modules>/utils``, then
    ``utils_dirs``), and come off again, as the loader does.
    """
    if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "output"):  # pip-installed
        from saltext.vpkg.utils import vpkg_render

        return vpkg_render
    folders = [os.path.join(__opts__.get("extension_modules") or "", "utils")]
    folders += list(__opts__.get("utils_dirs") or [])
    added = [f for f in dict.fromkeys(folders) if os.path.isdir(f) and f not in sys.path]
    sys.path.extend(added)
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_render
    finally:
        for folder in added:
            sys.path.remove(folder)
    return vpkg_render


def output(data, **kwargs):
    """Draw ``data`` if it is one of vpkg's returns, else hand it to ``nested``.

    CLI Example:

    .. code-block:: bash

        salt-run vpkg.status --out=vpkg
    """
    paint = _RENDER.Paint(__opts__.get("color"), __opts__.get("color_theme"))
    nested = salt.loader.outputters(__opts__)["nested"]
    lines = _RENDER.render(data, paint, lambda value: nested(value, **kwargs))
    if lines is None:
        return nested(data, **kwargs)
    return "\n".join(line.rstrip() for line in lines)
