"""Hostile maintenance events: ``reactor/maintenance.sls`` rendered by Salt's own renderer (hypothesis).

The reactor is rendered exactly as Salt's reactor does it (``salt.template.compile_template`` with
the master's renderers, ``tag`` and ``data`` in the template's context). Whatever a minion puts in
the tag or the payload, the result is either nothing or one ``runner.state.orchestrate`` call whose
pillar carries exactly the values given: no text from an event can add a state, an argument or a
key. Only text is handed on: a node, sender or token that is not a string renders nothing. The
pillar is then handed to ``vpkg.evacuate`` / ``vpkg.restore`` the way orch/evacuate.sls does, and
a hostile node or requester is refused before any minion is asked.
"""

import pathlib

import pytest
import salt.config
import salt.loader
import salt.template
from hypothesis import example, given
from hypothesis import strategies as st
from test_hostile_runner import _refused, guarded, runner  # noqa: F401 - guarded is a fixture
from test_hostile_values import FAST, HOSTILE_NAME, HOSTILE_TEXT, is_sg_name

ROOT = pathlib.Path(__file__).resolve().parents[2]
REACTOR = ROOT / "reactor" / "maintenance.sls"
GOOD_TAGS = ["vpkg/maintenance/start", "vpkg/maintenance/end"]
WEIRD_TAGS = [
    "vpkg/maintenance/start/extra",
    "vpkg/maintenance/startx",
    "vpkg/maintenance/",
    "vpkg/maintenance/START",
    "vpkg/maintenance/start ",
    "vpkg/maintenance/start\n",
    "vpkg/maintenance/end/../start",
    "salt/vpkg/maintenance/start",
    "vpkg/maintenance/*",
]


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    opts = salt.config.DEFAULT_MASTER_OPTS.copy()
    opts.update({"file_client": "local", "cachedir": str(tmp_path_factory.mktemp("cache"))})
    renderers = salt.loader.render(opts, {})

    def _render(tag, data):
        return salt.template.compile_template(
            str(REACTOR),
            renderers,
            opts["renderer"],
            opts["renderer_blacklist"],
            opts["renderer_whitelist"],
            tag=tag,
            data=data,
        )

    return _render


def _expected(tag, data):
    """What the reactor must ask for, derived from the event as docs/maintenance.md describes it."""
    sender = data.get("id")
    if tag not in GOOD_TAGS or not sender:
        return None
    payload = data.get("data") if isinstance(data.get("data"), dict) else data
    node = payload.get("node", sender)
    token = payload.get("token")
    # Only text: lists, mappings, numbers, bytes (no real request carries one) start nothing.
    if not (isinstance(sender, str) and isinstance(node, str) and (token is None or isinstance(token, str))):
        return None
    mods = "orch.evacuate" if tag.endswith("/start") else "orch.restore"
    return {
        "vpkg-maintenance": {
            "runner.state.orchestrate": [
                {
                    "args": [
                        {"mods": mods},
                        {"pillar": {"vpkg": {"node": node, "requested_by": sender, "token": token}}},
                    ]
                }
            ]
        }
    }


