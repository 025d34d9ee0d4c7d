"""``vpkg_sgparse``: cmviewcl -f line, on hand-written contract samples, the reference's real lines
and (when present) outputs recorded from the simulator."""

import pathlib
import random

import pytest
import vpkg_sgparse as sg
from samples import read

DATA = pathlib.Path(__file__).parent / "data"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(name="verbose")
def _verbose():
    return read("cmviewcl_v_line_handwritten.txt")


# --- the generic grammar ------------------------------------------------------------------------


def test_parse_lines_nests_prefixes_and_keeps_values_whole():
    tree = sg.parse_lines(
        "name=c1\n"
        "node:n1|capacity:mem|value=10\n"
        "package:p|description=a = b | c\n"
        "package:p|dependency:d|condition=db1 = up\n"
        "first_cluster_lock|lun=/dev/disk/disk4\n"
        "second_cluster_lock\n"
    )
    assert tree["name"] == "c1"
    assert tree["node"]["n1"]["capacity"]["mem"]["value"] == "10"
    assert tree["package"]["p"]["description"] == "a = b | c"
    assert tree["package"]["p"]["dependency"]["d"]["condition"] == "db1 = up"
    assert tree["first_cluster_lock"]["lun"] == "/dev/disk/disk4"
    assert tree["second_cluster_lock"] is None


def test_parse_lines_ignores_a_line_that_collides_with_an_attribute():
    tree = sg.parse_lines("package:p|node=x\npackage:p|node:n1|name=n1\n")
    assert tree["package"]["p"]["node"] == "x"


def test_parse_lines_splits_instance_at_first_colon():
    tree = sg.parse_lines("node:n1|ip_address:fe80::1|name=fe80::1\n")
    assert tree["node"]["n1"]["ip_address"]["fe80::1"]["name"] == "fe80::1"


# --- the cluster --------------------------------------------------------------------------------


def test_cluster_from_verbose_output(verbose):
    cluster = sg.parse_cluster(verbose)
    assert (cluster["name"], cluster["status"]) == ("seed", "up")
    assert list(cluster["nodes"]) == ["xyzo1", "xyzo2", "xyzo3"]
    assert cluster["nodes"]["xyzo2"] == {
        "name": "xyzo2",
        "status": "up",
        "state": "running",
        "capacities": {"package_limit": {"capacity": 1.0, "used": 1.0, "available": 0.0}},
    }
    assert cluster["nodes"]["xyzo3"]["capacities"] == {}
    assert cluster["default_weights"] == {"package_limit": 1.0}
    slvm1 = cluster["packages"]["slvm1"]
    assert slvm1 == {
        "name": "slvm1",
        "type": "failover",
        "status": "up",
        "state": "running",
        "node": "xyzo1",
        "autorun": True,
        "priority": None,
        "vm_name": "slvm1",
        "weights": {"package_limit": 1.0},
        "node_list": ["xyzo1", "xyzo2"],  # by order=, although xyzo2's block came first
        "switching": {"xyzo1": True, "xyzo2": True},
        "dependencies": [],
    }
    db1 = cluster["packages"]["db1"]
    assert db1["priority"] == 20
    assert db1["autorun"] is False
    assert db1["switching"] == {"xyzo1": True, "xyzo3": False}
    assert db1["dependencies"] == [
        {"name": "slvm_dep", "package": "slvm1", "condition": "up", "location": "same_node"}
    ]
    hr = cluster["packages"]["HR_TRANS"]
    assert (hr["node"], hr["state"], hr["node_list"], hr["weights"]) == (None, "halted", [], {})


def test_cluster_ignores_order_and_blank_lines(verbose):
    expected = sg.parse_cluster(verbose)
    lines = verbose.splitlines()
    for seed in range(5):
        shuffled = lines[:]
        random.Random(seed).shuffle(shuffled)
        text = "\n\n".join(shuffled) + "\n   \n"
        got = sg.parse_cluster(text)
        # Values are order-free; only the (configuration) order of dict keys may change.
        assert got["nodes"] == expected["nodes"]
        for name, pkg in expected["packages"].items():
            assert got["packages"][name] == pkg


