"""Hostile arguments to every public function of the ``vpkg`` runner (property-based).

The runner module is loaded from the checkout with the dunders Salt's loader would inject
(``__opts__`` with a temporary cachedir, ``__context__``; no ``__jid_event__``). Each hostile value
must be refused with ``SaltInvocationError`` (salt-run prints it as "Passed invalid arguments: ...")
or a refusal dict (``result: False`` and a comment), and before the runner reaches any minion:
creating Salt's LocalClient, opening the master event bus or starting a process fails the test.
"""

import importlib.util
import pathlib
from unittest.mock import patch

import pytest
import salt.config
import vpkg_master
from hypothesis import given
from hypothesis import strategies as st
from salt.exceptions import SaltInvocationError
from test_hostile_values import (
    BAD_SECONDS,
    FAST,
    HOSTILE_FLAG,
    HOSTILE_NAME,
    HOSTILE_TEXT,
    NON_FINITE_SECONDS,
    REQUIRED_NAME,
    WRONG_TYPES,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("vpkg_test_hostile_runner", ROOT / "_runners" / "vpkg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load()


class Reached(AssertionError):
    """The runner went past validation: it asked a minion, fired an event or ran a process."""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The runner with loader dunders, and every way out to a minion or a process closed."""
    cachedir = tmp_path_factory.mktemp("cachedir")
    opts = {
        **salt.config.DEFAULT_MASTER_OPTS,  # what the grains cache look-up reads (vpkg_site)
        "__role": "master",
        "cachedir": str(cachedir),
        "pki_dir": str(cachedir / "pki"),
        "sock_dir": str(cachedir / "sock"),
        "conf_file": None,
        "vpkg": {"timeout": 5, "minions": "vmh*"},
    }
    reached = []

    def refuse(what):
        def _raise(*args, **kwargs):
            reached.append(what)
            raise Reached(what)

        return _raise

    with (
        patch.object(runner, "__opts__", opts, create=True),
        patch.object(runner, "__context__", {}, create=True),
        patch.object(vpkg_master.Master, "client", property(refuse("LocalClient"))),
        patch("salt.client.get_local_client", refuse("get_local_client")),
        patch("salt.utils.event.get_master_event", refuse("master event bus")),
        patch("subprocess.Popen", refuse("subprocess")),
    ):
        yield reached


def _refused(guarded, call, *args, **kwargs):
    """Assert ``call`` refuses cleanly and reached nothing; return the error text."""
    before = len(guarded)
    try:
        ret = call(*args, **kwargs)
    except SaltInvocationError as exc:
        text = str(exc)
    else:
        assert isinstance(ret, dict), ret
        assert ret.get("result") is False or ret.get("ignored") is True, ret
        text = ret.get("comment")
    assert len(guarded) == before, f"{call.__name__} reached {guarded[before:]} for {args} {kwargs}"
    assert isinstance(text, str) and text.strip(), "a refusal must say why"
    assert "Traceback" not in text
    return text


@FAST
@given(REQUIRED_NAME)
def test_move_and_check_refuse_a_hostile_package(guarded, value):
    text = _refused(guarded, runner.move, value, "vmh2")
    assert "package" in text
    _refused(guarded, runner.move, value)
    _refused(guarded, runner.check, value, "vmh2")


@FAST
@given(HOSTILE_NAME)
def test_move_and_check_refuse_a_hostile_target(guarded, value):
    text = _refused(guarded, runner.move, "g1", value)
    assert "target" in text
    _refused(guarded, runner.check, "g1", value)
    _refused(guarded, runner.move, "g1", target=value, test=True)


@FAST
@given(BAD_SECONDS)
def test_move_refuses_a_hostile_timeout(guarded, value):
    text = _refused(guarded, runner.move, "g1", "vmh2", timeout=value)
    assert "timeout" in text


@FAST
@given(NON_FINITE_SECONDS)
def test_seconds_must_be_finite_numbers(guarded, value):
    _refused(guarded, runner.move, "g1", "vmh2", timeout=value)
    for option in ("timeout", "deadline"):
        _refused(guarded, runner.evacuate, "vmh1", **{option: value})
        _refused(guarded, runner.restore, "vmh1", **{option: value})
        _refused(guarded, runner.rebalance, "balanced", **{option: value})
    _refused(guarded, runner.cancel, "vmh1", wait=value)


@FAST
@given(HOSTILE_FLAG.filter(lambda v: not isinstance(v, bool)))
def test_move_refuses_a_test_flag_that_is_not_a_bool(guarded, value):
    # test=0 or test="" would otherwise run a real move, test="no" a dry run: neither was asked.
    _refused(guarded, runner.move, "g1", "vmh2", test=value)


@FAST
@given(REQUIRED_NAME)
def test_node_operations_refuse_a_hostile_node(guarded, value):
    for call in (runner.evacuate, runner.restore, runner.cancel):
        text = _refused(guarded, call, value)
        assert "node" in text
    _refused(guarded, runner.evacuate, value, requested_by=value)
    _refused(guarded, runner.evacuate, node=value, test=True)


@FAST
@given(st.sampled_from(["evacuate", "restore"]), HOSTILE_NAME)
def test_plan_refuses_a_hostile_node(guarded, goal, value):
    _refused(guarded, runner.plan, **{goal: value})


@FAST
@given(st.one_of(HOSTILE_TEXT, WRONG_TYPES, st.sampled_from(["Balanced", "minimal ", "random"])))
def test_rebalance_refuses_a_hostile_strategy(guarded, value):
    _refused(guarded, runner.plan, rebalance=value)
    _refused(guarded, runner.rebalance, value)


@FAST
@given(st.sampled_from(["timeout", "deadline"]), BAD_SECONDS)
def test_node_operations_refuse_hostile_seconds(guarded, option, value):
    for call in (runner.evacuate, runner.restore):
        text = _refused(guarded, call, "vmh1", **{option: value})
        assert option in text
    _refused(guarded, runner.rebalance, "balanced", **{option: value})


@FAST
@given(BAD_SECONDS)
def test_cancel_refuses_a_hostile_wait(guarded, value):
    text = _refused(guarded, runner.cancel, "vmh1", wait=value)
    assert "wait" in text


@FAST
@given(HOSTILE_NAME)
def test_evacuate_refuses_a_requester_that_cannot_be_a_node(guarded, value):
    # requested_by is the minion id the reactor saw (data['id']); with no node_map it must be a
    # node name to be allowed at all, so anything else is refused before any minion is asked.
    _refused(guarded, runner.evacuate, "vmh1", requested_by=value)
    _refused(guarded, runner.restore, "vmh1", requested_by=value)
