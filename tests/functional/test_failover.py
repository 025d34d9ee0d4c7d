"""After a move whose source node went down: ``vpkg_failover`` against the simulator (seed cluster).

The runner's own ``vpkg_master.Master`` asks the real ``serviceguard``, ``hpvm`` and ``vpkg``
modules, loaded by Salt's loader for each simulated VM host; only Salt's transport is left out
(``HostsClient`` stands in for the LocalClient the Master publishes through, handing each call to
that host's loaded modules). A host can be made silent, like a minion that does not answer. The
end-to-end case through real daemons is tests/integration/test_fault_matrix.py.
"""

import pytest
import vpkg_failover
import vpkg_master
import vpkg_move
import vpkg_vm
from hostloaders import host_loaders
from publishing import PublishingClient
from salt.exceptions import CommandExecutionError

from sgsim import example_path
from sgsim.testing import SimCluster


@pytest.fixture(scope="module")
def seed_sim(tmp_path_factory):
    return SimCluster.create(tmp_path_factory.mktemp("sim"), example_path("seed"))


@pytest.fixture
def sim(seed_sim):
    """The seed cluster, fresh for each test (the hosts' loaded modules are shared)."""
    ret = seed_sim.sgsim("init", str(example_path("seed")))
    assert ret.returncode == 0, ret.stderr
    return seed_sim


@pytest.fixture(scope="module")
def hosts(salt_factories, seed_sim):
    """``{node: __salt__}`` of a minion acting as each simulated VM host."""
    made = {}
    sim = seed_sim
    for node in sim.nodes:
        made[node] = host_loaders(salt_factories, sim, node)
    yield {node: loaders.modules for node, loaders in made.items()}
    for loaders in made.values():
        loaders.reset_state()


class HostsClient(PublishingClient):
    """Salt's LocalClient as ``Master`` uses it, answered by the hosts' modules.

    Answers have the shape of Salt's full returns; a silent minion sends none.
    """

    def __init__(self, hosts, silent=()):
        super().__init__()
        self.hosts = hosts
        self.known = tuple(hosts)
        self.silent = set(silent)
        self.calls = []

    def answer(self, minion_id, fun, arg, kwarg):
        self.calls.append((minion_id, fun, list(arg)))
        if minion_id in self.silent:
            return None
        module, name = fun.split(".")
        try:
            ret = getattr(getattr(self.hosts[minion_id], module), name)(*arg, **(kwarg or {}))
        except CommandExecutionError as exc:  # what a minion returns for a module's error
            return {"ret": f"ERROR: {exc}", "retcode": 1, "success": False}
        return {"ret": ret, "retcode": 0, "success": True}


def _master(hosts, silent=()):
    """The runner's ``Master`` (default ``vpkg`` config: every minion is a VM host), over HostsClient."""
    master = vpkg_master.Master({}, {"timeout": 0.5} if silent else {})
    master._client = HostsClient(hosts, silent)
    return master


def _pkg(sim, name="slvm1"):
    return sim.state()["packages"][name]


def _move_while_the_source_goes_down(hosts, sim):
    """The host's own vpkg.move of slvm1 xyzo1 -> xyzo2, xyzo1 going down in the Copy phase."""
    assert sim.sgsim("fault", "add", "node-down", "xyzo1", "Copy").returncode == 0
    with pytest.raises(CommandExecutionError) as err:
        hosts["xyzo1"].vpkg.move("slvm1", "xyzo2")
    result = err.value.info
    assert "LEFT DISABLED" in result["comment"] and result["location"] == vpkg_vm.UNKNOWN
    assert _pkg(sim)["autorun"] is False and _pkg(sim)["state"] == "halted"
    return result


def test_the_package_fails_over_once_the_guest_is_proven_on_nowhere(hosts, sim):
    result = _move_while_the_source_goes_down(hosts, sim)
    master = _master(hosts)
    ret = vpkg_failover.after_failed_move(master, result)
    asked = [node for node, fun, _ in master.client.calls if fun == "hpvm.guest"]
    assert asked == ["xyzo1", "xyzo2", "xyzo3"]
    # cmmodpkg -e from a node that is up; Serviceguard starts slvm1 on the first node with room.
    assert ("xyzo2", "serviceguard.enable_switching", ["slvm1"]) in master.client.calls
    pkg = _pkg(sim)
    assert pkg["autorun"] is True and pkg["state"] == "running" and pkg["node"] == "xyzo2"
    assert sim.state()["guests"]["slvm1"]["runs_on"] == "xyzo2"
    assert ret["result"] is False and "LEFT DISABLED" not in ret["comment"]
    assert "source node xyzo1 went down" in ret["comment"] and ret["comment"].endswith(
        "Serviceguard restarted slvm1 on xyzo2."
    )
    assert ret["switching"]["after"]["autorun"] is True
    assert ret["failover"] == {
        "reason": "Serviceguard shows xyzo1 down and guest slvm1 is On nowhere "
        "(xyzo1: Off, xyzo2: Off, xyzo3: Off)",
        "enabled_on": "xyzo2",
        "node": "xyzo2",
        "state": "running",
    }
    assert ret["steps"][-1]["step"] == "failover" and ret["steps"][-1]["result"] is True
    assert result["steps"][-1]["step"] != "failover"  # the host's result is not changed in place


