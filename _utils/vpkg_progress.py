"""A runner job's progress channel: one line per event, on the terminal and on the master's bus.

salt-run prints every event a runner job fires through the outputter named by ``--out``: with a
machine outputter (json, yaml, ...) a script would get one document per event before the return.
There the events go to the master's event bus only, under the same tag.
"""

import logging
import pathlib

import salt.loader
import salt.utils.event

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_move
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_move

log = logging.getLogger(__name__)


def for_job(events, opts, context):
    """The progress channel of the runner job whose ``__jid_event__`` is ``events``."""
    return reporter(events, opts.get("output"), outputter_available(opts, context))


def outputter_available(opts, context):
    """Name the ``vpkg`` outputter in events only where it loads: else Salt logs an error per event."""
    if "vpkg.outputter" not in context:
        try:
            context["vpkg.outputter"] = "vpkg" in salt.loader.outputters(opts)
        except Exception:  # noqa: BLE001 - a missing outputter only costs prettiness
            context["vpkg.outputter"] = False
    return context["vpkg.outputter"]


def reporter(events, output, outputter):
    """``progress(message, **data)`` firing on ``events`` (the job's ``__jid_event__``, or None).

    ``output``: salt-run's ``--out``; ``outputter``: whether the ``vpkg`` outputter loads (events
    then name it, for one line per event instead of a nested dict). Progress never breaks an
    operation: a failed event is logged and forgotten.
    """
    fire = None
    try:
        if events is not None:
            fire = events.fire_event if vpkg_move.shows_progress(output) else _bus_only(events)
    except ReferenceError:
        # Salt hands a runner a weak proxy to its job's bus, and a busy reactor (many runner jobs
        # in one process) may hand over one whose job has already ended: no progress, no failure.
        log.warning("vpkg: this job's event bus is gone; its progress goes to the log only")

    def progress(message, **data):
        data["message"] = message
        if outputter:
            data["outputter"] = "vpkg"
        if fire is None:  # outside a runner job (unit tests, direct calls), or its bus is gone
            log.info("%s", message)
            return
        try:
            fire(data, "progress")
        except Exception:  # noqa: BLE001 - see above
            log.debug("vpkg: progress event not sent: %s", message, exc_info=True)

    return progress


def _bus_only(events):
    """Fire as ``events.fire_event`` does, without printing (Salt's NamespacedEvent prints too)."""
    bus, base = getattr(events, "event", None), getattr(events, "base", None)
    if bus is None or base is None:
        return events.fire_event
    return lambda data, suffix: bus.fire_event(data, salt.utils.event.tagify(suffix, base=base))
