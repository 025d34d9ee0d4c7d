"""A real ssh destination on 127.0.0.1 for each simulated VM host: one sshd per host, for tests.

Real VM hosts are HP-UX machines reached over OpenSSH, with no Salt minion. Here each simulated
host (a command folder of ``sgsim.testing.SimCluster``) gets an sshd of its own: its own port on
127.0.0.1, host key, config, PidFile and log, all under a pytest tmp dir. The test client has one
key pair per session; each host's ``known_hosts_file`` holds that host's key under
``[127.0.0.1]:PORT``, so clients can check host keys strictly.

The remote account: ``vpkgsim``, a uid-0 alias of root whose shell is ``/bin/sh``
(``useradd -o -u 0 -g 0 -M -d / -s /bin/sh vpkgsim``; password field ``*``, not ``!``: sshd
refuses a locked account even for key logins). Why:

- the simulator's files are root's: its home and its state and lock files are created 0700/0600
  by the test process (root) under /tmp/pytest-of-root (0700, and pytest sets it back to 0700 every
  session). The remote commands must read and write them. An unprivileged account would need
  every tmp dir on the path opened up and every file the simulator writes later (state is
  replaced by rename, so each write makes a new 0600 file owned by root) handed over again;
  ACLs do not help either, a 0600 create masks them out. uid 0 reads and writes them as they are.
- root itself cannot be used: sshd runs the remote command with the account's shell, and root's
  is bash, whose ~/.bashrc here starts pyenv: ~120 ms per command instead of ~10 ms (see
  shared/reference/ssh-here.md). ``/bin/sh`` (dash) reads no start-up file for a command.
- it is also what the product meets: Serviceguard and Integrity VM commands run as root on a
  real VM host.

Containment: each test sshd listens on 127.0.0.1 only, allows only this account
(``AllowUsers``), only public keys from its own AuthorizedKeysFile, no forwarding and no
``~/.ssh/rc`` (home is ``/``, where nothing of the account's lies). No system sshd is started or
changed.

Processes: ``SshHost`` runs ``sshd -D`` as a child (under ``setpriv --pdeathsig SIGTERM`` when
started from the main thread, so the listener ends even if pytest is killed) and tracks every
connection sshd it accepted, with the commands they run. ``stop()`` and ``kill()`` end all of
them; an atexit handler and the fixtures' teardown stop every host still up.

Fixtures: ``ssh_account`` and ``ssh_client_key`` (session) are imported by tests/conftest.py.
``ssh_hosts`` wraps a ``sim`` fixture (a ``SimCluster``), so it is bound where that ``sim`` is
defined, in a conftest or test module, beside it (tests/ is on sys.path: pytest inserts the
folder of tests/conftest.py, as for ``publishing``)::

    import sshhost

    ssh_hosts = sshhost.ssh_hosts  # {node: SshHost} for the sim fixture here, package scope

Not once in tests/conftest.py for all: pytest caches a "package" fixture per package (each
integration lab folder is one) or, in a folder without ``__init__.py`` (tests/functional), for
the whole session, so one shared ``ssh_hosts`` would hand the first ``sim``'s hosts to every
folder. An assignment, not ``from sshhost import ssh_hosts``: ruff (F811) flags the
test functions that take an imported fixture as a parameter.
"""

import atexit
import contextlib
import dataclasses
import fcntl
import os
import pathlib
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

SSHD = "/usr/sbin/sshd"
USER = "vpkgsim"
HOME = "/"
SHELL = "/bin/sh"
LOCALHOST = "127.0.0.1"
# Serialises the machine-wide steps (apt-get, useradd) between test processes on one machine.
MACHINE_LOCK = "/tmp/vpkg-sshhost.lock"
# The PATH sshd gives uid 0 sessions when none is set.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POLICY_RC_D = "/usr/sbin/policy-rc.d"


def _on_ci():
    return bool(os.environ.get("CI"))


