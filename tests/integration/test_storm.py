"""A storm: for 60 seconds, 20 concurrent random moves and checks, with faults sprinkled in.

Each call is its own ``salt-run`` process (tests/integration/saltrun.py), as 20 operators would
start them. A fault thread injects the simulator's one-shot faults (a migration failing in a
random phase, a migration slowed down, a Serviceguard or Integrity VM command failing once).
After every completed call the invariants are checked from the hosts' own command output: every
guest On on at most one host, no capacity exceeded, and no package with switching off unless it
is being moved right now or a returned error said it was LEFT DISABLED and named the command that
restores it. The figures are printed (``-s``) and recorded in docs/reliability.md.
"""

import collections
import random
import shlex
import threading
import time

import pytest

from . import invariants, saltrun

pytestmark = pytest.mark.integration

SECONDS = 60
WORKERS = 20
SEED = 7
PACKAGES = ["g1", "g2", "big", "narrow", "w2", "w3", "pinned"]
NODES = ["vmh1", "vmh2", "vmh3", "vmh4"]
PHASES = ["Init", "Copy", "I/O quiesce", "Frozen", "Completion"]
# Not cmviewcl or hpvmstatus: the invariant checks read those and would consume the fault.
FAILING_COMMANDS = ["cmmodpkg", "cmhaltpkg", "cmrunpkg", "hpvmmigrate"]
RESTORE_MARKERS = ("restore protection with: ", "restore it with: ")


class Storm:
    def __init__(self, cluster, salt_master):
        self.cluster, self.master = cluster, salt_master
        self.rng = random.Random(SEED)
        self.lock = threading.Lock()
        self.moving = {}  # package -> number of move calls running for it
        # packages whose move the runner stopped waiting for ("no result": its host may still be
        # moving it, and then restores switching itself)
        self.unfinished = set()
        self.reported_off = {}  # package -> the last result comment that said LEFT DISABLED
        self.counts = dict.fromkeys(
            (
                "calls",
                "moves",
                "checks",
                "migrations",
                "successes",
                "refusals",
                "failures",
                "left_disabled",
                "faults",
            ),
            0,
        )
        self.problems = []
        self.reasons = collections.Counter()  # first words of each failure, for the figures
        self.end = time.monotonic() + SECONDS

    # -- the calls -------------------------------------------------------------------------------
    def worker(self):
        while time.monotonic() < self.end:
            with self.lock:
                package = self.rng.choice(PACKAGES)
                target = self.rng.choice([*NODES, None])
                is_move = self.rng.random() < 0.6
                if is_move:
                    self.moving[package] = self.moving.get(package, 0) + 1
            args = ["vpkg.move" if is_move else "vpkg.check", package] + ([target] if target else [])
            try:
                call = saltrun.start(self.master, *args).finish(timeout=300)
            except Exception as exc:  # noqa: BLE001 - recorded, fails the test below
                with self.lock:
                    self.problems.append(f"{args}: {exc!r}")
                continue
            finally:
                if is_move:
                    with self.lock:
                        self.moving[package] -= 1
            self.settle(args, call, is_move)

    def settle(self, args, call, is_move):
        data = call.data if isinstance(call.data, dict) else {}
        comment = str(data.get("comment", ""))
        with self.lock:
            self.counts["calls"] += 1
            self.counts["moves" if is_move else "checks"] += 1
            if "Traceback" in call.stdout + call.stderr or not data:
                self.problems.append(f"{args}: no clean answer: {call.stdout[-500:]} {call.stderr[-500:]}")
            elif data.get("result") is True:
                self.counts["successes"] += 1
            elif not is_move or data.get("steps") == [] or "refused" in comment:
                self.counts["refusals"] += 1
            else:
                self.counts["failures"] += 1
                self.reasons[comment[:90]] += 1
            if any(step.get("step") == "migrate" for step in data.get("steps") or []):
                self.counts["migrations"] += 1  # an online migration really ran (either outcome)
            if is_move and "no result" in comment:
                self.unfinished.add(args[1])
            if "LEFT DISABLED" in comment:
                self.counts["left_disabled"] += 1
                package = args[1]
                if f"cmmodpkg -e {package}" not in comment:
                    self.problems.append(f"{args}: LEFT DISABLED without the restoring command: {comment}")
                self.reported_off[package] = comment
            self.check_invariants(args)

    def check_invariants(self, args):
        """Called with the lock held: no other step is being judged meanwhile."""
        try:
            cluster, _ = invariants.check(self.cluster, settled=False)
        except AssertionError as exc:
            self.problems.append(f"after {args}: {exc}")
            return
        excused = {p for p, n in self.moving.items() if n > 0} | self.unfinished | set(self.reported_off)
        for name, pkg in cluster["packages"].items():
            if pkg["vm_name"] and not pkg["autorun"] and name not in excused:
                self.problems.append(f"after {args}: package {name} has switching off, silently")

    # -- the faults ------------------------------------------------------------------------------
    def faults(self):
        while time.monotonic() < self.end:
            time.sleep(self.rng.uniform(1.0, 3.0))
            kind = self.rng.choice(["migration-fail", "migration-slow", "command-fail"])
            guest = self.rng.choice(PACKAGES)
            if kind == "migration-fail":
                args = [kind, guest, self.rng.choice(PHASES), "--message", "storm: link lost"]
            elif kind == "migration-slow":
                args = [kind, guest, str(self.rng.choice([5, 10, 20]))]
            else:
                args = [
                    kind,
                    self.rng.choice(FAILING_COMMANDS),
                    "--message",
                    "storm: Unable to contact cmcld.",
                ]
                if self.rng.random() < 0.5:
                    args += ["--node", self.rng.choice(NODES)]
            ret = self.cluster.sgsim("fault", "add", *args, "--home", str(self.cluster.home))
            with self.lock:
                if ret.returncode == 0:
                    self.counts["faults"] += 1
                else:
                    self.problems.append(f"fault {args}: {ret.stderr}")