@pytest.mark.parametrize(
    ("silent", "why"),
    [
        (["xyzo2"], "xyzo2 could not be asked"),  # the target: it might run the guest
        (["xyzo3"], "xyzo3 could not be asked"),  # up per Serviceguard and in the node list
    ],
)
def test_a_node_that_does_not_answer_keeps_switching_off(hosts, sim, silent, why):
    result = _move_while_the_source_goes_down(hosts, sim)
    master = _master(hosts, silent=silent)
    ret = vpkg_failover.after_failed_move(master, result)
    assert not [c for c in master.client.calls if c[1] == "serviceguard.enable_switching"]
    assert _pkg(sim)["autorun"] is False
    assert "LEFT DISABLED" in ret["comment"] and "cmmodpkg -e slvm1" in ret["comment"]
    assert ret["comment"].endswith(f"switching was not re-enabled automatically: {why}.")
    assert ret["switching"]["after"]["autorun"] is False
    assert ret["steps"][-1] == {**ret["steps"][-1], "step": "failover", "result": False, "comment": why}


def test_a_source_node_that_answers_with_the_guest_on_keeps_switching_off(hosts, sim):
    result = _move_while_the_source_goes_down(hosts, sim)
    # The down node's hpvmstatus showing the guest On contradicts Serviceguard: believe the worse.
    real = hosts["xyzo1"]

    class Contradicting:
        serviceguard = real.serviceguard

        class hpvm:  # noqa: N801 - stands for the module
            @staticmethod
            def guest(name):
                return dict(real.hpvm.guest(name), state="On")

    ret = vpkg_failover.after_failed_move(_master({**hosts, "xyzo1": Contradicting}), result)
    assert _pkg(sim)["autorun"] is False
    assert ret["comment"].endswith("not re-enabled automatically: xyzo1 shows guest slvm1 On.")


def _left_unknown(comment, switching):
    """The host's result of a move of slvm1 (xyzo1 -> xyzo2) that left switching off, location unknown."""
    snapshot = {"autorun": True, "switching": switching}
    return {
        "result": False,
        "package": "slvm1",
        "guest": "slvm1",
        "source": "xyzo1",
        "target": "xyzo2",
        "location": vpkg_vm.UNKNOWN,
        "comment": comment,
        "steps": [],
        "switching": {"before": snapshot, "after": dict(snapshot, autorun=False)},
    }


def test_a_guest_running_on_the_target_keeps_switching_off(hosts, sim):
    # The migration committed (the guest runs on xyzo2) and then the source died, before
    # Serviceguard was told: the package shows halted, the guest is On on the target.
    assert sim.run("xyzo1", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"]).returncode == 0
    assert sim.run("xyzo1", ["cmmodpkg", "-d", "slvm1"]).returncode == 0
    assert sim.sgsim("node", "down", "xyzo1").returncode == 0
    assert _pkg(sim)["state"] == "halted" and sim.state()["guests"]["slvm1"]["runs_on"] == "xyzo2"
    result = _left_unknown(
        vpkg_move.unknown_location_message("slvm1", "slvm1", "xyzo1", "xyzo2", "lost"),
        {"xyzo1": True, "xyzo2": True, "xyzo3": True},
    )
    ret = vpkg_failover.after_failed_move(_master(hosts), result)
    assert _pkg(sim)["autorun"] is False and _pkg(sim)["state"] == "halted"
    assert ret["comment"].endswith("not re-enabled automatically: xyzo2 shows guest slvm1 On.")


def test_a_failing_cmmodpkg_keeps_the_left_disabled_error(hosts, sim):
    result = _move_while_the_source_goes_down(hosts, sim)
    assert sim.sgsim("fault", "add", "command-fail", "cmmodpkg", "--message", "cmmodpkg: no").returncode == 0
    ret = vpkg_failover.after_failed_move(_master(hosts), result)
    assert _pkg(sim)["autorun"] is False
    assert "LEFT DISABLED" in ret["comment"] and "cmmodpkg -e slvm1" in ret["comment"]
    assert "but cmmodpkg -e slvm1 on xyzo2 failed: ERROR: " in ret["comment"]
    assert "cmmodpkg: no" in ret["comment"]
    assert ret["switching"]["after"]["autorun"] is False


def test_a_source_that_is_up_leaves_the_error_as_it_is(hosts, sim):
    # The ordinary unknown location (the source is up): the cluster view is read, from the first
    # minion that answers, and nothing else is asked or done.
    result = _left_unknown("LEFT DISABLED", {})
    master = _master(hosts)
    assert vpkg_failover.after_failed_move(master, result) is result
    assert {fun for _, fun, _ in master.client.calls} == {"serviceguard.cluster"}
    assert vpkg_failover.after_failed_move(_master(hosts, silent=sim.nodes), result) is result
