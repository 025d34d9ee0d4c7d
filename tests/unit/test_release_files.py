"""One version, the declared licence, a well-formed changelog, an API reference for every loader module."""

import configparser
import importlib.metadata
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
INIT = ROOT / "pkg" / "saltext" / "vpkg" / "__init__.py"
TYPES = ("added", "changed", "deprecated", "removed", "fixed", "security")
LOADER_FOLDERS = {"_modules": "modules", "_runners": "runners", "_states": "states", "_beacons": "beacons",
                  "_output": "output", "_grains": "grains"}  # fmt: skip


def version():
    (found,) = re.findall(r'^__version__ = "([^"]+)"$', INIT.read_text(), re.M)
    return found


def setup_cfg(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def _tracked_python():
    skip = {".venv", "build", "dist", "docs", ".git"}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if not any(p in skip or p.startswith(".venv") for p in parts):
            yield path


def test_one_version_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+", version())
    for cfg in ("setup.cfg", "sim/setup.cfg"):
        assert setup_cfg(ROOT / cfg)["metadata"]["version"] == "attr: saltext.vpkg.__version__", cfg
    literals = [p for p in _tracked_python() if re.search(r"^__version__\s*=", p.read_text(), re.M)]
    assert literals == [INIT]


def test_the_licence_is_the_declared_one():
    for cfg in ("setup.cfg", "sim/setup.cfg"):
        meta = setup_cfg(ROOT / cfg)["metadata"]
        assert (meta["license"], meta["license_files"]) == ("Apache-2.0", "LICENSE"), cfg
    text = (ROOT / "LICENSE").read_text()
    assert (ROOT / "sim" / "LICENSE").resolve() == (ROOT / "LICENSE").resolve()
    assert text.split("\n", 2)[:2] == [" " * 33 + "Apache License", " " * 27 + "Version 2.0, January 2004"]
    assert "Copyright (c)" not in text  # the licence, not anybody's copyright line
    terms = _terms(text)
    assert [int(n) for n in re.findall(r"^   (\d)\. ", terms, re.M)] == list(range(1, 10))
    # Salt is under the same licence and ships its text: the terms must be the same, word for word.
    shipped = [f for f in importlib.metadata.distribution("salt").files or () if f.name == "LICENSE"]
    if shipped:
        assert _terms(shipped[0].read_text()) == terms


def _terms(text):
    start = text.index("TERMS AND CONDITIONS FOR USE")
    return text[start : text.index("END OF TERMS AND CONDITIONS", start)]


FRAGMENT = re.compile(r"(?P<issue>[1-9]\d*)\.(?P<type>[a-z]+)\.md")


@pytest.mark.parametrize("path", sorted((ROOT / "changelog").glob("*")), ids=lambda p: p.name)
def test_changelog_fragment_is_well_formed(path):
    match = FRAGMENT.fullmatch(path.name)
    assert match, f"{path.name}: name it <issue>.<type>.md"
    assert match["type"] in TYPES, f"{path.name}: type must be one of {', '.join(TYPES)}"
    text = path.read_text()
    assert text.endswith("\n") and text.strip(), path.name
    assert "\n\n" not in text.strip(), f"{path.name}: one paragraph"
    assert not re.match(r"\s*(#|[-*] )", text), f"{path.name}: plain text, no heading or bullet"


def test_the_top_release_of_the_changelog_is_the_version():
    releases = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == version()
    assert len(releases) == len(set(releases))


def test_the_api_reference_covers_every_loader_module():
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", (ROOT / "docs/ref/api.md").read_text(), re.M))
    modules = {
        f"saltext.vpkg.{kind}.{p.stem}"
        for folder, kind in LOADER_FOLDERS.items()
        for p in (ROOT / folder).glob("*.py")
        if p.name != "__init__.py"
    }
    assert len(modules) == 9 and documented == modules
