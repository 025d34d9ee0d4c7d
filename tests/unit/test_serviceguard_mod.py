"""``_modules/serviceguard.py`` with the command seam (a proxy's ``vmhost.run``) replaced: exact argv,
no shell, error translation, and refusal of hostile names before anything runs."""

import importlib.util
import pathlib
from unittest.mock import MagicMock, patch

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError
from samples import read
from test_names import HOSTILE

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).parent / "data"


def _load():
    spec = importlib.util.spec_from_file_location(
        "vpkg_test_serviceguard", ROOT / "_modules" / "serviceguard.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serviceguard = _load()
BIN = "/opt/sg/bin"


def _config_get(key, default=None):
    return {"serviceguard.bin_dir": BIN, "serviceguard.timeout": 42}.get(key, default)


@pytest.fixture
def configure_loader_modules():
    return {
        serviceguard: {
            "__salt__": {"config.get": _config_get},
            "__opts__": {},
            "__grains__": {},
            "__proxy__": {},
        }
    }


def ran(stdout="", stderr="", retcode=0):
    return MagicMock(return_value={"stdout": stdout, "stderr": stderr, "retcode": retcode, "pid": 1})


def assert_ran(run_all, argv):
    run_all.assert_called_once_with(argv, timeout=42, on_line=None)


# --- reading ------------------------------------------------------------------------------------


def test_cluster():
    run_all = ran((DATA / "cmviewcl_v_line_handwritten.txt").read_text())
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        cluster = serviceguard.cluster()
    assert_ran(run_all, [f"{BIN}/cmviewcl", "-v", "-f", "line"])
    assert cluster["packages"]["slvm1"]["node"] == "xyzo1"
    assert cluster["nodes"]["xyzo2"]["capacities"]["package_limit"]["available"] == 0.0


def test_package():
    run_all = ran((DATA / "cmviewcl_p_slvm1_dropped.txt").read_text())
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        pkg = serviceguard.package("slvm1")
    assert_ran(run_all, [f"{BIN}/cmviewcl", "-v", "-f", "line", "-l", "package", "-p", "slvm1"])
    assert pkg["switching"] == {"xyzo1": True, "xyzo2": False}


def test_unknown_package_is_a_command_error_with_stderr_and_status():
    stderr = "cmviewcl: Unable to find package nope. nope is not a configured package name."
    run_all = ran(stderr=stderr, retcode=1)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError) as err:
            serviceguard.package("nope")
    assert "is not a configured package name" in str(err.value)
    assert "exit status 1" in str(err.value)
    assert err.value.info["retcode"] == 1
    assert err.value.info["stderr"] == stderr
    assert err.value.info["argv"][0] == f"{BIN}/cmviewcl"


def test_node_and_capacity():
    text = "name=xyzo2\nstatus=up\nstate=running\ncapacity:mem|value=8\ncapacity:mem|used=6\n"
    run_all = ran(text)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        node = serviceguard.node("xyzo2")
        caps = serviceguard.capacity(node="xyzo2")
    argv = [f"{BIN}/cmviewcl", "-v", "-f", "line", "-l", "node", "-n", "xyzo2"]
    assert run_all.call_args_list[0].args == (argv,)
    assert run_all.call_args_list[1].args == (argv,)
    assert all(isinstance(c.args[0], list) for c in run_all.call_args_list)  # an argv, never a shell string
    assert node["capacities"]["mem"] == {"capacity": 8.0, "used": 6.0, "available": 2.0}
    assert caps == {"xyzo2": {"mem": {"capacity": 8.0, "used": 6.0, "available": 2.0}}}


def test_capacity_all_nodes():
    run_all = ran((DATA / "cmviewcl_v_line_handwritten.txt").read_text())
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        caps = serviceguard.capacity()
    assert_ran(run_all, [f"{BIN}/cmviewcl", "-v", "-f", "line", "-l", "node"])
    assert caps["xyzo1"]["package_limit"]["used"] == 2.0
    assert caps["xyzo3"] == {}


def test_unparseable_output_is_a_command_error_naming_the_command():
    run_all = ran("name=seed\npackage:p|state=running\n")
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match=r"cmviewcl -v -f line: cluster seed: no 'status'"):
            serviceguard.cluster()


@pytest.mark.parametrize(
    ("sample", "first"),
    [
        ("real_cmviewcl_table_titan.txt", "CLUSTER              STATUS"),
        ("real_cmviewcl_old_release.txt", "cmviewcl: illegal option -- f"),
    ],
)
@pytest.mark.parametrize(
    ("call", "command"),
    [
        (serviceguard.capacity, "cmviewcl -v -f line -l node"),
        (serviceguard.cluster, "cmviewcl -v -f line"),
        (lambda: serviceguard.node("tn1s003"), "cmviewcl -v -f line -l node -n tn1s003"),
        (lambda: serviceguard.package("pkg_eq"), "cmviewcl -v -f line -l package -p pkg_eq"),
    ],
    ids=["capacity", "cluster", "node", "package"],
)
def test_output_in_another_form_names_the_command_and_its_first_line(call, command, sample, first):
    # A wrapper script or an alias that exits 0 with the table: not a cluster without nodes.
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": ran(read(sample))}):
        with pytest.raises(CommandExecutionError) as err:
            call()
    message = str(err.value)
    assert f"Cannot read the output of {BIN}/{command}:" in message
    assert repr(first) in message


# --- acting -------------------------------------------------------------------------------------

OK = "cmmodpkg: Completed successfully on all packages specified"


