"""The maintenance reactor against forged tags and payloads, and a burst of 100 identical requests.

tests/integration/test_evacuate.py covers the honest path (a node asks for itself) and one spoof
(vmh2 names vmh1 in its payload). Here: a minion that is not a cluster node, a forged ``id``
inside the payload, tags that only look like ours, an event list forged with ``preload`` (Salt
fires each listed event with the data the minion wrote, ``id`` included), and 100 requests for
one node within a second. What happened is read from the master's event bus: an evacuation
announces itself with ``vpkg/evacuate/<node>/start``; every orchestration the reactor started
returns on ``salt/run/<jid>/ret``, with the runner's refusal inside.
"""

import json
import pathlib
import secrets
import threading
import time

import pytest
import salt.utils.event

from . import invariants

pytestmark = pytest.mark.integration

START = "vpkg/maintenance/start"
QUIET = 90  # seconds without a new answer after which the burst's last requests count as lost


class Bus:
    """Every event on the master bus while the ``with`` block runs: ``[(tag, data)]``."""

    def __init__(self, master):
        self.opts = master.config
        self.events = []
        self._stop = threading.Event()
        self._ready = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "could not listen on the master bus"
        return self

    def _listen(self):
        with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=True) as bus:
            bus.subscribe("")
            self._ready.set()
            while not self._stop.is_set():
                event = bus.get_event(wait=0.2, full=True)
                if event:
                    self.events.append((event["tag"], event["data"]))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def tagged(self, prefix):
        return [(t, d) for t, d in list(self.events) if t.startswith(prefix)]

    def orchestrations(self):
        """Returns of the orchestrations the reactor started (runner.state.orchestrate)."""
        return [
            d
            for t, d in self.tagged("salt/run/")
            if t.endswith("/ret") and d.get("fun") == "runner.state.orchestrate"
        ]

    def wait_quiet(self, count, expected, quiet, timeout):
        """Until ``count()`` reaches ``expected`` (True) or stops growing for ``quiet`` s (False)."""
        deadline = time.monotonic() + timeout
        last, since = count(), time.monotonic()
        while time.monotonic() < deadline and last < expected:
            time.sleep(0.3)
            now = count()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > quiet:
                return False
        return last >= expected

    def wait(self, predicate, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.3)
        return False


def _placement(cluster):
    cl, _ = invariants.check(cluster)
    return {p: pkg["node"] for p, pkg in cl["packages"].items()}


@pytest.fixture(scope="module")
def intruder(salt_master, salt_minions):
    """A minion of this master that is not a node of the cluster."""
    factory = salt_master.salt_minion_daemon("intruder")
    with factory.started():
        yield factory


def test_forged_requests_start_nothing(cluster, salt_master, salt_minions, intruder):
    before = _placement(cluster)
    stranger = intruder.salt_call_cli(timeout=60)
    node = salt_minions["vmh1"].salt_call_cli(timeout=60)
    with Bus(salt_master) as bus:
        sent = [
            stranger.run("event.send", START),  # not a cluster node
            stranger.run("event.send", START, "node=vmh1"),  # ... asking for a node
            stranger.run("event.send", START, "id=vmh1"),  # ... forging the id in its payload
            node.run("event.send", "vpkg/maintenance/start/extra"),  # look-alike tags
            node.run("event.send", "vpkg/maintenance/startx"),
            node.run("event.send", "vpkg/maintenance/start/../end"),
        ]
        assert all(r.returncode == 0 for r in sent), [r.stderr for r in sent]
        # Three requests are well-formed enough to reach the runner: each must come back refused.
        assert bus.wait(lambda: len(bus.orchestrations()) >= 3), bus.tagged("salt/run/")
        time.sleep(3)  # anything else the reactor would have started has had time to show
    assert not bus.tagged("vpkg/evacuate/"), bus.tagged("vpkg/evacuate/")
    refusals = [str(d) for d in bus.orchestrations()]
    assert len(refusals) == 3, refusals
    assert all("ignored: intruder is not a cluster node" in r for r in refusals), refusals
    assert _placement(cluster) == before
    log = open(salt_master.config["log_file"], encoding="utf-8").read()
    assert "ignored maintenance/start request from intruder" in log


