"""``make demo``: the tutorial's story, unattended, on a throwaway lab (docs/tutorial.md).

A simulated demo cluster (three VM hosts, six guest packages), a real salt-master and one
salt-minion per VM host on loopback; then: the cluster picture, an online move with its progress
lines, a move that capacity refuses, a VM host evacuated and restored, the picture after. Every
step's outcome is checked; the exit status is 0 only when everything behaved as expected. Every
process the demo started is stopped and its folder removed, whatever happens.

``--proxy`` (``make demo PROXY=1``): the same story with each VM host reached as on HP-UX, where
no salt-minion runs: one real sshd per simulated host on 127.0.0.1 (tests/sshhost.py, the tests'
own harness) and one salt-proxy (proxytype ``vmhost``, docs/proxy.md) per host, whose every command
goes over that sshd. It needs root (each sshd logs in ``vpkgsim``, a uid-0 account the harness
creates) and OpenSSH (installed with apt-get when missing).
"""

import argparse
import contextlib
import importlib.util
import os
import pathlib
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

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
            try:
                for line in proc.stdout:
                    if not NOISE.match(line):
                        print(line, end="", flush=True)
                        lines.append(line)
            except BaseException:  # Ctrl-C, SIGTERM: do not wait for the step to finish first
                proc.kill()
                raise
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


def tell(story, cluster, ssh_hosts=None):
    first = cluster.nodes[0]
    placement = {name: pkg.get("node") for name, pkg in cluster.state()["packages"].items()}
    if ssh_hosts is None:
        say(f"Serviceguard's own view on {first} (the simulator's cmviewcl)")
        print(cluster.run(first, ["cmviewcl"]).stdout.rstrip())
    else:
        host = ssh_hosts[first]
        say(
            f"Serviceguard's own view on {first}, over its sshd (the simulator's cmviewcl)\n"
            f"$ ssh -p {host.port} {host.destination} cmviewcl"
        )
        view = subprocess.run(
            host.ssh_argv("cmviewcl"), capture_output=True, text=True, timeout=60, check=False
        )
        print((view.stdout or view.stderr).rstrip())
        story.check(f"cmviewcl over ssh to {first}: exit status {view.returncode}", view.returncode == 0)

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


def load_sshhost():
    """tests/sshhost.py, the tests' sshd harness: the one implementation, not a copy.

    It is a pytest helper module (fixtures, and pytest.skip / pytest.fail where root is missing);
    the demo needs none of that, nor pytest itself: unless pytest is loaded already, a stand-in
    ``pytest`` is in ``sys.modules`` only while the module loads (its decorators leave the fixtures
    plain functions; its skip and fail raise RuntimeError, which the demo reports). Loaded from its
    file, not as ``tests.sshhost``: tests/ is no package, and an installed ``tests`` would win.
    """
    if "sshhost" in sys.modules:
        return sys.modules["sshhost"]

    def refuse(reason, **_):
        raise RuntimeError(reason)

    def fixture(*args, **_):
        return args[0] if args and callable(args[0]) else (lambda function: function)

    stand_in = types.ModuleType("pytest")
    stand_in.fixture, stand_in.skip, stand_in.fail = fixture, refuse, refuse
    spec = importlib.util.spec_from_file_location("sshhost", ROOT / "tests" / "sshhost.py")
    module = importlib.util.module_from_spec(spec)
    real = sys.modules.get("pytest")
    sys.modules["pytest"] = real or stand_in
    try:
        spec.loader.exec_module(module)
    finally:
        if real is None:
            del sys.modules["pytest"]
    sys.modules["sshhost"] = module
    return module


