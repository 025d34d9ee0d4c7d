"""The VM host's locks of a move: one move per package, one online migration per VM host.

Files under ``<cachedir>/vpkg/locks`` (owner-only, ``flock``): ``<package>.lock`` refuses a
second move of a package (it holds the holder's pid and start time for the message), and
``migration-<node>.lock`` is the host's turn at an online migration (Integrity VM runs one per
VM host at a time). The proxies of a deltaproxy share the folder: hence the node in the slot's name.
"""

import contextlib
import errno
import fcntl
import os
import time


class Busy(Exception):
    """The lock is held; the message names the holder."""


def _directory(cachedir):
    path = os.path.join(cachedir, "vpkg", "locks")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _try_lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


@contextlib.contextmanager
def package_lock(cachedir, package):
    """One move per package at a time on this host: a second one is refused (:class:`Busy`), not queued."""
    path = os.path.join(_directory(cachedir), f"{package}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # owner-only, like every file we keep
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise Busy(
                f"A move of package {package} is already in progress on this node ({holder}); "
                "refusing to start a second one."
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


class MigrationSlot:
    """This VM host's turn at an online migration; released as soon as the migration ends."""

    POLL = 0.01  # seconds between tries while another move from this host migrates

    def __init__(self, cachedir, node):
        self.path = os.path.join(_directory(cachedir), f"migration-{node}.lock")
        self.fd = None

    def take(self, timeout, on_wait=None):
        """Wait at most ``timeout`` seconds for the slot; returns the seconds waited.

        A move queued behind another one from this host (an evacuation publishes the next move
        while the previous one migrates) has done its preflight and waits here, before switching
        is disabled, so waiting never leaves a package unprotected. ``on_wait()`` is called once
        when the slot is found taken. Raises :class:`Busy` after ``timeout``.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        t0 = time.monotonic()
        told = False
        try:
            while not _try_lock(fd):
                if not told and on_wait is not None:
                    on_wait()
                told = True
                if time.monotonic() - t0 > timeout:
                    raise Busy(
                        f"another online migration from this VM host did not end within {timeout:.0f} "
                        "seconds; nothing was changed."
                    )
                time.sleep(self.POLL)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return time.monotonic() - t0

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
