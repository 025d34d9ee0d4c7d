"""Synced helpers a sync replaced are imported afresh, not reused from ``sys.modules``.

A synced loader module imports our helpers by name (docs/installing.md), and Python keeps a module
it imported for the life of the process. The processes that import them live long: a minion's own
process (its grains module) and every job process forked from it, a master worker running the
``vpkg_peer`` runner, a ``vmhost`` proxy. After ``saltutil.sync_all`` brought a new release,
Salt loads the new loader modules, and they would go on with the helpers of the old one
(saltstack/salt#15233), until a restart. So each synced loader module imports its helpers inside
:func:`helpers`: on the way in, if any helper this process imported from this folder has been
replaced or removed on disk since, all of them are forgotten (they travel together: a new module
must not run with one old sibling); on the way out, the ones just imported are stamped.

A process never holds two copies of a helper unless a sync happened in between, and then the
old copies are only those old loader modules still hold. A pip-installed package is not
affected: a new package needs a restart of the minion, the proxy and the master, as any Salt
extension installed by pip does.
"""

import contextlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PREFIX = "vpkg_"
_stamps = {}  # module name -> the stamp of its file when it was imported


def _stamp(path):
    """What changes when a sync rewrites or removes the file; None once it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _loaded():
    """``{name: file}`` of the helpers this process imported from this folder."""
    found = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) if name.startswith(_PREFIX) else None
        if path and os.path.dirname(os.path.abspath(path)) == _HERE:
            found[name] = path
    return found


def forget_replaced():
    """Forget every helper of this folder if a sync replaced any; returns the names forgotten."""
    loaded = _loaded()
    if all(name not in _stamps or _stamps[name] == _stamp(path) for name, path in loaded.items()):
        return []
    for name in loaded:
        sys.modules.pop(name, None)
    _stamps.clear()
    return sorted(loaded)


def remember():
    """Stamp the helpers imported since the last look, as their files are now."""
    for name, path in _loaded().items():
        _stamps.setdefault(name, _stamp(path))


@contextlib.contextmanager
def helpers():
    """Import a loader module's helpers in this block: replaced ones come from disk, not memory."""
    forget_replaced()
    yield
    remember()
