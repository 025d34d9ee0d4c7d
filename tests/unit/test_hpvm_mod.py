"""``_modules/hpvm.py`` with the command seam (a proxy's ``vmhost.run``) replaced: exact argv,
no shell, check verdicts versus command failures, streaming progress, and refusal of hostile names
before anything runs."""

import importlib.util
import pathlib
import stat
from unittest.mock import MagicMock, patch

import pytest
import vpkg_config
from salt.exceptions import CommandExecutionError, SaltInvocationError
from samples import read
from test_names import HOSTILE

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).parent / "data"


def _load():
    spec = importlib.util.spec_from_file_location("vpkg_test_hpvm", ROOT / "_modules" / "hpvm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hpvm = _load()
BIN = "/opt/vm/bin"
CONF = {"hpvm.bin_dir": BIN, "hpvm.timeout": 7, "vpkg.migrate_timeout": 900}


@pytest.fixture
def configure_loader_modules():
    return {
        hpvm: {
            "__salt__": {"config.get": lambda key, default=None: CONF.get(key, default)},
            "__opts__": {},
            "__proxy__": {},
            "__grains__": {},
            "__pillar__": {},
        }
    }


def ran(stdout="", stderr="", retcode=0):
    return MagicMock(return_value={"stdout": stdout, "stderr": stderr, "retcode": retcode, "pid": 1})


def test_guests():
    run_all = ran((DATA / "hpvmstatus_M_handwritten.txt").read_text())
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        guests = hpvm.guests()
    run_all.assert_called_once_with([f"{BIN}/hpvmstatus", "-M"], timeout=7, on_line=None)
    assert list(guests) == ["slvm1", "web2", "old1"]
    assert guests["old1"]["state"] == "Off (NR)"


def test_guests_from_output_in_another_form_names_the_command_and_its_first_line():
    # The table instead of -M (a wrapper, an alias): not a host without guests.
    with patch.dict(hpvm.__proxy__, {"vmhost.run": ran(read("real_hpvmstatus_table_juanma.txt"))}):
        with pytest.raises(CommandExecutionError) as err:
            hpvm.guests()
    message = str(err.value)
    assert f"Cannot read the output of {BIN}/hpvmstatus -M:" in message
    assert "'[Virtual Machines]'" in message


def test_guests_of_a_host_without_guests():
    with patch.dict(hpvm.__proxy__, {"vmhost.run": ran(read("real_hpvmstatus_no_guests.txt"))}):
        assert hpvm.guests() == {}


def test_guest_found_in_machine_output():
    run_all = ran((DATA / "hpvmstatus_M_handwritten.txt").read_text())
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        guest = hpvm.guest("web2")
    assert run_all.call_count == 1
    assert guest["migration"] == {"direction": "out", "peer": "xyzo2", "phase": "Copy"}


def test_unknown_guest_raises_the_command_message():
    stderr = "hpvmstatus: Unable to find virtual machine 'nope'."
    run_all = MagicMock(
        side_effect=[
            {"stdout": (DATA / "hpvmstatus_M_handwritten.txt").read_text(), "stderr": "", "retcode": 0},
            {"stdout": "", "stderr": stderr, "retcode": 1},
        ]
    )
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match="Unable to find virtual machine 'nope'") as err:
            hpvm.guest("nope")
    assert run_all.call_args_list[1].args == ([f"{BIN}/hpvmstatus", "-V", "-P", "nope"],)
    assert err.value.info["retcode"] == 1


def test_guest_falls_back_to_verbose_detail():
    run_all = MagicMock(
        side_effect=[
            {"stdout": "", "stderr": "", "retcode": 0},
            {"stdout": (DATA / "hpvmstatus_V_handwritten.txt").read_text(), "stderr": "", "retcode": 0},
        ]
    )
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        assert hpvm.guest("old1")["memory_mb"] == 512


# --- hpvmmigrate -s -------------------------------------------------------------------------------


def test_check_migrate_failing_check_is_a_verdict_not_an_error():
    run_all = ran((DATA / "hpvmmigrate_s_fail.txt").read_text(), retcode=1)
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        verdict = hpvm.check_migrate("slvm1", "xyzo2")
    run_all.assert_called_once_with(
        [f"{BIN}/hpvmmigrate", "-s", "-o", "-P", "slvm1", "-h", "xyzo2"],
        timeout=7,
        on_line=None,
    )
    assert verdict["migratable"] is False
    assert (verdict["guest"], verdict["host"]) == ("slvm1", "xyzo2")
    assert {
        "name": "memory",
        "passed": False,
        "reason": "Target VM Host has 2048 MB free, guest needs 4096 MB.",
    } in (verdict["checks"])


def test_check_migrate_passing():
    run_all = ran((DATA / "hpvmmigrate_s_pass.txt").read_text())
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        assert hpvm.check_migrate("slvm1", "10.0.0.2")["migratable"] is True


