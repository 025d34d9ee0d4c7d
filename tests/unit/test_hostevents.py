"""A move's progress events go out in order, off the move's own thread, all before the job returns."""

import contextvars
import threading
import time

import vpkg_hostevents

WHO = contextvars.ContextVar("who", default="nobody")


def test_events_are_sent_in_order_by_another_thread_and_close_waits_for_them():
    sent, threads = [], set()

    def fire(phase, data):
        time.sleep(0.01)  # a slow bus: send() must not wait for it
        threads.add(threading.get_ident())
        sent.append((phase, data["percent"]))

    events = vpkg_hostevents.InOrder(fire)
    start = time.monotonic()
    for i in range(10):
        events.send("Copy", {"percent": i * 10})
    queued = time.monotonic() - start
    assert queued < 0.05 and len(sent) < 10
    assert events.close() is True
    assert sent == [("Copy", i * 10) for i in range(10)]
    assert threads and threading.get_ident() not in threads


def test_a_failing_send_does_not_stop_the_ones_after_it(caplog):
    sent = []

    def fire(phase):
        if phase == "bad":
            raise RuntimeError("bus down")
        sent.append(phase)

    events = vpkg_hostevents.InOrder(fire)
    for phase in ("start", "bad", "done"):
        events.send(phase)
    assert events.close() is True
    assert sent == ["start", "done"]
    assert "Could not send a progress event" in caplog.text


def test_the_sending_thread_sees_the_context_it_was_made_in():
    # Salt's loader dunders (__salt__) live in context variables.
    seen = []
    WHO.set("the move")
    events = vpkg_hostevents.InOrder(lambda: seen.append(WHO.get()))
    events.send()
    events.close()
    assert seen == ["the move"]


def test_close_gives_up_on_a_bus_that_hangs():
    release = threading.Event()
    events = vpkg_hostevents.InOrder(lambda: release.wait(5))
    events.send()
    assert events.close(wait=0.1) is False
    release.set()
