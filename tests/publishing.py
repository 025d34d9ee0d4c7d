"""A stand-in for Salt's LocalClient where no master runs: what ``vpkg_master.answers`` uses of it.

``run_job`` publishes to the targeted minions (``known``), each answer (from ``answer``, None for
a minion that stays silent) becomes a ``salt/job/<jid>/ret/<id>`` event on ``event``, and
``saltutil.find_job`` reports no job running, as a minion that finished or never got the job does.
"""

import fnmatch
import itertools
import time

_JIDS = itertools.count(1)


class _Bus:
    def __init__(self):
        self.queue = []

    def subscribe(self, tag, match_type=None):
        pass

    def unsubscribe(self, tag, match_type=None):
        pass

    def get_event(self, wait=5, tag="", match_type=None, full=False):
        for i, event in enumerate(self.queue):
            if event["tag"].startswith(tag):
                return self.queue.pop(i)
        time.sleep(min(wait, 0.02))  # nothing more will come: as a real bus, after the wait
        return None


class PublishingClient:
    """Subclasses give ``known`` (minion ids) and ``answer(minion_id, fun, arg, kwarg)``."""

    known = ()

    def __init__(self):
        self.event = _Bus()

    def answer(self, minion_id, fun, arg, kwarg):
        raise NotImplementedError

    def targets(self, tgt, tgt_type):
        if tgt_type == "list":
            return [m for m in tgt if m in self.known]
        return [m for m in self.known if fnmatch.fnmatch(m, tgt)]

    def run_job(self, tgt, fun, arg=(), kwarg=None, tgt_type="glob", timeout=None, listen=False):
        assert listen and timeout
        jid = f"2026{next(_JIDS):016d}"
        minions = self.targets(tgt, tgt_type)
        for minion_id in minions:
            ret = self.answer(minion_id, fun, list(arg), kwarg or {})
            if ret is not None:
                data = {"id": minion_id, "jid": jid, "fun": fun, "return": ret["ret"], **ret}
                data.pop("ret")
                self.event.queue.append({"tag": f"salt/job/{jid}/ret/{minion_id}", "data": data})
        return {"jid": jid, "minions": minions}

    def cmd(self, tgt, fun, arg=(), tgt_type="glob", timeout=None):
        assert fun == "saltutil.find_job" and tgt_type == "list"
        return {m: {} for m in tgt}
