"""A master of masters, one syndic under it, one simulated cluster under the syndic (issue 13).

The topology docs/clusters.md describes ("Sites that outgrow one master: the syndic"), with real
daemons from pytest-salt-factories:

- ``vpkg-mom``, the master of masters (``order_masters: True``);
- ``vpkg-syndic``: a salt-master (the "lower master", where the ``vpkg`` runner runs, configured
  as the integration tier's master is), a salt-minion (what ``saltutil.runner`` is called on
  from the master of masters) and a salt-syndic, the three sharing that id and one root folder;
- cluster ``east``: three simulated VM hosts, each a salt-minion of the lower master (ids
  ``east-<node>``, so that ``vpkg:minions: east-*`` names them and not the syndic's own minion).

The daemons start once for the folder; every test gets the cluster re-initialised from its YAML
and the lower master without vpkg records.
"""

import pathlib
import shutil

import pytest
import yaml

from sgsim.testing import SimCluster

from ..labsetup import all_started, master_overrides, minion_dirs
from .eastsite import CLUSTER, LOWER_IP, SYNDIC, definition, minion_id


@pytest.fixture(scope="package")
def east_yaml(tmp_path_factory):
    path = tmp_path_factory.mktemp("syndic") / f"{CLUSTER}.yaml"
    path.write_text(yaml.safe_dump(definition()))
    return path


@pytest.fixture(scope="package")
def east_sim(tmp_path_factory, east_yaml):
    return SimCluster.create(tmp_path_factory.mktemp("sim-east"), str(east_yaml))


@pytest.fixture(scope="package")
def syndic_audit_file(tmp_path_factory):
    return tmp_path_factory.mktemp("syndic-audit") / "vpkg-audit.jsonl"


@pytest.fixture(scope="package")
def mom(salt_factories):
    """The master of masters: no runner of ours, no minion of its own."""
    # gather_job_timeout: how long a CLI that got no return asks whether the job still runs.
    factory = salt_factories.salt_master_daemon(
        "vpkg-mom", order_masters=True, overrides={"gather_job_timeout": 3}
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def syndic(salt_factories, mom, east_sim, syndic_audit_file, tmp_path_factory):  # noqa: ARG001 - the sim first
    """The syndic; ``.master`` is the lower master, ``.minion`` the salt-minion beside it."""
    overrides = master_overrides(tmp_path_factory.mktemp("syndic_file_roots"), syndic_audit_file)
    overrides["vpkg"] = dict(overrides["vpkg"], minions=f"{CLUSTER}-*")
    overrides["peer_run"] = {rf"{CLUSTER}-.*": [r"vpkg_peer\..*"]}
    # salt-syndic reads the lower master's config, and connects to the master of masters'
    # publisher at the lower master's ``publish_port`` (salt.config.syndic_config): the two must
    # be equal, as they are on two hosts with Salt's default ports. One host here: the lower
    # master listens on 127.0.0.2 with the master of masters' publish port.
    overrides["interface"] = LOWER_IP
    overrides["publish_port"] = mom.config["publish_port"]
    factory = salt_factories.salt_syndic_daemon(
        SYNDIC,
        master_of_masters=mom,
        master_overrides=overrides,
        # salt-syndic reads these from the minion config (salt.config.syndic_config lets the
        # minion's defaults override the master's). On Salt 3008.4 each request of the syndic to
        # the master of masters after its first times out (docs/clusters.md), which blocks it for
        # return_retry_timer x return_retry_tries seconds (5-10 x 3 by default) before it relays
        # the next job; the salt-minion beside it returns to the lower master with the same.
        minion_overrides={
            "master": LOWER_IP,
            "return_retry_timer": 2,
            "return_retry_timer_max": 2,
            "return_retry_tries": 1,
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def lower_master(syndic):
    return syndic.master


@pytest.fixture(scope="package")
def east_minions(lower_master, east_sim):
    factories = [
        lower_master.salt_minion_daemon(
            minion_id(node),
            overrides={
                **minion_dirs(),
                "serviceguard.bin_dir": str(east_sim.bindir(node)),
                "hpvm.bin_dir": str(east_sim.bindir(node)),
                "vpkg.node": node,
                "master": LOWER_IP,
            },
        )
        for node in east_sim.nodes
    ]
    with all_started(factories) as started:
        yield started


@pytest.fixture
def east(east_sim, east_yaml, east_minions, lower_master):  # noqa: ARG001 - every daemon up
    """The simulated cluster, fresh for this test, and no vpkg records on the lower master."""
    shutil.rmtree(pathlib.Path(lower_master.config["cachedir"]) / "vpkg", ignore_errors=True)
    ret = east_sim.sgsim("init", str(east_yaml), "--home", str(east_sim.home))
    assert ret.returncode == 0, ret.stderr
    return east_sim


@pytest.fixture
def mom_cli(mom):
    return mom.salt_cli(timeout=60)


@pytest.fixture
def lower_run(lower_master):
    return lower_master.salt_run_cli(timeout=240)
