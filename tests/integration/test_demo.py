"""``make demo``, the README's first command, run as a person runs it: it must exit 0.

demo/run.py checks every step's output itself and exits 1 naming what did not behave. It starts its
own throwaway master and minions (free loopback ports), beside this package's daemons.
"""

import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_make_demo_behaves_as_it_says():
    ret = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "run.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert ret.returncode == 0, ret.stdout[-3000:] + ret.stderr[-2000:]
    assert "every step behaved as expected" in ret.stdout
