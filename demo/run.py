"""``make demo``: the tutorial's story, unattended, on a throwaway lab (docs/tutorial.md).

A simulated demo cluster (three VM hosts, six guest packages), a real salt-master and one
salt-minion per VM host on loopback; then: the cluster picture, an online move with its progress
lines, a move that capacity refuses, a VM host evacuated and restored, the picture after. Every
step's outcome is checked; the exit status is 0 only when everything behaved as expected. Every
process the demo started is stopped and its folder removed, whatever happens.
"""

import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.labctl import make_lab  # noqa: E402  (loads sgsim from the checkout's sim/)

TTY = sys.stdout.isatty()
# Salt 3008 prints these on stderr after every salt-run; they are about Salt, not about us.
NOISE = re.compile(r"^(\[WARNING \] )?unclosed (Runner|MasterMinion) <")


def say(text):
    print(f"\n\033[1m== {text}\033[0m" if TTY else f"\n== {text}", flush=True)


class Story:
    """Runs the steps, streams their output, and remembers every expectation that failed."""

    def __init__(self, lab):
        self.lab = lab
        self.failures = []

    def salt_run(self, title, *args, rc=0, expect=()):
        """``salt-run ARGS --out=vpkg``, printed as it comes (progress lines included), then checked."""
        say(f"{title}\n$ salt-run {' '.join(args)} --out=vpkg")
        argv = [str(pathlib.Path(sys.executable).parent / "salt-run"), "-c", str(self.lab.master_conf)]
        argv += [*args, "--out=vpkg", "--force-color" if TTY else "--no-color"]
        lines = []
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                if not NOISE.match(line):
                    print(line, end="", flush=True)
                    lines.append(line)
        output = re.sub(r"\x1b\[[0-9;]*m", "", "".join(lines))
        if proc.returncode != rc:
            self.failures.append(f"salt-run {' '.join(args)}: exit status {proc.returncode}, expected {rc}")
        for text in expect:
            if text not in output:
                self.failures.append(f"salt-run {' '.join(args)}: {text!r} not in its output")
        return output

    def check(self, what, ok):
        if not ok:
            self.failures.append(what)


def tell(story, cluster):
    first = cluster.nodes[0]
    placement = {name: pkg.get("node") for name, pkg in cluster.state()["packages"].items()}
    say(f"Serviceguard's own view on {first} (the simulator's cmviewcl)")
    print(cluster.run(first, ["cmviewcl"]).stdout.rstrip())

    story.salt_run(
        "The cluster at a glance: a bar per capacity, the weight of each guest",
        "vpkg.status",
        expect=["3 of 3 nodes up; 6 of 6 packages running"],
    )
    story.salt_run(
        "An online move: app1 from vmhost1 to vmhost3, with its progress lines",
        "vpkg.move",
        "app1",
        "vmhost3",
        expect=["app1: Copy 25%", "app1: vmhost1 -> vmhost3  moved", "ok    restore_switching"],
    )
    story.check(
        "app1 runs on vmhost3 after its move", cluster.state()["packages"]["app1"]["node"] == "vmhost3"
    )
    story.salt_run(
        "A move that capacity refuses: db1 (memory 24) to vmhost2 (16 free); nothing changes",
        "vpkg.move",
        "db1",
        "vmhost2",
        rc=1,
        expect=["REFUSED", "does not cover the weight 24"],
    )
    story.check("db1 still runs on vmhost1", cluster.state()["packages"]["db1"]["node"] == "vmhost1")
    story.salt_run(
        "Maintenance of vmhost3: the plan first (nothing changes)",
        "vpkg.plan",
        "evacuate=vmhost3",
        expect=["moves, in order (3)", "left on vmhost3: none"],
    )
    story.salt_run(
        "Evacuate vmhost3: one online migration per VM host at a time",
        "vpkg.evacuate",
        "vmhost3",
        expect=["OK  evacuate vmhost3: 3 moved, 0 failed, 0 not placed", "left on vmhost3: none"],
    )
    left = [p for p, pkg in cluster.state()["packages"].items() if pkg.get("node") == "vmhost3"]
    story.check(f"vmhost3 is empty after its evacuation (left: {left})", not left)
    story.salt_run(
        "Maintenance done: restore vmhost3's guests",
        "vpkg.restore",
        "vmhost3",
        expect=["OK  restore vmhost3: 3 moved"],
    )
    story.salt_run("The cluster after the story", "vpkg.status", expect=["6 of 6 packages running"])
    if re.search(r"^def history\(", (ROOT / "_runners" / "vpkg.py").read_text(), re.M):
        story.salt_run(
            "Who did what: the audit trail", "vpkg.history", "package=app1", expect=["vmhost1 -> vmhost3"]
        )
    now = {name: pkg.get("node") for name, pkg in cluster.state()["packages"].items()}
    story.check(
        f"every guest back where it was, app1 on vmhost3 (now: {now})",
        now == dict(placement, app1="vmhost3"),
    )


def main():
    started = time.monotonic()
    base = pathlib.Path(tempfile.mkdtemp(prefix="vpkg-demo-"))
    lab = story = None
    try:
        lab = make_lab(base)
        say(f"Starting a salt-master and one salt-minion per VM host ({', '.join(lab.cluster.nodes)})")
        lab.start()
        story = Story(lab)
        tell(story, lab.cluster)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"\nThe demo could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        if lab is not None:
            lab.stop()
        shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - started
    if story.failures:
        say(f"The demo did NOT behave as expected ({elapsed:.0f} s):")
        for failure in story.failures:
            print(f"  - {failure}")
        return 1
    say(
        f"Done in {elapsed:.0f} s: every step behaved as expected; every process the demo started is stopped."
    )
    print("Next: docs/tutorial.md walks the same story by hand, with the reactor and the audit trail.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
