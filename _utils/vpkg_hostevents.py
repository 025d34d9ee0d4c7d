"""A move's progress events, sent in order by a thread of their own so the move never waits on them.

Each ``event.send`` opens a connection to the minion's event bus and closes it: about 10 ms a
time on the 2-CPU test machine, and a move sends a dozen. Sent inline, the ``migrated`` and
``adopted`` events alone added some 20 ms to the time package switching is off. Here the move
hands each event to a queue and goes on; one thread sends them in the order given, and
:meth:`InOrder.close` waits until every one is sent, so the job still returns after its last
event (the runner completes a move on that event).

Standard library only; no Salt dunders (see docs/installing.md).
"""

import contextvars
import logging
import queue
import threading

log = logging.getLogger(__name__)

FLUSH_WAIT = 10.0  # seconds close() waits for the events still queued before it gives up on them
_STOP = object()


class InOrder:
    """``send(*args)`` queues ``fire(*args)``; one thread runs the calls in order.

    The thread runs in a copy of the creator's context: Salt's loader dunders (``__salt__``)
    live in context variables. A call that raises is logged and the next one goes on.
    """

    def __init__(self, fire):
        self.fire = fire
        self.queue = queue.SimpleQueue()
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._drain,), daemon=True)
        self.thread.start()

    def send(self, *args):
        self.queue.put(args)

    def _drain(self):
        while (args := self.queue.get()) is not _STOP:
            try:
                self.fire(*args)
            except Exception:  # noqa: BLE001 - a lost event must never fail a move
                log.warning("Could not send a progress event", exc_info=True)

    def close(self, wait=FLUSH_WAIT):
        """Send what is queued, then stop; True if everything was sent within ``wait`` seconds."""
        self.queue.put(_STOP)
        self.thread.join(wait)
        if self.thread.is_alive():
            log.warning("vpkg: progress events still unsent after %g s; the move goes on without them", wait)
            return False
        return True
