"""What VM hosts reached by ``vmhost`` proxies cost: memory, a fresh proxy's first command, commands/s.

A throwaway salt-master and one sshd per simulated VM host on 127.0.0.1 (``bench/proxylab.py``,
``tests/sshhost.py``), a generated cluster of ``--hosts`` VM hosts (16) and 3 packages per host.
No salt-minion runs. Needs root (the sshds log in a uid-0 account, as the SSH tests do).

1. Memory: ``--hosts`` separate salt-proxy processes (ids ``sp-<node>``, ``proxy:`` settings in
   each one's config file), then, after they are stopped, one deltaproxy (``metaproxy:
   deltaproxy``, ids ``dp-<node>``, each id's ``proxy:`` settings in its pillar, as
   tests/integration/proxy/test_deltaproxy.py has it). Each is measured once every id has
   answered a ``serviceguard.cluster``, that round's job processes have ended, and every id has
   answered a second one, 3 s after it: the sum over every process of each salt-proxy's process
   tree of RSS (``/proc/PID/smaps_rollup``) and of PSS (pages shared between the processes of a
   tree, forked from one parent, counted once). Apart: job processes still running then (Salt
   daemonises them: they are in no tree; under a deltaproxy each waits 30 s for a return that
   times out) and how long until they end, and the ssh ControlMasters, one per VM host either
   way (they daemonise too).
2. A fresh proxy's first command: ``--fresh`` times over, one salt-proxy is started and, as soon
   as its ``salt/minion/<id>/start`` event is on the master bus, sent ``serviceguard.cluster``
   (or, every other start, ``test.ping`` first) with a warm ``LocalClient`` in this process, then
   5 more of each. The proxy's ``init`` sets up its SSH connection before that event, so the first
   command's extra cost is Salt's (module loading in the job), not SSH's; the connection set-up
   on the command path is timed apart: the proxy's ControlMaster is ended (SIGTERM by pid) and the
   next ``serviceguard.cluster`` has to start a new one.
3. Over one multiplexed connection, the product's own transport (``_utils/vpkg_ssh.Connection``,
   as a proxy runs it): its set-up (``connect()``, ``ssh -M -N -f``), then ``--commands``
   sequential ``true`` and ``cmviewcl -v -f line``, the same ``cmviewcl`` run locally
   (``vpkg_command.run``, as a minion runs it), and ``true`` from 4 threads at once: commands per
   second.

No goals were set for these: figures to plan with (the goal column says so).

    .venv/bin/python bench/bench_proxy.py [--hosts 16] [--fresh 4] [--commands 50]
"""

import argparse
import contextlib
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import common  # noqa: E402
import proxylab  # noqa: E402
import proxyreport  # noqa: E402
from proxyreport import SETTLE  # noqa: E402

NEXT = 5  # commands after the first, per fresh proxy


def _args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=16, help="simulated VM hosts")
    parser.add_argument("--fresh", type=int, default=4, help="fresh starts of one salt-proxy")
    parser.add_argument("--commands", type=int, default=50, help="commands per sequential series")
    parser.add_argument("--start-timeout", type=float, default=400, help="seconds for the proxies to start")
    return parser.parse_args()


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    value = fn(*args, **kwargs)
    return time.monotonic() - start, value


