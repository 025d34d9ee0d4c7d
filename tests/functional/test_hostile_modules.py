"""Hostile arguments to every public execution module function and to ``vpkg.placed`` (hypothesis).

The modules load through Salt's loader from the checkout, as on a VM host. Their command folder
holds a stand-in for every Serviceguard and Integrity VM command that only appends its argv to a
log and fails: a refusal "before any command runs" means that log stays empty. The real commands
are not needed: a hostile value must never get as far as them.
"""

import importlib.util
import pathlib
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError, SaltInvocationError
from saltfactories.utils.functional import Loaders

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMANDS = ["cmviewcl", "cmmodpkg", "cmrunpkg", "cmhaltpkg", "hpvmstatus", "hpvmmigrate", "hpvmmodify"]


def _values():
    spec = importlib.util.spec_from_file_location(
        "hostile_values", ROOT / "tests" / "unit" / "test_hostile_values.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hostile_values", module)
    spec.loader.exec_module(module)
    return module


V = _values()


@pytest.fixture(scope="module")
def host(salt_factories, tmp_path_factory):
    """``(modules, states, log)`` of a minion whose commands only record that they ran."""
    bindir = tmp_path_factory.mktemp("bin")
    log = bindir / "ran.log"
    log.write_text("")
    for name in COMMANDS:
        path = bindir / name
        path.write_text(f'#!/bin/sh\necho "$0 $*" >> {log}\necho "{name}: stand-in" >&2\nexit 1\n')
        path.chmod(0o755)
    config = {
        "file_client": "local",
        "module_dirs": [str(ROOT / "_modules")],
        "states_dirs": [str(ROOT / "_states")],
        "utils_dirs": [str(ROOT / "_utils")],
        "serviceguard.bin_dir": str(bindir),
        "hpvm.bin_dir": str(bindir),
        "vpkg.node": "vmh1",
        "vpkg.events": False,
    }
    factory = salt_factories.salt_minion_daemon(f"hostile-{uuid.uuid4().hex[:6]}", overrides=config)
    loaders = Loaders(factory.config.copy())
    assert "vpkg.move" in loaders.modules, "the vpkg module did not load"
    yield loaders.modules, loaders.states, log
    loaders.reset_state()


def _refused(host, call, *args, **kwargs):
    """``call`` raises SaltInvocationError naming the problem, and no command ran."""
    _, _, log = host
    log.write_text("")
    with pytest.raises(SaltInvocationError) as err:
        call(*args, **kwargs)
    assert str(err.value).strip()
    assert log.read_text() == "", f"a command ran for {args} {kwargs}:\n{log.read_text()}"
    return str(err.value)


def _name_calls(mods):
    """Every public function argument that is a package, node, guest, target or host name."""
    return [
        ("serviceguard.package", mods.serviceguard.package),
        ("serviceguard.node", mods.serviceguard.node),
        ("serviceguard.capacity", lambda v: mods.serviceguard.capacity(node=v)),
        ("serviceguard.enable_switching", mods.serviceguard.enable_switching),
        ("serviceguard.enable_switching node", lambda v: mods.serviceguard.enable_switching("g1", node=v)),
        ("serviceguard.disable_switching", mods.serviceguard.disable_switching),
        ("serviceguard.disable_switching node", lambda v: mods.serviceguard.disable_switching("g1", v)),
        ("serviceguard.run", mods.serviceguard.run),
        ("serviceguard.run node", lambda v: mods.serviceguard.run("g1", node=v)),
        ("serviceguard.halt", mods.serviceguard.halt),
        ("hpvm.guest", mods.hpvm.guest),
        ("hpvm.check_migrate guest", lambda v: mods.hpvm.check_migrate(v, "vmh2")),
        ("hpvm.check_migrate host", lambda v: mods.hpvm.check_migrate("g1", v)),
        ("hpvm.migrate guest", lambda v: mods.hpvm.migrate(v, "vmh2")),
        ("hpvm.migrate host", lambda v: mods.hpvm.migrate("g1", v)),
        ("hpvm.set_online_migration", lambda v: mods.hpvm.set_online_migration(v, True)),
        ("vpkg.check package", lambda v: mods.vpkg.check(v, "vmh2")),
        ("vpkg.check target", lambda v: mods.vpkg.check("g1", v)),
        ("vpkg.move package", lambda v: mods.vpkg.move(v, "vmh2")),
        ("vpkg.move target", lambda v: mods.vpkg.move("g1", v)),
    ]


@V.FAST
@given(st.data())
def test_every_name_argument_refuses_hostile_values(host, data):
    mods, _, _ = host
    label, call = data.draw(st.sampled_from(_name_calls(mods)), label="argument")
    # hpvmmigrate -h takes host names (longer, dotted) and IP addresses: hosts get values that
    # are hostile as hosts (tests/unit/test_hostile_values.py proves them against RFC 1123).
    value = data.draw(V.HOSTILE_HOST if label.endswith("host") else V.HOSTILE_NAME, label="value")
    _refused(host, call, value)


@V.FAST
@given(V.REQUIRED_NAME.filter(lambda v: v is None))
def test_required_names_refuse_none(host, value):
    mods, _, _ = host
    for label, call in _name_calls(mods):
        if label.endswith(("node", "capacity")):
            continue  # None means "no node" there
        _refused(host, call, value)


@V.FAST
@given(V.BAD_SECONDS)
def test_timeouts_refuse_hostile_seconds(host, value):
    mods, _, _ = host
    _refused(host, mods.hpvm.migrate, "g1", "vmh2", timeout=value)
    _refused(host, mods.vpkg.move, "g1", "vmh2", timeout=value)


