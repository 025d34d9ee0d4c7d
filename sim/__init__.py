"""sgsim: a simulator of HP Serviceguard, Integrity VM and the SG IVS toolkit commands.

Kept import-free on purpose: every simulated command is a fresh process and loads this package
first, so anything imported here is paid on every ``cmviewcl``. Its version is salt-vpkg's
(``importlib.metadata.version("salt-vpkg-sim")``).
"""


def examples_dir():
    """Return the folder of the shipped example clusters (``seed.yaml``, ``demo.yaml``)."""
    import pathlib

    return pathlib.Path(__file__).resolve().parent / "examples"


def example_path(name):
    """Return the path of a shipped example cluster by name (``"seed"``, ``"demo"``)."""
    return examples_dir() / f"{name}.yaml"