class Bench:
    def __init__(self, lab, args):
        self.lab = lab
        self.args = args
        self.local = None

    def client(self):
        if self.local is None:
            import salt.client

            self.local = salt.client.get_local_client(str(self.lab.master_conf / "master"))
        return self.local

    def ask(self, ids, fun, timeout=120):
        """``fun`` on every id (a list); raise unless each answered as expected."""
        answers = self.client().cmd(list(ids), fun, tgt_type="list", timeout=timeout)
        bad = {i: answers.get(i) for i in ids if not _answered(fun, answers.get(i))}
        if bad:
            raise RuntimeError(f"{fun} not answered by {sorted(bad)}: {str(bad)[:500]}")

    def one(self, proxy_id, fun):
        seconds, answer = timed(self.client().cmd, proxy_id, fun, timeout=60)
        if not _answered(fun, answer.get(proxy_id)):
            raise RuntimeError(f"{proxy_id} {fun}: {str(answer)[:500]}")
        return seconds

    # -- 1. memory -----------------------------------------------------------------------------
    def memory(self, proxy_ids):
        """What the salt-proxy processes ``proxy_ids`` (and the lab's ssh ControlMasters) hold, KiB.

        Resident: each one's process tree, less job processes. Job processes (titled
        ``ProcessPayload``) are counted apart, wherever they are parented: one that daemonised
        is in no tree.
        """
        resident, jobs = set(), set()
        for proxy_id in proxy_ids:
            proc = self.lab.proxy_procs[proxy_id]
            mine = set(proxylab.process_tree(proc.pid)) | set(self.lab.processes(self._marker(proxy_id)))
            for pid in mine:
                (jobs if _is_job(pid) else resident).add(pid)
        salt = [proxylab.memory_kb(pid) for pid in resident]
        job = [proxylab.memory_kb(pid) for pid in jobs]
        ssh = [proxylab.memory_kb(pid) for pid in self.lab.ssh_masters()]
        return {
            "processes": len(resident),
            "rss": sum(r for r, _ in salt),
            "pss": sum(p for _, p in salt),
            "jobs": len(jobs),
            "jobs_rss": sum(r for r, _ in job),
            "jobs_pss": sum(p for _, p in job),
            "job_pids": sorted(jobs),
            "ssh_masters": len(ssh),
            "ssh_rss": sum(r for r, _ in ssh),
            "ssh_pss": sum(p for _, p in ssh),
        }

    def _marker(self, proxy_id):
        return f"{self.lab.base / proxy_id / 'conf'}"

    def _lingering(self, fig):
        """Seconds until the job processes seen by ``memory`` have ended (at most 60)."""
        t0 = time.monotonic()
        _wait_gone(fig["job_pids"], 60)
        left = [pid for pid in fig["job_pids"] if os.path.exists(f"/proc/{pid}")]
        fig["jobs_ended"] = None if left else time.monotonic() - t0

    def separate(self, proxies):
        t0 = time.monotonic()
        for pid, node in proxies.items():
            self.lab.spawn_proxy(pid, node)
        self.lab.wait_for(proxies, self.args.start_timeout)
        fig = self._measured(proxies, list(proxies), time.monotonic() - t0)
        for pid in proxies:
            self.lab.stop_proxy(pid)
        return fig

    def delta(self, controller, proxies):
        t0 = time.monotonic()
        self.lab.spawn_deltaproxy(controller, proxies)
        self.lab.wait_for(proxies, self.args.start_timeout)
        fig = self._measured(proxies, [controller], time.monotonic() - t0)
        self.lab.stop_proxy(controller)
        return fig

    def _measured(self, proxies, processes, started):
        """One ``serviceguard.cluster`` each, then none running: one more each, and the memory.

        The first round (and waiting for its job processes to end) keeps the start-up's
        ``test.ping`` jobs out of the figure.
        """
        self.ask(proxies, "serviceguard.cluster")
        _wait_gone(self._jobs(processes), 90)
        self.ask(proxies, "serviceguard.cluster")
        time.sleep(SETTLE)
        fig = self.memory(processes)
        fig["started"] = started
        self._lingering(fig)
        return fig

    def _jobs(self, processes):
        return [pid for p in processes for pid in self.lab.processes(self._marker(p)) if _is_job(pid)]

    # -- 2. a fresh proxy's first command ------------------------------------------------------
    def fresh(self, proxy_id, node, opts):
        rows = []
        for n in range(self.args.fresh):
            first_fun, other = (
                ("serviceguard.cluster", "test.ping") if n % 2 == 0 else ("test.ping", "serviceguard.cluster")
            )
            with common.EventRecorder(opts) as rec:
                t0 = time.monotonic()
                self.lab.spawn_proxy(proxy_id, node)
                ready = _wait_event(rec, f"salt/minion/{proxy_id}/start", self.args.start_timeout)
            row = {"start": ready - t0, "order": first_fun}
            row[f"first {first_fun}"] = self.one(proxy_id, first_fun)
            row[f"first {other}"] = self.one(proxy_id, other)  # first of its kind, not first job
            row["next serviceguard.cluster"] = [
                self.one(proxy_id, "serviceguard.cluster") for _ in range(NEXT)
            ]
            row["next test.ping"] = [self.one(proxy_id, "test.ping") for _ in range(NEXT)]
            reconnect = []
            for _ in range(2):
                masters = self.lab.ssh_masters()
                for pid in masters:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                _wait_gone(masters)
                reconnect.append(self.one(proxy_id, "serviceguard.cluster"))
                if len(self.lab.ssh_masters()) != 1:
                    raise RuntimeError(f"{proxy_id}: no new ssh ControlMaster after the reconnect")
            row["reconnect"] = reconnect
            self.lab.stop_proxy(proxy_id)
            rows.append(row)
        return rows


