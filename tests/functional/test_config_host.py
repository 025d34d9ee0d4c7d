"""One migration timeout on a VM host: ``vpkg.migrate_timeout``, and its old name ``hpvm.migrate_timeout``.

The host's ``vpkg.move`` runs through Salt's loader against the simulator (seed cluster); the
migration is made 50 times slower, so the configured 1 s kills it, while the default (3600 s)
would let it finish: a setting that is not read fails the test instead of hanging it.
"""

import logging

import pytest
import vpkg_config
from hostloaders import host_loaders
from salt.exceptions import CommandExecutionError, SaltInvocationError

from sgsim import example_path
from sgsim.testing import SimCluster


def _host(salt_factories, tmp_path, settings):
    sim = SimCluster.create(tmp_path / "sim", example_path("seed"))
    loaders = host_loaders(salt_factories, sim, **settings)
    assert sim.sgsim("fault", "add", "migration-slow", "slvm1", "50").returncode == 0
    return sim, loaders


@pytest.mark.parametrize(
    ("settings", "deprecated"),
    [
        ({"vpkg.migrate_timeout": 1}, False),
        ({"hpvm.migrate_timeout": 1}, True),
        ({"vpkg.migrate_timeout": 1, "hpvm.migrate_timeout": 3600}, True),
    ],
    ids=["new key", "old name", "new key wins"],
)
def test_a_move_started_on_the_host_takes_the_one_migration_timeout(
    salt_factories, tmp_path, caplog, monkeypatch, settings, deprecated
):
    monkeypatch.setattr(vpkg_config, "_told", set())
    sim, loaders = _host(salt_factories, tmp_path, settings)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(CommandExecutionError) as err:
            loaders.modules.vpkg.move("slvm1", "xyzo2")
    finally:
        loaders.reset_state()
    migrate = next(s for s in err.value.info["steps"] if s["step"] == "migrate")
    assert migrate["result"] is False and "Timed out after 1.0 seconds" in migrate["comment"]
    assert "package switching is restored" in err.value.error
    pkg = sim.state()["packages"]["slvm1"]
    assert pkg["node"] == "xyzo1" and pkg["autorun"] is True
    assert ("hpvm.migrate_timeout is deprecated" in caplog.text) is deprecated


def test_a_bad_configured_timeout_is_refused_before_anything_changes(salt_factories, tmp_path):
    sim, loaders = _host(salt_factories, tmp_path, {"vpkg.migrate_timeout": -1})
    before = sim.state()["packages"]
    try:
        with pytest.raises(SaltInvocationError, match="vpkg.migrate_timeout must be a positive"):
            loaders.modules.vpkg.move("slvm1", "xyzo2")
    finally:
        loaders.reset_state()
    assert sim.state()["packages"] == before  # switching was never touched
