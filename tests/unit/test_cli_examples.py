"""Every public function of every loader module shows how to call it (the template's check-cli-examples).

A function's docstring holds ``CLI Example:`` (or ``CLI Examples:``), then a ``.. code-block:: bash``
with at least one command line that calls *this* function:

- execution modules (``_modules``) and states (``_states``): ``salt ...`` or ``salt-call ...`` naming
  ``<virtualname>.<function>`` (a state through ``state.single``);
- runners (``_runners``): ``salt-run <virtualname>.<function>``, or, for the functions a VM host
  calls through peer publishing, ``salt-call publish.runner <virtualname>.<function>``;
- beacons (``_beacons``): Salt's loader calls only ``beacon`` and ``validate`` (other public functions
  are helpers no command line can reach); theirs is ``salt ... beacons.add <virtualname>``;
- outputters (``_output``): Salt calls only ``output``; its example passes ``--out=<virtualname>``.

The files are read with ``ast`` (nothing is imported), so a new module or function is covered
without touching this test.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# folder -> (programs whose lines count, the functions that need an example or None for all public,
#            what a line must name)
KINDS = {
    "_modules": (("salt", "salt-call"), None, "{name}.{func}"),
    "_states": (("salt", "salt-call"), None, "{name}.{func}"),
    "_runners": (("salt-run", "salt-call"), None, "{name}.{func}"),
    "_beacons": (("salt", "salt-call"), ("beacon", "validate"), "beacons.add {name}"),
    "_output": (("salt", "salt-call", "salt-run"), ("output",), "--out={name}"),
}
_HEADING = re.compile(r"^CLI Examples?:\s*$")


def _virtualname(tree, path):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__virtualname__" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return path.stem


def command_lines(doc):
    """The command lines of the ``.. code-block:: bash`` that follows ``CLI Example(s):``."""
    lines = (doc or "").splitlines()
    for i, line in enumerate(lines):
        if not _HEADING.match(line.strip()):
            continue
        rest = lines[i + 1 :]
        while rest and not rest[0].strip():
            rest.pop(0)
        if not rest or rest[0].strip() != ".. code-block:: bash":
            return []
        indent = len(rest[0]) - len(rest[0].lstrip())
        block = []
        for text in rest[1:]:
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            if text.strip():
                block.append(" ".join(text.split()))
        return block
    return []


def missing_examples(path):
    """``[(function, why)]`` for each function of ``path`` whose CLI example is missing or wrong."""
    programs, entry_points, wanted = KINDS[path.parent.name]
    tree = ast.parse(path.read_text())
    name = _virtualname(tree, path)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    if entry_points is not None:
        funcs = [f for f in funcs if f.name in entry_points]
    problems = []
    for func in funcs:
        needle = wanted.format(name=name, func=func.name)
        lines = command_lines(ast.get_docstring(func))
        if not lines:
            problems.append((func.name, "no 'CLI Example:' followed by '.. code-block:: bash'"))
        elif not any(cmd.split()[0] in programs and f" {needle} " in f" {cmd} " for cmd in lines):
            problems.append((func.name, f"no {'/'.join(programs)} line naming {needle}"))
    return problems


LOADER_FILES = sorted(p for kind in KINDS for p in (ROOT / kind).glob("*.py") if p.name != "__init__.py")


def test_every_loader_kind_has_modules():
    assert {p.parent.name for p in LOADER_FILES} == set(KINDS)


@pytest.mark.parametrize("path", LOADER_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_public_function_has_a_cli_example(path):
    assert missing_examples(path) == []


def test_the_check_finds_a_missing_or_wrong_example(tmp_path):
    module = tmp_path / "_modules" / "demo.py"
    module.parent.mkdir()
    good = '"""\n    CLI Example:\n\n    .. code-block:: bash\n\n        salt h1 demo.{f} x\n    """'
    module.write_text(
        '__virtualname__ = "demo"\n\n\n'
        f"def ok():\n    {good.format(f='ok')}\n\n\n"
        f"def other():\n    {good.format(f='ok')}\n\n\n"
        'def bare():\n    """No example."""\n\n\n'
        'def text():\n    """\n    CLI Example: salt h1 demo.text\n    """\n\n\n'
        "def _private():\n    pass\n"
    )
    assert [f for f, _ in missing_examples(module)] == ["other", "bare", "text"]