def _is_job(pid):
    return any(b"ProcessPayload" in a for a in proxylab.cmdline(pid))


def _answered(fun, value):
    if fun == "test.ping":
        return value is True
    return isinstance(value, dict) and "packages" in value


def _wait_event(rec, tag, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, got, _ in list(rec.events):
            if got == tag:
                return t
        time.sleep(0.01)
    raise RuntimeError(f"no {tag} event within {timeout} s")


def _wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


# -- 3. one multiplexed connection ------------------------------------------------------------
def transport(host, bindir, commands):
    """Set-up and commands per second over one ``vpkg_ssh.Connection`` to ``host`` (an SshHost)."""
    utils = str(common.ROOT / "_utils")
    sys.path.insert(0, utils)
    try:
        import vpkg_command
        import vpkg_ssh
    finally:
        sys.path.remove(utils)
    cmviewcl = [str(pathlib.Path(bindir) / "cmviewcl"), "-v", "-f", "line"]
    conn = vpkg_ssh.Connection(
        host.host,
        port=host.port,
        user=host.user,
        identity_file=str(host.identity_file),
        known_hosts_file=str(host.known_hosts_file),
        connect_timeout=10,
    )

    def run(argv, local=False):
        out = vpkg_command.run(argv, 60) if local else conn.run(argv, 60)
        if out["retcode"] != 0:
            raise RuntimeError(f"{argv[0]} exited {out['retcode']}: {out['stderr']}")
        return out["stdout"]

    try:
        setup, _ = timed(conn.connect)
        run(["true"])  # the first session over the new master
        figs = {"setup": setup}
        figs["true"] = [timed(run, ["true"])[0] for _ in range(commands)]
        over = [timed(run, cmviewcl) for _ in range(commands)]
        here = [timed(run, cmviewcl, local=True) for _ in range(commands)]
        if {out for _, out in over} != {out for _, out in here}:
            raise RuntimeError("cmviewcl printed something else over ssh")
        figs["cmviewcl"] = [t for t, _ in over]
        figs["cmviewcl_local"] = [t for t, _ in here]
        per_thread = max(1, commands // 4)

        def worker():
            for _ in range(per_thread):
                run(["true"])

        threads = [threading.Thread(target=worker) for _ in range(4)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figs["parallel"] = (4 * per_thread, time.monotonic() - start)
        return figs
    finally:
        conn.close()


def _progress(what, began):
    print(f"  {what} measured at {time.monotonic() - began:.0f} s; {common.machine()}", flush=True)


def main():
    args = _args()
    if os.geteuid() != 0:
        print("bench_proxy: needs root (the sshds log in a uid-0 account); skipped")
        return 0
    common.load_sgsim()
    from sgsim import generate
    from sgsim.testing import SimCluster

    base = pathlib.Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    lab = bench = None
    began = time.monotonic()
    try:
        cluster = SimCluster.create(base / "sim", generate.build(args.hosts, 3 * args.hosts, seed=1))
        nodes = list(cluster.nodes)
        lab = proxylab.proxy_lab_class()(cluster, base=base / "lab", proxies={}, minions=False)
        print(f"machine at start: {common.machine()}", flush=True)
        lab.start_hosts()
        separate = proxylab.proxy_ids(nodes, prefix="sp-")
        delta = proxylab.proxy_ids(nodes, prefix="dp-")
        fresh_id = "fresh-" + nodes[0]
        lab.add_pillars({pid: lab.pillar_for(node) for pid, node in separate.items()})
        lab.add_pillars({fresh_id: lab.pillar_for(nodes[0])})
        lab.add_pillars(lab.deltaproxy_pillars(delta))
        lab.start()
        bench = Bench(lab, args)
        import salt.config

        opts = salt.config.master_config(str(lab.master_conf / "master"))
        conn = transport(lab.hosts[nodes[1]], cluster.bindir(nodes[1]), args.commands)
        _progress("transport", began)
        fresh = bench.fresh(fresh_id, nodes[0], opts)
        _progress("fresh proxies", began)
        fig_separate = bench.separate(separate)
        _progress("separate proxies", began)
        fig_delta = bench.delta("dp-controller", delta)
        proxyreport.report(args, fig_separate, fig_delta, fresh, conn)
        print(f"machine at end: {common.machine()}")
        return 0
    finally:
        if bench is not None and bench.local is not None:
            bench.local.destroy()
        if lab is not None:
            lab.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
