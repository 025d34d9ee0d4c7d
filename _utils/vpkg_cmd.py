"""Argument lists for the Serviceguard and Integrity VM commands (pure: data in, argv out).

Building the argv is kept apart from running it (the execution modules) and from parsing what it
prints (``vpkg_sgparse``, ``vpkg_vmparse``), so each step is tested on its own and the runner and
the ``vpkg`` module build the very same commands. Callers validate names first
(``vpkg_names``); these functions only assemble lists and never a shell string.

Standard library only; no Salt dunders (see docs/installing.md).
"""

import posixpath


def _bin(bin_dir, command):
    return posixpath.join(bin_dir, command)


def cmviewcl(bin_dir, verbose=True, level=None, packages=(), nodes=()):
    """``cmviewcl [-v] -f line [-l level] [-p pkg]... [-n node]...``."""
    argv = [_bin(bin_dir, "cmviewcl")]
    if verbose:
        argv.append("-v")
    argv += ["-f", "line"]
    if level:
        argv += ["-l", level]
    for package in packages:
        argv += ["-p", package]
    for node in nodes:
        argv += ["-n", node]
    return argv


def cmmodpkg(bin_dir, package, enable, node=None):
    """``cmmodpkg -e|-d [-n node] package``: global switching, or node switching with ``node``."""
    argv = [_bin(bin_dir, "cmmodpkg"), "-e" if enable else "-d"]
    if node:
        argv += ["-n", node]
    return [*argv, package]


def cmrunpkg(bin_dir, package, node=None):
    """``cmrunpkg [-n node] package``."""
    argv = [_bin(bin_dir, "cmrunpkg")]
    if node:
        argv += ["-n", node]
    return [*argv, package]


def cmhaltpkg(bin_dir, package, detach=False):
    """``cmhaltpkg [-d] package`` (``-d``: live application detach, the guest keeps running)."""
    argv = [_bin(bin_dir, "cmhaltpkg")]
    if detach:
        argv.append("-d")
    return [*argv, package]


def cmmovevpkg(bin_dir, package, node):
    """``cmmovevpkg -v -P package -h node`` (SG IVS toolkit: the whole online move, verbose)."""
    return [_bin(bin_dir, "cmmovevpkg"), "-v", "-P", package, "-h", node]


def hpvmstatus(bin_dir, machine=False, verbose=False, guest=None):
    """``hpvmstatus [-M] [-V] [-P guest]``."""
    argv = [_bin(bin_dir, "hpvmstatus")]
    if machine:
        argv.append("-M")
    if verbose:
        argv.append("-V")
    if guest:
        argv += ["-P", guest]
    return argv


def hpvmmigrate(bin_dir, guest, host, online=True, check_only=False):
    """``hpvmmigrate [-s] [-o] -P guest -h host``."""
    argv = [_bin(bin_dir, "hpvmmigrate")]
    if check_only:
        argv.append("-s")
    if online:
        argv.append("-o")
    return [*argv, "-P", guest, "-h", host]


def hpvmmodify_online_migration(bin_dir, guest, enabled):
    """``hpvmmodify -P guest -x online_migration=enabled|disabled``."""
    value = "enabled" if enabled else "disabled"
    return [_bin(bin_dir, "hpvmmodify"), "-P", guest, "-x", f"online_migration={value}"]


def said(stdout, stderr):
    """What a failed command printed, for its error message: stdout's lines, then stderr's.

    A refusal's reason may come on stdout and only the summary on stderr (``cmrunpkg``: ``Unable
    to run package p on node n. Node is not eligible.``, then ``cmrunpkg: Unable to start some
    package or package instances``): the reason must be in the first line the operator reads.
    Blank lines are dropped.
    """
    texts = (stdout, stderr)
    return "\n".join(line.strip() for text in texts for line in (text or "").splitlines() if line.strip())


def early_conf(sources, key, default):
    """``key`` from the first mapping of ``sources`` that has it (minion config, grains, pillar:
    config.get's order), for ``__virtual__``, which may run before ``__salt__`` is complete.
    A source the loader has not packed (None, or not a mapping) is skipped."""
    for source in sources:
        try:
            if source is not None and source.get(key) is not None:
                return source[key]
        except (TypeError, AttributeError, LookupError):
            continue
    return default