@V.FAST
@given(V.NON_FINITE_SECONDS)
def test_timeouts_must_be_finite_numbers(host, value):
    mods, _, _ = host
    _refused(host, mods.hpvm.migrate, "g1", "vmh2", timeout=value)
    _refused(host, mods.vpkg.move, "g1", "vmh2", timeout=value)


HOSTILE_RESERVED = st.one_of(
    # None and [] say "nothing in flight"; every other value that is not a mapping or a list of moves
    V.HOSTILE_NAME.filter(lambda v: not isinstance(v, (dict, type(None))) and v != []),
    st.lists(
        st.fixed_dictionaries(
            {"package": V.HOSTILE_NAME, "target": st.just("vmh2"), "weights": st.just({"memory": 1})}
        ),
        min_size=1,
    ),
    st.lists(st.fixed_dictionaries({"package": st.just("g2"), "target": V.HOSTILE_NAME}), min_size=1),
    st.dictionaries(V.HOSTILE_NAME.filter(lambda v: isinstance(v, str)), st.just({"memory": 1}), min_size=1),
    st.dictionaries(
        st.just("vmh2"),
        st.dictionaries(V.HOSTILE_NAME.filter(lambda v: isinstance(v, str)), st.just(1), min_size=1),
        min_size=1,
    ),
    st.dictionaries(
        st.just("vmh2"),
        st.dictionaries(
            st.just("memory"),
            V.BAD_SECONDS.filter(lambda v: not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0),
            min_size=1,
        ),
        min_size=1,
    ),
    st.just({"vmh2": [1]}),
    st.just({"vmh2": {"memory": float("nan")}}),
)


@V.FAST
@given(HOSTILE_RESERVED)
def test_reserved_capacity_refuses_hostile_values(host, value):
    # The runner's reservations reach the host as data; anything else is refused before cmviewcl.
    mods, _, _ = host
    _refused(host, mods.vpkg.move, "g1", "vmh2", reserved=value)


@V.FAST
@given(V.HOSTILE_NAME)
def test_expected_node_refuses_hostile_values(host, value):
    # The node the runner asks the host to act for is checked like every name, before cmviewcl.
    mods, _, _ = host
    _refused(host, mods.vpkg.move, "g1", "vmh2", expected_node=value)
    _refused(host, mods.vpkg.check, "g1", "vmh2", expected_node=value)


def test_unknown_keyword_arguments_are_refused(host):
    mods, _, _ = host
    assert "bogus=1" in _refused(host, mods.vpkg.move, "g1", "vmh2", bogus=1)
    assert "bogus=1" in _refused(host, mods.vpkg.check, "g1", "vmh2", bogus=1)


def test_internal_arguments_stay_out_of_argspec(host):
    # reserved and expected_node are for the master's runner, not for an operator's CLI.
    mods, _, _ = host
    spec = mods.sys.argspec("vpkg.*")
    assert spec["vpkg.move"]["args"] == ["package", "target", "timeout"]
    assert spec["vpkg.check"]["args"] == ["package", "target"]


def test_a_host_asked_to_act_for_another_node_refuses_before_any_command(host):
    # This host is vmh1 (vpkg.node); a runner that believes it is xyzo1 is told so, and how to fix it.
    mods, _, log = host
    for call in (mods.vpkg.move, mods.vpkg.check):
        log.write_text("")
        with pytest.raises(CommandExecutionError) as err:
            call("g1", "vmh2", expected_node="xyzo1")
        message = err.value.error
        assert "asked to act for Serviceguard node xyzo1, but it takes itself for node vmh1" in message
        assert "'vpkg.node: xyzo1'" in message and "nothing was done" in message
        assert log.read_text() == "", log.read_text()
    # Asked to act for the node it is (Salt's __pub_ keys beside it), it goes on and reads the cluster.
    log.write_text("")
    with pytest.raises(CommandExecutionError, match="stand-in"):
        mods.vpkg.check("g1", "vmh2", expected_node="vmh1", __pub_fun="vpkg.check")
    assert "cmviewcl" in log.read_text()


@V.FAST
@given(V.HOSTILE_FLAG)
def test_flags_refuse_values_that_are_not_bools(host, value):
    mods, _, _ = host
    _refused(host, mods.serviceguard.halt, "g1", detach=value)
    _refused(host, mods.hpvm.set_online_migration, "g1", value)
    _refused(host, mods.hpvm.migrate, "g1", "vmh2", online=value)
    _refused(host, mods.hpvm.migrate, "g1", "vmh2", progress=value)


def _state_refused(host, name, node):
    _, states, log = host
    log.write_text("")
    try:
        raw = states.vpkg.placed(name=name, node=node).full_return
    except TypeError as exc:
        # Salt's own state compiler refused the call (a list of errors, e.g. a non-str name).
        assert str(exc).startswith("The state result errored"), exc
        assert log.read_text() == ""
        return
    assert raw["result"] is False, raw
    assert raw["changes"] == {}
    assert isinstance(raw["comment"], str) and raw["comment"].strip()
    assert "Traceback" not in raw["comment"]
    assert log.read_text() == "", f"a command ran for placed({name!r}, {node!r}):\n{log.read_text()}"


@V.FAST
@given(V.REQUIRED_NAME)
def test_placed_refuses_a_hostile_package(host, value):
    _state_refused(host, value, "vmh2")


@V.FAST
@given(V.REQUIRED_NAME)
def test_placed_refuses_a_hostile_node(host, value):
    _state_refused(host, "g1", value)


def test_stand_ins_do_record(host):
    """The empty log above means something: a valid call does reach the stand-in command."""
    mods, _, log = host
    with pytest.raises(CommandExecutionError, match="stand-in"):
        mods.serviceguard.package("g1")
    assert "cmviewcl" in log.read_text()
    log.write_text("")
