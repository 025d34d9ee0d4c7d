"""Serviceguard node names and minion ids: the same by default, a master-config map otherwise."""

import vpkg_master


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