def test_cluster_accepts_the_reference_real_lines():
    cluster = sg.parse_cluster(read("real_cmviewcl_line_samples.txt"))
    assert cluster["name"] == "EQ_TitanN1_cluster"
    assert set(cluster["nodes"]) == {"eggplant", "rose-v00"}
    assert cluster["nodes"]["rose-v00"]["state"] == "running"
    assert set(cluster["packages"]) == {"SG-CFS-pkg", "pkg-28478_1", "HR_TRANS"}
    assert cluster["packages"]["SG-CFS-pkg"]["type"] == "system_multi_node"
    assert cluster["packages"]["HR_TRANS"]["autorun"] is False
    # Without -v only the basic keys are known; the others are present and empty.
    pkg = cluster["packages"]["pkg-28478_1"]
    assert (pkg["weights"], pkg["node_list"], pkg["switching"], pkg["dependencies"]) == ({}, [], {}, [])
    assert cluster["default_weights"] == {}


def test_capacity_used_and_available_derived_when_absent():
    text = (
        "name=c\nstatus=up\nnode:a|status=up\nnode:a|capacity:m|value=10\nnode:a|capacity:m|available=4\n"
        "node:b|status=up\nnode:b|capacity:m|value=2.5\n"
    )
    nodes = sg.parse_cluster(text)["nodes"]
    assert nodes["a"]["capacities"]["m"] == {"capacity": 10.0, "used": 6.0, "available": 4.0}
    assert nodes["b"]["capacities"]["m"] == {"capacity": 2.5, "used": 0.0, "available": 2.5}
    assert nodes["a"]["state"] == "unknown"


# --- strictness ---------------------------------------------------------------------------------


def _without(text, needle):
    return "\n".join(line for line in text.splitlines() if needle not in line)


@pytest.mark.parametrize(
    ("dropped", "shown"),
    [
        ("package:db1|status=", "package db1: no 'status'"),
        ("package:db1|state=", "package db1: no 'state'"),
        ("package:slvm1|autorun=", "package slvm1: no 'autorun'"),
        ("node:xyzo2|status=", "node xyzo2: no 'status'"),
        ("node:xyzo1|capacity:package_limit|value=", "capacity package_limit: no 'value'"),
        ("package:db1|weight:package_limit|value=", "package db1 weight package_limit: no 'value'"),
        ("package:db1|dependency:slvm_dep|condition=", "dependency slvm_dep: no 'condition'"),
    ],
)
def test_missing_required_field_names_the_culprit_and_shows_its_lines(verbose, dropped, shown):
    with pytest.raises(sg.ParseError) as err:
        sg.parse_cluster(_without(verbose, dropped))
    assert shown in str(err.value)
    # The culprit's remaining lines are shown, so the operator sees what was printed.
    culprit = dropped.split("|")[0]
    assert culprit + "|" in str(err.value)


@pytest.mark.parametrize(
    ("bad_line", "shown"),
    [
        ("package:slvm1|autorun=maybe", "package:slvm1|autorun=maybe"),
        ("package:slvm1|node:xyzo2|switching=sometimes", "package:slvm1|node:xyzo2|switching=sometimes"),
        ("node:xyzo1|capacity:package_limit|used=lots", "node:xyzo1|capacity:package_limit|used=lots"),
        ("node:xyzo1|capacity:package_limit|value=nan", "node:xyzo1|capacity:package_limit|value=nan"),
        ("package:db1|priority=high", "package:db1|priority=high"),
        ("package:db1|node:xyzo3|order=second", "package:db1|node:xyzo3|order=second"),
        ("package:db1|dependency:slvm_dep|condition=slvm1", "condition=slvm1"),
        ("weight:package_limit|default=one", "weight:package_limit|default=one"),
        ("package:db1|name=other", "package:db1|name=other"),
    ],
)
def test_malformed_value_shows_the_line(verbose, bad_line, shown):
    key = bad_line.split("=", 1)[0] + "="
    text = _without(verbose, key) + "\n" + bad_line + "\n"
    with pytest.raises(sg.ParseError) as err:
        sg.parse_cluster(text)
    assert shown in str(err.value)


def test_cluster_without_name_is_refused():
    with pytest.raises(sg.ParseError, match="cluster: no 'name'"):
        sg.parse_cluster("status=up\nnode:a|status=up\n")