def _plain(value):
    """OrderedDicts and the like as plain dicts and lists, for an exact comparison."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _clean(value):
    """No C1 control, DEL or bytes anywhere inside a list or mapping (what `| json` mishandles)."""
    if isinstance(value, dict):
        return all(_clean(k) and _clean(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_clean(v) for v in value)
    if isinstance(value, bytes):
        return False
    return not (isinstance(value, str) and any("\x7f" <= c <= "\x9f" for c in value))


def _printable(data):
    """The values the reactor renders are scalars (any text: yaml_encode keeps it) or clean."""
    payload = data.get("data") if isinstance(data.get("data"), dict) else data
    values = [data.get("id"), payload.get("node", data.get("id"))]
    # nan is rendered faithfully, but nan != nan would fail the comparison itself.
    return all((isinstance(v, str) or _clean(v)) and v == v for v in values)  # noqa: PLR0124


ANY_VALUE = st.one_of(HOSTILE_NAME, st.sampled_from(["vmh1", "vmh2"]))
SENDER = st.one_of(HOSTILE_TEXT, st.sampled_from(["vmh1", "vmh2", "not-a-node"]))
TOKEN = st.one_of(ANY_VALUE, st.text(max_size=40), st.just("0123456789abcdef0123456789abcdef"))
PAYLOAD = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"node": ANY_VALUE, "id": ANY_VALUE, "tag": ANY_VALUE, "token": TOKEN}
    ),
    st.dictionaries(HOSTILE_TEXT, ANY_VALUE, max_size=3),
    HOSTILE_NAME,
)
EVENT = st.builds(
    lambda sender, payload, extra: {"id": sender, "data": payload, **extra},
    SENDER,
    PAYLOAD,
    st.fixed_dictionaries({}, optional={"node": ANY_VALUE, "cmd": st.just("_minion_event")}),
)


@FAST
@given(st.sampled_from(GOOD_TAGS + WEIRD_TAGS), EVENT)
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"node": ["vmh\x85"]}})
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"node": b"vmh1"}})
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"node": {"a": "\x9f"}}})
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"node": float("nan")}})
@example("vpkg/maintenance/end", {"id": "vmh1", "data": {"token": ["\x85"]}})
@example("vpkg/maintenance/end", {"id": "vmh1", "data": {"token": b"\x00"}})
@example("vpkg/maintenance/start", {"id": ["vmh1"], "data": {"node": "vmh1"}})
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"token": "t\x85\u2028\x7f"}})
def test_rendered_reaction_is_nothing_or_one_orchestrate_with_the_values_given(render, tag, data):
    assert _plain(render(tag, data)) == (_expected(tag, data) or {})


@FAST
@given(st.sampled_from(GOOD_TAGS + WEIRD_TAGS), EVENT.filter(_printable))
@example("vpkg/maintenance/start", {"id": "vmh1", "data": {"node": "vmh\x85"}})
@example("vpkg/maintenance/start", {"id": "vmh\x7f", "data": {}})
def test_printable_events_render_nothing_or_one_exact_orchestrate(render, tag, data):
    # The same property without what `| json` mishandles (C1 controls, DEL, bytes in containers).
    assert _plain(render(tag, data)) == _plain(_expected(tag, data) or {})


@FAST
@given(st.sampled_from(WEIRD_TAGS), EVENT)
def test_weird_tags_start_nothing(render, tag, data):
    assert not render(tag, data)


def _ask(render, reached, tag, data, when):
    reaction = _plain(render(tag, data))
    if not reaction:
        return
    pillar = reaction["vpkg-maintenance"]["runner.state.orchestrate"][0]["args"][1]["pillar"]["vpkg"]
    node, sender = pillar["node"], pillar["requested_by"]
    if when(node, sender):
        call = runner.evacuate if tag.endswith("/start") else runner.restore
        _refused(reached, call, node=node, requested_by=sender)


@FAST
@given(st.sampled_from(GOOD_TAGS), EVENT.filter(_printable))
def test_the_runner_refuses_a_hostile_node_from_an_event(render, guarded, tag, data):  # noqa: F811
    _ask(render, guarded, tag, data, lambda node, sender: not is_sg_name(node))


@FAST
@given(st.sampled_from(GOOD_TAGS), EVENT.filter(_printable))
@example("vpkg/maintenance/start", {"id": "..", "data": {"node": "vmh1"}})
def test_the_runner_refuses_a_hostile_sender_from_an_event(render, guarded, tag, data):  # noqa: F811
    # A well-formed request (both names valid) is left to the integration tests: who may ask.
    _ask(render, guarded, tag, data, lambda node, sender: is_sg_name(node) and not is_sg_name(sender))
