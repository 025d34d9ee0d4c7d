"""Several clusters under one master: which cluster a call is about, and records kept per cluster."""

import json
import pathlib

import pytest
import vpkg_records
import vpkg_reserve
import vpkg_site

GRAINS = {
    "vmh1": {"vpkg": {"node": "vmh1", "cluster": "prod"}},
    "vmh2": {"vpkg": {"node": "vmh2", "cluster": "prod"}},
    "dr-vmh1": {"vpkg": {"node": "vmh1", "cluster": "dr"}},  # the same node name in another cluster
    "dr2": {"vpkg": {"node": "dr2", "cluster": "dr"}},
    "old": {"os": "HP-UX"},  # no vpkg grains yet: belongs to no cluster
    "bad": {"vpkg": {"node": "x", "cluster": "-f"}},
}
CLUSTERS = vpkg_site.members(GRAINS)


def test_members_from_grains():
    assert CLUSTERS == {"prod": {"vmh1": "vmh1", "vmh2": "vmh2"}, "dr": {"vmh1": "dr-vmh1", "dr2": "dr2"}}


def test_a_named_cluster_must_exist():
    assert vpkg_site.choose(CLUSTERS, cluster="dr") == "dr"
    with pytest.raises(vpkg_site.Unresolved, match=r"no cluster test .*clusters: dr and prod"):
        vpkg_site.choose(CLUSTERS, cluster="test")


def test_a_node_tells_its_cluster_unless_two_clusters_have_it():
    assert vpkg_site.choose(CLUSTERS, node="vmh2") == "prod"
    assert vpkg_site.choose(CLUSTERS, node="dr2") == "dr"
    with pytest.raises(vpkg_site.Unresolved, match=r"node vmh1 is a node of clusters dr and prod: say which"):
        vpkg_site.choose(CLUSTERS, node="vmh1")
    with pytest.raises(vpkg_site.Unresolved, match="node nope is a node of none of the clusters dr and prod"):
        vpkg_site.choose(CLUSTERS, node="nope")
    assert vpkg_site.choose(CLUSTERS, node="vmh1", cluster="dr") == "dr"


def test_a_requesting_minion_speaks_for_its_own_cluster():
    assert vpkg_site.choose(CLUSTERS, node="vmh1", minion="dr-vmh1") == "dr"
    assert vpkg_site.choose(CLUSTERS, node="vmh1", minion="vmh1") == "prod"


def test_without_a_hint_only_a_single_cluster_is_chosen():
    assert vpkg_site.choose({"prod": CLUSTERS["prod"]}) == "prod"
    with pytest.raises(
        vpkg_site.Unresolved, match="vpkg.rebalance needs a cluster: give cluster= one of dr and prod"
    ):
        vpkg_site.choose(CLUSTERS, what="vpkg.rebalance")


def test_a_package_tells_its_cluster():
    views = {"prod": {"packages": {"slvm1": {}, "web": {}}}, "dr": {"packages": {"web": {}}}}
    assert vpkg_site.choose_by_package(views, "slvm1") == "prod"
    with pytest.raises(vpkg_site.Unresolved, match="package web is a package of clusters dr and prod"):
        vpkg_site.choose_by_package(views, "web")
    with pytest.raises(vpkg_site.Unresolved, match="package db is a package of none"):
        vpkg_site.choose_by_package(views, "db")


def test_a_move_never_crosses_clusters():
    said = vpkg_site.crossing(CLUSTERS, "prod", "dr2")
    assert "target dr2 is a node of cluster dr, not of cluster prod" in said and "nothing was changed" in said
    assert vpkg_site.crossing(CLUSTERS, "prod", "vmh2") is None
    assert vpkg_site.crossing(CLUSTERS, "dr", "vmh1") is None  # dr has a vmh1 of its own
    assert vpkg_site.crossing(CLUSTERS, "prod", "nowhere") is None  # the preflight says it is no node
    assert vpkg_site.crossing(CLUSTERS, "prod", None) is None


def _legacy_install(base, view_cluster="prod"):
    """What the single-cluster version left in <cachedir>/vpkg: a placement, a reservation, a view."""
    records = vpkg_records.Records(str(base))
    records.record_placement("vmh1", {"g1": "vmh1"})
    with vpkg_reserve.Registry(str(base)).locked() as session:
        session.add("g2", "vmh1", "vmh2", {"memory": 8})
    if view_cluster:
        (base / "view.json").write_text(
            json.dumps({"time": 0, "reporter": "vmh1", "cluster": {"name": view_cluster}})
        )
    return records


def test_upgrade_moves_a_single_cluster_install_into_its_cluster(tmp_path):
    base = tmp_path / "vpkg"
    _legacy_install(base)
    assert vpkg_site.adopt_legacy(str(base), CLUSTERS) == "prod"
    folder = vpkg_site.directory(str(base), "prod")
    assert vpkg_records.Records(folder).placement("vmh1")["packages"] == {"g1": "vmh1"}
    assert [e["package"] for e in vpkg_reserve.Registry(folder).entries()] == ["g2"]
    assert not (base / "placement").exists() and not (base / "view.json").exists()
    assert vpkg_records.Records(vpkg_site.directory(str(base), "dr")).placement("vmh1") is None
    assert vpkg_site.adopt_legacy(str(base), CLUSTERS) is None  # once only: nothing is left
    (base / "view.json").write_text(json.dumps({"time": 1, "cluster": {"name": "prod"}}))
    assert vpkg_site.adopt_legacy(str(base), CLUSTERS) == "prod"  # prod has a view.json already:
    assert (pathlib.Path(folder) / "view.json.legacy").exists()  # the old one is kept beside it
    for path in (base / "clusters", base / "clusters" / "prod"):
        assert path.stat().st_mode & 0o777 == 0o700


def test_upgrade_without_a_view_needs_a_single_cluster(tmp_path):
    base = tmp_path / "vpkg"
    _legacy_install(base, view_cluster=None)
    assert vpkg_site.adopt_legacy(str(base), CLUSTERS) is None  # which of two: cannot be told
    assert (base / "placement").exists()  # left where it was, nothing lost
    assert vpkg_site.adopt_legacy(str(base), {"prod": CLUSTERS["prod"]}) == "prod"
    folder = vpkg_site.directory(str(base), "prod")
    assert vpkg_records.Records(folder).placement("vmh1")["packages"] == {"g1": "vmh1"}
