"""One configuration convention (vpkg_config): every key a module reads documented, one migration timeout."""

import ast
import importlib.util
import pathlib
import re
from unittest.mock import patch

import pytest
import vpkg_config
import vpkg_master
import vpkg_watch
import yaml
from salt.exceptions import SaltInvocationError

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_warnings():
    """Deprecations are logged once per process: each test starts from none told."""
    with patch.object(vpkg_config, "_told", set()):
        yield


def _configuration(path):
    """The YAML sample of a module docstring's ``:configuration:`` block, as a dict."""
    doc = ast.get_docstring(ast.parse(path.read_text()))
    block = doc.split(":configuration:", 1)[1].split(".. code-block:: yaml", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("        "):
            break
        lines.append(line[8:])
    return yaml.safe_load("\n".join(lines))


def _runner():
    spec = importlib.util.spec_from_file_location("vpkg_test_config_runner", ROOT / "_runners" / "vpkg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_runner_documents_every_key_it_reads_with_its_default():
    documented = _configuration(ROOT / "_runners" / "vpkg.py")["vpkg"]
    defaults = vpkg_config.MasterConfig()
    assert list(documented) == [f for f in defaults.__dataclass_fields__]
    effective = {
        # None in MasterConfig: the default is worked out where the key is used
        "view_timeout": vpkg_master.Master({}, {}).view_timeout,
        "job_check_interval": vpkg_watch.interval(None),
    }
    for key, value in documented.items():
        assert value == effective.get(key, getattr(defaults, key)), key


CONFIG_READ = re.compile(r"""(?:_config\(\)\.get|self\.config\.get|config\.get\(|__opts__\.get\("vpkg")""")


@pytest.mark.parametrize(
    "path",
    [
        "_runners/vpkg.py",
        "_utils/vpkg_master.py",
        "_utils/vpkg_operate.py",
        "_utils/vpkg_engine.py",
        "_utils/vpkg_single.py",
    ],
)
def test_the_master_side_reads_its_settings_only_through_master_config(path):
    source = (ROOT / path).read_text()
    reads = [m.group(0) for m in CONFIG_READ.finditer(source)]
    assert reads == (['__opts__.get("vpkg"'] if path.startswith("_runners") else []), reads


HOST_READ = [
    re.compile(r"""config\.get"\)\(\s*"([\w.]+)\""""),  # _salt("config.get")("hpvm.bin_dir", ...)
    re.compile(r"""config\.get"\]\(\s*"([\w.]+)\""""),
    re.compile(r"""_early_conf\(\s*"([\w.]+)\""""),
]


@pytest.mark.parametrize(
    ("module", "prefix"),
    [("_modules/vpkg.py", "vpkg."), ("_modules/hpvm.py", None), ("_modules/serviceguard.py", None)],
)
def test_each_host_module_documents_every_key_it_reads(module, prefix):
    source = (ROOT / module).read_text()
    body = source.split('"""', 2)[2]  # after the module docstring
    read = {m.group(1) for pattern in HOST_READ for m in pattern.finditer(body)}
    if prefix:  # the vpkg module's _config("node", ...) reads vpkg.node
        read |= {prefix + m.group(1) for m in re.finditer(r"""_config\(\s*"(\w+)\"""", body)}
    if "vpkg_config.host_setting(" in body:
        read.add("vpkg.migrate_timeout")
    documented = set(_configuration(ROOT / module))
    assert read and read <= documented, read - documented
    assert documented <= read, documented - read  # nothing documented that is not read


def test_master_config_defaults_and_the_new_migration_timeout(caplog):
    assert vpkg_config.MasterConfig.read(None) == vpkg_config.MasterConfig()
    with caplog.at_level("WARNING"):
        conf = vpkg_config.MasterConfig.read({"migrate_timeout": 120, "timeout": 5})
    assert (conf.migrate_timeout, conf.timeout, conf.minions) == (120, 5, "*")
    assert caplog.text == ""


def test_the_old_master_key_still_works_with_a_warning_once(caplog):
    with caplog.at_level("WARNING"):
        assert vpkg_config.MasterConfig.read({"move_timeout": 90}).migrate_timeout == 90
        assert vpkg_config.MasterConfig.read({"move_timeout": 90}).migrate_timeout == 90
    assert caplog.text.count("vpkg:move_timeout is deprecated: set vpkg:migrate_timeout instead") == 1


def test_the_new_master_key_wins_over_the_old_one(caplog):
    with caplog.at_level("WARNING"):
        conf = vpkg_config.MasterConfig.read({"move_timeout": 90, "migrate_timeout": 120})
    assert conf.migrate_timeout == 120
    assert "vpkg:move_timeout is deprecated: it is ignored, vpkg:migrate_timeout is set" in caplog.text


def test_an_unknown_master_key_is_logged_not_fatal(caplog):
    with caplog.at_level("WARNING"):
        conf = vpkg_config.MasterConfig.read({"timeuot": 5})
    assert conf.timeout == 30 and "vpkg:timeuot in the master config is not a vpkg setting" in caplog.text


@pytest.mark.parametrize(
    ("conf", "expected", "told"),
    [
        ({"vpkg.migrate_timeout": 120}, 120, ""),
        ({"hpvm.migrate_timeout": 90}, 90, "set vpkg.migrate_timeout instead"),
        ({"vpkg.migrate_timeout": 120, "hpvm.migrate_timeout": 90}, 120, "it is ignored"),
        ({}, 3600, ""),
    ],
)
def test_a_hosts_migration_timeout_and_its_old_name(conf, expected, told, caplog):
    with caplog.at_level("WARNING"):
        got = vpkg_config.host_setting(conf.get, "vpkg.migrate_timeout", vpkg_config.MIGRATE_TIMEOUT)
    assert got == expected
    assert (told in caplog.text) and (bool(told) == ("deprecated" in caplog.text))


@pytest.mark.parametrize(
    ("conf", "expected"), [({"migrate_timeout": 120}, 120.0), ({"move_timeout": 90}, 90.0), ({}, 3600.0)]
)
def test_the_runner_gives_each_move_the_configured_migration_timeout(tmp_path, conf, expected):
    runner = _runner()
    with patch.object(runner, "__opts__", {"cachedir": str(tmp_path), "vpkg": conf}, create=True):
        assert runner._timeout(None) == expected
        assert runner._timeout(5) == 5.0  # an argument beats the setting


def test_a_bad_configured_migration_timeout_is_refused_by_name(tmp_path):
    runner = _runner()
    opts = {"cachedir": str(tmp_path), "vpkg": {"migrate_timeout": "soon"}}
    with patch.object(runner, "__opts__", opts, create=True), pytest.raises(SaltInvocationError) as err:
        runner._timeout(None)
    assert "vpkg:migrate_timeout must be a number of seconds" in str(err.value)


def test_the_installing_guide_lists_every_master_key_and_every_alias():
    guide = (ROOT / "docs" / "installing.md").read_text().split("## Configuration", 1)[1]
    rows = re.findall(r"^  \| `(\w+)` \|", guide, re.M)
    assert rows == list(vpkg_config.MasterConfig.__dataclass_fields__)
    for old, new in vpkg_config.MASTER_ALIASES.items():
        assert f"| `vpkg:{old}` (master) | `vpkg:{new}` |" in guide
    for new, old in vpkg_config.HOST_ALIASES.items():
        assert f"| `{old}` (host) | `{new}` |" in guide