def test_check_migrate_command_that_cannot_run_raises():
    run_all = ran(stderr="hpvmmigrate: Unable to find virtual machine 'slvm9'.", retcode=1)
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match="Unable to find virtual machine") as err:
            hpvm.check_migrate("slvm9", "xyzo2")
    assert err.value.info["argv"] == [f"{BIN}/hpvmmigrate", "-s", "-o", "-P", "slvm9", "-h", "xyzo2"]


def test_check_migrate_success_verdict_with_failing_exit_raises():
    run_all = ran(
        (DATA / "hpvmmigrate_s_pass.txt").read_text(), stderr="hpvmmigrate: internal error", retcode=2
    )
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match="exit status 2"):
            hpvm.check_migrate("slvm1", "xyzo2")


# --- hpvmmigrate, hpvmmodify ----------------------------------------------------------------------


def test_migrate():
    run_all = ran((DATA / "hpvmmigrate_o_handwritten.txt").read_text())
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        result = hpvm.migrate("slvm1", "xyzo2")
    run_all.assert_called_once_with(
        [f"{BIN}/hpvmmigrate", "-o", "-P", "slvm1", "-h", "xyzo2"],
        timeout=900,
        on_line=None,
    )
    assert result["migrated"] is True
    assert result["message"] == "hpvmmigrate: Guest migrated successfully."
    assert [s["phase"] for s in result["progress"]][-1] == "Completion"
    assert len(result["progress"]) == 6


@pytest.mark.parametrize(
    ("conf", "expected", "deprecated"),
    [
        ({"vpkg.migrate_timeout": 900}, 900, False),
        ({"hpvm.migrate_timeout": 600}, 600, True),  # the old name, read when the new one is unset
        ({"vpkg.migrate_timeout": 900, "hpvm.migrate_timeout": 600}, 900, True),
        ({}, 3600, False),
    ],
)
def test_migrate_takes_its_default_timeout_from_the_one_migration_timeout(conf, expected, deprecated, caplog):
    run_all = ran("hpvmmigrate: Guest migrated successfully.\n")
    config = dict({"hpvm.bin_dir": BIN}, **conf)
    with (
        patch.object(vpkg_config, "_told", set()),
        patch.dict(hpvm.__salt__, {"config.get": lambda k, d=None: config.get(k, d)}),
        patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}),
        caplog.at_level("WARNING"),
    ):
        hpvm.migrate("slvm1", "xyzo2")
    assert run_all.call_args.kwargs["timeout"] == expected
    assert ("hpvm.migrate_timeout is deprecated" in caplog.text) is deprecated


def test_a_bad_configured_migration_timeout_names_the_key():
    with (
        patch.dict(hpvm.__salt__, {"config.get": lambda k, d=None: {"vpkg.migrate_timeout": -1}.get(k, d)}),
        pytest.raises(SaltInvocationError, match="vpkg.migrate_timeout must be a positive"),
    ):
        hpvm.migrate("slvm1", "xyzo2")


def test_migrate_offline_with_timeout():
    run_all = ran("hpvmmigrate: Guest migrated successfully.\n")
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        result = hpvm.migrate("slvm1", "xyzo2", online=False, timeout=30)
    assert run_all.call_args.args == ([f"{BIN}/hpvmmigrate", "-P", "slvm1", "-h", "xyzo2"],)
    assert run_all.call_args.kwargs["timeout"] == 30
    assert (result["online"], result["progress"]) == (False, [])


def test_migrate_failure_carries_stderr():
    stderr = (
        "hpvmmigrate: Target VM Host error - vswitch validation failed.\n"
        "hpvmmigrate: Online migration aborted in Init phase. Guest remains running on source VM Host."
    )
    run_all = ran("hpvmmigrate: Init phase: 50% complete.\n", stderr, 1)
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(CommandExecutionError, match="vswitch validation failed") as err:
            hpvm.migrate("slvm1", "xyzo2")
    assert err.value.info["stderr"] == stderr


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"online": "yes"}, "online"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -5}, "timeout"),
        ({"timeout": "10; reboot"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"progress": "print"}, "progress"),
    ],
)
def test_migrate_bad_options(kwargs, match):
    run_all = ran()
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(SaltInvocationError, match=match):
            hpvm.migrate("slvm1", "xyzo2", **kwargs)
    run_all.assert_not_called()


def _script(tmp_path, body):
    path = tmp_path / "hpvmmigrate"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def test_migrate_streams_progress_to_a_callback(tmp_path):
    lines = (DATA / "hpvmmigrate_o_handwritten.txt").read_text()
    bindir = _script(tmp_path, f"echo \"$@\" > {tmp_path}/args\ncat <<'EOF'\n{lines}EOF\n")
    seen = []
    conf = {**CONF, "hpvm.bin_dir": str(bindir)}
    with patch.dict(hpvm.__salt__, {"config.get": lambda k, d=None: conf.get(k, d)}):
        result = hpvm.migrate("slvm1", "xyzo2", progress=seen.append)
    assert (tmp_path / "args").read_text().split() == ["-o", "-P", "slvm1", "-h", "xyzo2"]
    assert [(s["phase"], s["percent"]) for s in seen] == [
        (s["phase"], s["percent"]) for s in result["progress"]
    ]
    assert seen[1]["line"] == "hpvmmigrate: Copy phase: 25% complete (1024 MB of 4096 MB)."