@pytest.mark.parametrize(
    ("call", "argv", "extra"),
    [
        (lambda: serviceguard.enable_switching("slvm1"), ["cmmodpkg", "-e", "slvm1"], {"switching": True}),
        (
            lambda: serviceguard.enable_switching("slvm1", node="xyzo2"),
            ["cmmodpkg", "-e", "-n", "xyzo2", "slvm1"],
            {"switching": True, "node": "xyzo2"},
        ),
        (lambda: serviceguard.disable_switching("slvm1"), ["cmmodpkg", "-d", "slvm1"], {"switching": False}),
        (
            lambda: serviceguard.disable_switching("slvm1", "xyzo2"),
            ["cmmodpkg", "-d", "-n", "xyzo2", "slvm1"],
            {"switching": False, "node": "xyzo2"},
        ),
        (lambda: serviceguard.run("slvm1"), ["cmrunpkg", "slvm1"], {"node": None}),
        (
            lambda: serviceguard.run("slvm1", node="xyzo2"),
            ["cmrunpkg", "-n", "xyzo2", "slvm1"],
            {"node": "xyzo2"},
        ),
        (lambda: serviceguard.halt("slvm1"), ["cmhaltpkg", "slvm1"], {"detach": False}),
        (lambda: serviceguard.halt("slvm1", detach=True), ["cmhaltpkg", "-d", "slvm1"], {"detach": True}),
    ],
)
def test_package_commands(call, argv, extra):
    run_all = ran(OK + "\n")
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        result = call()
    assert_ran(run_all, [f"{BIN}/{argv[0]}", *argv[1:]])
    assert result["package"] == "slvm1"
    assert result["message"] == OK
    for key, value in extra.items():
        assert result[key] == value


def test_refused_run_carries_serviceguard_message():
    stderr = (
        "Unable to run package slvm1 on node xyzo2. Node is not eligible.\n"
        "cmrunpkg: Unable to start some package or package instances"
    )
    run_all = ran(stderr=stderr, retcode=1)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match="Node is not eligible") as err:
            serviceguard.run("slvm1", node="xyzo2")
    assert err.value.info["argv"] == [f"{BIN}/cmrunpkg", "-n", "xyzo2", "slvm1"]


def test_refusal_reason_on_stdout_is_in_the_first_line_of_the_error():
    # cmrunpkg may print the reason on stdout and only its summary on stderr (the TITAN sample).
    reason, summary = read("real_cmrunpkg_not_eligible.txt").splitlines()
    run_all = ran(stdout=reason + "\n", stderr=summary + "\n", retcode=1)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError) as err:
            serviceguard.run("pkg_eq", node="tn1s004")
    first, *rest = err.value.error.splitlines()
    assert first == f"{BIN}/cmrunpkg -n tn1s004 pkg_eq failed (exit status 1): {reason}"
    assert summary in rest
    assert (err.value.info["stdout"], err.value.info["stderr"]) == (reason, summary)


def test_default_configuration():
    run_all = ran(OK)
    defaults = {"config.get": lambda key, default=None: default}
    with (
        patch.dict(serviceguard.__salt__, defaults),
        patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}),
    ):
        serviceguard.halt("slvm1")
    run_all.assert_called_once_with(["/usr/sbin/cmhaltpkg", "slvm1"], timeout=300, on_line=None)


def test_halt_detach_must_be_a_bool():
    run_all = ran(OK)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(SaltInvocationError, match="detach"):
            serviceguard.halt("slvm1", detach="yes; reboot")
    run_all.assert_not_called()


# --- hostile names ------------------------------------------------------------------------------

NAMED = [
    ("package", serviceguard.package),
    ("node", serviceguard.node),
    ("capacity", lambda v: serviceguard.capacity(node=v)),
    ("enable_switching", serviceguard.enable_switching),
    ("enable_switching node", lambda v: serviceguard.enable_switching("slvm1", node=v)),
    ("disable_switching", serviceguard.disable_switching),
    ("disable_switching node", lambda v: serviceguard.disable_switching("slvm1", node=v)),
    ("run", serviceguard.run),
    ("run node", lambda v: serviceguard.run("slvm1", node=v)),
    ("halt", serviceguard.halt),
]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
@pytest.mark.parametrize(("label", "call"), NAMED, ids=[n[0] for n in NAMED])
def test_hostile_argument_refused_before_running(label, call, value):
    if value is None and label.endswith(("node", "capacity")):
        pytest.skip("None means 'no node' for an optional node argument")
    run_all = ran(OK)
    with patch.dict(serviceguard.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(SaltInvocationError):
            call(value)
    run_all.assert_not_called()


# --- __virtual__ --------------------------------------------------------------------------------


def test_virtual_missing_command(tmp_path):
    with patch.dict(serviceguard.__opts__, {"serviceguard.bin_dir": str(tmp_path)}):
        ok, reason = serviceguard.__virtual__()
    assert ok is False
    assert str(tmp_path / "cmviewcl") in reason


def test_virtual_not_executable_then_executable(tmp_path):
    cmd = tmp_path / "cmviewcl"
    cmd.write_text("#!/bin/sh\n")
    with patch.dict(serviceguard.__grains__, {"serviceguard.bin_dir": str(tmp_path)}):
        assert serviceguard.__virtual__()[0] is False
        cmd.chmod(0o755)
        assert serviceguard.__virtual__() == "serviceguard"


def test_docstrings_follow_the_extension_style():
    import ast

    tree = ast.parse((ROOT / "_modules" / "serviceguard.py").read_text())
    doc = ast.get_docstring(tree)
    assert ":depends:" in doc and ":configuration:" in doc and ".. code-block:: yaml" in doc
    public = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    assert public
    for func in public:
        text = ast.get_docstring(func) or ""
        assert "CLI Example:" in text and ".. code-block:: bash" in text, func.name
        assert f"salt xyzo1 serviceguard.{func.name}" in text, func.name
