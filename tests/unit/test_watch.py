"""When the runner stops waiting for a source minion's job (``_utils/vpkg_watch.py``).

The answers are ``saltutil.find_job``'s returns as Salt 3008 delivers them: the job's proc data
while it runs, ``{}`` once it is gone.
"""

import math

import pytest
import vpkg_watch

JID = "20261126035603650077"
RUNNING_RET = {"jid": JID, "fun": "vpkg.move", "pid": 4242, "arg": ["g1", "vmh2"], "tgt": "vmh1"}


def _watch(every=10, wait=10):
    return vpkg_watch.JobWatch(JID, every, wait, now=0.0)


@pytest.mark.parametrize(
    ("ret", "says"),
    [
        (RUNNING_RET, vpkg_watch.RUNNING),
        ({"jid": int(JID), "fun": "vpkg.move"}, vpkg_watch.RUNNING),
        ({}, vpkg_watch.GONE),
        ({"jid": "20261126035603650078"}, None),
        ("'saltutil.find_job' is not available.", None),
        (None, None),
        ([], None),
    ],
)
def test_what_a_find_job_answer_says(ret, says):
    assert vpkg_watch.find_job_says(ret, JID) == says


def test_the_first_check_is_due_one_interval_after_the_start():
    watch = _watch(every=10)
    assert not watch.due(9.9)
    assert watch.due(10.0)


def test_a_running_job_is_waited_for_as_long_as_it_runs():
    watch = _watch()
    now = 10.0
    for n in range(100):
        assert watch.due(now)
        watch.sent(f"check{n}", now)
        assert not watch.due(now + 1)  # one check at a time
        assert watch.answer(f"check{n}", RUNNING_RET, now + 1)
        assert watch.verdict(now + 1) is None
        now += 11
    assert watch.checks == 100


def test_a_silent_minion_is_given_up_after_two_unanswered_checks_asked_back_to_back():
    watch = _watch(every=10, wait=10)
    watch.sent("c1", 10.0)
    assert watch.verdict(19.9) is None
    assert watch.verdict(20.0) is None  # one miss: ask again at once
    assert watch.due(20.0)
    watch.sent("c2", 20.0)
    assert watch.verdict(29.9) is None
    assert watch.verdict(30.0) == vpkg_watch.SILENT


def test_a_late_answer_that_lists_the_job_resets_the_count():
    watch = _watch()
    watch.sent("c1", 10.0)
    assert watch.verdict(20.0) is None
    watch.sent("c2", 20.0)
    assert watch.answer("c1", RUNNING_RET, 21.0)  # late, but the minion is alive and runs the job
    assert watch.verdict(30.0) is None  # c2's silence is a first miss again
    watch.sent("c3", 30.0)
    assert watch.verdict(40.0) == vpkg_watch.SILENT


def test_a_gone_job_must_be_seen_twice_an_interval_apart():
    watch = _watch(every=10, wait=10)
    watch.sent("c1", 10.0)
    watch.answer("c1", {}, 11.0)
    assert watch.verdict(11.0) is None  # its return may still be on its way
    assert not watch.due(20.9)
    assert watch.due(21.0)
    watch.sent("c2", 21.0)
    watch.answer("c2", {}, 22.0)
    assert watch.verdict(22.0) == vpkg_watch.GONE


def test_gone_then_running_again_is_not_a_verdict():
    # A restarted minion that finds the job's process still alive lists the job again.
    watch = _watch()
    watch.sent("c1", 10.0)
    watch.answer("c1", {}, 11.0)
    watch.sent("c2", 21.0)
    watch.answer("c2", RUNNING_RET, 22.0)
    watch.sent("c3", 32.0)
    watch.answer("c3", {}, 33.0)
    assert watch.verdict(33.0) is None


def test_silence_then_gone_ends_the_wait_as_gone():
    watch = _watch()
    watch.sent("c1", 10.0)
    assert watch.verdict(20.0) is None
    watch.sent("c2", 20.0)
    watch.answer("c2", {}, 21.0)
    assert watch.verdict(21.0) == vpkg_watch.GONE


def test_a_late_gone_answer_is_not_counted_twice():
    watch = _watch()
    watch.sent("c1", 10.0)
    assert watch.verdict(20.0) is None  # counted as a miss
    watch.sent("c2", 20.0)
    watch.answer("c1", {}, 21.0)  # c1's late answer: already counted
    assert watch.verdict(21.0) is None


def test_an_unreadable_answer_means_alive_and_resets_the_count():
    watch = _watch()
    watch.sent("c1", 10.0)
    assert watch.verdict(20.0) is None
    watch.sent("c2", 20.0)
    watch.answer("c2", "The minion function caused an exception", 21.0)
    watch.sent("c3", 31.0)
    assert watch.verdict(41.0) is None


def test_answers_to_other_jobs_are_not_ours():
    watch = _watch()
    watch.sent("c1", 10.0)
    assert not watch.answer("someone-elses-job", {}, 11.0)
    assert not watch.answer(JID, {"result": True}, 11.0)  # the job's own return is not a check's
    assert watch.verdict(19.0) is None and not watch.strikes


def test_a_check_the_master_could_not_publish_counts_as_no_answer():
    watch = _watch()
    watch.sent(None, 10.0)
    assert watch.verdict(20.0) is None
    watch.sent(None, 20.0)
    assert watch.verdict(30.0) == vpkg_watch.SILENT
    assert watch.checks == 2


def test_the_reasons_name_the_minion_the_job_and_what_may_still_run():
    watch = _watch(every=3, wait=10)
    watch.sent("c1", 3.0)
    watch.verdict(13.0)
    watch.sent("c2", 13.0)
    silent = watch.reason(watch.verdict(23.0), "vmhost1.example.com", "xyzo1")
    assert "minion vmhost1.example.com (node xyzo1) stopped answering" in silent
    assert f"job {JID}" in silent and "2 times" in silent and "10 s" in silent
    assert "may still be running on xyzo1" in silent and f"jobs.lookup_jid {JID}" in silent
    gone = vpkg_watch.JobWatch(JID, 3, 10, now=0.0)
    gone.sent("c1", 3.0)
    gone.answer("c1", {}, 4.0)
    gone.sent("c2", 7.0)
    gone.answer("c2", {}, 8.0)
    text = gone.reason(gone.verdict(8.0), "vmh1", "vmh1")
    assert f"job {JID} ended on minion vmh1 (node vmh1) without a result" in text
    assert "2 checks, 3 s apart" in text


@pytest.mark.parametrize("value", [None])
def test_the_interval_defaults_to_ten_seconds(value):
    assert vpkg_watch.interval(value) == 10.0


@pytest.mark.parametrize("value", [3, 2.5, "7"])
def test_the_interval_from_the_config(value):
    assert vpkg_watch.interval(value) == float(value)


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, True, "soon", [10], {}])
def test_a_bad_interval_is_refused_with_the_setting_named(value):
    with pytest.raises(ValueError, match="vpkg:job_check_interval"):
        vpkg_watch.interval(value)
