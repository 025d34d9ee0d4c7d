"""``vpkg_names``: Serviceguard's naming rule and host names. ``HOSTILE`` is shared with the module
tests, which check that each value is refused before any command runs."""

import pytest
import vpkg_names

# At least 50 values that must never reach a command line as a package, node or guest name.
HOSTILE = [
    "",
    " ",
    "-f",
    "-v",
    "--help",
    "-e",
    "-n",
    "-",
    "_pkg",
    "pkg_",
    ".pkg",
    "pkg.",
    "pkg-",
    "../etc/passwd",
    "..",
    "./x",
    "a/b",
    "/usr/sbin/cmhaltpkg",
    "pkg;reboot",
    "pkg && halt",
    "pkg|cat",
    "pkg`id`",
    "$(id)",
    "${IFS}",
    "pkg$HOME",
    "pkg>out",
    "pkg<in",
    "pkg*",
    "pkg?",
    "pkg[1]",
    "pkg{a,b}",
    "pkg~",
    "pkg!",
    "pkg#",
    "pkg%",
    "pkg'",
    'pkg"',
    "pkg\\x",
    "pkg name",
    "pkg\tname",
    "pkg\n",
    "pkg\nother",
    "pkg\r",
    "pkg\x00",
    "pkg\x1b[31m",
    "pkg=1",
    "pkg:1",
    "pkg,1",
    "pkg@host",
    "pkg+1",
    "slvm\u00e9",
    "\u0441lvm1",  # Cyrillic es
    "\u4e2d\u6587",
    "pkg\u200b",
    "\uff50kg",  # fullwidth p
    "\U0001f600",
    "a" * 40,
    "a" * 200,
    None,
    0,
    12,
    1.5,
    True,
    False,
    ["slvm1"],
    ("slvm1",),
    {"name": "slvm1"},
    b"slvm1",
]


@pytest.mark.parametrize("value", ["a", "Z9", "slvm1", "pkg-28478_1", "SG-CFS-pkg", "a.b_c-d", "a" * 39, "0"])
def test_valid_names(value):
    assert vpkg_names.check_name(value, "package") == value
    assert vpkg_names.is_valid_name(value) is True


def test_hostile_list_is_large_enough():
    assert len(HOSTILE) >= 50


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_names_refused_with_the_argument_named(value):
    with pytest.raises(ValueError, match=r"^package ") as err:
        vpkg_names.check_name(value, "package")
    assert "\n" not in str(err.value).replace("\\n", "")  # the message is one printable line
    assert vpkg_names.is_valid_name(value) is False


def test_messages_say_what_is_wrong():
    with pytest.raises(ValueError, match="must be a string, got int 12"):
        vpkg_names.check_name(12, "node")
    with pytest.raises(ValueError, match="must not be empty"):
        vpkg_names.check_name("", "node")
    with pytest.raises(ValueError, match="longer than 39"):
        vpkg_names.check_name("a" * 40, "node")
    with pytest.raises(ValueError, match="starting and ending with a letter or digit"):
        vpkg_names.check_name("-f", "guest")
    with pytest.raises(ValueError) as err:
        vpkg_names.check_name("x" * 200, "guest")
    assert len(str(err.value)) < 200  # long values are shortened in the message


@pytest.mark.parametrize(
    "value", ["xyzo2", "xyzo2.example.com", "10.0.0.2", "::1", "fe80::1", "a-b.c-d", "h" * 63, "x1"]
)
def test_valid_hosts(value):
    assert vpkg_names.check_host(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "-h",
        "host;id",
        "host name",
        "a..b",
        ".host",
        "host.",
        "-host",
        "host-",
        "h" * 64,
        "10.0.0.300",
        "1.2.3.4 ",
        "fe80::1%$(id)",
        "fe80::1%eth0",
        "../host",
        "h\u00f6st",
        "",
        None,
        7,
        ["xyzo2"],
        "a." * 127 + "a",
    ],
    ids=repr,
)
def test_hostile_hosts(value):
    with pytest.raises(ValueError, match="^host "):
        vpkg_names.check_host(value)


def test_reserved_capacity_is_checked_data():
    assert vpkg_names.check_reserved(None) == {}
    assert vpkg_names.check_reserved({"vmh2": {"memory": 8, "package_limit": 1.0}}) == {
        "vmh2": {"memory": 8.0, "package_limit": 1.0}
    }
    for bad, said in (
        ("vmh2", "mapping"),
        ({"-f": {"memory": 1}}, "not a valid Serviceguard name"),
        ({"vmh2": {"mem;ory": 1}}, "not a valid Serviceguard name"),
        ({"vmh2": {"memory": -1}}, "must not be negative"),
        ({"vmh2": {"memory": True}}, "must be a number"),
        ({"vmh2": {"memory": float("inf")}}, "must be a number"),
        ({"vmh2": ["memory"]}, "mapping of capacity"),
    ):
        with pytest.raises(ValueError, match=said):
            vpkg_names.check_reserved(bad)


def test_reserved_moves_in_flight_are_checked_data():
    moves = [{"package": "g1", "target": "vmh2", "weights": {"memory": 8}}]
    assert vpkg_names.check_reserved(moves) == [
        {"package": "g1", "target": "vmh2", "weights": {"memory": 8.0}}
    ]
    for bad, said in (
        (["g1"], "entries must be mappings"),
        ([{"package": "g;1", "target": "vmh2"}], "package.*not a valid Serviceguard name"),
        ([{"package": "g1", "target": "-h"}], "target.*not a valid Serviceguard name"),
        ([{"package": "g1", "target": "vmh2", "weights": {"memory": -2}}], "must not be negative"),
        ([{"package": "g1", "target": "vmh2", "weights": ["memory"]}], "mapping of capacity"),
    ):
        with pytest.raises(ValueError, match=said):
            vpkg_names.check_reserved(bad)
