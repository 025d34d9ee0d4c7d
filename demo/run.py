"""``make demo``: a throwaway cluster, a real salt-master and three minions, one online move.

Everything runs on loopback against the simulator and is removed at the end.
"""

import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.lab import Lab  # noqa: E402
from sgsim.testing import SimCluster  # noqa: E402


def say(text):
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def show(result):
    out = (result.stdout or "").rstrip()
    if out:
        print(out)
    err = (result.stderr or "").strip()
    if result.returncode and err:
        print(err)
    return result


def main():
    base = pathlib.Path(tempfile.mkdtemp(prefix="vpkg-demo-"))
    started = time.monotonic()
    cluster = SimCluster.create(base / "sim", "demo")
    first = cluster.nodes[0]
    say(f"The simulated cluster, as `cmviewcl -v` shows it on {first}")
    print(cluster.run(first, ["cmviewcl", "-v"]).stdout.rstrip())
    say(f"Integrity VM guests on {first} (`hpvmstatus`)")
    print(cluster.run(first, ["hpvmstatus"]).stdout.rstrip())

    say("Starting a salt-master and one salt-minion per VM host on loopback")
    lab = Lab(cluster, base=base / "salt")
    try:
        lab.start()
        print(f"minions up: {', '.join(cluster.nodes)}")
        say("salt-run vpkg.status")
        show(lab.salt_run("vpkg.status", "--out=yaml", check=False))

        package, target = _pick_move(cluster)
        say(f"salt-run vpkg.move {package} {target} test=True   (the plan and every check)")
        show(lab.salt_run("vpkg.move", package, target, "test=True", check=False))
        say(f"salt-run vpkg.move {package} {target}")
        moved = show(lab.salt_run("vpkg.move", package, target, check=False))
        say(f"After the move: `cmviewcl -v -p {package}` and `hpvmstatus` on both hosts")
        print(cluster.run(target, ["cmviewcl", "-v", "-p", package]).stdout.rstrip())
        source = cluster.state_node(package) if hasattr(cluster, "state_node") else None
        for node in cluster.nodes:
            if node in (target, source) or source is None:
                print(f"-- {node}")
                print(cluster.run(node, ["hpvmstatus"]).stdout.rstrip())
        rc = moved.returncode
    finally:
        lab.stop()
        lab.cleanup()
    say(f"Done in {time.monotonic() - started:.1f} s; every process started by the demo is stopped.")
    return rc


def _pick_move(cluster):
    """The first running guest package and the first other node in its node list."""
    state = cluster.state()
    for name, pkg in state["packages"].items():
        node = pkg.get("node")
        if node and pkg.get("vm_name", name):
            for other in pkg.get("node_list", []):
                if other != node:
                    return name, other
    raise SystemExit("the demo cluster has no running guest package with a second node")


if __name__ == "__main__":
    sys.exit(main())
