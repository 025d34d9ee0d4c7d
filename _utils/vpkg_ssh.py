"""A VM host reached with the OpenSSH client: one multiplexed connection, commands as argv lists.

The ``vmhost`` proxy module keeps one :class:`Connection` per VM host. Its :meth:`Connection.run`
takes what :func:`vpkg_command.run` takes (an argv list, a timeout, an optional stdout line
callback) and returns the same result dict, so the execution modules cannot tell a proxy from a
local minion.

- **One connection per host**: a ControlMaster started with ``ssh -M -N -f`` (its own process,
  its stderr to a file: a master forked by a command's own ssh keeps that command's stderr pipe
  open), in a private folder; every command is a session multiplexed over it. A dead master
  (host rebooted, sshd restarted, network cut) is noticed before the next command (its control
  socket no longer answers) and started again.
- **Host keys**: ``StrictHostKeyChecking=yes`` against ``known_hosts_file`` only, ``BatchMode``:
  an unknown or changed key is refused with an error that says so, never accepted.
- **Quoting**: the remote account's shell (a POSIX shell: ``sh``, ``ksh``, ``bash``) gets one
  command string in which every argument is single-quoted (``shlex.quote``): no value can reach it
  as syntax.
- **The remote process is ours to stop**: each command first prints its shell's pid on stderr,
  then ``exec``\\ s the command (same pid). A timeout sends ``kill -TERM PID`` to the host (and
  ``kill -KILL`` after a grace), so a timed-out ``hpvmmigrate`` aborts there, not just the local
  client. A connection that drops while a command runs is re-established, and the call waits
  (within its timeout) until that pid has ended on the host: the caller then looks at what the
  command left behind (``lost`` in the result: its exit status is unknown).

Standard library only; no Salt dunders.
"""

import contextlib
import os
import pathlib
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_command
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_command

# The exit status ssh uses for its own errors (connection, authentication, host key).
SSH_ERROR = 255
PID_LINE = re.compile(r"^vpkg-pid (\d+)$")
# Seconds between looks at a command whose connection dropped: has it ended on the host yet?
LOST_POLL = 0.5
DEFAULTS = {"port": 22, "user": "root", "connect_timeout": 10, "persist": 600}


class SshError(Exception):
    """The host could not be reached (or its key was refused); nothing ran there."""


def remote_command(argv):
    """The one string the remote shell runs: say our pid, then become the command."""
    if not argv or any(not isinstance(a, str) or "\0" in a for a in argv):
        raise ValueError(f"a command is a non-empty list of strings without NUL: {argv!r}")
    return 'echo "vpkg-pid $$" >&2; LC_ALL=C; LANG=C; export LC_ALL LANG; exec ' + " ".join(
        shlex.quote(a) for a in argv
    )


def describe_failure(stderr):
    """What an ssh error means, in the operator's words (first line of the error)."""
    text = (stderr or "").strip()
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return "its host key is not the one in known_hosts_file (refused: " + _last_line(text) + ")"
    if "Permission denied" in text:
        return "authentication was refused (" + _last_line(text) + ")"
    return _last_line(text) or "ssh failed without a message"


