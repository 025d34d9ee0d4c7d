"""The real outputs of ``tests/unit/data`` say where they come from."""

import pytest
import samples


@pytest.mark.parametrize("path", samples.real(), ids=lambda p: p.name)
def test_every_real_sample_names_its_source(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# "), "a real sample opens with '# <its source>'"
    assert "hp-cli.md" in path.read_text() or "http" in path.read_text() or "HP document" in path.read_text()
    body = samples.read(path.name)
    assert body.strip() and not body.startswith("#")
