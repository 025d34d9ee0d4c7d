"""The minion tier's core cases, run unchanged through salt-proxies over real SSH.

Each function below is the minion tier's own test (imported, so pytest collects it here too);
this folder's conftest gives it proxies instead of minions. Covered: status, the seed's move, a
refused move (capacity), bad arguments, evacuate + restore, the reactor's maintenance request,
a hung migration aborted at its timeout, a source node going down mid-move, and vpkg.placed.
"""

import pytest

from ..test_evacuate import (  # noqa: F401
    test_evacuate_then_restore,
    test_reactor_evacuates_the_asking_host_and_brings_guests_back,
)
from ..test_fault_matrix import test_source_node_down_leaves_the_package_protected  # noqa: F401
from ..test_move import (  # noqa: F401
    test_bad_arguments_are_refused_before_anything_runs,
    test_move_to_a_node_that_fits,
    test_refused_moves_change_nothing,
    test_status_reports_the_cluster,
)
from ..test_move_faults import test_hung_migration_is_aborted_at_the_timeout  # noqa: F401
from ..test_state import test_placed_moves_then_reports_no_changes  # noqa: F401

pytestmark = pytest.mark.integration


def test_the_vm_hosts_here_are_proxies(cluster, salt_cli, salt_minions):
    # What makes this folder's runs of the tests above different: no minion runs for a VM host.
    assert all(type(f).__name__ == "SaltProxyMinion" for f in salt_minions.values())
    ret = salt_cli.run("grains.item", "os", "vpkg", minion_tgt="vmh1")
    assert ret.returncode == 0, ret.stderr
    assert ret.data == {"os": "HP-UX", "vpkg": {"node": "vmh1", "cluster": "itest"}}
