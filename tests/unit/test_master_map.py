"""Serviceguard node names and minion ids: the same by default, a master-config map otherwise."""

import pytest
import vpkg_master
from publishing import PublishingClient


def test_identity_by_default():
    master = vpkg_master.Master({}, {})
    assert master.minion("xyzo1") == "xyzo1" and master.node("xyzo1") == "xyzo1"
    assert master.targets() == ("*", "glob")


def test_node_map_both_ways():
    master = vpkg_master.Master({}, {"node_map": {"xyzo1": "vmhost1.example.com", "xyzo2": "h2"}})
    assert master.minion("xyzo1") == "vmhost1.example.com"
    assert master.node("vmhost1.example.com") == "xyzo1"
    assert master.minion("xyzo3") == "xyzo3"  # unmapped nodes keep their name
    assert master.targets() == (["h2", "vmhost1.example.com"], "list")


def test_minions_glob_from_config():
    assert vpkg_master.Master({}, {"minions": "vmh*", "tgt_type": "glob"}).targets() == ("vmh*", "glob")


def _view(node="vmh1"):
    return {"name": "c", "nodes": {}, "packages": {"g1": {"node": node, "state": "running"}}}


def test_view_cache_keeps_a_view_for_max_age_only(tmp_path, monkeypatch):
    cache = vpkg_master.ViewCache(str(tmp_path / "vpkg"))
    assert cache.load(60) is None  # nothing kept yet
    cache.save(_view(), "vmh2")
    assert cache.load(60) == (_view(), "vmh2")
    assert oct((tmp_path / "vpkg" / "view.json").stat().st_mode & 0o777) == "0o600"
    later = vpkg_master.time.time() + 61
    monkeypatch.setattr(vpkg_master.time, "time", lambda: later)
    assert cache.load(60) is None  # too old
    assert cache.load(120) == (_view(), "vmh2")


def test_view_cache_records_a_move_and_forgets_on_drop(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    cache.save(_view(), "vmh2")
    cache.moved("g1", "vmh3")
    assert cache.load(60)[0]["packages"]["g1"]["node"] == "vmh3"
    cache.moved("nope", "vmh3")  # a package the view does not know: the view is not trusted
    assert cache.load(60) is None
    cache.drop()
    cache.drop()  # dropping twice is harmless


def test_view_cache_ignores_a_damaged_file(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    (tmp_path / "view.json").write_text('{"time": "x", "cluster": {}}')
    assert cache.load(60) is None
    (tmp_path / "view.json").write_text("not json")
    assert cache.load(60) is None


def test_a_live_view_is_kept_for_the_next_move(tmp_path):
    master = vpkg_master.Master({}, {}, vpkg_master.ViewCache(str(tmp_path)))
    master._client = _Client({"vmh3": _view("vmh2")})
    assert master.cluster() == (_view("vmh2"), "vmh3")
    assert master.cache.load(60) == (_view("vmh2"), "vmh3")


class _Client(PublishingClient):
    """Salt's LocalClient as ``Master`` uses it; records whom each job targeted.

    ``answers``: minion id -> view; ``silent``: minions that are there but do not answer.
    """

    def __init__(self, answers, silent=()):
        super().__init__()
        self.answers = answers
        self.known = (*answers, *silent)
        self.asked = []

    def run_job(self, tgt, fun, **kwargs):
        self.asked.append(tgt)
        return super().run_job(tgt, fun, **kwargs)

    def answer(self, minion_id, fun, arg, kwarg):
        value = self.answers.get(minion_id)
        return None if value is None else {"ret": value, "retcode": 0}


def test_the_last_reporter_is_asked_alone_first(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    cache.save(_view(), "vmh3")
    master = vpkg_master.Master({}, {"minions": "vmh*"}, cache)
    master._client = _Client({"vmh3": _view("vmh4"), "vmh1": _view("vmh9")})
    assert master.cluster() == (_view("vmh4"), "vmh3")
    assert master._client.asked == [["vmh3"]]


def test_a_silent_last_reporter_falls_back_to_every_minion(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    cache.save(_view(), "vmh3")
    master = vpkg_master.Master({}, {"minions": "vmh*", "view_timeout": 0.2}, cache)
    master._client = _Client({"vmh1": _view("vmh2")}, silent=["vmh3"])
    assert master.cluster() == (_view("vmh2"), "vmh1")
    assert master._client.asked == [["vmh3"], "vmh*"]
    assert cache.reporter() == "vmh1"


def test_a_last_reporter_outside_the_configured_minions_is_not_asked(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    cache.save(_view(), "other")
    master = vpkg_master.Master({}, {"minions": "vmh*"}, cache)
    master._client = _Client({"vmh1": _view("vmh2")})
    master.cluster()
    assert master._client.asked == ["vmh*"]


def _view_with(down):
    return {"nodes": {n: {"status": "down" if n == down else "up"} for n in ("n1", "n2")}, "packages": {}}


def test_cluster_view_from_a_node_that_is_up():
    master = vpkg_master.Master({}, {"node_map": {"n1": "m1", "n2": "m2"}})
    master._client = _Client({"m1": _view_with(down="n1"), "m2": _view_with(down="n1")})
    assert master.cluster()[1] == "m1"  # any answer will do for a status
    assert master.cluster(from_up_node=True)[1] == "m2"  # not the view of a node that is down
    master._client = _Client({"m1": _view_with(down="n1")})
    with pytest.raises(vpkg_master.NoClusterView, match="m1: its node n1 is not up"):
        master.cluster(from_up_node=True)


def test_a_last_reporter_that_is_down_is_not_taken_for_an_up_node(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    cache.save(_view_with(down="n1"), "m1")
    master = vpkg_master.Master({}, {"node_map": {"n1": "m1", "n2": "m2"}}, cache)
    master._client = _Client({"m1": _view_with(down="n1"), "m2": _view_with(down="n1")})
    assert master.cluster(from_up_node=True)[1] == "m2"
    assert master._client.asked == [["m1"], ["m1", "m2"]]
    assert cache.reporter() == "m2"


def test_with_no_last_reporter_the_preferred_node_is_asked_alone_first(tmp_path):
    cache = vpkg_master.ViewCache(str(tmp_path))
    master = vpkg_master.Master({}, {"node_map": {"n1": "m1", "n2": "m2"}}, cache)
    master._client = _Client({"m1": _view("vmh1"), "m2": _view("vmh2")})
    assert master.cluster(prefer="n2") == (_view("vmh2"), "m2")
    assert master._client.asked == [["m2"]]  # the node's minion, through the map
    assert cache.reporter() == "m2"
    master._client = _Client({"m1": _view("vmh1"), "m2": _view("vmh2")})
    assert master.cluster(prefer="n1") == (_view("vmh2"), "m2")  # the last reporter comes first
    assert master._client.asked == [["m2"]]


def test_a_silent_preferred_node_falls_back_to_every_minion_without_a_cache():
    master = vpkg_master.Master({}, {"minions": "vmh*", "view_timeout": 0.2})
    master._client = _Client({"vmh1": _view("vmh2")}, silent=["vmh3"])
    assert master.cluster(prefer="vmh3") == (_view("vmh2"), "vmh1")
    assert master._client.asked == [["vmh3"], "vmh*"]
