"""Shared helpers of the Salt benchmarks: load the checkout's sgsim and lab, watch state and events.

The benchmarks run against this checkout (``sim/``, ``demo/lab.py``), never an installed copy
that may be stale. Timing helpers only observe: nothing here changes what is measured.
"""

import importlib.util
import json
import os
import pathlib
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def compile_checkout():
    """Byte-compile the checkout's loader folders, as ``make bytecode`` does (see the Makefile):
    the lab's daemons load our modules from them, and must not compile them again for every job."""
    import compileall

    folders = ("_modules", "_runners", "_states", "_beacons", "_utils", "_output", "_proxy", "_grains", "sim")
    for folder in folders:
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def load_sgsim():
    """Import ``sgsim`` from ``sim/`` (as tests/conftest.py does) and return the module."""
    if "sgsim" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "sgsim", ROOT / "sim" / "__init__.py", submodule_search_locations=[str(ROOT / "sim")]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["sgsim"] = module
        spec.loader.exec_module(module)
    return sys.modules["sgsim"]


def load_lab():
    """The ``Lab`` class of ``demo/lab.py`` (demo/ is not a package); the checkout compiled first."""
    compile_checkout()
    load_sgsim()
    if "vpkg_bench_lab" not in sys.modules:
        spec = importlib.util.spec_from_file_location("vpkg_bench_lab", ROOT / "demo" / "lab.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["vpkg_bench_lab"] = module
        spec.loader.exec_module(module)
    return sys.modules["vpkg_bench_lab"].Lab


def lab_class(minion_threads=False):
    """``Lab``, or with ``minion_threads`` a Lab whose minions run jobs in threads.

    demo/lab.py sets ``multiprocessing: True`` (Salt's default); the threaded variant measures
    what Salt's per-job process costs, as a deployment choice, without changing the product.
    """
    lab = load_lab()
    if not minion_threads:
        return lab

    class ThreadedLab(lab):
        def minion_config(self, node):
            config = super().minion_config(node)
            config["multiprocessing"] = False
            return config

    return ThreadedLab


def example_doc(name):
    """A shipped example cluster description as a dict (to adjust its sim settings)."""
    sgsim = load_sgsim()
    from sgsim import config

    return config.load_yaml(str(sgsim.example_path(name)))


def spread(values):
    """``(median, min, max)`` of a list of seconds."""
    return statistics.median(values), min(values), max(values)


def machine():
    """What the figures ran on: CPUs and load (other work on the machine inflates them)."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min), {five:.2f} (5 min)"


def verdict(ok):
    return "PASS" if ok else "MISS"


def print_table(headers, rows):
    """A plain fixed-width table (the figures are copied into docs/benchmarks.md)."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


class SwitchingWatcher:
    """Polls the simulator's state file and records when a package's switching (autorun) changes.

    The state file is replaced atomically on every change, so reading it without the lock is safe.
    This is the one clock that sees both our move and the native command from outside, the same
    way: the unprotected window is from the first read showing autorun off to the first read
    showing it back on. Resolution is the poll interval (``interval`` seconds, 2 ms by default).
    """

    def __init__(self, home, package, interval=0.002):
        from sgsim.store import STATE_FILE

        self.path = os.path.join(home, STATE_FILE)
        self.package = package
        self.interval = interval
        self.changes = []  # (monotonic time, autorun)
        self._stop = threading.Event()
        self._thread = None

    def _read(self):
        try:
            with open(self.path, "rb") as handle:
                return bool(json.loads(handle.read())["packages"][self.package]["autorun"])
        except (OSError, ValueError, KeyError):
            return None

    def _loop(self):
        last = self._read()
        while not self._stop.is_set():
            now = self._read()
            if now is not None and now != last:
                self.changes.append((time.monotonic(), now))
                last = now
            time.sleep(self.interval)

    def __enter__(self):
        self.changes = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    def window(self):
        """Seconds from switching off to switching back on, or None if not both were seen."""
        off = next((t for t, on in self.changes if not on), None)
        back = [t for t, on in self.changes if on and off is not None and t > off]
        if off is None or not back:
            return None
        return back[-1] - off


class EventRecorder:
    """Records every event on the lab master's bus with the time it arrived (monotonic).

    Runs in a thread of the benchmark process, so it adds no process to what is measured.
    """

    def __init__(self, master_opts):
        self.opts = master_opts
        self.events = []  # (monotonic time, tag, data)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = None

    def _loop(self):
        import salt.utils.event

        with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=True) as bus:
            self._ready.set()
            while not self._stop.is_set():
                event = bus.get_event(wait=0.2, full=True)
                if event:
                    self.events.append((time.monotonic(), event.get("tag", ""), event.get("data") or {}))

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        time.sleep(0.2)  # let the subscription settle before the measured work publishes
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)  # the last events are still on their way
        self._stop.set()
        self._thread.join(5)
        return False
