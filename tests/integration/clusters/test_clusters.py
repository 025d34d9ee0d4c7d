"""Two clusters under one master, operated at once with nothing crossing (issue 13)."""

import concurrent.futures
import json
import pathlib

import pytest

from .. import invariants

pytestmark = pytest.mark.integration


def _where(sim):
    return {name: pkg["node"] for name, pkg in invariants.check(sim)[0]["packages"].items()}


def test_the_grains_say_cluster_and_node(clusters, salt_cli):
    ret = salt_cli.run("-C", "G@vpkg:cluster:dr", "grains.item", "vpkg", minion_tgt="")
    assert ret.returncode == 0, ret.stdout
    assert {m: g["vpkg"] for m, g in ret.data.items()} == {
        "d-vmh1": {"node": "vmh1", "cluster": "dr"},
        "d-dr2": {"node": "dr2", "cluster": "dr"},
        "d-dr3": {"node": "dr3", "cluster": "dr"},
    }


def test_status_shows_every_cluster_then_one(clusters, salt_run):
    ret = salt_run.run("vpkg.status")
    assert ret.returncode == 0, ret.stdout
    assert [c["cluster"] for c in ret.data["clusters"]] == ["dr", "prod"]
    summary = {s["cluster"]: s for s in ret.data["summary"]}
    assert (summary["prod"]["nodes_up"], summary["prod"]["packages_running"]) == (3, 3)
    assert summary["dr"]["capacity"]["memory"] == {"used": 12.0, "capacity": 48.0}
    drawn = salt_run.run("vpkg.status", "--out=vpkg", "--no-color")
    lines = drawn.stdout.splitlines()
    assert lines[0].startswith("dr  3/3 nodes up, 3/3 packages running"), drawn.stdout
    assert lines[1].startswith("prod  3/3 nodes up"), drawn.stdout
    assert "cluster dr  up" in drawn.stdout and "cluster prod  up" in drawn.stdout
    one = salt_run.run("vpkg.status", "cluster=dr")
    assert one.data["cluster"] == "dr" and set(one.data["packages"]) == {"b1", "b2", "b3"}


def test_a_node_name_in_both_clusters_needs_the_cluster(clusters, salt_run):
    before = {name: _where(sim) for name, sim in clusters.items()}
    ret = salt_run.run("vpkg.evacuate", "vmh1")
    # salt-run prints a SaltInvocationError as "Passed invalid arguments: ..." (and exits 0)
    assert "Passed invalid arguments: node vmh1 is a node of clusters dr and prod" in ret.stdout, ret.stdout
    assert {name: _where(sim) for name, sim in clusters.items()} == before
    ret = salt_run.run("vpkg.plan", "evacuate=vmh1", "cluster=dr")
    assert ret.returncode == 0 and {m["package"] for m in ret.data["moves"]} == {"b1"}, ret.stdout


def test_a_move_never_crosses_clusters(clusters, salt_run):
    before = {name: _where(sim) for name, sim in clusters.items()}
    ret = salt_run.run("vpkg.move", "a3", "dr3")
    assert ret.returncode != 0 and ret.data["result"] is False
    assert "target dr3 is a node of cluster dr, not of cluster prod" in ret.data["comment"]
    assert {name: _where(sim) for name, sim in clusters.items()} == before


def test_two_clusters_operated_at_once(clusters, salt_master, audit_file):
    prod, dr = clusters["prod"], clusters["dr"]
    run, other = salt_master.salt_run_cli(timeout=240), salt_master.salt_run_cli(timeout=240)
    before = set(_history(run))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # one CLI each: not shareable
        evacuated = pool.submit(run.run, "vpkg.evacuate", "vmh1", "cluster=prod")
        moved = pool.submit(other.run, "vpkg.move", "b3", "dr3")
        evacuated, moved = evacuated.result(), moved.result()
    assert evacuated.returncode == 0, evacuated.stdout
    assert set((evacuated.data or {}).get("moved") or ()) == {"a1", "a2"}, evacuated.stdout
    assert moved.returncode == 0 and moved.data["result"] is True, moved.stdout
    # Each cluster's invariants hold (every package up once, capacities respected); nothing crossed.
    assert _where(prod)["a1"] in ("vmh2", "vmh3") and _where(prod)["a2"] in ("vmh2", "vmh3")
    assert _where(dr) == {"b1": "vmh1", "b2": "dr2", "b3": "dr3"}
    for sim in (prod, dr):
        assert all(pkg["autorun"] for pkg in invariants.check(sim)[0]["packages"].values())
    # Each cluster's history shows only its own operations.
    prod_ops = {(e["operation"], e.get("package"), e.get("node")) for e in _history(run, "prod")} - before
    dr_ops = {(e["operation"], e.get("package"), e.get("node")) for e in _history(run, "dr")} - before
    assert {p for _, p, _ in prod_ops} <= {"a1", "a2", None} and prod_ops
    assert {p for _, p, _ in dr_ops} == {"b3"}
    # The restore goes back in its own cluster.
    restored = run.run("vpkg.restore", "vmh1", "cluster=prod")
    assert restored.returncode == 0 and _where(prod) == {"a1": "vmh1", "a2": "vmh1", "a3": "vmh2"}


def _history(run, cluster=None):
    args = ["vpkg.history", "--out=json"] + ([f"cluster={cluster}"] if cluster else [])
    ret = run.run(*args)
    entries = ret.data["entries"]
    return entries if cluster else [json.dumps(e, sort_keys=True) for e in entries]


def test_records_of_a_single_cluster_install_are_used_after_the_upgrade(clusters, salt_master, salt_run):
    prod = clusters["prod"]
    assert salt_run.run("vpkg.move", "a3", "vmh3").data["result"] is True
    # What the single-cluster version wrote when it evacuated vmh2: its placement, and its kept view.
    base = pathlib.Path(salt_master.config["cachedir"]) / "vpkg"
    for folder in (base / "clusters" / "prod" / "placement", base / "placement"):
        assert not (folder / "vmh2.json").exists()
    (base / "placement").mkdir(mode=0o700)
    record = {"node": "vmh2", "since": 0, "requested_by": None, "packages": {"a3": "vmh2"}}
    (base / "placement" / "vmh2.json").write_text(json.dumps(record))
    (base / "view.json").write_text(
        json.dumps({"time": 0, "reporter": "p-vmh1", "cluster": {"name": "prod"}})
    )
    restored = salt_run.run("vpkg.restore", "vmh2")
    assert restored.returncode == 0 and restored.data["moved"] == ["a3"], restored.stdout
    assert _where(prod)["a3"] == "vmh2"
    assert not (base / "placement").exists()  # moved into prod's folder, then used and forgotten
    assert (base / "clusters" / "prod" / "view.json.legacy").exists()  # prod had a view: kept aside
