"""``salt-run`` as a background process: several at once, or one to interrupt (cancel, restart)."""

import json
import pathlib
import subprocess
import sys

SALT_RUN = pathlib.Path(sys.executable).parent / "salt-run"


def last_json(text):
    """The return: the last document salt-run printed (with --out=json it prints only that one)."""
    decoder, pos, last = json.JSONDecoder(), 0, None
    text = text.strip()
    while pos < len(text):
        last, pos = decoder.raw_decode(text, pos)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return last


class Background:
    def __init__(self, proc):
        self.proc = proc
        self.returncode = self.stdout = self.stderr = self.data = None

    def finish(self, timeout=240):
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        self.returncode = self.proc.returncode
        self.data = last_json(self.stdout)
        return self


def start(salt_master, *args):
    """Start ``salt-run ARGS`` against ``salt_master``; ``.finish()`` waits and parses its return."""
    return Background(
        subprocess.Popen(
            [str(SALT_RUN), "-c", str(salt_master.config_dir), "--out=json", "--log-level=quiet", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