def ssh_prerequisites(sshhost):
    """Why this machine cannot run the SSH variant (None if it can), before anything starts."""
    if os.geteuid() == 0:
        return None  # sshhost.ensure_openssh installs what is missing with apt-get
    missing = sshhost._missing_tools()  # the harness's own list of what it runs
    root = (
        "it needs root: each simulated VM host's sshd logs in vpkgsim, a uid-0 alias of root "
        "(shell /bin/sh) that the demo creates if it is missing"
    )
    if missing:
        return (
            f"make demo PROXY=1 needs OpenSSH's server and client, and this machine lacks "
            f"{', '.join(missing)}.\nInstall them (Debian/Ubuntu: sudo apt-get install openssh-server "
            f"openssh-client; no ssh service needs to run). And {root}.\nThen: sudo make demo PROXY=1"
        )
    try:
        who = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        who = f"uid {os.geteuid()}"
    return f"make demo PROXY=1 cannot run as {who}: {root}.\nRun: sudo make demo PROXY=1"


def start_ssh_hosts(stack, sshhost, base):
    """One sshd per VM host of the cluster, started; ``stack`` stops them all."""
    if sshhost._missing_tools():
        say("Installing openssh-server and openssh-client with apt-get (no ssh service is started)")
    sshhost.ensure_openssh()
    try:
        pwd.getpwnam(sshhost.USER)
    except KeyError:
        say(
            f"Creating the account {sshhost.USER}: a uid-0 alias of root with shell /bin/sh and no "
            "password, which only the demo's own sshds (127.0.0.1, its key only) let in; it stays"
        )
    user = sshhost.ensure_account()
    key = sshhost.make_client_key(base / "client")

    def start(cluster):
        return stack.enter_context(sshhost.started_ssh_hosts(cluster, base, key, user))

    return start


def reached_over_ssh(story, ssh_hosts):
    """Each sshd's log shows its proxy's login: the proxies' commands go over SSH, not around it.

    Read once every proxy has answered test.ping (its ``vmhost.ping``, a command over SSH) and
    before the demo's own ``ssh ... cmviewcl``: every login by then is a proxy's.
    """
    for node, host in ssh_hosts.items():
        log = host.log_file.read_text(errors="replace") if host.log_file.exists() else ""
        logins = log.count(f"Accepted publickey for {host.user}")
        story.check(f"{node}'s sshd logged no login of its proxy ({host.log_file})", logins > 0)


def stop_on_sigterm():
    """SIGTERM (a killed ``make``, a CI timeout) unwinds like Ctrl-C: the finally blocks clean up."""

    def unwind(signum, _frame):
        signal.signal(signum, signal.SIG_IGN)  # a second one must not cut the clean-up short
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proxy", action="store_true", help="VM hosts as salt-proxies over real SSH (make demo PROXY=1)"
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    sshhost = None
    if args.proxy:
        sshhost = load_sshhost()
        problem = ssh_prerequisites(sshhost)
        if problem:
            print(f"The demo cannot run here: {problem}", file=sys.stderr)
            return 1
    started = time.monotonic()
    base = pathlib.Path(tempfile.mkdtemp(prefix="vpkg-demo-"))
    story = None
    try:
        with contextlib.ExitStack() as stack:
            ssh_hosts = None
            if args.proxy:
                lab = make_lab(base, ssh_hosts=start_ssh_hosts(stack, sshhost, base / "ssh"))
                ssh_hosts = lab.ssh_hosts
                where = ", ".join(f"{node} {host.host}:{host.port}" for node, host in ssh_hosts.items())
                user = next(iter(ssh_hosts.values())).user
                say(
                    f"VM hosts reached through salt-proxy minions over SSH (sshd on {where}; account {user}):"
                    "\n   starting a salt-master and one salt-proxy (proxytype vmhost) per VM host"
                )
            else:
                lab = make_lab(base)
                nodes = ", ".join(lab.cluster.nodes)
                say(
                    "VM hosts reached through salt-minions: "
                    f"starting a salt-master and one salt-minion per VM host ({nodes})"
                )
            stack.callback(lab.stop)
            lab.start()
            story = Story(lab)
            if ssh_hosts is not None:
                reached_over_ssh(story, ssh_hosts)
            tell(story, lab.cluster, ssh_hosts)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"\nThe demo could not run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted: every process the demo started is stopped.", file=sys.stderr)
        return 130
    finally:
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