def wait_for_host_moves(salt_cli, seconds=300):
    """Until no VM host runs a ``vpkg.move`` job: a runner that stopped waiting (minion silent under
    the load) said the job may still be running; its host finishes the move on its own."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ret = salt_cli.run("saltutil.running", minion_tgt="vmh*")
        jobs = [j for jobs in (ret.data or {}).values() if isinstance(jobs, list) for j in jobs]
        if ret.returncode == 0 and not any(j.get("fun") == "vpkg.move" for j in jobs):
            return
        time.sleep(2)
    raise AssertionError(f"host moves still running after {seconds} s")


def restore_as_told(cluster, storm):
    """Run, as written, the commands each LEFT DISABLED error named, except where the operator must
    first find the guest (a placeholder in the command). Returns the packages left to the operator."""
    assert cluster.sgsim("fault", "clear", "--home", str(cluster.home)).returncode == 0
    unresolved = set()
    for package, comment in storm.reported_off.items():
        told = [comment.split(marker, 1)[1] for marker in RESTORE_MARKERS if marker in comment]
        lines = told[0].split("; then ") if told else []
        if not lines or any("<" in line for line in lines):
            unresolved.add(package)
            continue
        for line in lines:
            argv = shlex.split(line.split("    #")[0])
            out = cluster.run(NODES[0], argv)
            if out.returncode != 0:
                storm.problems.append(f"{package}: {line!r}, as the error said, failed: {out.stderr}")
    return unresolved


def test_storm_of_moves_and_checks_keeps_every_promise(cluster, salt_master, salt_cli):
    storm = Storm(cluster, salt_master)
    threads = [threading.Thread(target=storm.worker) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=storm.faults))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 400)
    assert not any(t.is_alive() for t in threads), "a storm call never returned"
    print("\nSTORM", storm.counts, "left disabled:", sorted(storm.reported_off))
    print("STORM unfinished:", sorted(storm.unfinished))
    for reason, count in storm.reasons.most_common(8):
        print(f"STORM failure x{count}: {reason}")
    assert not storm.problems, "\n".join(storm.problems[:20])

    # Settled: once the hosts' moves are over and the reported commands were run, every package
    # runs where its guest runs and switching is on, except where the operator must look first.
    wait_for_host_moves(salt_cli)
    unresolved = restore_as_told(cluster, storm)
    assert not storm.problems, "\n".join(storm.problems[:20])
    cl, on = invariants.check(cluster, settled=False)
    for name, pkg in cl["packages"].items():
        if name in unresolved:
            continue
        assert pkg["autorun"], name
        assert pkg["node"] is None or on.get(name) == [pkg["node"]], (name, pkg["node"], on.get(name))
    # Every worker completed calls and faults were injected. How many calls get as far as an online
    # migration depends on the machine: on a loaded two-CPU box 20 salt-run processes starve the
    # master and many calls end in "No cluster node answered" (honest, nothing changed, counted).
    assert storm.counts["calls"] >= WORKERS and storm.counts["faults"] > 0