def test_an_event_list_cannot_speak_for_another_node(cluster, salt_master, intruder):
    before = _placement(cluster)
    stranger = intruder.salt_call_cli(timeout=60)
    forged = {"events": [{"tag": START, "data": {"id": "vmh1", "data": {}}}]}
    with Bus(salt_master) as bus:
        ret = stranger.run("event.fire_master", "{}", "vpkg/forged", f"preload={forged}")
        assert ret.returncode == 0, ret.stderr
        bus.wait(lambda: bus.orchestrations() or bus.tagged("vpkg/evacuate/vmh1/start"), timeout=30)
        started = bus.tagged("vpkg/evacuate/vmh1/start")
        if started:  # let the evacuation the forgery started end before the next test
            bus.wait(lambda: bus.tagged("vpkg/evacuate/vmh1/done"), timeout=180)
    print(f"\nFORGED event list started {len(started)} evacuation(s) of vmh1")
    assert not started, "a forged event list started the evacuation of vmh1"
    assert _placement(cluster) == before


def _request_token(minion, action="start"):
    """What ``salt-call vpkg.maintenance start`` leaves on the node (its event aside): the token
    the node's minion confirms when the runner asks."""
    token = secrets.token_hex(16)
    path = pathlib.Path(minion.config["cachedir"]) / "vpkg" / f"maintenance-{action}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"token": token, "time": time.time()}))
    return token


def test_a_burst_of_100_requests_starts_one_evacuation(cluster, salt_master, salt_minions):
    # A minion's event reaches the reactor as the master re-fires it on the master bus, with the
    # authenticated id beside the payload. salt-call per event is far too slow for 100 in one
    # second, so the test fires those master-side events itself: the very input the reactor sees,
    # each carrying the token of one real request (the first confirmation spends it).
    token = _request_token(salt_minions["vmh1"])
    on_vmh1 = {p for p, n in _placement(cluster).items() if n == "vmh1"}
    with Bus(salt_master) as bus:
        with salt.utils.event.get_master_event(
            salt_master.config, salt_master.config["sock_dir"], listen=False
        ) as master_bus:
            started = time.monotonic()
            for _ in range(100):
                load = {"id": "vmh1", "tag": START, "data": {"token": token}, "cmd": "_minion_event"}
                assert master_bus.fire_event(load, START)
            elapsed = time.monotonic() - started
        print(f"\nBURST fired 100 events in {elapsed:.3f} s")
        # Wait for the reactor to work through the requests: each costs a whole orchestration,
        # hence the long wait (docs/reliability.md has the figures). Salt's reactor has been seen
        # to lose one of 100 orchestrations without a return; a request that comes late cannot
        # start a second evacuation (its token was spent by the first confirmation), so the wait
        # ends when all answered or when no answer came for QUIET seconds.
        t0 = time.monotonic()
        drained = bus.wait_quiet(lambda: len(bus.orchestrations()), 100, quiet=QUIET, timeout=600)
        answered = len(bus.orchestrations())
        print(f"BURST answered {answered} requests in {time.monotonic() - t0:.1f} s (drained: {drained})")
        assert answered >= 95, f"only {answered} of 100 requests answered"
        time.sleep(2)
    assert len(bus.tagged("vpkg/evacuate/vmh1/start")) == 1
    assert len(bus.tagged("vpkg/evacuate/vmh1/done")) == 1
    answers = [str(d) for d in bus.orchestrations()]
    evacuated = [a for a in answers if "moved" in a and "'operation': 'evacuate'" in a]
    others = [a for a in answers if a not in evacuated]
    busy = [a for a in others if "already in progress" in a or "already in maintenance" in a]
    print(
        f"BURST orchestrations={len(answers)} evacuations={len(evacuated)} refused={len(others)} "
        f"(busy or in maintenance: {len(busy)})"
    )
    assert len(evacuated) == 1
    # Salt's own orchestrate can fail before our runner runs, in threads of the reactor running
    # 100 orchestrations at once: a grains traceback building a MasterMinion
    # (salt/runners/state.py), or `NameError: name '__env__' is not defined` in the runner state
    # (salt/states/saltmod.py) were seen. Nothing starts then either; a traceback that passes
    # through our runner is not such a case and stays odd.
    ours = ("_runners/vpkg.py", "saltext/vpkg/")
    salts = ("salt/runners/state.py", "salt/states/saltmod.py")
    crashed = [
        a for a in others if "Traceback" in a and any(s in a for s in salts) and not any(o in a for o in ours)
    ]
    print(f"BURST orchestrations that failed inside Salt before the runner: {len(crashed)}")
    odd = [a for a in others if a not in crashed and "already in" not in a and "ignored" not in a]
    assert not odd, [a[-600:] for a in odd]
    after = _placement(cluster)
    assert {p for p, n in after.items() if n == "vmh1"} == {"pinned"} & on_vmh1
