"""A runner job's progress channel (``vpkg_progress.reporter``): where its events go, and that it
never breaks the operation it reports on."""

import gc
import logging
import weakref

import vpkg_progress


class JobEvents:
    """The part of Salt's ``NamespacedEvent`` (a runner's ``__jid_event__``) that reporter uses."""

    def __init__(self, base="salt/run/20261203000000000000"):
        self.base, self.printed, self.event = base, [], Bus()

    def fire_event(self, data, suffix):
        self.printed.append((suffix, dict(data)))  # salt-run prints these
        self.event.fire_event(data, f"{self.base}/{suffix}")


class Bus:
    def __init__(self):
        self.fired = []

    def fire_event(self, data, tag):
        self.fired.append((tag, dict(data)))


def test_for_a_person_each_event_is_printed_and_names_the_outputter():
    events = JobEvents()
    vpkg_progress.reporter(events, None, True)("slvm1: migrating", package="slvm1")
    assert events.printed == [
        ("progress", {"package": "slvm1", "message": "slvm1: migrating", "outputter": "vpkg"})
    ]


def test_for_a_script_events_go_to_the_bus_only_under_the_same_tag():
    events = JobEvents()
    vpkg_progress.reporter(events, "json", False)("slvm1: migrating")
    assert events.printed == []
    assert events.event.fired == [(f"{events.base}/progress", {"message": "slvm1: migrating"})]


def test_outside_a_runner_job_progress_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger=vpkg_progress.__name__):
        vpkg_progress.reporter(None, None, False)("vmh1: evacuating")
    assert "vmh1: evacuating" in caplog.text


def test_a_jobs_bus_already_gone_is_no_failure_and_progress_is_logged(caplog):
    # Seen in CI: the reactor ran many runner jobs in one process, and one got a weak proxy to a
    # bus whose job had ended; the evacuation failed with ReferenceError before it began.
    ended = JobEvents()
    gone = weakref.proxy(ended)
    del ended
    gc.collect()
    with caplog.at_level(logging.INFO, logger=vpkg_progress.__name__):
        for output in (None, "json"):
            progress = vpkg_progress.reporter(gone, output, True)
            progress("vmh1: evacuating")
    assert "event bus is gone" in caplog.text and "vmh1: evacuating" in caplog.text


def test_a_bus_that_goes_away_during_the_job_is_no_failure():
    events = JobEvents()
    progress = vpkg_progress.reporter(weakref.proxy(events), None, False)
    progress("first")
    assert [d["message"] for _, d in events.printed] == ["first"]
    del events
    gc.collect()
    progress("second")  # the proxy is dead now: logged at debug, not raised
