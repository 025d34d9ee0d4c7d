"""Does the source minion still run the job the runner waits for? Salt's own question, asked without blocking.

While ``salt-run vpkg.move`` waits for the source VM host's ``vpkg.move`` to return, the runner
publishes ``saltutil.find_job JID`` to that minion every ``vpkg:job_check_interval`` seconds and
reads the answer on the master event bus it already listens to for progress events. That is how
Salt's own LocalClient notices a minion that stopped working on a job (``gather_job_timeout``),
without blocking the event relay. ``JobWatch`` decides from the answers; it does no I/O and is
given the time.

- The minion lists the job: it runs; wait on.
- The minion answers, without the job: the job has ended. Its return may still be on its way (a
  minion forgets a job just before sending its return), so this must be seen twice in a row, one
  interval apart, before the runner stops waiting.
- No answer within the answer wait (Salt's ``gather_job_timeout``): the minion is dead or cut
  off. Asked again at once; no answer twice in a row and the runner stops waiting.

An answer that lists the job resets the count, even one that came late.
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_names
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_names

RUNNING = "running"  # the minion lists the job
GONE = "gone"  # the minion answered; the job is not among its running jobs
SILENT = "silent"  # no answer within the answer wait

DEFAULT_INTERVAL = 10.0
STRIKES = 2  # consecutive checks that do not find the job before the runner stops waiting


def interval(value):
    """``vpkg:job_check_interval`` in seconds: the default when unset, else a positive finite number.

    ValueError (with the reason) for anything else.
    """
    if value is None:
        return DEFAULT_INTERVAL
    return vpkg_names.check_seconds(value, "vpkg:job_check_interval")


def find_job_says(ret, jid):
    """RUNNING if ``saltutil.find_job``'s return lists job ``jid``, GONE if it is empty.

    None for anything else (an error text, another job): the minion answered, so it is alive,
    but the answer does not tell whether the job runs.
    """
    if isinstance(ret, dict):
        if not ret:
            return GONE
        if str(ret.get("jid")) == str(jid):
            return RUNNING
    return None


class JobWatch:
    """The checks of one job on one minion; times are ``time.monotonic()`` values passed in."""

    def __init__(self, jid, every, answer_wait, now, strikes=STRIKES):
        self.jid = str(jid)
        self.every = float(every)
        self.answer_wait = float(answer_wait)
        self.strikes_needed = strikes
        self.next_check = now + self.every
        self.asked = set()  # every check's jid, so that a late answer is still recognised
        self.waiting = None  # (check jid, deadline) of the check awaited now
        self.strikes = []  # findings (GONE or SILENT) of the consecutive checks that missed the job
        self.checks = 0

    def due(self, now):
        """Time to publish the next check (none is awaited)."""
        return self.waiting is None and now >= self.next_check

    def sent(self, check_jid, now):
        """A check was published as job ``check_jid`` (None: the master could not publish it)."""
        self.checks += 1
        check_jid = str(check_jid) if check_jid else f"unpublished-{self.checks}"
        self.asked.add(check_jid)
        self.waiting = (check_jid, now + self.answer_wait)

    def answer(self, check_jid, ret, now):
        """The minion's answer to check ``check_jid``; False if that is not one of our checks."""
        check_jid = str(check_jid)
        if check_jid not in self.asked:
            return False
        self.asked.discard(check_jid)
        says = find_job_says(ret, self.jid)
        awaited = self.waiting is not None and self.waiting[0] == check_jid
        if awaited:
            self.waiting = None
            self.next_check = now + self.every
        if says == GONE:
            if awaited:  # a late "gone" was already counted as silence
                self.strikes.append(GONE)
        else:
            self.strikes = []  # alive, and the job runs (or the answer cannot tell)
        return True

    def verdict(self, now):
        """None while the job may still run; else GONE or SILENT: what the last check found."""
        if self.waiting is not None and now >= self.waiting[1]:
            self.waiting = None
            self.strikes.append(SILENT)
            self.next_check = now  # ask again at once: this check already took its time
        if len(self.strikes) >= self.strikes_needed:
            return self.strikes[-1]
        return None

    def reason(self, verdict, minion_id, node):
        """Why the runner stopped waiting, in words, with what may still be going on."""
        n = len(self.strikes)
        if verdict == SILENT:
            return (
                f"minion {minion_id} (node {node}) stopped answering: asked {n} times in a row whether "
                f"job {self.jid} still runs (saltutil.find_job), it did not answer within "
                f"{self.answer_wait:g} s. If only the minion's main process died, the job's own process "
                f"may still be running on {node}: it then finishes the move and restores package "
                f"switching itself, but cannot report back (salt-run jobs.lookup_jid {self.jid} shows "
                f"its return if a restarted minion delivers it)"
            )
        return (
            f"job {self.jid} ended on minion {minion_id} (node {node}) without a result: the minion "
            f"no longer runs it ({n} checks, {self.every:g} s apart) and no return came (its process "
            f"was killed or died)"
        )
