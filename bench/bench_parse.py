"""Benchmark: parse a 16-node x 300-package ``cmviewcl -v -f line`` output.

Goal (issue 3): median of 20 parses at most 30 ms. The text comes from the simulator
(``sgsim generate`` + ``cmviewcl -v -f line`` on a simulated host) when it is available, else it
is synthesised here per docs/formats.md. Prints the figures; asserts nothing about time.

    .venv/bin/python bench/bench_parse.py [--nodes 16] [--packages 300] [--runs 20] [--synthetic]
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_utils"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
import vpkg_sgparse  # noqa: E402


def _load_sgsim():
    """Import sgsim from the checkout (sim/), as tests/conftest.py does: an installed copy may be stale."""
    common.load_sgsim()
    from sgsim import generate, testing

    return generate, testing


def from_simulator(nodes, packages):
    """The text printed by the simulator's cmviewcl, or None when the simulator cannot do it."""
    try:
        generate, testing = _load_sgsim()
    except (ImportError, OSError) as err:
        print(f"simulator unavailable ({err}); synthesising the text")
        return None
    with tempfile.TemporaryDirectory() as tmpname:
        doc = generate.build(nodes, packages)
        cluster = testing.SimCluster.create(pathlib.Path(tmpname) / "sim", doc)
        out = cluster.run(cluster.nodes[0], ["cmviewcl", "-v", "-f", "line"], timeout=120)
        if out.returncode != 0:
            print(f"simulator cmviewcl failed ({out.stderr.strip()}); synthesising the text")
            return None
        return out.stdout


def synthesise(nodes, packages):
    """A ``cmviewcl -v -f line`` text of the requested size, in the forms of docs/formats.md."""
    names = [f"node{i:02d}" for i in range(nodes)]
    out = ["name=bench", "status=up", "weight:memory|name=memory", "weight:memory|default=0"]
    for i, n in enumerate(names):
        used = sum(4 for p in range(packages) if p % nodes == i)
        out += [f"node:{n}|name={n}", f"node:{n}|status=up", f"node:{n}|state=running"]
        for cap, value, u in (("memory", 4096, used), ("package_limit", 40, used // 4)):
            p = f"node:{n}|capacity:{cap}|"
            out += [f"{p}name={cap}", f"{p}value={value}", f"{p}used={u}", f"{p}available={value - u}"]
    for p in range(packages):
        pkg = f"vpkg{p:04d}"
        pre = f"package:{pkg}|"
        owner = names[p % nodes]
        out += [
            f"{pre}name={pkg}",
            f"{pre}type=failover",
            f"{pre}status=up",
            f"{pre}state=running",
            f"{pre}autorun=enabled",
            f"{pre}owner={owner}",
            f"{pre}priority={(p % 150 + 1) * 20}",
            f"{pre}failover_policy=configured_node",
            f"{pre}failback_policy=manual",
            f"{pre}vm_name={pkg}",
        ]
        for w, v in (("memory", 4), ("package_limit", 1)):
            out += [f"{pre}weight:{w}|name={w}", f"{pre}weight:{w}|value={v}"]
        for order, k in enumerate((p, p + 1, p + 2), 1):
            n = names[k % nodes]
            out += [
                f"{pre}node:{n}|name={n}",
                f"{pre}node:{n}|order={order}",
                f"{pre}node:{n}|status=up",
                f"{pre}node:{n}|switching=enabled",
            ]
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--synthetic", action="store_true", help="do not try the simulator")
    args = parser.parse_args()

    text = None if args.synthetic else from_simulator(args.nodes, args.packages)
    source = "simulator"
    if text is None:
        text, source = synthesise(args.nodes, args.packages), "synthesised (formats.md)"
    cluster = vpkg_sgparse.parse_cluster(text)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        vpkg_sgparse.parse_cluster(text)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(
        f"input: {source}, {len(text.splitlines())} lines, {len(text) / 1024:.0f} KiB, "
        f"{len(cluster['nodes'])} nodes, {len(cluster['packages'])} packages"
    )
    print(
        f"parse_cluster: median {median:.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms "
        f"over {args.runs} runs (goal <= 30 ms: {'met' if median <= 30 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
