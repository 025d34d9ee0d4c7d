"""``vpkg_fresh``: helpers a sync replaced are imported again; untouched ones stay the same objects.

A copy of ``_utils/vpkg_fresh.py`` in a folder of its own, with two made-up helpers beside it, so
the real helpers this test process imported are never touched.
"""

import importlib
import importlib.util
import pathlib
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = ("vpkg_zz_base", "vpkg_zz_user")


@pytest.fixture
def synced(tmp_path, monkeypatch):
    """The folder, the loaded copy of vpkg_fresh, and an import of both helpers through it."""
    shutil.copy(ROOT / "_utils" / "vpkg_fresh.py", tmp_path / "vpkg_fresh.py")
    (tmp_path / "vpkg_zz_base.py").write_text("VALUE = 1\n")
    (tmp_path / "vpkg_zz_user.py").write_text("import vpkg_zz_base\n")  # a sibling imported by name
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("vpkg_zz_fresh", tmp_path / "vpkg_fresh.py")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    for name in NAMES:
        monkeypatch.delitem(sys.modules, name, raising=False)

    def load():
        with fresh.helpers():
            return [importlib.import_module(name) for name in NAMES]

    yield tmp_path, fresh, load
    for name in NAMES:
        sys.modules.pop(name, None)


def test_nothing_changed_keeps_the_same_modules(synced):
    _, fresh, load = synced
    first = load()
    again = load()
    assert len(again) == len(first) and all(a is b for a, b in zip(again, first, strict=True))
    assert fresh.forget_replaced() == []


def test_a_replaced_helper_is_imported_again_with_its_siblings(synced):
    folder, fresh, load = synced
    base, user = load()
    (folder / "vpkg_zz_base.py").write_text("VALUE = 22\n")
    new_base, new_user = load()
    assert new_base.VALUE == 22 and base.VALUE == 1
    # The untouched sibling is imported again too, and holds the new copy, not the old one.
    assert new_user is not user and new_user.vpkg_zz_base is new_base


def test_a_removed_helper_forgets_the_others(synced):
    folder, fresh, load = synced
    load()
    (folder / "vpkg_zz_user.py").unlink()
    assert fresh.forget_replaced() == sorted(NAMES)
    assert not set(NAMES) & set(sys.modules)


def test_helpers_of_another_folder_are_left_alone(synced):
    _, fresh, load = synced
    load()
    # This process's real helpers (from _utils, unchanged) and ours: forgetting touches only ours.
    import vpkg_names  # noqa: PLC0415

    (pathlib.Path(sys.modules["vpkg_zz_base"].__file__)).write_text("VALUE = 3\n")
    assert fresh.forget_replaced() == sorted(NAMES)
    assert sys.modules["vpkg_names"] is vpkg_names
