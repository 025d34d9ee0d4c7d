"""Every simulated command and output form, run as processes through the host command folders."""

import pytest

import sgsim
from sgsim import config
from sgsim.testing import SimCluster


@pytest.fixture
def cluster(tmp_path):
    doc = config.load_yaml(str(sgsim.example_path("seed")))
    doc["sim"]["time_scale"] = 0.001
    return SimCluster.create(tmp_path, doc)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def fails(proc):
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    return proc.stderr


def kv(text):
    return dict(line.split("=", 1) for line in text.splitlines())


def test_cmviewcl_table(cluster):
    out = ok(cluster.run("xyzo1", ["cmviewcl"]))
    assert out.splitlines()[:4] == [
        "CLUSTER              STATUS",
        "seed                 up",
        "  NODE           STATUS       STATE",
        "  xyzo1          up           running",
    ]
    assert "    slvm1          up               running          enabled     xyzo1" in out


def test_cmviewcl_table_verbose(cluster):
    out = ok(cluster.run("xyzo2", ["cmviewcl", "-v"]))
    assert "Capacity_Parameters:" in out and "Node_Switching_Parameters:" in out
    assert "    memory          16           4            12" in out
    assert "      Primary      up           enabled      xyzo1        (current)" in out
    ok(cluster.run("xyzo1", ["cmhaltpkg", "ora1"]))
    out = ok(cluster.run("xyzo2", ["cmviewcl", "-v"]))
    assert "UNOWNED_PACKAGES" in out
    assert "    ora1           down             halted           disabled    unowned" in out


def test_cmviewcl_levels_in_table(cluster):
    assert ok(cluster.run("xyzo1", ["cmviewcl", "-l", "cluster"])).splitlines() == [
        "CLUSTER              STATUS",
        "seed                 up",
    ]
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-l", "node"]))
    assert "xyzo3" in out and "PACKAGE" not in out
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-l", "package", "-p", "web1"]))
    assert "web1" in out and "slvm1" not in out


def test_cmviewcl_line(cluster):
    lines = ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line"])).splitlines()
    assert lines[:2] == ["name=seed", "status=up"]
    assert "package:slvm1|autorun=enabled" in lines
    assert not any("capacity:" in line for line in lines)
    lines = ok(cluster.run("xyzo1", ["cmviewcl", "-v", "-f", "line"])).splitlines()
    assert "node:xyzo1|capacity:memory|used=24" in lines
    assert "package:ora1|node:xyzo2|switching=enabled" in lines


