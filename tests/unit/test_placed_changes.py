"""What ``vpkg.placed`` reports as changed after a failed move, on the error info ``vpkg.move`` gives."""

import importlib.util
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "vpkg_test_state", pathlib.Path(__file__).resolve().parents[2] / "_states" / "vpkg.py"
)
state = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(state)

ON = {"autorun": True, "switching": {"n1": True, "n2": True}}
OFF = {"autorun": False, "switching": {"n1": True, "n2": True}}


def info(location, after, before=ON):
    return {
        "source": "n1",
        "target": "n2",
        "location": location,
        "switching": {"before": before, "after": after},
    }


@pytest.mark.parametrize(
    ("error", "now", "expected"),
    [
        # Refused at the preflight (switching recorded only after it): nothing changed.
        (
            {"source": "n1", "target": "n2", "location": None, "switching": {"before": None, "after": None}},
            ("n1",),
            {},
        ),
        # Refused, while someone else moved the package meanwhile: not our change.
        (
            {"source": "n1", "target": "n2", "location": None, "switching": {"before": None, "after": None}},
            ("n3",),
            {},
        ),
        # Migration failed, guest verified on the source, switching restored.
        (info("source", ON), ("n1",), {}),
        # Guest on the target, adoption failed: the guest moved and switching is left off.
        (
            info("target", OFF),
            ("n2",),
            {
                "guest": {"old": "n1", "new": "n2"},
                "package_switching": {"old": "enabled", "new": "disabled"},
                "node": {"old": "n1", "new": "n2"},
            },
        ),
        # Same, but the package could not be read afterwards: no node claimed.
        (
            info("target", OFF),
            None,
            {"guest": {"old": "n1", "new": "n2"}, "package_switching": {"old": "enabled", "new": "disabled"}},
        ),
        # Location unknown: only what is known, switching left off.
        (info("unknown", OFF), ("n1",), {"package_switching": {"old": "enabled", "new": "disabled"}}),
        # Switching was off before the move and stays off: no switching change.
        (
            info("target", OFF, before=OFF),
            ("n2",),
            {"guest": {"old": "n1", "new": "n2"}, "node": {"old": "n1", "new": "n2"}},
        ),
        # An error without info (a command that could not run at all).
        ({}, ("n1",), {}),
    ],
)
def test_failed_move_changes(error, now, expected):
    assert state._failed_move_changes(error, "n1", now) == expected
