"""Can the tests fail? Mutate a module one node at a time and see whether the given tests notice.

Not part of ``make test`` (minutes per module): run it when a module's tests change, or to find
what they leave unchecked. It copies the checkout's tracked files into a temporary folder, so the
checkout is never touched, then for every mutation site of the module (a comparison flipped,
``and``/``or`` swapped, a ``not`` dropped, a boolean constant negated, a number plus one, ``+``/``-``
swapped) writes the mutated module there and runs pytest ``-x`` on the tests named. A mutant the
tests pass is printed: a line that no test can fail for that change. Some are equivalent (the
import of the pip-installed layout, retry pauses), most are a missing test.

    .venv/bin/python tests/mutate.py _utils/vpkg_capacity.py tests/unit/test_capacity.py [more tests]
"""

import argparse
import ast
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

FLIPPED = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def sites(tree):
    """Every mutation site of ``tree``, in walk order: ``(kind, node, index)``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            found += [("compare", node, i) for i, op in enumerate(node.ops) if type(op) in FLIPPED]
        elif isinstance(node, ast.BoolOp):
            found.append(("boolop", node, None))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.append(("not", node, None))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            found.append(("bool", node, None))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            found.append(("number", node, None))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            found.append(("arith", node, None))
    return found


class _Mutate(ast.NodeTransformer):
    def __init__(self, site):
        self.kind, self.target, self.index = site

    def visit(self, node):
        if node is not self.target:
            return super().visit(node)
        if self.kind == "compare":
            node.ops[self.index] = FLIPPED[type(node.ops[self.index])]()
        elif self.kind == "boolop":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif self.kind == "not":
            return node.operand
        elif self.kind == "bool":
            node.value = not node.value
        elif self.kind == "number":
            node.value += 1
        else:
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node


def mutant(source, number):
    """``source`` with its ``number``-th site mutated, that site's line and its kind."""
    tree = ast.parse(source)
    site = sites(tree)[number]
    line = site[1].lineno
    return ast.unparse(ast.fix_missing_locations(_Mutate(site).visit(tree))), line, site[0]


def _copy_checkout(into):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(
        b"\0"
    )
    for name in filter(None, files):
        source, copy = ROOT / name.decode(), into / name.decode()
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(source.read_bytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the module to mutate, relative to the checkout")
    parser.add_argument("tests", nargs="+", help="the tests to run against each mutant")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant (counted as killed)")
    args = parser.parse_args()
    source = (ROOT / args.module).read_text()
    lines = source.splitlines()
    count = len(sites(ast.parse(source)))
    lived = []
    with tempfile.TemporaryDirectory(prefix="vpkg-mutants-") as tmp:
        copy = pathlib.Path(tmp)
        _copy_checkout(copy)
        for number in range(count):
            text, line, kind = mutant(source, number)
            (copy / args.module).write_text(text)
            start = time.monotonic()
            try:
                run = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests],
                    cwd=copy,
                    capture_output=True,
                    timeout=args.timeout,
                    check=False,
                )
                killed = run.returncode != 0
            except subprocess.TimeoutExpired:
                killed = True
            verdict = "killed" if killed else "LIVED"
            print(
                f"{number:4d} {verdict:6s} {kind:8s} line {line:4d} ({time.monotonic() - start:5.1f} s): "
                f"{lines[line - 1].strip()}",
                flush=True,
            )
            if not killed:
                lived.append(number)
    print(f"{args.module}: {count} mutants, {len(lived)} lived through {' '.join(args.tests)}")
    return 1 if lived else 0


if __name__ == "__main__":
    sys.exit(main())