def test_cmviewcl_line_selections(cluster):
    assert (
        kv(ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-l", "package", "-p", "slvm1"])))["status"]
        == "up"
    )
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-v", "-f", "line", "-p", "slvm1"]))
    assert "node:xyzo2|switching=enabled" in out.splitlines()
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-p", "slvm1", "-p", "web1"]))
    assert {line.split("|")[0] for line in out.splitlines()} == {"package:slvm1", "package:web1"}
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-n", "xyzo2"]))
    assert "node:xyzo2|status=up" in out and "package:web1|name=web1" in out
    assert "xyzo1" not in out and "slvm1" not in out
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-l", "node", "-n", "xyzo3"]))
    assert out.splitlines() == ["name=xyzo3", "status=up", "state=running"]
    out = ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-l", "cluster"]))
    assert out.splitlines() == ["name=seed", "status=up"]


def test_cmviewcl_unknown_names(cluster):
    err = fails(cluster.run("xyzo1", ["cmviewcl", "-p", "nope"]))
    assert err == "cmviewcl: Unable to find package nope. nope is not a configured package name.\n"
    assert "is not a configured node name" in fails(cluster.run("xyzo1", ["cmviewcl", "-n", "nope"]))


def test_cmmodpkg_global_and_node_switching(cluster):
    out = ok(cluster.run("xyzo1", ["cmmodpkg", "-d", "slvm1", "web1"]))
    assert out == "cmmodpkg: Completed successfully on all packages specified\n"
    ok(cluster.run("xyzo1", ["cmmodpkg", "-d", "-n", "xyzo2", "-n", "xyzo3", "slvm1"]))
    line = kv(ok(cluster.run("xyzo1", ["cmviewcl", "-v", "-f", "line", "-p", "slvm1"])))
    assert line["autorun"] == "disabled"
    assert line["node:xyzo2|switching"] == "disabled" and line["node:xyzo1|switching"] == "enabled"
    ok(cluster.run("xyzo1", ["cmmodpkg", "-e", "-n", "xyzo2", "slvm1"]))
    ok(cluster.run("xyzo1", ["cmmodpkg", "-e", "slvm1"]))
    line = kv(ok(cluster.run("xyzo1", ["cmviewcl", "-v", "-f", "line", "-p", "slvm1"])))
    assert line["autorun"] == "enabled" and line["node:xyzo2|switching"] == "enabled"
    assert "not configured to run package" in fails(
        cluster.run("xyzo1", ["cmmodpkg", "-e", "-n", "xyzo3", "ora1"])
    )


def test_cmmodpkg_enable_starts_halted_package(cluster):
    ok(cluster.run("xyzo1", ["cmhaltpkg", "web1"]))
    assert cluster.state()["packages"]["web1"]["state"] == "halted"
    ok(cluster.run("xyzo1", ["cmmodpkg", "-e", "web1"]))
    pkg = cluster.state()["packages"]["web1"]
    assert pkg["state"] == "running" and pkg["node"] == "xyzo2"


def test_cmhaltpkg_and_cmrunpkg(cluster):
    out = ok(cluster.run("xyzo1", ["cmhaltpkg", "-v", "slvm1"]))
    assert "Halting package slvm1 on node xyzo1" in out
    assert out.endswith("cmhaltpkg: Completed successfully on all packages specified\n")
    st = cluster.state()
    assert st["packages"]["slvm1"]["autorun"] is False and st["guests"]["slvm1"]["runs_on"] is None
    assert "is not running" in fails(cluster.run("xyzo1", ["cmhaltpkg", "slvm1"]))
    # without -n it runs on the local node
    out = ok(cluster.run("xyzo2", ["cmrunpkg", "-v", "slvm1"]))
    assert "Running package slvm1 on node xyzo2" in out
    st = cluster.state()
    assert st["packages"]["slvm1"]["node"] == "xyzo2" and st["guests"]["slvm1"]["runs_on"] == "xyzo2"
    assert st["packages"]["slvm1"]["autorun"] is False  # cmrunpkg does not touch AUTO_RUN
    err = fails(cluster.run("xyzo1", ["cmrunpkg", "-n", "xyzo1", "slvm1"]))
    assert "Package is already running on node xyzo2." in err


def test_cmrunpkg_refusals(cluster):
    ok(cluster.run("xyzo1", ["cmhaltpkg", "ora1"]))
    err = fails(cluster.run("xyzo1", ["cmrunpkg", "-n", "xyzo2", "ora1"]))
    assert err == (
        "Unable to run package ora1 on node xyzo2. "
        "Node does not have enough available capacity for weight memory.\n"
        "cmrunpkg: Unable to start some package or package instances\n"
    )
    err = fails(cluster.run("xyzo3", ["cmrunpkg", "ora1"]))
    assert err.startswith("Unable to run package ora1 on node xyzo3. Node is not eligible.\n")
    ok(cluster.run("xyzo1", ["cmmodpkg", "-d", "-n", "xyzo1", "ora1"]))
    assert "Node is not eligible." in fails(cluster.run("xyzo1", ["cmrunpkg", "ora1"]))
    assert cluster.state()["packages"]["ora1"]["state"] == "halted"


def test_package_limit_admission(tmp_path):
    doc = {
        "cluster": "lim",
        "sim": {"time_scale": 0.001},
        "nodes": [{"name": "n1", "capacities": {"package_limit": 10}}, {"name": "n2"}],
        "packages": [
            {"name": "p1", "node_list": ["n1", "n2"], "weights": {"package_limit": 2}, "node": "n1"},
            {"name": "p2", "node_list": ["n1", "n2"], "weights": {"package_limit": 6}, "node": "n1"},
            {"name": "p3", "node_list": ["n1", "n2"], "weights": {"package_limit": 3}},
        ],
    }
    c = SimCluster.create(tmp_path, doc)
    # "any two, not all three"
    err = fails(c.run("n1", ["cmrunpkg", "p3"]))
    assert "enough available capacity for weight package_limit" in err
    ok(c.run("n2", ["cmrunpkg", "p3"]))  # n2 has no capacity: infinite
    line = kv(ok(c.run("n1", ["cmviewcl", "-v", "-f", "line", "-l", "node", "-n", "n1"])))
    assert line["capacity:package_limit|available"] == "2"


def test_detach_and_adopt(cluster):
    ok(cluster.run("xyzo1", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"]))
    # Serviceguard still shows the package on the source
    assert kv(ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-p", "slvm1"])))["owner"] == "xyzo1"
    out = ok(cluster.run("xyzo1", ["cmhaltpkg", "-d", "slvm1"]))
    assert out == "cmhaltpkg: Completed successfully on all packages specified\n"
    line = kv(ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-p", "slvm1"])))
    assert line["state"] == "detached" and line["owner"] == "xyzo2"
    assert cluster.state()["guests"]["slvm1"]["runs_on"] == "xyzo2"
    assert "Guest slvm1 is running on node xyzo2." in fails(
        cluster.run("xyzo1", ["cmrunpkg", "-n", "xyzo1", "slvm1"])
    )
    ok(cluster.run("xyzo1", ["cmrunpkg", "-n", "xyzo2", "slvm1"]))
    line = kv(ok(cluster.run("xyzo1", ["cmviewcl", "-f", "line", "-p", "slvm1"])))
    assert line["state"] == "running" and line["owner"] == "xyzo2"
    assert "On (OS)" in ok(cluster.run("xyzo2", ["hpvmstatus", "-P", "slvm1"]))


def test_halting_a_detached_package_stops_its_guest(cluster):
    ok(cluster.run("xyzo1", ["cmhaltpkg", "-d", "slvm1"]))
    assert "already detached" in fails(cluster.run("xyzo1", ["cmhaltpkg", "-d", "slvm1"]))
    ok(cluster.run("xyzo1", ["cmhaltpkg", "slvm1"]))
    assert cluster.state()["guests"]["slvm1"]["runs_on"] is None


def test_hpvmstatus_forms(cluster):
    out = ok(cluster.run("xyzo2", ["hpvmstatus"])).splitlines()
    assert out[0] == "[Virtual Machines]"
    assert out[3] == "slvm1                    1 HPUX    Off            2     2     1    4 GB        0"
    assert "web1                     3 HPUX    On (OS)        1     1     1    2 GB        0" in out
    assert not any(line.startswith("sap1") for line in out)  # not in sap1's node list
    machine = ok(cluster.run("xyzo1", ["hpvmstatus", "-M"])).splitlines()
    assert [m.split(":")[0] for m in machine] == ["slvm1", "ora1", "web1", "sap1"]
    assert all(len(m.split(":")) == 21 for m in machine)
    one = ok(cluster.run("xyzo1", ["hpvmstatus", "-M", "-P", "ora1"])).strip().split(":")
    assert one[10] == "On" and one[20] == "16GB" and one[7] == "enabled"
    verbose = ok(cluster.run("xyzo1", ["hpvmstatus", "-V", "-P", "slvm1"]))
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in verbose.splitlines())}
    assert fields["State"] == "On (OS)" and fields["Online Migration"] == "enabled"
    assert fields["Storage"] == "/dev/slvm_vg01/rlvol1, /dev/slvm_vg01/rlvol2"
    assert ok(cluster.run("xyzo1", ["hpvmstatus", "-V"])).count("Virtual Machine Name") == 4
    detail = ok(cluster.run("xyzo1", ["hpvmstatus", "-P", "slvm1"]))
    for section in (
        "[Virtual Machine Details]",
        "[Virtual CPU Details]",
        "[Memory Details]",
        "[Misc Interface Details]",
    ):
        assert section in detail
    err = fails(cluster.run("xyzo2", ["hpvmstatus", "-P", "sap1"]))
    assert err == "hpvmstatus: Unable to find virtual machine 'sap1'.\n"


def test_hpvmmodify(cluster):
    assert ok(cluster.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "online_migration=disabled"])) == ""
    assert cluster.state()["guests"]["slvm1"]["online_migration"] is False
    out = cluster.run("xyzo1", ["hpvmmigrate", "-s", "-P", "slvm1", "-h", "xyzo2"])
    assert out.returncode == 1
    assert "Check online_migration: failed: Online migration is disabled for guest slvm1." in out.stdout
    ok(cluster.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "online_migration=enabled"]))
    assert cluster.state()["guests"]["slvm1"]["online_migration"] is True


