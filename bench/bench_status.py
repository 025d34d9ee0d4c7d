"""Issue 13's benchmark: ``salt-run vpkg.status`` of 1 to 4 clusters of 16 nodes x 300 packages.

One throwaway salt-master and, per cluster, one salt-minion (the cluster's first node: a status
asks one VM host per cluster, so the other 15 would only idle); each minion's grains name its
cluster (``_grains/vpkg.py``), which is how the runner tells the clusters apart. For k = 1..4 the
master's ``vpkg:minions`` lists the minions of the first k clusters, and ``vpkg.status`` (no
cluster named: every cluster, asked in parallel) runs ``--runs`` times through ``salt-run``
(process start included) and through a warm ``salt.runner.RunnerClient``; the figure is the
median. Goal: 4 clusters in at most 1.5 x the time of one. Beside them, Salt's own floor:
``test.ping`` to the same minions (one job, k minions answering).

    .venv/bin/python bench/bench_status.py [--runs 5] [--clusters 4]
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import common  # noqa: E402

GOAL_RATIO = 1.5
ROOT = pathlib.Path(__file__).resolve().parent.parent


def _args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--packages", type=int, default=300)
    return parser.parse_args()


class _OneNode:
    """One node of a simulated cluster, whatever name it is asked by."""

    def __init__(self, sim, node):
        self.sim, self.node = sim, node

    def bindir(self, _name):
        return self.sim.bindir(self.node)


def _site_lab(lab_class, sims):
    """A ``demo/lab.py`` Lab with one minion per cluster: ``c<i>-node01`` for cluster i."""

    class SiteLab(lab_class):
        def __init__(self, base):
            super().__init__(sims[0], base=base)
            self.members = {f"c{i + 1}-{sim.nodes[0]}": (sim, sim.nodes[0]) for i, sim in enumerate(sims)}

        def minion_config(self, minion):
            sim, node = self.members[minion]
            self.cluster = _OneNode(sim, node)  # Lab.minion_config(id) asks its cluster for bindir(id)
            config = super().minion_config(minion)
            config.update({"vpkg.node": node, "grains_dirs": [str(ROOT / "_grains")]})
            self.cluster = sims[0]
            return config

        def start(self, timeout=120):
            try:
                self.master_conf = self._write(self.master_id, "master", self.master_config())
                self._spawn("salt-master", self.master_conf, self.master_id)
                for minion in self.members:
                    self._spawn(
                        "salt-minion", self._write(minion, "minion", self.minion_config(minion)), minion
                    )
                self._wait_for(set(self.members), timeout)
            except BaseException:
                self.stop()
                raise
            return self

        def _wait_for(self, wanted, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                out = self.salt("*", "grains.item", "vpkg", "--out=yaml", "--timeout=5", check=False)
                try:
                    answers = yaml.safe_load(out.stdout) or {}
                except yaml.YAMLError:
                    answers = {}
                if not isinstance(answers, dict):  # the master is not up yet
                    answers = {}
                ready = {
                    m
                    for m, g in answers.items()
                    if isinstance(g, dict) and (g.get("vpkg") or {}).get("cluster")
                }
                if wanted <= ready:
                    return
                time.sleep(1)
            raise RuntimeError(
                f"minions {sorted(wanted)} did not come up within {timeout} s (logs in {self.base})"
            )

        def target(self, count):
            """``vpkg:minions``: the minions of the first ``count`` clusters."""
            config = self.master_config()
            config["vpkg"] = {"timeout": 60, "minions": sorted(self.members)[:count], "tgt_type": "list"}
            self._write(self.master_id, "master", config)
            return config

    return SiteLab


def _cli(lab, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = lab.salt_run("vpkg.status", "--out=json", check=False)
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            raise RuntimeError(f"vpkg.status failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    return times, yaml.safe_load(out.stdout)


def _client(lab, runs):
    import salt.config
    import salt.runner

    opts = salt.config.master_config(str(lab.master_conf / "master"))
    client = salt.runner.RunnerClient(opts)
    client.cmd("vpkg.status", print_event=False)  # warm: the loaders and the LocalClient
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ret = client.cmd("vpkg.status", print_event=False)
        times.append(time.perf_counter() - start)
        if not isinstance(ret, dict) or ret.get("result") is False:
            raise RuntimeError(f"vpkg.status failed: {str(ret)[:500]}")
    return times


def _cell(times):
    return f"{statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})"


def _fanout(lab, count, runs):
    """Salt's own floor: ``test.ping`` to the minions of ``count`` clusters through a warm LocalClient.

    A status asks one VM host per cluster; on 2 CPUs, k minions answering one job already take
    longer than one does, whatever the job runs.
    """
    import salt.client
    import salt.config

    local = salt.client.LocalClient(mopts=salt.config.master_config(str(lab.master_conf / "master")))
    minions = sorted(lab.members)[:count]
    local.cmd(minions, "test.ping", tgt_type="list", timeout=30)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answered = local.cmd(minions, "test.ping", tgt_type="list", timeout=30)
        times.append(time.perf_counter() - start)
        if sorted(answered) != minions:
            raise RuntimeError(f"test.ping: {sorted(answered)} answered, not {minions}")
    local.destroy()
    return times


def main():
    args = _args()
    common.load_sgsim()
    from sgsim import generate
    from sgsim.testing import SimCluster

    print(common.machine())
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        sims = []
        for i in range(args.clusters):
            doc = generate.build(args.nodes, args.packages, capacities=4, seed=i + 1)
            doc["cluster"] = f"site{i + 1}"
            sims.append(SimCluster.create(pathlib.Path(tmp) / f"sim{i + 1}", doc))
        lab = _site_lab(common.load_lab(), sims)(pathlib.Path(tmp) / "lab")
        rows, figures = [], {}
        try:
            lab.start()
            for count in range(1, args.clusters + 1):
                lab.target(count)
                cli, ret = _cli(lab, args.runs)
                client = _client(lab, args.runs)
                ping = _fanout(lab, count, args.runs)
                shown = len(ret.get("clusters") or [ret])
                if shown != count:
                    raise RuntimeError(f"{count} cluster(s) targeted, {shown} shown")
                figures[count] = tuple(statistics.median(t) for t in (cli, client, ping))
                rows.append([str(count)] + [_cell(t) for t in (cli, client, ping)])
        finally:
            lab.stop()
    print(
        f"vpkg.status of k clusters of {args.nodes} nodes x {args.packages} packages, median of {args.runs}"
    )
    common.print_table(
        ["clusters", "salt-run (process start included)", "warm RunnerClient", "test.ping, one per cluster"],
        rows,
    )
    last = args.clusters
    for i, what in ((0, "salt-run"), (1, "RunnerClient")):
        ratio = figures[last][i] / figures[1][i]
        print(
            f"  {what}: {last} clusters / 1 cluster = {ratio:.2f} (goal <= {GOAL_RATIO}): "
            f"{common.verdict(ratio <= GOAL_RATIO)}"
        )
    print(f"  Salt's floor, test.ping to {last} minions / to 1: {figures[last][2] / figures[1][2]:.2f}")
    print(common.machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
