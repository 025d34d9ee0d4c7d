"""Shared test set-up.

The tests run against the checkout, not an installed copy: ``_utils`` goes on ``sys.path`` (as
Salt's loader does for synced utils) and ``sgsim`` is imported from ``sim/``.
"""

import hashlib
import importlib.util
import logging
import pathlib
import sys
import tempfile

import pytest

# The session fixtures of the ssh harness; a conftest or module with a ``sim`` fixture adds
# ``ssh_hosts = sshhost.ssh_hosts`` beside it (see tests/sshhost.py).
from sshhost import ssh_account, ssh_client_key  # noqa: F401

# At interpreter exit Salt's and salt-factories' log handlers flush into streams pytest has
# already closed; each failed flush prints a "--- Logging error ---" dump after pytest's summary.
# They are not test failures, and they bury the summary line: do not print them.
logging.raiseExceptions = False

ROOT = pathlib.Path(__file__).resolve().parent.parent

if str(ROOT / "_utils") not in sys.path:
    sys.path.insert(0, str(ROOT / "_utils"))

if "sgsim" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "sgsim", ROOT / "sim" / "__init__.py", submodule_search_locations=[str(ROOT / "sim")]
    )
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["sgsim"] = _mod
    _spec.loader.exec_module(_mod)


@pytest.fixture(scope="session")
def salt_factories_default_root_dir():
    """The daemons' folders and launch scripts, one tree per Python environment.

    salt-factories writes its ``scripts/cli_salt_*.py`` once under the root folder (by default
    ``/tmp``) and reuses them, with the first writer's site-packages baked in: the salt 3006/3007
    tiers of ``make test`` would start their daemons on the main venv's Salt. Kept short: Salt's
    Unix sockets live below it.
    """
    digest = hashlib.sha1(sys.prefix.encode()).hexdigest()[:8]
    path = pathlib.Path(tempfile.gettempdir()) / f"sf-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path
