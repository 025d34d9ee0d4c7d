"""The same cluster through one deltaproxy: Salt's metaproxy running all four VM hosts in one process.

A master of its own; the controlling proxy ``vmhosts`` (``metaproxy: deltaproxy``) lists the four
ids, and each id's ``proxy:`` settings come from its pillar, as docs/proxy.md describes. The
minion tier's status, move, refusal and evacuate + restore tests run here unchanged.
"""

import pytest

from ..labsetup import master_overrides, proxy_dirs, vmhost_pillar, vmhost_proxy, write_pillar
from ..test_evacuate import test_evacuate_then_restore  # noqa: F401
from ..test_move import (  # noqa: F401
    test_move_to_a_node_that_fits,
    test_refused_moves_change_nothing,
    test_status_reports_the_cluster,
)

pytestmark = pytest.mark.integration

CONTROLLER = "vmhosts"


@pytest.fixture(scope="module")
def salt_master(salt_factories, sim, ssh_hosts, audit_file, tmp_path_factory):
    pillars = {
        node: {"proxy": vmhost_proxy(ssh_hosts[node]), **vmhost_pillar(node, sim)} for node in sim.nodes
    }
    overrides = master_overrides(tmp_path_factory.mktemp("dfile_roots"), audit_file)
    overrides["pillar_roots"] = write_pillar(tmp_path_factory.mktemp("dpillar"), pillars)
    factory = salt_factories.salt_master_daemon("vpkg-delta-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def salt_minions(salt_master, sim):
    """One deltaproxy process for every VM host (its ids' keys are accepted by the master's auto-accept)."""
    overrides = {
        **proxy_dirs(),
        "saltenv": "base",
        "metaproxy": "deltaproxy",
        "proxy": {"proxytype": "deltaproxy", "ids": list(sim.nodes), "parallel_startup": False},
    }
    factory = salt_master.salt_proxy_minion_daemon(CONTROLLER, overrides=overrides, start_timeout=120)
    with factory.started():
        yield {CONTROLLER: factory}


def test_every_host_answers_through_the_one_process(cluster, salt_master, salt_minions):
    cli = salt_master.salt_cli(timeout=120)
    ret = cli.run("grains.get", "vpkg", minion_tgt="vmh[1-4]")
    assert ret.returncode == 0, ret.stderr
    # Each host's own pillar and connection: in one process the proxies share module globals,
    # so a connection kept there would answer for whichever host initialised last.
    assert ret.data == {node: {"node": node, "cluster": "itest"} for node in cluster.nodes}