def _skip_or_fail(reason):
    """Skip on a developer's machine without root; on CI (which runs as root) this is a failure."""
    if _on_ci():
        pytest.fail(f"{reason} (CI is set: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def _machine_lock():
    with open(MACHINE_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(argv, timeout=60, **kwargs):
    """Run argv; raise RuntimeError with its output if it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def _missing_tools():
    missing = [] if os.access(SSHD, os.X_OK) else [SSHD]
    return missing + [tool for tool in ("ssh", "ssh-keygen") if shutil.which(tool) is None]


def _apt_install(packages):
    """``apt-get update`` then install ``packages``, without starting any service they bring.

    Debian's maintainer scripts start services unless /usr/sbin/policy-rc.d says no (the Docker
    images have one that does); where there is none, one that says no is put there for the install.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = pathlib.Path(POLICY_RC_D)
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text(
            "#!/bin/sh\n# salt-vpkg tests/sshhost.py: no service starts during its install.\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        _run(["apt-get", "update"], timeout=600, env=env)
        _run(["apt-get", "install", "-y", "--no-install-recommends", *packages], timeout=600, env=env)
    finally:
        if own_policy:
            policy.unlink()


def ensure_openssh():
    """Make sshd, ssh and ssh-keygen present and /run/sshd exist; install them with apt as root.

    Skips (fails on CI) when something is missing and this process is not root.
    """
    if os.geteuid() != 0:
        _skip_or_fail("tests/sshhost.py needs root: its sshd logs in a uid-0 account")
    with _machine_lock():
        if _missing_tools():
            _apt_install(["openssh-server", "openssh-client"])
            if _missing_tools():
                raise RuntimeError(f"still missing after apt-get install openssh-server: {_missing_tools()}")
        # sshd's privilege separation folder; Debian's package leaves its creation to the service.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def _shadow_password(user):
    with open("/etc/shadow") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == user:
                return fields[1]
    return None


def ensure_account(user=USER):
    """Create (or repair) ``user`` as a uid-0 alias with shell /bin/sh, home / and password ``*``.

    Idempotent. Refuses to touch an existing account of that name whose uid is not 0.
    """
    if os.geteuid() != 0:
        _skip_or_fail("tests/sshhost.py needs root to create its uid-0 account")
    with _machine_lock():
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            _run(
                ["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", HOME, "-s", SHELL]
                + ["-c", "salt-vpkg test VM hosts (tests/sshhost.py)", user]
            )
            pw = pwd.getpwnam(user)
        if pw.pw_uid != 0:
            raise RuntimeError(
                f"account {user} exists with uid {pw.pw_uid}: not changing it into a uid-0 alias"
            )
        if (pw.pw_gid, pw.pw_dir, pw.pw_shell) != (0, HOME, SHELL):
            _run(["usermod", "-g", "0", "-d", HOME, "-s", SHELL, user])
        if _shadow_password(user) != "*":
            _run(["usermod", "-p", "*", user])
    return user


@dataclasses.dataclass(frozen=True)
class ClientKey:
    """The test client's ed25519 key pair (files owned by root, private key 0600)."""

    private: pathlib.Path
    public: pathlib.Path

    @property
    def public_line(self):
        return self.public.read_text().strip()


def make_client_key(directory):
    """Generate an ed25519 key pair without passphrase as ``directory/id_ed25519{,.pub}``."""
    directory = pathlib.Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = directory / "id_ed25519"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vpkg-test-client", "-f", str(private)])
    private.chmod(0o600)
    return ClientKey(private, directory / "id_ed25519.pub")


def free_port():
    """A TCP port on 127.0.0.1 free right now (SshHost.start retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


# --- processes -------------------------------------------------------------------------------


def _stat(pid):
    """(ppid, state, starttime) of a live process, or None (gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _proc_table():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                table[int(entry)] = st
    return table


def _tree(roots):
    """Live pids of the processes ``roots`` ((pid, starttime) pairs) and all their descendants."""
    table = _proc_table()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = set()
    todo = [pid for pid, start in roots if pid in table and table[pid][2] == start]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _signal(pids, sig):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _freeze(roots):
    """SIGSTOP ``roots`` and their descendants until no new one appears; return the pids."""
    frozen = set()
    while True:
        pids = _tree(roots) | frozen
        if pids == frozen:
            return frozen
        _signal(pids - frozen, signal.SIGSTOP)
        frozen = pids


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        alive = {pid for pid in pids if _stat(pid) is not None}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.01)


_LIVE = set()
_LIVE_LOCK = threading.Lock()


def _stop_all():
    with _LIVE_LOCK:
        hosts = list(_LIVE)
    for host in hosts:
        with contextlib.suppress(Exception):
            host.stop()


atexit.register(_stop_all)


class SshHost:
    """One sshd on 127.0.0.1 standing for one VM host, with everything it needs under ``base_dir``.

    ``path_dirs``: folders put first on the PATH of its sessions (a simulated host's command
    folder, so ``cmviewcl`` runs by name as on a real VM host). The port is chosen at
    construction and kept for the life of the object (``restart()`` keeps it; only a first
    ``start()`` that finds it taken picks another and rewrites the config and known_hosts).
    """

    host = LOCALHOST

    def __init__(self, base_dir, client_key, *, user=USER, name="vmhost", path_dirs=()):
        self.name = name
        self.user = user
        self.client_key = client_key
        self.base = pathlib.Path(base_dir).resolve()
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path_dirs = [str(pathlib.Path(d).resolve()) for d in path_dirs]
        self.host_key = self.base / "ssh_host_ed25519_key"
        self.config_file = self.base / "sshd_config"
        self.pid_file = self.base / "sshd.pid"
        self.log_file = self.base / "sshd.log"
        self.authorized_keys_file = self.base / "authorized_keys"
        self._known_hosts = self.base / "known_hosts"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}-host", "-f", str(self.host_key)])
        self.authorized_keys_file.write_text(client_key.public_line + "\n")
        self._proc = None
        self._started_once = False
        self._connections = set()  # (pid, starttime) of connection sshds a stopped listener left
        self._set_port(free_port())

    def __repr__(self):
        return f"SshHost({self.name!r}, port={self.port}, running={self.is_running()})"

    # --- client side ---

    @property
    def port(self):
        return self._port

    @property
    def identity_file(self):
        return self.client_key.private

    @property
    def known_hosts_file(self):
        """A known_hosts file with this host's key: ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``."""
        return self._known_hosts

    @property
    def host_key_line(self):
        """``ssh-ed25519 AAAA...`` (the public host key without comment)."""
        return " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])

    @property
    def destination(self):
        return f"{self.user}@{self.host}"

    def ssh_options(self):
        """The client's ``-o`` options (strict host key check against known_hosts_file, key only)."""
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": "yes",
            "UserKnownHostsFile": str(self.known_hosts_file),
            "GlobalKnownHostsFile": "/dev/null",
            "IdentitiesOnly": "yes",
            "ConnectTimeout": "10",
        }
        return [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]

    def ssh_argv(self, *remote_args, options=()):
        """A full ``ssh`` argv running ``remote_args`` on this host.

        Each remote arg is shell-quoted, so the remote command gets exactly that argv (ssh
        joins its arguments into one string for the remote shell). For shell code, call with no
        remote args and append the code as one string. ``-F none``: no ssh_config is read.
        ``options``: more client arguments (e.g. ``["-o", "ControlMaster=auto", ...]``); they come
        before the defaults, so they override them (ssh keeps the first value it gets of an option).
        """
        argv = ["ssh", "-F", "none", *options, *self.ssh_options()]
        argv += ["-i", str(self.identity_file), "-p", str(self.port), self.destination]
        if remote_args:
            argv.append(shlex.join(str(a) for a in remote_args))
        return argv

    # --- server side ---

    def _set_port(self, port):
        self._port = port
        self._known_hosts.write_text(f"[{LOCALHOST}]:{port} {self.host_key_line}\n")
        lines = [
            f"Port {port}",
            f"ListenAddress {LOCALHOST}",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys_file}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",  # the account is uid 0
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitUserRC no",
            "PermitUserEnvironment no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxSessions 50",
            "MaxStartups 100:30:200",
            "LoginGraceTime 30",
            "Subsystem sftp internal-sftp",
        ]
        if self.path_dirs:
            lines.append(f"SetEnv PATH={':'.join(self.path_dirs)}:{DEFAULT_PATH}")
        self.config_file.write_text("\n".join(lines) + "\n")

    def is_running(self):
        """True while this host's listening sshd runs (new connections are accepted)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout=10):
        """Start the listening sshd (no-op if running); return once it listens."""
        if self.is_running():
            return self
        for _ in range(5):
            if self._spawn(timeout):
                self._started_once = True
                with _LIVE_LOCK:
                    _LIVE.add(self)
                return self
            if self._started_once:  # restart(): the port is part of the host, do not move it
                break
            self._set_port(free_port())
        raise RuntimeError(f"sshd for {self.name} on port {self.port} did not start:\n{self.log_tail()}")

    def _spawn(self, timeout):
        """Run sshd; True once its PidFile names it, False if the port was taken."""
        self.pid_file.unlink(missing_ok=True)
        argv = [SSHD, "-D", "-f", str(self.config_file), "-E", str(self.log_file)]
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            # The death signal follows the thread that forked: only the main thread lives as long as pytest.
            argv = ["setpriv", "--pdeathsig", "SIGTERM", *argv]
        log_size = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.base / "sshd.stderr", "ab") as err:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # sshd writes its PidFile once its listening socket is bound.
            with contextlib.suppress(OSError, ValueError):
                if int(self.pid_file.read_text()) == self._proc.pid:
                    return True
            if self._proc.poll() is not None:
                with contextlib.suppress(OSError), open(self.log_file, "rb") as f:
                    f.seek(log_size)
                    if b"Address already in use" in f.read():
                        return False
                raise RuntimeError(
                    f"sshd for {self.name} exited {self._proc.returncode}:\n{self.log_tail()}"
                    + (self.base / "sshd.stderr").read_text()
                )
            time.sleep(0.005)
        self._end_listener(signal.SIGKILL)
        raise RuntimeError(f"sshd for {self.name} wrote no PidFile within {timeout} s:\n{self.log_tail()}")

    def _listener(self):
        if not self.is_running():
            return None
        st = _stat(self._proc.pid)
        return None if st is None else (self._proc.pid, st[2])

    def _roots(self):
        listener = self._listener()
        return self._connections | ({listener} if listener else set())

    def connection_pids(self):
        """Pids of the connection sshds of this host (accepted by this or an earlier listener)."""
        listener = self._listener()
        table = _proc_table()
        pids = {pid for pid, start in self._connections if pid in table and table[pid][2] == start}
        if listener:
            pids |= {pid for pid, (ppid, _, _) in table.items() if ppid == listener[0]}
        return pids

    def _end_listener(self, sig):
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self.pid_file.unlink(missing_ok=True)

    def restart(self, timeout=10):
        """Stop the listener and start a new one on the same port with the same host key.

        Established connections are NOT cut (as with a real sshd restart): their sshds and
        commands go on, and the ControlMaster connections of clients keep working; new
        connections reach the new listener. stop() and kill() still end the old connections.
        """
        listener = self._listener()
        if listener:
            os.kill(listener[0], signal.SIGSTOP)  # a stopped listener accepts no connection meanwhile
            table = _proc_table()
            self._connections |= {(pid, st[2]) for pid, st in table.items() if st[0] == listener[0]}
            os.kill(listener[0], signal.SIGTERM)
            os.kill(listener[0], signal.SIGCONT)
            self._end_listener(signal.SIGTERM)
        return self.start(timeout)

    def stop(self, timeout=5):
        """End the listener and every connection of this host with the commands they run.

        SIGTERM first, SIGKILL for whatever still lives after ``timeout`` s. Clients see their
        connections closed (ssh exits 255). Idempotent.
        """
        pids = _freeze(self._roots())
        _signal(pids, signal.SIGTERM)
        _signal(pids, signal.SIGCONT)
        self._end_listener(signal.SIGTERM)
        _signal(_wait_gone(pids, timeout), signal.SIGKILL)
        left = _wait_gone(pids, timeout)
        self._connections.clear()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if left:
            raise RuntimeError(f"{self.name}: processes {sorted(left)} survived SIGKILL")

    def kill(self):
        """The host becomes unreachable at once: SIGKILL to the listener, every connection and command.

        Established connections are cut (clients get EOF; ssh exits 255) and new ones are
        refused at once (nothing listens on the port: ssh exits 255, "Connection refused").
        start() brings the host back on the same port.
        """
        pids = _freeze(self._roots())
        _signal(pids, signal.SIGKILL)
        self._end_listener(signal.SIGKILL)
        _wait_gone(pids, 5)
        self._connections.clear()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- fixtures --------------------------------------------------------------------------------

_CLIENT_KEYS = {}


@contextlib.contextmanager
def started_ssh_hosts(cluster, base_dir, client_key, user=USER):
    """``{node: SshHost}`` for every node of ``cluster``, started; all stopped on leaving.

    Each host's sessions have that node's command folder first on PATH.
    """
    base_dir = pathlib.Path(base_dir)
    hosts = {}
    with contextlib.ExitStack() as stack:
        for node in cluster.nodes:
            host = SshHost(
                base_dir / node, client_key, user=user, name=node, path_dirs=[cluster.bindir(node)]
            )
            stack.callback(host.stop)
            hosts[node] = host.start()
        yield hosts


@pytest.fixture(scope="session")
def ssh_account():
    """Make OpenSSH present and the remote account exist; the account's name."""
    ensure_openssh()
    return ensure_account()


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory):
    """The session's client key pair (one per session even if several conftests import this)."""
    base = tmp_path_factory.getbasetemp()
    if base not in _CLIENT_KEYS:
        _CLIENT_KEYS[base] = make_client_key(tmp_path_factory.mktemp("ssh-client"))
    return _CLIENT_KEYS[base]


@pytest.fixture(scope="package")
def ssh_hosts(sim, ssh_account, ssh_client_key, tmp_path_factory):
    """``{node: SshHost}`` for every node of the ``sim`` fixture's cluster, started; stopped at teardown."""
    with started_ssh_hosts(sim, tmp_path_factory.mktemp("ssh-hosts"), ssh_client_key, ssh_account) as hosts:
        yield hosts
