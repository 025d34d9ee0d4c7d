"""Faults that come with SSH, through salt-proxies: each ends truthfully, with no guest lost.

- the connection to the source VM host is cut while its guest migrates;
- a migration's timeout stops ``hpvmmigrate`` on the host itself, not just the local ssh client;
- the source VM host is unreachable: a clear error, nothing changed;
- sshd restarted between two commands: the next one reconnects.
"""

import threading
import time

import psutil
import pytest

from .. import invariants

pytestmark = pytest.mark.integration


def _fault(cluster, *args):
    ret = cluster.sgsim("fault", "add", *args, "--home", str(cluster.home))
    assert ret.returncode == 0, ret.stderr


def _migrating(cluster, guest):
    return guest in cluster.state().get("migrations", {})


def _hpvmmigrate_of(guest, home):
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(a.endswith("/hpvmmigrate") for a in cmd) and guest in cmd:
            found.append(proc.pid)
    return found


def test_connection_cut_mid_migration_ends_with_the_guest_found(cluster, salt_run, ssh_hosts):
    _fault(cluster, "migration-slow", "g1", "40")  # g1's migration takes ~30 s: time to cut it
    source = ssh_hosts["vmh1"]

    def cut_when_migrating():
        end = time.monotonic() + 60
        while time.monotonic() < end and not _migrating(cluster, "g1"):
            time.sleep(0.1)
        time.sleep(1.0)
        for pid in source.connection_pids():  # the sshds serving vmh1's proxy: its master too
            psutil.Process(pid).kill()

    cutter = threading.Thread(target=cut_when_migrating)
    cutter.start()
    ret = salt_run.run("vpkg.move", "g1", "vmh2")
    cutter.join()
    cl, on = invariants.check(cluster)
    pkg = cl["packages"]["g1"]
    data = ret.data
    migrate = next(s for s in data["steps"] if s["step"] == "migrate")
    assert "dropped" in migrate["comment"] and "reconnected" in migrate["comment"], migrate
    # Wherever the guest is, it is on one node, the package with it, and switching is on.
    assert on["g1"] == [pkg["node"]] and pkg["state"] == "running" and pkg["autorun"] is True
    if data["result"]:
        assert pkg["node"] == "vmh2"
    else:
        assert pkg["node"] == "vmh1" and "still runs on vmh1" in data["comment"]


def test_a_timeout_stops_hpvmmigrate_on_the_host(cluster, salt_run):
    _fault(cluster, "migration-hang", "g1", "Copy")
    ret = salt_run.run("vpkg.move", "g1", "vmh2", "timeout=3")
    assert ret.returncode != 0 and "Timed out" in ret.data["comment"]
    assert not _hpvmmigrate_of("g1", cluster.home), "hpvmmigrate still runs on the host"
    pkg = invariants.package(cluster, "g1")
    assert pkg["node"] == "vmh1" and pkg["autorun"] is True and not cluster.state()["migrations"]


def test_an_unreachable_source_host_is_a_clear_error_and_nothing_changes(cluster, salt_run, ssh_hosts):
    before = cluster.state()["packages"]
    ssh_hosts["vmh1"].kill()
    try:
        ret = salt_run.run("vpkg.move", "g1", "vmh2")
    finally:
        ssh_hosts["vmh1"].start()
    assert ret.returncode != 0 and ret.data["result"] is False
    assert "cannot reach VM host" in str(ret.data) and "over SSH" in str(ret.data), ret.data
    assert cluster.state()["packages"] == before


def test_sshd_restarted_between_two_commands(cluster, salt_cli, ssh_hosts):
    first = salt_cli.run("serviceguard.package", "g1", minion_tgt="vmh1")
    assert first.returncode == 0 and first.data["node"] == "vmh1"
    ssh_hosts["vmh1"].stop()  # the listener and every connection, the proxy's master included
    ssh_hosts["vmh1"].start()
    again = salt_cli.run("serviceguard.package", "g1", minion_tgt="vmh1")
    assert again.returncode == 0 and again.data["node"] == "vmh1"
    moved = salt_cli.run("vpkg.move", "g1", "vmh2", minion_tgt="vmh1")
    assert moved.returncode == 0 and moved.data["result"] is True
    assert invariants.package(cluster, "g1")["node"] == "vmh2"


def test_grains_name_the_node_and_the_cluster(cluster, salt_cli):
    ret = salt_cli.run("grains.get", "vpkg", minion_tgt="vmh3")
    assert ret.returncode == 0 and ret.data == {"node": "vmh3", "cluster": "itest"}
    targeted = salt_cli.run("-C", "G@vpkg:cluster:itest", "test.ping", minion_tgt="")
    assert targeted.returncode == 0
