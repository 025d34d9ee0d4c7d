"""docs/tutorial.md, run command by command against a lab it starts, so the tutorial cannot go stale.

The page's conventions (its opening comment says the same): in a ``console`` block every ``$ ``
line is a command and the lines under it are its sample output, each of which must appear in
the real output in order; comments right after a block (``expect:``, ``expect-rc:``, ``retry:``,
``requires:``, ``not-run:``) apply to its last command. The commands run in a scratch folder that
mirrors the checkout with symlinks, so the lab's ``.lab`` folder is the test's own.
"""

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n((?:<!--.*?-->\n)*)", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*([\w-]+)\s*:\s*(.*?)\s*-->", re.S)
DECIMAL = re.compile(r" *\d+\.\d+")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
WILDCARD = "\u2026"  # the one-character ellipsis


# -- reading the page ---------------------------------------------------------------------------
class Command:
    def __init__(self, text, line):
        self.text, self.line = text, line
        self.sample = []
        self.directives = {}

    def __repr__(self):
        return f"docs/tutorial.md:{self.line}: {self.text}"


def parse(markdown):
    """The commands of every ``console``/``bash`` block, in page order, with samples and directives."""
    commands = []
    for match in FENCE.finditer(markdown):
        language, body, comments = match.groups()
        if language not in ("console", "bash"):
            continue
        first_line = markdown.count("\n", 0, match.start(2)) + 1
        block = []
        pending = None
        for offset, raw in enumerate(body.splitlines()):
            if pending is not None:  # a continued command line
                pending.text = pending.text[:-1].rstrip() + " " + raw.strip()
                pending = pending if raw.endswith("\\") else None
                continue
            is_command = (
                raw.startswith("$ ") if language == "console" else raw.strip() and not raw.startswith("#")
            )
            if is_command:
                command = Command(raw[2:] if language == "console" else raw.strip(), first_line + offset)
                block.append(command)
                pending = command if raw.endswith("\\") else None
            elif block and language == "console":
                block[-1].sample.append(raw)
        directives = {}
        for key, value in DIRECTIVE.findall(comments):
            directives.setdefault(key, []).append(value)
        if block:
            block[-1].directives = directives
            for command in block[:-1]:
                command.directives = {k: v for k, v in directives.items() if k in ("not-run", "requires")}
        commands.extend(block)
    return commands


def _normal(line):
    return DECIMAL.sub(" #", line.rstrip())


def first_missing(sample, output):
    """The first sample line that does not appear, in order, in ``output``; None when all do."""
    lines = [_normal(line) for line in output.splitlines()]
    index = 0
    for wanted in sample:
        if wanted.strip() in ("", "..."):
            continue
        parts = _normal(wanted).split(WILDCARD)
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in parts) + "$")
        while index < len(lines) and not pattern.match(lines[index]):
            index += 1
        if index == len(lines):
            return wanted
        index += 1
    return None


