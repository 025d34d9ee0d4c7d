"""First light: the runner sees the cluster through salt-proxies over SSH, and one move."""

import pytest
from test_move import test_move_to_a_node_that_fits, test_status_reports_the_cluster  # noqa: F401

pytestmark = pytest.mark.integration
