"""salt-run vpkg.move / vpkg.check / vpkg.status with a real master and three minions."""

import pytest

from . import invariants, saltrun

pytestmark = pytest.mark.integration


def test_status_reports_the_cluster(cluster, salt_run):
    ret = salt_run.run("vpkg.status")
    assert ret.returncode == 0, ret.stderr
    assert ret.data["kind"] == "status" and ret.data["cluster"] == "itest"
    assert set(ret.data["nodes"]) == {"vmh1", "vmh2", "vmh3", "vmh4"}
    assert ret.data["packages"]["g1"]["node"] == "vmh1"
    assert ret.data["nodes"]["vmh2"]["capacities"]["memory"]["available"] == 12


def test_move_to_a_node_that_fits(cluster, salt_run):
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert ret.data["kind"] == "move" and ret.data["result"] is True
    assert [s["step"] for s in ret.data["steps"]] == [
        "preflight",
        "disable_switching",
        "migrate",
        "verify",
        "adopt",
        "restore_switching",
    ]
    assert all(s["result"] for s in ret.data["steps"])
    pkg = invariants.package(cluster, "g1")
    assert pkg["node"] == "vmh2" and pkg["autorun"] is True and pkg["state"] == "running"
    states = {n: cluster.run(n, ["hpvmstatus", "-P", "g1"]).stdout for n in ("vmh1", "vmh2")}
    assert "Off (NR)" in states["vmh1"] and "On" in states["vmh2"]
    history = salt_run.run("vpkg.history", "package=g1").data
    assert history["kind"] == "history"
    last = history["entries"][-1]
    assert (last["operation"], last["source"], last["target"]) == ("move", "vmh1", "vmh2")
    assert last["result"] is True


def test_move_without_target_picks_the_node_with_most_room(cluster, salt_run):
    ret = salt_run.run("vpkg.move", "narrow")
    assert ret.returncode == 0, ret.stdout
    assert ret.data["target"] == "vmh2"  # the only other node in its node list
    assert invariants.package(cluster, "narrow")["node"] == "vmh2"


def _unchanged(cluster, before):
    after = cluster.state()
    assert after["packages"] == before["packages"]
    assert after["guests"] == before["guests"]


@pytest.mark.parametrize(
    ("package", "target", "check"),
    [("big", "vmh2", "capacity"), ("narrow", "vmh3", "node_list"), ("g1", "vmh1", "target")],
)
def test_refused_moves_change_nothing(cluster, salt_run, package, target, check):
    before = cluster.state()
    ret = salt_run.run("vpkg.move", package, target)
    assert ret.returncode != 0
    assert ret.data["kind"] == "move" and ret.data["result"] is False
    assert "nothing was changed" in ret.data["comment"]
    failed = [c["name"] for c in ret.data["checks"] if not c["ok"]]
    assert any(check in name for name in failed), failed
    _unchanged(cluster, before)


def test_node_switching_disabled_on_target_is_refused(cluster, salt_run):
    assert cluster.run("vmh1", ["cmmodpkg", "-d", "-n", "vmh2", "g1"]).returncode == 0
    before = cluster.state()
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode != 0
    assert any("switching" in c["name"] for c in ret.data["checks"] if not c["ok"])
    _unchanged(cluster, before)


def test_check_and_test_mode_change_nothing(cluster, salt_run):
    before = cluster.state()
    ret = salt_run.run("vpkg.check", "g1", "vmh3")
    assert ret.returncode == 0, ret.stdout
    assert ret.data["kind"] == "check" and ret.data["result"] is True
    names = {c["name"] for c in ret.data["checks"]}
    assert "online_migration" in names and any(n.startswith("hpvmmigrate:") for n in names)
    ret = salt_run.run("vpkg.move", "g1", "vmh3", "test=True")
    assert ret.data["kind"] == "move" and ret.data["result"] is None and ret.data["test"] is True
    _unchanged(cluster, before)


def test_the_salt_cli_draws_a_hosts_check(cluster, salt_cli):
    """``salt HOST vpkg.check ... --out=vpkg``: no runner in that process put our utils on sys.path."""
    refused = salt_cli.run("--out=vpkg", "vpkg.check", "big", "vmh2", minion_tgt="vmh1")
    lines = refused.stdout.splitlines()
    assert lines[:2] == ["vmh1:", "    big: vmh1 -> vmh2  cannot move"], refused.stdout + refused.stderr
    assert lines[2].split()[:2] == ["FAIL", "capacity:memory"] and "other checks passed" in lines[3]
    assert "would move" not in refused.stdout and "ok:" not in refused.stdout
    passing = salt_cli.run("--out=vpkg", "vpkg.check", "g1", "vmh3", minion_tgt="vmh1")
    assert passing.stdout.splitlines()[1] == "    g1: vmh1 -> vmh3  can move", passing.stdout
    assert "FAIL" not in passing.stdout


def test_bad_arguments_are_refused_before_anything_runs(cluster, salt_run):
    # Salt's runner client reports a SaltInvocationError as "Passed invalid arguments: <why>"
    # (and salt-run exits 0 for it, as for every runner); what matters is that nothing ran.
    before = cluster.state()
    cases = {
        ("package=-f", "target=vmh2"): "not a valid Serviceguard name",
        ("g1", "../etc"): "not a valid Serviceguard name",
        ("g1;reboot", "vmh2"): "not a valid Serviceguard name",
        ("g1", "vmh2", "timeout=-1"): "positive, finite number",
    }
    for args, why in cases.items():
        ret = salt_run.run("vpkg.move", *args)
        text = ret.stdout + ret.stderr
        assert "Passed invalid arguments" in text and why in text, text
        assert "Traceback" not in text
    _unchanged(cluster, before)