# -- running it ---------------------------------------------------------------------------------
class Shell:
    """Just enough of a shell for the page: ``source .venv/bin/activate``, ``export``, commands."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if k not in ("SALT_CONFIG_DIR", "VPKG_LAB")}
        self.env["PWD"] = str(workdir)

    def expand(self, word):
        return VARIABLE.sub(lambda m: self.env.get(m.group(1) or m.group(2), ""), word)

    def run(self, text, timeout=300):
        words = shlex.split(text)
        if words[:1] in (["source"], ["."]) and words[1].endswith("bin/activate"):
            # the venv running this test is the one `make install` made
            bindir = pathlib.Path(sys.executable).parent
            self.env["VIRTUAL_ENV"] = str(bindir.parent)
            self.env["PATH"] = f"{bindir}{os.pathsep}{self.env.get('PATH', '')}"
            return 0, ""
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = self.expand(value)
            return 0, ""
        argv = [self.expand(w) for w in words]
        done = subprocess.run(
            argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return done.returncode, done.stdout + done.stderr


def _scratch_checkout():
    # Short on purpose: Salt's Unix sockets under .lab/salt/<daemon>/sock must fit in 107 bytes,
    # which pytest's tmp_path does not leave room for.
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="vpkg-tut-")) / "salt-vpkg"
    workdir.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".lab", ".git"):
            (workdir / entry.name).symlink_to(entry)
    return workdir


def _runner_has(function):
    name = function.split(".", 1)[1]
    return (
        re.search(rf"^def {re.escape(name)}\(", (ROOT / "_runners" / "vpkg.py").read_text(), re.M) is not None
    )


def _verdict(command, rc, output):
    """What is wrong with this run of ``command``, or None."""
    want_rc = int(command.directives.get("expect-rc", ["0"])[-1])
    if rc != want_rc:
        return f"exit status {rc}, expected {want_rc}"
    missing = first_missing(command.sample, output)
    if missing is not None:
        return f"sample line not in the output: {missing!r}"
    for text in command.directives.get("expect", []):
        if text not in output:
            return f"expected text not in the output: {text!r}"
    return None


@pytest.mark.integration
def test_every_command_of_the_tutorial():
    commands = parse(TUTORIAL.read_text())
    shell = Shell(_scratch_checkout())
    skipped = []
    try:
        for command in commands:
            if "not-run" in command.directives:
                continue
            needs = [f for f in command.directives.get("requires", []) if not _runner_has(f)]
            if needs:
                skipped.append(f"{command!r} (needs {', '.join(needs)})")
                continue
            deadline = time.monotonic() + float(command.directives.get("retry", ["0"])[-1])
            while True:
                rc, output = shell.run(command.text)
                problem = _verdict(command, rc, output)
                if problem is None or time.monotonic() >= deadline:
                    break
                time.sleep(1)
            assert problem is None, f"{command!r}\n{problem}\n--- output ---\n{output}"
    finally:
        shell.run(f"{sys.executable} -m demo.labctl down", timeout=60)
        lab_left = (shell.workdir / ".lab").exists()
        shutil.rmtree(shell.workdir.parent, ignore_errors=True)  # symlinks only: the checkout stays
    assert not lab_left, "the tutorial's last step leaves no lab behind"
    if skipped:
        warnings.warn("tutorial commands skipped: " + "; ".join(skipped), stacklevel=1)


# -- the page's structure and the matcher (no lab needed) -----------------------------------------
def test_the_tutorial_covers_the_story():
    commands = parse(TUTORIAL.read_text())
    texts = [c.text for c in commands if "not-run" not in c.directives]
    assert texts[0] == "source .venv/bin/activate"
    assert texts[1] == "python -m demo.labctl up" and texts[-1] == "python -m demo.labctl down"
    for needed in (
        "salt-run vpkg.status --out=vpkg",
        "salt-run vpkg.move app1 vmhost3 --out=vpkg",
        "salt-run vpkg.move db1 vmhost2 --out=vpkg",
        "salt-run vpkg.evacuate vmhost3 --out=vpkg",
        "salt-run vpkg.restore vmhost3 --out=vpkg",
        "salt-call -c .lab/salt/vmhost3/conf vpkg.maintenance start",
        "salt-call -c .lab/salt/vmhost3/conf vpkg.maintenance end",
    ):
        assert needed in texts, needed
    refused = next(c for c in commands if c.text == "salt-run vpkg.move db1 vmhost2 --out=vpkg")
    assert refused.directives["expect-rc"] == ["1"] and refused.sample
    assert all(c.sample or c.directives or c.text.startswith(("export", "source")) for c in commands), (
        "every command shows or states what it should print"
    )


def test_the_matcher():
    output = "header\napp1: Copy 25%\nok  migrate   10.81 s  fine\nfooter (as seen from vmhost2)\n"
    assert first_missing(["app1: Copy 25%", "...", "ok  migrate    0.81 s  fine"], output) is None
    assert first_missing([f"footer (as seen from {WILDCARD})"], output) is None
    assert first_missing(["ok  migrate    0.81 s  fine", "app1: Copy 25%"], output) == "app1: Copy 25%"
    assert first_missing(["app1: Copy 50%"], output) == "app1: Copy 50%"
    assert first_missing(["[....]"], "[....]") is None  # dots in bars are not wildcards


def test_the_parser_reads_commands_samples_and_directives():
    page = (
        "```console\n$ one \\\n  --flag\nout 1\n$ two\nout 2\n```\n<!-- expect-rc: 1 -->\n<!-- retry: 5 -->\n"
        "```bash\nthree\n# comment\n```\n<!-- not-run: because -->\n```yaml\nkey: value\n```\n"
    )
    one, two, three = parse(page)
    assert (one.text, one.sample, one.directives) == ("one --flag", ["out 1"], {})
    assert (two.text, two.sample, two.directives) == ("two", ["out 2"], {"expect-rc": ["1"], "retry": ["5"]})
    assert (three.text, three.directives) == ("three", {"not-run": ["because"]})
    assert one.line == 2 and three.line == 11
