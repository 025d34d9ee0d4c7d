"""Who may do what, with Salt's own mechanisms; and what the master keeps and publishes.

Runner functions are authorised by ``external_auth`` (``@runner`` or ``@<module>`` entries, checked
by ``CkMinions.runner_check`` in ``salt/master.py ClearFuncs.runner``). A second master here lets
alice run ``vpkg.status`` and ``vpkg.check`` and nothing else; one minion of that master acts as
VM host vmh1 of the same simulated cluster (``vpkg:node_map``), so alice's allowed calls really
work. ``publisher_acl`` is not tested: it hands a system user the master's key, and a ``user``
authenticated that way skips the runner check altogether (see docs/security.md).

The last tests check the master's records are owner-only and that nothing secret rides on the
event bus or in the results.
"""

import json
import pathlib
import stat
import threading

import pytest
import salt.utils.event

from . import invariants

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
AUTH = ["-a", "auto", "--username", "alice", "--password", "x"]


@pytest.fixture(scope="module")
def acl_master(salt_factories, sim, salt_minions):
    overrides = {
        "runner_dirs": [str(ROOT / "_runners")],
        "utils_dirs": [str(ROOT / "_utils")],
        "vpkg": {"timeout": 30, "node_map": {"vmh1": "acl-vmh1"}},
        "external_auth": {"auto": {"alice": [{"@runner": ["vpkg.status", "vpkg.check"]}]}},
    }
    factory = salt_factories.salt_master_daemon("acl-master", overrides=overrides)
    with factory.started():
        minion = factory.salt_minion_daemon(
            "acl-vmh1",
            overrides={
                "module_dirs": [str(ROOT / "_modules")],
                "utils_dirs": [str(ROOT / "_utils")],
                "serviceguard.bin_dir": str(sim.bindir("vmh1")),
                "hpvm.bin_dir": str(sim.bindir("vmh1")),
                "vpkg.node": "vmh1",
            },
        )
        with minion.started():
            yield factory


def test_alice_may_look_but_not_move(cluster, acl_master):
    run = acl_master.salt_run_cli(timeout=120)
    before = cluster.state()
    status = run.run(*AUTH, "vpkg.status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.data["cluster"] == "itest" and status.data["reported_by"] == "acl-vmh1"
    check = run.run(*AUTH, "vpkg.check", "g1", "vmh2")
    assert check.data["result"] is True, check.stdout

    for call in (["vpkg.move", "g1", "vmh2"], ["vpkg.evacuate", "vmh1"], ["vpkg.cancel", "vmh1"]):
        ret = run.run(*AUTH, *call)
        text = ret.stdout + ret.stderr
        assert "Authentication failure" in text or "Authentication error" in text, text
        assert "Traceback" not in text
    wrong = run.run("-a", "auto", "--username", "mallory", "--password", "x", "vpkg.status")
    wrong_text = wrong.stdout + wrong.stderr
    assert "Authentication failure" in wrong_text or "Authentication error" in wrong_text, wrong_text
    assert cluster.state()["packages"] == before["packages"]
    assert cluster.state()["guests"] == before["guests"]


def test_without_eauth_the_master_user_may_move(cluster, acl_master):
    """The refusal above is the ACL's doing: the same call as the master's own user succeeds."""
    ret = acl_master.salt_run_cli(timeout=120).run("vpkg.move", "g1", "vmh2")
    assert ret.returncode == 0, ret.stdout
    assert invariants.package(cluster, "g1")["node"] == "vmh2"


# -- what the master keeps, and what it publishes ----------------------------------------------


def _modes(folder):
    for path in [folder, *folder.rglob("*")]:
        yield path, stat.S_IMODE(path.lstat().st_mode)


class _Events:
    def __init__(self, master):
        self.opts, self.events, self.stop = master.config, [], threading.Event()
        self.ready = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def _listen(self):
        with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=True) as bus:
            self.ready.set()
            while not self.stop.is_set():
                event = bus.get_event(wait=0.2, full=True)
                if event:
                    self.events.append(event)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_records_are_owner_only_and_events_carry_no_secret(cluster, salt_master, salt_run):
    with _Events(salt_master) as bus:
        moved = salt_run.run("vpkg.move", "g1", "vmh2")
        evacuated = salt_run.run("vpkg.evacuate", "vmh3")
    assert moved.data["result"] is True and evacuated.data["moved"] == ["w3"], evacuated.data

    # The master's records: placement, last results, locks, in-flight registry, journal.
    records = pathlib.Path(salt_master.config["cachedir"]) / "vpkg"
    seen = dict(_modes(records))
    assert any(p.name == "inflight.json" for p in seen), sorted(map(str, seen))
    assert any(p.parent.name == "placement" for p in seen), sorted(map(str, seen))
    for path, mode in seen.items():
        want = 0o700 if path.is_dir() else 0o600
        assert mode == want, f"{path} is {oct(mode)}"
    # The simulator's state: the home folder and every file in it.
    for path, mode in _modes(pathlib.Path(cluster.home)):
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"

    # Nothing secret: no key material, token or password in our events or results.
    pki = pathlib.Path(salt_master.config["pki_dir"])
    secrets = [p.read_text().strip() for p in pki.glob("*.pem")]
    secrets += [line for p in secrets for line in p.splitlines()[1:-1]]
    ours = [e for e in bus.events if e["tag"].startswith("vpkg/")]
    assert {e["tag"].split("/")[1] for e in ours} >= {"move", "evacuate"}, [e["tag"] for e in ours]
    texts = [json.dumps(e, default=str) for e in ours] + [moved.stdout, evacuated.stdout]
    for text in texts:
        assert "-----BEGIN" not in text
        assert not any(secret and secret in text for secret in secrets)
        lowered = text.lower()
        assert not any(word in lowered for word in ('"tok"', "password", "passwd", "secret", '"token"'))
    keys = {k for e in ours for k in (e["data"].get("data") or e["data"])}
    print("\nEVENT KEYS", sorted(keys))
