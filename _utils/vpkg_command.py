"""The one place a VM host command runs: an argument list, a timeout, an optional line callback.

Every Serviceguard and Integrity VM command of the execution modules goes through
:func:`run_on_host`: on a salt-minion running on the VM host itself, :func:`run` starts the
process here; on a ``vmhost`` proxy minion (``_proxy/vmhost.py``), the proxy's ``vmhost.run``
sends the same argument list over SSH. Callers cannot tell which, and get the same result dict:

``{"retcode": int, "stdout": str, "stderr": str}``, plus ``"timed_out": True`` when the command
was stopped after ``timeout`` seconds, and, from a proxy only, ``"lost": True`` when the connection
to the host dropped while the command ran (its exit status is then unknown: see docs/proxy.md).

Never a shell: the argv goes to ``subprocess.Popen`` as a list. Standard library only; no Salt
dunders (see docs/installing.md).
"""

import concurrent.futures
import contextvars
import os
import subprocess
import threading

# Seconds a timed-out command gets to exit after SIGTERM (hpvmmigrate aborts the migration and
# leaves the guest on the source) before it is killed.
KILL_GRACE = 10

# Commands read their messages in the C locale: the parsers read HP's English output.
_ENV = {**os.environ, "LC_ALL": "C", "LANG": "C"}


def run_on_host(proxy, argv, timeout, on_line=None):
    """Run ``argv`` on this VM host, through the ``vmhost`` proxy when this is one."""
    if proxy and "vmhost.run" in proxy:
        return proxy["vmhost.run"](argv, timeout=timeout, on_line=on_line)
    return run(argv, timeout, on_line)


def run(argv, timeout, on_line=None):
    """Run ``argv`` here: ``on_line`` gets each stdout line as it is printed.

    On timeout the process gets SIGTERM, and SIGKILL after :data:`KILL_GRACE` seconds.
    """
    try:
        proc = subprocess.Popen(  # noqa: S603 - a validated argv list, never a shell
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_ENV,
        )
    except OSError as err:
        return {"retcode": 127, "stdout": "", "stderr": f"{argv[0]}: {err.strerror}"}
    return finish(proc, timeout, on_line)


def finish(proc, timeout, on_line=None, on_timeout=None, on_stderr_line=None):
    """Collect a started process's output until it exits or ``timeout`` passes.

    ``on_timeout(proc)`` replaces the default SIGTERM-then-SIGKILL (the SSH transport stops the
    remote command first); ``on_stderr_line`` sees each stderr line and returns it, or None to
    keep it out of the result.
    """
    stderr = []

    def read_stderr():
        for line in proc.stderr:
            kept = on_stderr_line(line) if on_stderr_line else line
            if kept is not None:
                stderr.append(kept)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def expire():
        timed_out.set()
        (on_timeout or terminate)(proc)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if on_line is not None:
                on_line(line)
        retcode = proc.wait()
    finally:
        timer.cancel()
        reader.join(5)
    result = {"retcode": retcode, "stdout": "".join(out), "stderr": "".join(stderr)}
    if timed_out.is_set():
        result["timed_out"] = True
        result["stderr"] += f"\nTimed out after {timeout} seconds; the command was stopped."
    return result


def terminate(proc, grace=KILL_GRACE):
    """SIGTERM, then SIGKILL if the process has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def on_vmhost_proxy(opts):
    """True in a ``vmhost`` proxy minion: the commands are on the VM host, not on this machine."""
    proxy = (opts or {}).get("proxy") if hasattr(opts, "get") else None
    return isinstance(proxy, dict) and proxy.get("proxytype") == "vmhost"


def failure(argv, result, said=None):
    """``(message, info)`` for a failed command: what it said, its exit status.

    The message quotes the command's stderr, or its stdout when stderr is empty; ``said(stdout,
    stderr)`` composes it instead where a command puts its reason on stdout (``cmrunpkg``).
    """
    stderr = (result.get("stderr") or "").strip()
    stdout = (result.get("stdout") or "").strip()
    retcode = result.get("retcode")
    info = {"argv": list(argv), "retcode": retcode, "stderr": stderr, "stdout": stdout}
    for flag in ("timed_out", "lost", "unreachable"):
        if result.get(flag):
            info[flag] = True
    text = said(stdout, stderr) if said else stderr or stdout
    return f"{' '.join(argv)} failed (exit status {retcode}): {text}", info


def at_once(*calls, errors=(Exception,)):
    """Run independent read-only calls concurrently: ``[(value, None) or (None, exception)]``.

    Each call runs its own command process, so a move's preflight reads ``cmviewcl`` and
    ``hpvmstatus`` in the time of one (about 25 ms saved). Salt's loader dunders live in context
    variables: each thread runs in its own copy of this call's context.
    """

    def attempt(fn):
        try:
            return fn(), None
        except errors as exc:
            return None, exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, attempt, fn) for fn in calls]
    return [f.result() for f in futures]