def test_migrate_streaming_failure_and_broken_callback(tmp_path):
    bindir = _script(
        tmp_path, "echo 'hpvmmigrate: Copy phase: 10% complete.'\necho 'hpvmmigrate: boom' >&2\nexit 1\n"
    )
    conf = {**CONF, "hpvm.bin_dir": str(bindir)}

    def broken(_step):
        raise RuntimeError("observer bug")

    with patch.dict(hpvm.__salt__, {"config.get": lambda k, d=None: conf.get(k, d)}):
        with (
            patch.object(hpvm, "log") as log,
            pytest.raises(CommandExecutionError, match="hpvmmigrate: boom") as err,
        ):
            hpvm.migrate("slvm1", "xyzo2", progress=broken)
    assert err.value.info["retcode"] == 1
    # The observer's failure is logged, and the migration's own outcome is what is reported.
    assert "progress callback failed" in log.exception.call_args.args[0]


def test_migrate_streaming_timeout_kills(tmp_path):
    bindir = _script(tmp_path, "echo 'hpvmmigrate: Init phase: 100% complete.'\nexec sleep 30\n")
    conf = {**CONF, "hpvm.bin_dir": str(bindir)}
    with patch.dict(hpvm.__salt__, {"config.get": lambda k, d=None: conf.get(k, d)}):
        with pytest.raises(CommandExecutionError, match="Timed out after 0.3 seconds"):
            hpvm.migrate("slvm1", "xyzo2", timeout=0.3, progress=lambda s: None)


@pytest.mark.parametrize(("enabled", "word"), [(True, "enabled"), (False, "disabled")])
def test_set_online_migration(enabled, word):
    run_all = ran()
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        result = hpvm.set_online_migration("slvm1", enabled)
    run_all.assert_called_once_with(
        [f"{BIN}/hpvmmodify", "-P", "slvm1", "-x", f"online_migration={word}"],
        timeout=7,
        on_line=None,
    )
    assert result == {"guest": "slvm1", "online_migration": enabled}


@pytest.mark.parametrize("enabled", ["enabled", 1, None, "True", [True]])
def test_set_online_migration_needs_a_bool(enabled):
    run_all = ran()
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(SaltInvocationError, match="enabled must be True or False"):
            hpvm.set_online_migration("slvm1", enabled)
    run_all.assert_not_called()


# --- hostile names --------------------------------------------------------------------------------

NAMED = [
    ("guest", hpvm.guest),
    ("check_migrate guest", lambda v: hpvm.check_migrate(v, "xyzo2")),
    ("check_migrate host", lambda v: hpvm.check_migrate("slvm1", v)),
    ("migrate guest", lambda v: hpvm.migrate(v, "xyzo2")),
    ("migrate host", lambda v: hpvm.migrate("slvm1", v)),
    ("set_online_migration", lambda v: hpvm.set_online_migration(v, True)),
]
# Host names may be longer than 39 and hold no '_': the shared list holds three valid host names.
VALID_HOSTS = {"a" * 40, "a" * 200, "0"}


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
@pytest.mark.parametrize(("label", "call"), NAMED, ids=[n[0] for n in NAMED])
def test_hostile_argument_refused_before_running(label, call, value):
    if label.endswith("host") and isinstance(value, str) and value in VALID_HOSTS:
        pytest.skip("a valid host name")
    run_all = ran()
    with patch.dict(hpvm.__proxy__, {"vmhost.run": run_all}):
        with pytest.raises(SaltInvocationError):
            call(value)
    run_all.assert_not_called()


def test_virtual(tmp_path):
    with patch.dict(hpvm.__pillar__, {"hpvm.bin_dir": str(tmp_path)}):
        ok, reason = hpvm.__virtual__()
        assert ok is False and "hpvmstatus" in reason and "hpvm.bin_dir" in reason
        (_script(tmp_path, "") / "hpvmmigrate").rename(tmp_path / "hpvmstatus")
        assert hpvm.__virtual__() == "hpvm"


def test_docstrings_follow_the_extension_style():
    import ast

    tree = ast.parse((ROOT / "_modules" / "hpvm.py").read_text())
    doc = ast.get_docstring(tree)
    assert ":depends:" in doc and ":configuration:" in doc and ".. code-block:: yaml" in doc
    public = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    assert public
    for func in public:
        text = ast.get_docstring(func) or ""
        assert "CLI Example:" in text and ".. code-block:: bash" in text, func.name
        assert f"salt xyzo1 hpvm.{func.name}" in text, func.name
