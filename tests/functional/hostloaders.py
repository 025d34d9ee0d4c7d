"""One simulated VM host's Salt loaders (a minion's config, no daemon): what the functional tests share.

The host's ``serviceguard.bin_dir`` and ``hpvm.bin_dir`` are its command folder of the simulated
cluster ``sim``; modules, states and utils load from this checkout, as a file_roots sync places them.
"""

import pathlib
import uuid

from saltfactories.utils.functional import Loaders

ROOT = pathlib.Path(__file__).resolve().parents[2]


def host_loaders(salt_factories, sim, node="xyzo1", **settings):
    """The loaders of VM host ``node``; ``settings`` are further minion config keys."""
    config = {
        "file_client": "local",
        "module_dirs": [str(ROOT / "_modules")],
        "states_dirs": [str(ROOT / "_states")],
        "utils_dirs": [str(ROOT / "_utils")],
        "serviceguard.bin_dir": str(sim.bindir(node)),
        "hpvm.bin_dir": str(sim.bindir(node)),
        "vpkg.node": node,
        **settings,
    }
    factory = salt_factories.salt_minion_daemon(f"{node}-{uuid.uuid4().hex[:6]}", overrides=config)
    return Loaders(factory.config.copy())