def _slow(cluster, guest, factor=40):
    ret = cluster.sgsim("fault", "add", "migration-slow", guest, str(factor), "--home", str(cluster.home))
    assert ret.returncode == 0, ret.stderr


def _concurrently(salt_master, *calls):
    """Start every ``salt-run`` at once as its own process, then collect them."""
    procs = [saltrun.start(salt_master, *call) for call in calls]
    return [proc.finish() for proc in procs]


def test_two_concurrent_moves_of_one_package(cluster, salt_master):
    _slow(cluster, "g1")
    rets = _concurrently(salt_master, ["vpkg.move", "g1", "vmh2"], ["vpkg.move", "g1", "vmh3"])
    ok = [r for r in rets if r.returncode == 0]
    refused = [r for r in rets if r.returncode != 0]
    assert len(ok) == 1 and len(refused) == 1, [r.data for r in rets]
    assert "already in progress" in str(refused[0].data)
    assert invariants.package(cluster, "g1")["node"] == ok[0].data["target"]


def test_two_concurrent_moves_cannot_overbook_a_target(cluster, salt_master):
    _slow(cluster, "g1")
    _slow(cluster, "g2")
    rets = _concurrently(salt_master, ["vpkg.move", "g1", "vmh3"], ["vpkg.move", "g2", "vmh3"])
    assert sorted(r.returncode == 0 for r in rets) == [False, True], [r.data for r in rets]
    refused = next(r for r in rets if r.returncode != 0)
    assert any("capacity" in c["name"] for c in refused.data["checks"] if not c["ok"])
    cl, _ = invariants.check(cluster)
    assert cl["nodes"]["vmh3"]["capacities"]["memory"]["used"] == 12


def test_two_moves_from_one_host_take_turns_at_migrating(cluster, salt_master):
    # Integrity VM runs one online migration per VM host: the second move waits on vmh1 for the
    # first one's migration to end (switching still on), then migrates; both succeed.
    _slow(cluster, "g1")
    _slow(cluster, "g2")
    rets = _concurrently(salt_master, ["vpkg.move", "g1", "vmh2"], ["vpkg.move", "g2", "vmh3"])
    assert [r.returncode for r in rets] == [0, 0], [r.data for r in rets]
    waited = [r.data for r in rets if "wait_for_migration_slot" in [s["step"] for s in r.data["steps"]]]
    assert len(waited) == 1, [r.data["steps"] for r in rets]
    # The waiting move disabled switching only once it had the slot: the wait is not part of its
    # unprotected time.
    wait = next(s["seconds"] for s in waited[0]["steps"] if s["step"] == "wait_for_migration_slot")
    assert wait > 0.5
    assert waited[0]["unprotected_seconds"] <= waited[0]["seconds"] - wait
    assert invariants.package(cluster, "g1")["node"] == "vmh2"
    assert invariants.package(cluster, "g2")["node"] == "vmh3"
    invariants.check(cluster, settled=True)


def test_orchestrated_move(cluster, salt_run):
    ret = salt_run.run(
        "state.orchestrate", "orch.move", 'pillar={"vpkg": {"package": "g1", "target": "vmh3"}}'
    )
    assert ret.returncode == 0, ret.stdout
    assert invariants.package(cluster, "g1")["node"] == "vmh3"


def _native_move(cluster, package, source, target):
    ret = cluster.run(source, ["cmmovevpkg", "-P", package, "-h", target])
    assert ret.returncode == 0, ret.stdout + ret.stderr


def test_a_stale_kept_view_costs_a_retry_never_a_wrong_move(cluster, salt_run):
    # vpkg.status keeps the view (g1 and g2 on vmh1, 12 of vmh3's 16 free) for the next move;
    # then the cluster changes behind Salt's back.
    assert salt_run.run("vpkg.status").data["packages"]["g1"]["node"] == "vmh1"
    _native_move(cluster, "g1", "vmh1", "vmh3")  # the kept view now names the wrong source
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode == 0, ret.stdout
    assert (ret.data["source"], ret.data["target"]) == ("vmh3", "vmh2")
    assert invariants.package(cluster, "g1")["node"] == "vmh2"

    # The kept view (updated by that move) says vmh3 has room for g1; it no longer has.
    _native_move(cluster, "g2", "vmh1", "vmh3")
    before = cluster.state()
    ret = salt_run.run("vpkg.move", "g1", "vmh3")
    assert ret.returncode != 0 and ret.data["result"] is False
    assert "capacity" in ret.data["comment"] and "nothing was changed" in ret.data["comment"]
    _unchanged(cluster, before)
    invariants.check(cluster, settled=True)


def test_a_kept_view_that_shows_too_little_room_is_read_afresh(cluster, salt_run):
    _native_move(cluster, "g2", "vmh1", "vmh2")
    assert salt_run.run("vpkg.status").data["nodes"]["vmh2"]["capacities"]["memory"]["available"] == 4
    _native_move(cluster, "g2", "vmh2", "vmh1")  # room again, behind Salt's back
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    assert ret.returncode == 0, ret.stdout
    assert invariants.package(cluster, "g1")["node"] == "vmh2"
