"""What reaching a simulated VM host over ssh costs (the harness of tests/sshhost.py).

One sshd on 127.0.0.1 for a node of the seed cluster, reached as the harness's account (uid-0
alias, /bin/sh). Measured: the first command over a new multiplexed connection (connection
set-up included), then 20 ``cmviewcl -v -f line`` over that one connection (ControlMaster), the
same 20 run locally, 20 ``true`` over the connection (ssh's own share), and 5 commands each on a
new connection. Needs root (as the tests do). No goal: figures to plan with.
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import common  # noqa: E402

RUNS = 20


def timed(argv):
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False, timeout=60)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed, proc.stdout


def figure(name, times):
    total = sum(times)
    med = statistics.median(times) * 1000
    print(f"{name:<48} total {total:6.3f} s   median {med:6.1f} ms   max {max(times) * 1000:6.1f} ms")


def main():
    if os.geteuid() != 0:
        print("bench_ssh: needs root (the harness logs in a uid-0 account); skipped")
        return 0
    common.load_sgsim()
    import sshhost

    from sgsim.testing import SimCluster

    sshhost.ensure_openssh()
    user = sshhost.ensure_account()
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        doc = common.example_doc("seed")
        cluster = SimCluster.create(tmp / "sim", doc)
        node = cluster.nodes[0]
        key = sshhost.make_client_key(tmp / "client")
        host = sshhost.SshHost(tmp / "host", key, user=user, name=node, path_dirs=[cluster.bindir(node)])
        control = tmp / "cm"
        control.mkdir(mode=0o700)
        mux = ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/cm-%C", "-o", "ControlPersist=60"]
        command = [cluster.command(node, "cmviewcl"), "-v", "-f", "line"]
        host.start()
        try:
            first, _ = timed(host.ssh_argv(*command, options=mux))
            over_ssh = [timed(host.ssh_argv(*command, options=mux)) for _ in range(RUNS)]
            local = [timed(command) for _ in range(RUNS)]
            if {out for _, out in over_ssh} != {out for _, out in local}:
                raise RuntimeError("cmviewcl printed something else over ssh")
            true_mux = [timed(host.ssh_argv("true", options=mux))[0] for _ in range(RUNS)]
            fresh = [timed(host.ssh_argv(*command))[0] for _ in range(5)]
        finally:
            subprocess.run(host.ssh_argv(options=[*mux, "-O", "exit"]), capture_output=True, check=False)
            host.stop()
    print(common.machine())
    print(f"{'first command, new connection (set-up included)':<48} {first:6.3f} s")
    figure(f"{RUNS} x cmviewcl -v -f line, one connection", [t for t, _ in over_ssh])
    figure(f"{RUNS} x cmviewcl -v -f line, locally", [t for t, _ in local])
    figure(f"{RUNS} x true, one connection (ssh's share)", true_mux)
    figure("5 x cmviewcl -v -f line, a new connection each", fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
