"""The ssh test harness (tests/sshhost.py): real sshds on 127.0.0.1 standing for simulated VM hosts."""

import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import sshhost
from sshhost import SshHost, make_client_key

import sgsim
from sgsim import config
from sgsim.testing import SimCluster


@pytest.fixture(scope="package")
def sim(tmp_path_factory):
    doc = config.load_yaml(str(sgsim.example_path("seed")))
    doc["sim"]["time_scale"] = 0.001
    return SimCluster.create(tmp_path_factory.mktemp("sshsim"), doc)


# The fixture, next to the sim it serves (ssh_account and ssh_client_key come from tests/conftest.py).
ssh_hosts = sshhost.ssh_hosts


@pytest.fixture
def host(ssh_account, ssh_client_key, tmp_path):
    """A host of this test alone (for tests that stop or kill it)."""
    h = SshHost(tmp_path / "host", ssh_client_key, user=ssh_account, name="solo")
    yield h.start()
    h.stop()


@pytest.fixture
def clients():
    """Start ssh clients in the background; any still running at teardown is killed."""
    procs = []

    def start(argv, **kwargs):
        kwargs = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kwargs}
        procs.append(subprocess.Popen(argv, **kwargs))
        return procs[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def ssh(argv, timeout=30, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_simulated_command_over_ssh_prints_what_it_prints_locally(sim, ssh_hosts):
    assert sorted(ssh_hosts) == sorted(sim.nodes)
    for node in ("xyzo1", "xyzo2"):
        local = sim.run(node, ["cmviewcl", "-v", "-f", "line"])
        remote = ssh(ssh_hosts[node].ssh_argv(sim.command(node, "cmviewcl"), "-v", "-f", "line"))
        assert local.returncode == remote.returncode == 0, remote.stderr
        assert "package:slvm1|" in local.stdout
        assert (remote.stdout, remote.stderr) == (local.stdout, local.stderr)


def test_each_host_runs_its_own_node_commands_by_name(sim, ssh_hosts):
    # hpvmstatus lists the guests of the node it runs on; xyzo1 and xyzo3 run different ones.
    outputs = {}
    for node in ("xyzo1", "xyzo3"):
        remote = ssh(ssh_hosts[node].ssh_argv("hpvmstatus"))
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout == sim.run(node, ["hpvmstatus"]).stdout
        outputs[node] = remote.stdout
    assert outputs["xyzo1"] != outputs["xyzo3"]


def test_remote_commands_change_the_simulated_state(sim, ssh_hosts):
    assert sim.state()["packages"]["web1"]["autorun"] is True
    remote = ssh(ssh_hosts["xyzo2"].ssh_argv("cmmodpkg", "-d", "web1"))
    try:
        assert remote.returncode == 0, remote.stderr
        assert sim.state()["packages"]["web1"]["autorun"] is False
    finally:
        assert sim.run("xyzo2", ["cmmodpkg", "-e", "web1"]).returncode == 0


def test_remote_args_arrive_as_given(ssh_hosts):
    argv = ssh_hosts["xyzo1"].ssh_argv("printf", "<%s>\n", "a b", "$HOME", "it's", "")
    assert ssh(argv).stdout == "<a b>\n<$HOME>\n<it's>\n<>\n"


def test_remote_exit_status_and_stderr_come_back(ssh_hosts):
    remote = ssh(ssh_hosts["xyzo1"].ssh_argv("cmviewcl", "-p", "nosuchpkg"))
    assert remote.returncode == 1  # the command's own status (ssh's own failures are 255)
    assert "nosuchpkg" in remote.stderr


def test_remote_account_shell_is_sh_not_bash(ssh_account, ssh_hosts):
    assert pwd.getpwnam(ssh_account).pw_shell == "/bin/sh"
    assert pwd.getpwnam(ssh_account).pw_uid == 0
    argv = ssh_hosts["xyzo1"].ssh_argv() + ['echo "${BASH_VERSION-nobash}"; readlink /proc/$$/exe; id -u']
    remote = ssh(argv)
    assert remote.returncode == 0, remote.stderr
    bash_version, exe, uid = remote.stdout.split()
    assert bash_version == "nobash"
    assert exe == os.path.realpath("/bin/sh")
    assert "bash" not in exe
    assert uid == "0"


def test_known_hosts_file_names_the_port_and_the_host_key(ssh_hosts):
    h = ssh_hosts["xyzo1"]
    kind, key = h.host_key_line.split()
    assert h.known_hosts_file.read_text() == f"[127.0.0.1]:{h.port} {kind} {key}\n"
    assert kind == "ssh-ed25519" and key.startswith("AAAA")
    assert len({x.port for x in ssh_hosts.values()}) == len(ssh_hosts)


def test_a_host_key_not_in_known_hosts_is_refused(ssh_hosts, tmp_path):
    h, other = ssh_hosts["xyzo1"], ssh_hosts["xyzo2"]
    empty = tmp_path / "empty"
    empty.write_text("")
    wrong = tmp_path / "wrong"
    wrong.write_text(f"[127.0.0.1]:{h.port} {other.host_key_line}\n")
    for known_hosts in (empty, wrong, other.known_hosts_file):
        argv = h.ssh_argv("true", options=["-o", f"UserKnownHostsFile={known_hosts}"])
        remote = ssh(argv)
        assert remote.returncode == 255, (known_hosts, remote.stderr)
        assert "Host key verification failed" in remote.stderr


def test_another_client_key_is_refused(ssh_hosts, tmp_path):
    h = ssh_hosts["xyzo1"]
    stranger = make_client_key(tmp_path / "stranger")
    argv = h.ssh_argv("true")
    argv[argv.index(str(h.identity_file))] = str(stranger.private)
    remote = ssh(argv)
    assert remote.returncode == 255
    assert "Permission denied (publickey)" in remote.stderr


def test_many_clients_at_once(ssh_hosts, clients):
    h = ssh_hosts["xyzo3"]
    procs = [clients(h.ssh_argv("echo", str(i))) for i in range(12)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert results == [(f"{i}\n", "", 0) for i in range(12)]


def test_after_kill_a_connect_fails_fast_and_established_connections_are_cut(host, clients):
    assert ssh(host.ssh_argv("true")).returncode == 0
    long_running = clients(host.ssh_argv("sleep", "60"))
    wait_for(host.connection_pids)
    conns = host.connection_pids()
    host.kill()
    assert not host.is_running()
    assert not any(alive(pid) for pid in conns)
    assert long_running.wait(10) == 255
    start = time.monotonic()
    remote = ssh(host.ssh_argv("true"))
    elapsed = time.monotonic() - start
    assert remote.returncode == 255
    assert "Connection refused" in remote.stderr
    assert elapsed < 2, elapsed
    host.start()
    assert ssh(host.ssh_argv("true")).returncode == 0


def test_restart_keeps_port_key_and_established_connections(host, clients):
    port, key = host.port, host.host_key_line
    # An established session reads one line, answers, and ends: it must outlive the restart.
    session = clients(host.ssh_argv("sh", "-c", "read line; echo got $line"), stdin=subprocess.PIPE)
    wait_for(host.connection_pids)
    old_listener = int(host.pid_file.read_text())
    host.restart()
    assert host.is_running()
    assert int(host.pid_file.read_text()) != old_listener
    assert (host.port, host.host_key_line) == (port, key)
    assert ssh(host.ssh_argv("echo", "again")).stdout == "again\n"
    out, err = session.communicate("hello\n", timeout=10)
    assert (out, session.returncode) == ("got hello\n", 0), err


def test_stop_ends_the_connections_a_restart_left(host, clients):
    session = clients(host.ssh_argv("sleep", "60"))
    wait_for(host.connection_pids)
    host.restart()
    old = host.connection_pids()
    assert old
    host.stop()
    assert not host.is_running()
    assert not host.pid_file.exists()
    assert not any(alive(pid) for pid in old)
    assert session.wait(10) == 255
    assert ssh(host.ssh_argv("true")).returncode == 255


def test_no_sshd_outlives_a_process_that_forgot_to_stop_it(ssh_account, ssh_client_key, tmp_path, clients):
    # A child Python starts a host and exits without stop(): atexit ends it. Then one that is
    # SIGKILLed: the listener dies with it (setpriv --pdeathsig).
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        import pathlib, sshhost
        key = sshhost.ClientKey(pathlib.Path({str(ssh_client_key.private)!r}),
                                pathlib.Path({str(ssh_client_key.public)!r}))
        h = sshhost.SshHost(pathlib.Path(sys.argv[1]), key, user={ssh_account!r}).start()
        print(h._proc.pid, flush=True)
        if sys.argv[2] == "hang":
            sys.stdin.read()
        """
    )
    for mode, base in (("exit", tmp_path / "a"), ("hang", tmp_path / "b")):
        child = clients([sys.executable, "-c", script, str(base), mode], stdin=subprocess.PIPE)
        pid = int(child.stdout.readline())
        try:
            if mode == "hang":
                assert alive(pid)
                child.send_signal(signal.SIGKILL)
            child.communicate(timeout=20)
            wait_for(lambda pid=pid: not alive(pid))
        finally:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_port_taken_before_the_first_start_is_replaced_and_kept_afterwards(
    ssh_account, ssh_client_key, tmp_path
):
    h = SshHost(tmp_path / "host", ssh_client_key, user=ssh_account, name="busy")
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", h.port))
            squatter.listen()
            taken = h.port
            h.start()
            assert h.port != taken
            assert h.known_hosts_file.read_text().startswith(f"[127.0.0.1]:{h.port} ssh-ed25519 ")
            assert ssh(h.ssh_argv("echo", "moved")).stdout == "moved\n"
        # Once started, the port is the host's: a restart that finds it taken fails, it does not move.
        h.stop()
        with socket.socket() as squatter:
            # The connection just closed may leave the port in TIME_WAIT: sshd binds through that
            # (SO_REUSEADDR), so the squatter does too; still only one of them can listen.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", h.port))
            squatter.listen()
            with pytest.raises(RuntimeError, match="did not start"):
                h.start()
        assert not h.is_running()
        h.start()
        assert ssh(h.ssh_argv("echo", "back")).stdout == "back\n"
    finally:
        h.stop()