def test_register_status_after_migration(cluster):
    ok(cluster.run("xyzo1", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"]))
    assert "slvm1                    1 HPUX    Off (NR)" in ok(cluster.run("xyzo1", ["hpvmstatus"]))
    machine = ok(cluster.run("xyzo1", ["hpvmstatus", "-M", "-P", "slvm1"])).split(":")
    assert machine[4] == "Not Runnable" and machine[10] == "Off"
    # never two runnable copies of a running guest
    err = fails(cluster.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "register_status=enabled"]))
    assert "is running on VM Host xyzo2" in err
    ok(cluster.run("xyzo1", ["cmhaltpkg", "slvm1"]))
    ok(cluster.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "register_status=enabled"]))
    assert "slvm1                    1 HPUX    Off      " in ok(cluster.run("xyzo1", ["hpvmstatus"]))


def test_hpvmmigrate_check_only(cluster):
    proc = cluster.run("xyzo1", ["hpvmmigrate", "-s", "-P", "slvm1", "-h", "xyzo2"])
    lines = ok(proc).splitlines()
    assert lines[0] == "hpvmmigrate: Check target_host: passed"
    assert lines[-1] == "hpvmmigrate: Guest can be migrated."
    assert len(lines) == 9
    assert cluster.state()["guests"]["slvm1"]["runs_on"] == "xyzo1"
    proc = cluster.run("xyzo1", ["hpvmmigrate", "-s", "-P", "ora1", "-h", "xyzo3"])
    assert proc.returncode == 1
    assert "hpvmmigrate: Check storage: failed: Target VM Host error - Device does not exist." in proc.stdout
    assert proc.stdout.endswith("hpvmmigrate: Guest cannot be migrated.\n")


