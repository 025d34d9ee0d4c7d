"""A loader module synced without ``_utils`` (and no pip-installed package) says which sync is missing."""

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("_modules/serviceguard.py", "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"),
        ("_modules/hpvm.py", "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"),
        ("_modules/vpkg.py", "run salt '<minion>' saltutil.sync_utils (or saltutil.sync_all)"),
        ("_runners/vpkg.py", "run salt-run saltutil.sync_utils (or saltutil.sync_all)"),
    ],
)
def test_a_module_without_its_utils_names_the_missing_sync(monkeypatch, path, hint):
    # As after saltutil.sync_runners (or sync_modules) alone: the helpers are on no path, and
    # salt-vpkg is not pip-installed either.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if pathlib.Path(p) != ROOT / "_utils"])
    for name in [n for n in sys.modules if n.startswith("vpkg_")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "saltext", None)
    spec = importlib.util.spec_from_file_location("vpkg_sync_hint", ROOT / path)
    with pytest.raises(ImportError) as err:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    message = str(err.value)
    assert hint in message
    assert message.startswith("salt-vpkg helper vpkg_")  # the helper that was looked for, by name
