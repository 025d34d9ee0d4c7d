"""The integration tier again, with every VM host reached by a salt-proxy over real SSH.

No salt-minion runs for the simulated VM hosts here: each is a ``vmhost`` proxy minion (a real
salt-proxy daemon, pytest-salt-factories) whose pillar names its own sshd on 127.0.0.1
(``tests/sshhost.py``), and every command goes through that sshd into the host's own command
folder. This folder overrides the minion tier's ``salt_master`` and ``salt_minions``; its ``sim``,
``cluster``, ``salt_run`` and ``salt_cli`` (tests/integration/conftest.py) then use these, so the
core test functions of that tier run here unchanged (the test modules of this folder import
them); the proxies' ids are the node names, as the minions' are.
"""

import pytest
from sshhost import ssh_account, ssh_client_key, ssh_hosts  # noqa: F401 - fixtures

from ..labsetup import all_started, master_overrides, proxy_dirs, vmhost_pillar, vmhost_proxy, write_pillar


@pytest.fixture(scope="package")
def salt_master(salt_factories, sim, ssh_hosts, audit_file, tmp_path_factory):  # noqa: F811
    pillars = {node: vmhost_pillar(node, sim) for node in sim.nodes}
    overrides = master_overrides(tmp_path_factory.mktemp("pfile_roots"), audit_file)
    overrides["pillar_roots"] = write_pillar(tmp_path_factory.mktemp("ppillar"), pillars)
    factory = salt_factories.salt_master_daemon("vpkg-proxy-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_minions(salt_master, sim, ssh_hosts):  # noqa: F811
    """One salt-proxy per VM host; the ids are the node names.

    The ``proxy:`` settings go in each proxy's config file (salt-factories writes a ``proxy:`` of
    its own there, which Salt prefers to the pillar's); the deltaproxy test reads them from pillar.
    """
    factories = [
        salt_master.salt_proxy_minion_daemon(
            node,
            overrides={**proxy_dirs(), "saltenv": "base", "proxy": vmhost_proxy(ssh_hosts[node])},
            start_timeout=60,
        )
        for node in sim.nodes
    ]
    with all_started(factories) as started:
        yield started