def test_parse_error_is_a_value_error():
    assert issubclass(sg.ParseError, ValueError)


# --- text that is not the line format -----------------------------------------------------------

PARSERS = {
    "parse_nodes": sg.parse_nodes,
    "parse_cluster": sg.parse_cluster,
    "parse_node": lambda text: sg.parse_node(text, "tn1s003"),
    "parse_package": lambda text: sg.parse_package(text, "pkg_eq"),
}


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS)
@pytest.mark.parametrize(
    ("sample", "first"),
    [
        ("real_cmviewcl_table_titan.txt", "CLUSTER              STATUS"),
        ("real_cmviewcl_old_release.txt", "cmviewcl: illegal option -- f"),
    ],
)
def test_text_in_another_form_is_refused_at_its_first_line(parse, sample, first):
    # The default table (a wrapper or an alias without -f line), an older release's complaint: not
    # an empty cluster, a refusal that shows what was printed.
    with pytest.raises(sg.ParseError) as err:
        parse(read(sample))
    assert "line 1 is not in cmviewcl's line format" in str(err.value)
    assert repr(first) in str(err.value)


def test_a_stray_line_in_line_output_is_named_with_its_number(verbose):
    lines = verbose.splitlines()
    text = "\n".join([*lines[:3], "Warning: cmcld is busy, retrying", *lines[3:]])
    with pytest.raises(sg.ParseError, match=r"line 4 .*'Warning: cmcld is busy, retrying'"):
        sg.parse_cluster(text)


@pytest.mark.parametrize("text", ["", "\n  \n", "name=seed\nstatus=up\n"])
def test_output_without_any_node_is_refused(text):
    # A Serviceguard cluster has at least one node: no node line means the command printed
    # something else (or nothing), not a cluster without nodes.
    with pytest.raises(sg.ParseError, match="no node in cmviewcl output"):
        sg.parse_nodes(text)


def test_the_manual_pages_lines_are_read():
    tree = sg.parse_lines(read("real_cmviewcl_line_manpage.txt"))
    assert tree["summary"] == "degraded"
    assert tree["node"]["eggplant"]["summary"] == "ok"
    assert tree["package"]["pkg-28478_1"]["summary"] == "degraded"
    assert tree["group"]["crs_node_1_NG"]["member"]["1"]["node"]["node_1"]["name"] == "node_1"


def test_double_quoted_values_lose_their_quotes(verbose):
    tree = sg.parse_lines(
        'package:p|filesystem:/dev/vx/dsk/dg/vol|fs_type="vxfs"\n'
        'package:p|filesystem:/dev/vx/dsk/dg/vol|fs_mount_opt="-o rw,largefiles"\n'
        'package:p|description=say "hi"\n'
        'package:p|empty=""\n'
    )
    fs = tree["package"]["p"]["filesystem"]["/dev/vx/dsk/dg/vol"]
    assert fs == {"fs_type": "vxfs", "fs_mount_opt": "-o rw,largefiles"}
    assert tree["package"]["p"]["description"] == 'say "hi"'  # not wholly quoted: kept as printed
    assert tree["package"]["p"]["empty"] == ""
    # Quoted values of the fields the data needs read as the unquoted ones do.
    quoted = "\n".join(
        f'{k}="{v}"' if k.startswith("package:slvm1|") and sep else k + sep + v
        for k, sep, v in (line.partition("=") for line in verbose.splitlines())
    )
    assert sg.parse_cluster(quoted) == sg.parse_cluster(verbose)


# --- one package, one node ----------------------------------------------------------------------


def test_package_with_prefix_dropped():
    pkg = sg.parse_package(read("cmviewcl_p_slvm1_dropped.txt"), "slvm1")
    assert pkg["node"] == "xyzo1"
    assert pkg["switching"] == {"xyzo1": True, "xyzo2": False}
    assert pkg["node_list"] == ["xyzo1", "xyzo2"]


def test_package_reference_form_status_only():
    # cmviewcl -f line -l package -p PKG1 -> status=up (the reference's own example) plus the rest
    pkg = sg.parse_package("status=up\nstate=running\nautorun=enabled\n", "PKG1")
    assert (pkg["name"], pkg["status"], pkg["autorun"]) == ("PKG1", "up", True)


