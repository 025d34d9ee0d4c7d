"""Start, inspect and stop the tutorial's lab by hand: ``python -m demo.labctl up|status|down``.

``up`` builds the demo cluster in the simulator and starts a salt-master plus one salt-minion per
simulated VM host on loopback (``demo/lab.py``), all under one folder (``.lab`` in the current
directory, or ``--dir`` / ``$VPKG_LAB``), then returns while the daemons keep running. ``down``
stops exactly the processes ``up`` recorded and removes the folder. Nothing outside the folder is
touched, so several labs can live side by side.

The folder's layout, which docs/tutorial.md relies on::

    .lab/sim/hosts/<node>/cmviewcl ...     each VM host's simulated commands
    .lab/sim/bin/sgsim                     the simulator's control tool for this cluster
    .lab/salt/vpkg-master/conf/master      salt-run -c .lab/salt/vpkg-master/conf ...
    .lab/salt/<node>/conf/minion           salt-call -c .lab/salt/<node>/conf ...
    .lab/audit.jsonl                       the audit trail (master config vpkg:audit_file)
    .lab/lab.json                          what ``down`` stops
"""

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load_sgsim():
    """Use the checkout's simulator (``sim/``), not a possibly older installed copy."""
    if "sgsim" not in sys.modules and (ROOT / "sim" / "__init__.py").exists():
        spec = importlib.util.spec_from_file_location(
            "sgsim", ROOT / "sim" / "__init__.py", submodule_search_locations=[str(ROOT / "sim")]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["sgsim"] = module
        spec.loader.exec_module(module)
    import sgsim  # noqa: PLC0415 - after the checkout's copy is registered

    return sgsim


def lab_master_options(base):
    """What the lab's master adds to demo/lab.py's defaults: our outputter, the reactor, the audit file."""
    return {
        "outputter_dirs": [str(ROOT / "_output")],
        "reactor": [{"vpkg/maintenance/*": [str(ROOT / "reactor" / "maintenance.sls")]}],
        "vpkg": {"timeout": 30, "audit_file": str(pathlib.Path(base) / "audit.jsonl")},
        # salt-run's console: Salt 3008 warns about its own unclosed clients on every call
        "log_level": "error",
    }


def make_lab(base, source="demo", ssh_hosts=None):
    """A ``demo.lab.Lab`` (not started) on a fresh simulated cluster under ``base``.

    ``ssh_hosts``: a function of the cluster that returns ``{node: SshHost}`` (running sshds);
    then a ``demo.lab.ProxyLab``, whose VM hosts are salt-proxies reaching those sshds.
    """
    sgsim = _load_sgsim()
    from sgsim.testing import SimCluster  # noqa: PLC0415

    sys.path.insert(0, str(ROOT))
    from demo.lab import Lab, ProxyLab  # noqa: PLC0415

    base = pathlib.Path(base).resolve()
    path = pathlib.Path(source)
    if not path.is_file():
        path = sgsim.example_path(source)
        if not path.is_file():
            raise SystemExit(f"labctl: no cluster file {source} and no shipped example of that name")
    cluster = SimCluster.create(base / "sim", str(path))
    if ssh_hosts is not None:
        hosts = ssh_hosts(cluster)
        return ProxyLab(cluster, hosts, base=base / "salt", extra_master=lab_master_options(base))
    return Lab(cluster, base=base / "salt", extra_master=lab_master_options(base))


# Salt's IPC sockets live in each daemon's sock_dir; a Unix socket path holds at most 107 bytes and
# Salt's longest socket name (minion_event_<hash>_pull.ipc) takes about 40 of them.
_SOCKET_PATH_MAX = 107
_SOCKET_NAME = 40


def _check_socket_room(base, names):
    longest = max(len(str(pathlib.Path(base) / "salt" / name / "sock")) for name in names) + 1 + _SOCKET_NAME
    if longest > _SOCKET_PATH_MAX:
        raise SystemExit(
            f"labctl: the folder {base} is too deep for Salt's Unix sockets ({longest} > {_SOCKET_PATH_MAX} "
            "bytes); choose a shorter --dir"
        )


def _state_file(base):
    return pathlib.Path(base) / "lab.json"


def _alive(pid):
    """True if ``pid`` still runs a Salt daemon (guards against a recycled process id)."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the recorded id
    return b"salt-" in cmdline


def up(base, source):
    base = pathlib.Path(base).resolve()
    if _state_file(base).exists():
        raise SystemExit(f"labctl: a lab is already recorded in {base}; run `labctl down` first")
    if base.exists() and any(base.iterdir()):
        raise SystemExit(f"labctl: {base} exists and is not empty; choose another --dir")
    _check_socket_room(base, ["vpkg-master", "vmhost1"])  # node names are checked again below
    base.mkdir(parents=True, exist_ok=True)
    lab = make_lab(base, source)
    try:
        _check_socket_room(base, [lab.master_id, *lab.cluster.nodes])
    except SystemExit:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        lab.start()
    except BaseException:
        lab.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    state = {
        "pids": [proc.pid for proc, _ in lab.procs],
        "master_conf": str(lab.master_conf),
        "nodes": list(lab.cluster.nodes),
    }
    _state_file(base).write_text(json.dumps(state, indent=1))
    for _, log in lab.procs:
        log.close()  # the daemons keep their own copy of the descriptor
    rel = os.path.relpath(base)
    conf = base / "salt" / lab.master_id / "conf"
    shown = f"$PWD/{os.path.relpath(conf)}" if not rel.startswith("..") else str(conf)
    print(f"lab up in {rel}: a salt-master and the minions {', '.join(lab.cluster.nodes)}")
    print(f"point salt-run at it with:  export SALT_CONFIG_DIR={shown}")
    print(f"stop it with:               python -m demo.labctl down{'' if rel == '.lab' else f' --dir {rel}'}")
    return 0


def status(base):
    base = pathlib.Path(base).resolve()
    try:
        state = json.loads(_state_file(base).read_text())
    except FileNotFoundError:
        print(f"no lab in {os.path.relpath(base)}")
        return 1
    alive = [pid for pid in state["pids"] if _alive(pid)]
    print(f"lab in {os.path.relpath(base)}: {len(alive)} of {len(state['pids'])} Salt daemons running")
    print(f"nodes: {', '.join(state['nodes'])}")
    return 0 if len(alive) == len(state["pids"]) else 1


def down(base, keep=False):
    base = pathlib.Path(base).resolve()
    try:
        state = json.loads(_state_file(base).read_text())
    except FileNotFoundError:
        print(f"no lab in {os.path.relpath(base)}")
        return 0
    pids = [pid for pid in state["pids"] if _alive(pid)]
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
    _state_file(base).unlink()
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"lab down: {len(pids)} Salt daemon(s) stopped"
        + ("" if keep else f", {os.path.relpath(base)} removed")
    )
    return 0


def _signal_group(pid, sig):
    """Each daemon was started in its own session (demo/lab.py), so its group is its pid."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo.labctl", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "status", "down"))
    parser.add_argument("--dir", default=os.environ.get("VPKG_LAB", ".lab"), help="the lab's folder")
    parser.add_argument("--cluster", default="demo", help="cluster YAML or shipped example (up)")
    parser.add_argument("--keep", action="store_true", help="down: keep the folder (logs, audit trail)")
    args = parser.parse_args(argv)
    if args.action == "up":
        return up(args.dir, args.cluster)
    if args.action == "status":
        return status(args.dir)
    return down(args.dir, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