def _last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class Connection:
    """One VM host: ``host`` plus the ``proxy:`` pillar keys (port, user, identity_file, ...)."""

    def __init__(self, host, control_dir=None, ssh="ssh", **options):
        if not isinstance(host, str) or not host or host.startswith("-"):
            raise ValueError(f"host must be a host name or address, not {host!r}")
        self.host = host
        self.options = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        self.ssh = ssh
        self.own_dir = control_dir is None
        self.control_dir = control_dir or tempfile.mkdtemp(prefix="vpkg-ssh-")
        os.chmod(self.control_dir, 0o700)
        self.control_path = os.path.join(self.control_dir, "cm")
        self._lock = threading.Lock()
        self.masters_started = 0

    # -- argv ----------------------------------------------------------------------------------
    def _base(self, master=False):
        opts = self.options
        argv = [
            self.ssh,
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={int(opts['connect_timeout'])}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", f"ControlPath={self.control_path}",
            "-p", str(int(opts["port"])),
            "-l", str(opts["user"]),
        ]  # fmt: skip
        if opts.get("known_hosts_file"):
            argv += ["-o", f"UserKnownHostsFile={opts['known_hosts_file']}"]
            argv += ["-o", "GlobalKnownHostsFile=none"]
        if opts.get("identity_file"):
            argv += ["-i", str(opts["identity_file"])]
        if master:
            argv += ["-M", "-N", "-f", "-o", f"ControlPersist={int(opts['persist'])}"]
        else:
            argv += ["-o", "ControlMaster=no"]
        return argv

    def argv(self, command):
        """The local ssh argv that runs ``command`` (a list) on the host over the master."""
        return [*self._base(), "--", self.host, remote_command(command)]

    # -- the master connection -----------------------------------------------------------------
    def master_alive(self):
        """True if the control socket answers (a dead master leaves a socket that refuses)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.control_path)
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def connect(self):
        """Start the master connection if it is not up; raise :class:`SshError` if it cannot be."""
        with self._lock:
            if self.master_alive():
                return
            try:
                # A dead master's socket is in the way; a dying one removes it as it exits, which
                # may be while we look (seen when the connection was cut mid-migration).
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.control_path)
                with tempfile.TemporaryFile(mode="w+") as errors:
                    argv = [*self._base(master=True), "--", self.host]
                    proc = subprocess.run(  # noqa: S603 - argv list
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                        timeout=float(self.options["connect_timeout"]) + 10,
                        check=False,
                    )
                    errors.seek(0)
                    said = errors.read()
            except (OSError, subprocess.TimeoutExpired) as exc:
                # Never a traceback out of the command seam: a move may have switching off.
                raise SshError(f"cannot reach VM host {self.host} over SSH: {exc}") from None
            if proc.returncode != 0 or not self.master_alive():
                raise SshError(f"cannot reach VM host {self.host} over SSH: {describe_failure(said)}")
            self.masters_started += 1

    def close(self):
        """Stop the master connection and remove the private folder."""
        if self.master_alive():
            subprocess.run(  # noqa: S603 - argv list
                [*self._base(), "-O", "exit", "--", self.host],
                capture_output=True,
                timeout=10,
                check=False,
            )
        if self.own_dir:
            # The master removes its socket as it exits, which may be while we look.
            shutil.rmtree(self.control_dir, ignore_errors=True)

    # -- commands ------------------------------------------------------------------------------
    def run(self, argv, timeout, on_line=None):
        """Run ``argv`` on the host; the result dict of :func:`vpkg_command.run`."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                self.connect()
            except SshError as exc:
                return {"retcode": SSH_ERROR, "stdout": "", "stderr": str(exc), "unreachable": True}
            call = _RemoteCall(self, argv)
            result = call.run(
                timeout if attempt == 1 else max(0.1, timeout - (time.monotonic() - started)), on_line
            )
            if result["retcode"] != SSH_ERROR or call.pid is not None:
                break
            # ssh failed before the command started (the master died under us): once more.
            if attempt == 2:
                result["stderr"] = f"VM host {self.host}: {describe_failure(result['stderr'])}"
                result["unreachable"] = True
        if result["retcode"] == SSH_ERROR and call.pid is not None and not result.get("timed_out"):
            return self._lost(call, result, timeout - (time.monotonic() - started))
        return result

    def signal(self, pid, name):
        """Send signal ``name`` to process ``pid`` on the host (a new session: best effort)."""
        proc = vpkg_command.run(self.argv(["kill", f"-{name}", str(pid)]), 15)
        return proc["retcode"] == 0

    def _lost(self, call, result, left):
        """The connection dropped while ``call`` ran: wait for its process to end on the host."""
        said = describe_failure(result["stderr"])
        end = time.monotonic() + max(0.0, left)
        while True:
            try:
                self.connect()
                alive = vpkg_command.run(self.argv(["kill", "-0", str(call.pid)]), 15)["retcode"] == 0
            except SshError as exc:
                result["stderr"] = (
                    f"the connection to VM host {self.host} dropped while {call.command[0]} ran "
                    f"({said}) and cannot be re-established ({exc}); the command (pid {call.pid}) "
                    "may still run there"
                )
                break
            if not alive:
                result["stderr"] = (
                    f"the connection to VM host {self.host} dropped while {call.command[0]} ran "
                    f"({said}); reconnected: the command (pid {call.pid}) has ended there, its exit "
                    "status is unknown"
                )
                break
            if time.monotonic() > end:
                self.signal(call.pid, "TERM")
                result["stderr"] = (
                    f"the connection to VM host {self.host} dropped while {call.command[0]} ran "
                    f"({said}); reconnected, but the command (pid {call.pid}) was still running at "
                    "the timeout and was sent SIGTERM"
                )
                result["timed_out"] = True
                break
            time.sleep(LOST_POLL)
        result["lost"] = True
        return result


class _RemoteCall:
    """One command over the connection: its remote pid (from the first stderr line) and its end."""

    def __init__(self, connection, command):
        self.connection = connection
        self.command = list(command)
        self.pid = None

    def _stderr_line(self, line):
        if self.pid is None:
            match = PID_LINE.match(line.strip())
            if match:
                self.pid = int(match.group(1))
                return None
        return line

    def _stop(self, proc):
        """Timeout: stop the command on the host first, then the local client."""
        if self.pid is not None:
            self.connection.signal(self.pid, "TERM")
            try:
                proc.wait(vpkg_command.KILL_GRACE)
                return
            except subprocess.TimeoutExpired:
                self.connection.signal(self.pid, "KILL")
        vpkg_command.terminate(proc, grace=5)

    def run(self, timeout, on_line):
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list; the remote string is quoted
                self.connection.argv(self.command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as err:
            return {"retcode": 127, "stdout": "", "stderr": f"{self.connection.ssh}: {err.strerror}"}
        return vpkg_command.finish(
            proc, timeout, on_line, on_timeout=self._stop, on_stderr_line=self._stderr_line
        )