def test_package_from_prefixed_output_equals_cluster_entry(verbose):
    assert sg.parse_package(verbose, "db1") == sg.parse_cluster(verbose)["packages"]["db1"]


def test_package_absent_from_prefixed_output(verbose):
    with pytest.raises(sg.ParseError, match="package nope: not in cmviewcl output"):
        sg.parse_package(verbose, "nope")


def test_package_dropped_prefix_for_another_package():
    with pytest.raises(sg.ParseError, match="name=slvm1"):
        sg.parse_package(read("cmviewcl_p_slvm1_dropped.txt"), "web1")


def test_node_both_forms(verbose):
    prefixed = sg.parse_node(verbose, "xyzo1")
    dropped = sg.parse_node(
        "name=xyzo1\nstatus=up\nstate=running\ncapacity:package_limit|value=10\n"
        "capacity:package_limit|used=2\ncapacity:package_limit|available=8\n",
        "xyzo1",
    )
    assert prefixed == dropped
    assert sg.parse_nodes(verbose)["xyzo1"] == prefixed
    with pytest.raises(sg.ParseError, match="node nope"):
        sg.parse_node(verbose, "nope")


# --- recorded from the simulator ------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.glob("sim_cmviewcl_v_line_*.txt")), ids=lambda p: p.name)
def test_recorded_simulator_output(path):
    cluster = sg.parse_cluster(path.read_text())
    assert cluster["nodes"] and cluster["packages"]
    for pkg in cluster["packages"].values():
        # Serviceguard's invariant as the simulator prints it: a running package has an owner
        # from its node list, a halted one has none.
        if pkg["state"] == "running":
            assert pkg["node"] in pkg["node_list"]
        if pkg["state"] == "halted":
            assert pkg["node"] is None
        assert set(pkg["switching"]) == set(pkg["node_list"])
    for node in cluster["nodes"].values():
        for cap in node["capacities"].values():
            assert cap["available"] == pytest.approx(cap["capacity"] - cap["used"])


def test_simulator_forms_agree_with_each_other():
    # -p PKG (prefix dropped) and -l node -n NODE give what the full -v output gives.
    cluster = sg.parse_cluster(read("sim_cmviewcl_v_line_seed.txt"))
    assert sg.parse_package(read("sim_cmviewcl_p_slvm1.txt"), "slvm1") == cluster["packages"]["slvm1"]
    assert sg.parse_node(read("sim_cmviewcl_n_xyzo2.txt"), "xyzo2") == cluster["nodes"]["xyzo2"]
    # Without -v the basic keys match and the -v-only ones are empty.
    brief = sg.parse_cluster(read("sim_cmviewcl_line_seed.txt"))
    for name, pkg in brief["packages"].items():
        full = cluster["packages"][name]
        for key in ("name", "type", "status", "state", "node", "autorun"):
            assert pkg[key] == full[key]
        assert (pkg["weights"], pkg["node_list"], pkg["switching"]) == ({}, [], {})
    assert {n: node["capacities"] for n, node in brief["nodes"].items()} == {n: {} for n in cluster["nodes"]}


def test_simulator_seed_matches_its_yaml():
    import yaml

    spec = yaml.safe_load((ROOT / "sim" / "examples" / "seed.yaml").read_text())
    cluster = sg.parse_cluster(read("sim_cmviewcl_v_line_seed.txt"))
    assert cluster["name"] == spec["cluster"]
    for pkg in spec["packages"]:
        got = cluster["packages"][pkg["name"]]
        assert got["node"] == pkg.get("node")
        assert got["node_list"] == pkg["node_list"]
        assert got["weights"] == {k: float(v) for k, v in pkg["weights"].items()}
        assert got["priority"] == pkg.get("priority")
    for node in spec["nodes"]:
        caps = cluster["nodes"][node["name"]]["capacities"]
        for cname, value in node["capacities"].items():
            used = sum(p["weights"].get(cname, 0) for p in spec["packages"] if p.get("node") == node["name"])
            assert caps[cname] == {"capacity": value, "used": used, "available": value - used}
