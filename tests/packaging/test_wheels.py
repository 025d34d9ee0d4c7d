"""The wheels ``make dist`` builds: what ships, and what a plain install of salt-vpkg brings.

A copy of the checkout (without venvs and build output) in a temporary folder; ``make dist`` there,
with this interpreter, twice: first with an extra helper file in ``_utils``, then after deleting it.
About 30 s (four isolated wheel builds); only ``make test`` runs this folder, on the main venv.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE = "_utils/vpkg_probe_deleted.py"
IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "dist",
    "build",
    "*.egg-info",
    "_build",
    "__pycache__",
    ".lab",
    ".pytest_cache",
    ".ruff*",
    "results",
)


def _version():
    namespace = {}
    exec((ROOT / "pkg" / "saltext" / "vpkg" / "__init__.py").read_text(), namespace)
    return namespace["__version__"]


def _make_dist(tree):
    # Not the flags of a make that runs this test (make test): the copy's make stands alone.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "-C", str(tree), "dist", f"PY={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    wheels = {p.name.split("-")[0]: p for p in (tree / "dist").glob("*.whl")}
    assert set(wheels) == {"salt_vpkg", "salt_vpkg_sim"}, wheels
    return wheels


def _names(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tree = tmp_path_factory.mktemp("checkout") / "salt-vpkg"
    shutil.copytree(ROOT, tree, symlinks=True, ignore=IGNORE)
    (tree / PROBE).write_text('"""Present for the first build only."""\n')
    first = {k: v.read_bytes() for k, v in _make_dist(tree).items()}
    (tree / PROBE).unlink()
    second = _make_dist(tree)
    keep = tmp_path_factory.mktemp("first")
    for name, data in first.items():
        (keep / f"{name}.whl").write_bytes(data)
    return {"first": {n: keep / f"{n}.whl" for n in first}, "second": second}


def test_a_deleted_file_does_not_ship(builds):
    shipped = "saltext/vpkg/utils/vpkg_probe_deleted.py"
    assert shipped in _names(builds["first"]["salt_vpkg"])  # the file did ship while it existed
    assert shipped not in _names(builds["second"]["salt_vpkg"])


def test_both_wheels_have_the_one_version(builds):
    version = _version()
    assert {p.name for p in builds["second"].values()} == {
        f"salt_vpkg-{version}-py3-none-any.whl",
        f"salt_vpkg_sim-{version}-py3-none-any.whl",
    }


def _install(wheel, target):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _imports_sgsim(target):
    # -S: no site-packages, only what was installed into target.
    code = f"import sys; sys.path.insert(0, {str(target)!r}); import sgsim"
    return (
        subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, check=False).returncode == 0
    )


def test_a_plain_install_has_no_simulator(builds, tmp_path):
    plain, sim = tmp_path / "plain", tmp_path / "sim"
    _install(builds["second"]["salt_vpkg"], plain)
    assert (plain / "saltext" / "vpkg" / "modules" / "serviceguard.py").is_file()
    assert not (plain / "sgsim").exists() and not (plain / "bin" / "sgsim").exists()
    assert not _imports_sgsim(plain)
    (meta,) = plain.glob("salt_vpkg-*.dist-info")
    metadata = (meta / "METADATA").read_text().splitlines()
    requires = [line for line in metadata if line.startswith("Requires-Dist:")]
    assert [r for r in requires if "sim" in r] == ['Requires-Dist: salt-vpkg-sim; extra == "sim"']
    assert "Requires-Dist: salt>=3006" in requires
    assert "sgsim" not in (meta / "entry_points.txt").read_text()
    assert (meta / "licenses" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    # The [sim] extra's distribution is what brings it, with its command.
    _install(builds["second"]["salt_vpkg_sim"], sim)
    assert (sim / "bin" / "sgsim").is_file() and _imports_sgsim(sim)
    assert (sim / "sgsim" / "examples" / "seed.yaml").is_file()
    assert not (sim / "saltext").exists()
