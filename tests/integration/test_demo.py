"""``make demo``, the README's first command, run as a person runs it: it must exit 0.

demo/run.py checks every step's output itself and exits 1 naming what did not behave. It starts its
own throwaway master and minions (free loopback ports), beside this package's daemons. ``make demo
PROXY=1`` too: salt-proxies over one real sshd per VM host (root; skipped without, failed on CI).
"""

import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_demo(*args):
    ret = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert ret.returncode == 0, ret.stdout[-3000:] + ret.stderr[-2000:]
    assert "every step behaved as expected" in ret.stdout
    return ret.stdout


def test_make_demo_behaves_as_it_says():
    assert "VM hosts reached through salt-minions" in run_demo()


def test_make_demo_proxy_behaves_as_it_says(ssh_account):
    assert "VM hosts reached through salt-proxy minions over SSH" in run_demo("--proxy")
