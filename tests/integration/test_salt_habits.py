"""What a Salt user does out of habit, against a real master and minions.

A script runs ``salt-run ... --out=json`` and parses what it prints; a person reads the default or
the ``vpkg`` outputter; an operator calls the host's module directly. Progress events must reach
the master's event bus in every case, and the terminal only where a person reads it.
"""

import json
import threading
import time

import pytest
import salt.utils.event

from . import invariants

pytestmark = pytest.mark.integration


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

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(tag, data) for tag, data in list(self.events)):
                return True
            time.sleep(0.1)
        return False


def _run_ret(tag, data):
    return tag.startswith("salt/run/") and tag.endswith("/ret") and data.get("fun") == "runner.vpkg.move"


def test_json_output_is_one_document_and_progress_stays_on_the_bus(cluster, salt_master, salt_run):
    with Bus(salt_master) as bus:
        ret = salt_run.run("vpkg.move", "g1", "vmh2")  # salt-factories: --out=json --out-indent=0
        assert bus.wait_for(_run_ret), "the runner's return never reached the bus"
    assert ret.returncode == 0, ret.stdout + ret.stderr
    document = json.loads(ret.stdout)  # one document, not one per progress event plus the return
    assert document["result"] is True and document["target"] == "vmh2"
    assert invariants.package(cluster, "g1")["node"] == "vmh2"
    (jid,) = {tag.split("/")[2] for tag, data in bus.events if _run_ret(tag, data)}
    progress = [data for tag, data in bus.events if tag == f"salt/run/{jid}/progress"]
    messages = [data.get("message") for data in progress]
    assert "g1: moving from vmh1 to vmh2" in messages, messages
    assert any(m.startswith("g1: Copy") for m in messages), messages
    # The runner told the source host which node it acts for (an internal keyword argument).
    published = [
        data
        for tag, data in bus.events
        if tag.startswith("salt/job/") and tag.endswith("/new") and data.get("fun") == "vpkg.move"
    ]
    assert len(published) == 1
    kwargs = [a for a in published[0]["arg"] if isinstance(a, dict)]
    assert kwargs and kwargs[0]["expected_node"] == "vmh1", published[0]["arg"]


@pytest.mark.parametrize("out", ["--out=vpkg", "--out=nested"])
def test_outputters_for_people_still_print_progress(cluster, salt_run, out):
    ret = salt_run.run("vpkg.move", "g1", "vmh3", out, "--no-color")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert "g1: moving from vmh1 to vmh3" in ret.stdout
    assert "moved online from vmh1 to vmh3" in ret.stdout


def test_a_host_asked_to_act_for_another_node_says_which_setting_fixes_it(cluster, salt_cli):
    # The keyword argument the runner passes, through Salt's own publish (with its __pub_ keys).
    before = cluster.state()
    ret = salt_cli.run("vpkg.move", "g1", "vmh2", "expected_node=xyzo1", minion_tgt="vmh1")
    text = str(ret.data) + ret.stdout
    assert "asked to act for Serviceguard node xyzo1, but it takes itself for node vmh1" in text
    assert "'vpkg.node: xyzo1'" in text
    after = cluster.state()
    assert (after["packages"], after["guests"]) == (before["packages"], before["guests"])
    # Internal arguments are not offered to operators.
    spec = salt_cli.run("sys.argspec", "vpkg.move", minion_tgt="vmh1").data
    assert spec["vpkg.move"]["args"] == ["package", "target", "timeout"]
