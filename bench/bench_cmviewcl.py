"""Wall time of one simulated ``cmviewcl -v -f line`` on 16 nodes x 300 packages, process start included.

300 packages in all is Serviceguard's maximum cluster. The command is run as a process through an
installed host command folder, exactly as the Salt modules run it; the figure is the median of 20
runs after 2 warm-up runs. Goal: at most 150 ms.
"""

import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

GOAL_MS = 150.0
RUNS = 20


def main():
    common.load_sgsim()
    from sgsim import generate
    from sgsim.testing import SimCluster

    with tempfile.TemporaryDirectory(prefix="bench-cmviewcl-") as tmp:
        cluster = SimCluster.create(tmp, generate.build(16, 300, capacities=4, seed=1))
        command = [cluster.command(cluster.nodes[0], "cmviewcl"), "-v", "-f", "line"]
        times, size = [], 0
        for i in range(RUNS + 2):
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, check=False)
            elapsed = (time.perf_counter() - start) * 1000
            if proc.returncode != 0:
                print(f"cmviewcl failed: {proc.stderr.decode()}")
                return 1
            size = proc.stdout.count(b"\n")
            if i >= 2:
                times.append(elapsed)
    median = statistics.median(times)
    verdict = "meets" if median <= GOAL_MS else "MISSES"
    print(
        f"cmviewcl -v -f line, 16 nodes x 300 packages x 4 capacities ({size} lines), process start included"
    )
    spread = f"min {min(times):.1f}, max {max(times):.1f}"
    print(f"  median of {RUNS}: {median:.1f} ms ({spread}); goal <= {GOAL_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
