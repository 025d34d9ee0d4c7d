"""Maintenance requests: the one-time token that proves a request came from this VM host.

``vpkg.maintenance start`` keeps a fresh token here (owner-only, ``<cachedir>/vpkg/
maintenance-<action>.json``) and sends it with its event; the master's reactor acts only once this
host's minion (or proxy) confirms it with ``vpkg.confirm_maintenance``. Salt re-fires a minion's
event list with the data that minion wrote, so the event's sender id alone is not proof. A
confirmed token is spent.
"""

import contextlib
import hmac
import json
import os
import pathlib
import secrets
import time

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_files
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_files

ACTIONS = ("start", "end")
REQUEST_TTL = 600  # seconds a maintenance request may wait for the master's confirmation


def _path(cachedir, action):
    directory = os.path.join(cachedir, "vpkg")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, f"maintenance-{action}.json")


def issue(cachedir, action):
    """A new token for ``action``, kept for :func:`confirm`."""
    token = secrets.token_hex(16)
    vpkg_files.write_private_json(_path(cachedir, action), {"token": token, "time": time.time()})
    return token


def confirm(cachedir, action, token, now=None):
    """True if ``token`` is the one kept for ``action`` and at most :data:`REQUEST_TTL` s old; spends it."""
    if not isinstance(token, str) or not token:
        return False
    path = _path(cachedir, action)
    try:
        with open(path, encoding="utf-8") as handle:
            request = json.load(handle)
    except (OSError, ValueError):
        return False
    fresh = (now or time.time()) - float(request.get("time", 0)) <= REQUEST_TTL
    if not (fresh and hmac.compare_digest(str(request.get("token", "")), token)):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    return True