def test_hpvmmigrate_online(cluster):
    out = ok(cluster.run("xyzo1", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"])).splitlines()
    phases = [line.split(":")[1].strip().rsplit(" phase", 1)[0] for line in out if " phase:" in line]
    assert list(dict.fromkeys(phases)) == ["Init", "Copy", "I/O quiesce", "Frozen", "Completion"]
    assert out.count("hpvmmigrate: Copy phase: 100% complete (4096 MB of 4096 MB).") == 1
    assert sum(1 for line in out if line.startswith("hpvmmigrate: Copy phase:")) == 4
    assert out[-1] == "hpvmmigrate: Guest migrated successfully."
    st = cluster.state()
    assert st["guests"]["slvm1"]["runs_on"] == "xyzo2" and st["guests"]["slvm1"]["not_runnable"] == ["xyzo1"]
    assert st["packages"]["slvm1"]["node"] == "xyzo1"  # Serviceguard does not move the package by itself
    assert st["migrations"] == {}
    assert "slvm1                    1 HPUX    On (OS)" in ok(cluster.run("xyzo2", ["hpvmstatus"]))


def test_hpvmmigrate_refusals(cluster):
    err = fails(cluster.run("xyzo2", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo3"]))
    assert "hpvmmigrate: Guest slvm1 is not running on this VM Host." in err
    assert err.endswith("Online migration aborted in Init phase. Guest remains running on source VM Host.\n")
    err = fails(cluster.run("xyzo1", ["hpvmmigrate", "-o", "-P", "ora1", "-h", "xyzo3"]))
    assert "hpvmmigrate: Target VM Host error - Device does not exist." in err
    cluster.sgsim("node", "down", "xyzo3")
    err = fails(cluster.run("xyzo1", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo3"]))
    assert "Target VM Host xyzo3 is not responding." in err
    assert "use -o" in fails(cluster.run("xyzo1", ["hpvmmigrate", "-P", "slvm1", "-h", "xyzo2"]))


def test_cmmovevpkg_verbose(cluster):
    out = ok(cluster.run("xyzo1", ["cmmovevpkg", "-v", "-P", "slvm1", "-h", "xyzo2"])).splitlines()
    assert out[:2] == [
        "cmmovevpkg: Disabling package switching for package slvm1.",
        "cmmovevpkg: Migrating guest slvm1 to VM host xyzo2.",
    ]
    assert "hpvmmigrate: Guest migrated successfully." in out
    assert out[-3:] == [
        "cmmovevpkg: Package slvm1 is now running on node xyzo2.",
        "cmmovevpkg: Enabling package switching for package slvm1.",
        "cmmovevpkg: Completed successfully.",
    ]
    line = kv(ok(cluster.run("xyzo2", ["cmviewcl", "-f", "line", "-p", "slvm1"])))
    assert line["owner"] == "xyzo2" and line["state"] == "running" and line["autorun"] == "enabled"
    assert "Off (NR)" in ok(cluster.run("xyzo1", ["hpvmstatus", "-P", "slvm1"]))


def test_cmmovevpkg_quiet_and_capacity_refusal(cluster):
    assert ok(cluster.run("xyzo1", ["cmmovevpkg", "-P", "slvm1", "-h", "xyzo2"])) == ""
    err = fails(cluster.run("xyzo1", ["cmmovevpkg", "-v", "-P", "ora1", "-h", "xyzo2"]))
    assert err == (
        "Node xyzo2 does not have enough available capacity for package ora1 "
        "(capacity memory: available 4, weight 16).\n"
    )
    st = cluster.state()
    assert st["packages"]["ora1"]["autorun"] is True and st["packages"]["ora1"]["node"] == "xyzo1"


def test_cmmovevpkg_other_refusals(cluster):
    assert "run cmmovevpkg on node xyzo1" in fails(
        cluster.run("xyzo2", ["cmmovevpkg", "-P", "slvm1", "-h", "xyzo3"])
    )
    assert "not in the node list" in fails(cluster.run("xyzo1", ["cmmovevpkg", "-P", "ora1", "-h", "xyzo3"]))
    ok(cluster.run("xyzo1", ["cmmodpkg", "-d", "-n", "xyzo2", "slvm1"]))
    assert "Node switching is disabled" in fails(
        cluster.run("xyzo1", ["cmmovevpkg", "-P", "slvm1", "-h", "xyzo2"])
    )
    assert "already running on node xyzo1" in fails(
        cluster.run("xyzo1", ["cmmovevpkg", "-P", "slvm1", "-h", "xyzo1"])
    )


def test_cmmovevpkg_migration_refusal_reenables_switching(cluster):
    ok(cluster.run("xyzo1", ["hpvmmodify", "-P", "slvm1", "-x", "online_migration=disabled"]))
    ok(cluster.run("xyzo1", ["cmmodpkg", "-d", "slvm1"]))
    proc = cluster.run("xyzo1", ["cmmovevpkg", "-v", "-P", "slvm1", "-h", "xyzo2"])
    err = fails(proc)
    assert "hpvmmigrate: Online migration is disabled for guest slvm1." in err
    assert "cmmovevpkg: Enabling package switching for package slvm1." in proc.stdout
    st = cluster.state()
    assert st["packages"]["slvm1"]["autorun"] is True and st["guests"]["slvm1"]["runs_on"] == "xyzo1"


def test_commands_act_as_their_node(cluster):
    # hpvmmigrate must run on the source host; hpvmstatus shows this host's view
    assert "not running on this VM Host" in fails(
        cluster.run("xyzo3", ["hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"])
    )
    assert "On (OS)" in ok(cluster.run("xyzo3", ["hpvmstatus", "-P", "sap1"]))
    assert "On (OS)" not in ok(cluster.run("xyzo1", ["hpvmstatus", "-P", "sap1"]))
