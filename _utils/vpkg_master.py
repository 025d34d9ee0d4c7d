"""Master-side plumbing of the vpkg runner: which minion is which node, asking them, watching jobs.

Kept out of the runner module so that the runner's public functions read as the procedure they
are. Everything here talks to Salt's client; the move engine (``vpkg_engine``) listens to the event
bus, and the decisions live in ``vpkg_plan``.
"""

import atexit
import fnmatch
import json
import logging
import os
import pathlib
import threading
import time

import salt.client
import salt.utils.master
from salt.exceptions import SaltClientError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_config, vpkg_files, vpkg_vm, vpkg_watch
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_config
    import vpkg_files
    import vpkg_vm
    import vpkg_watch

log = logging.getLogger(__name__)

_THREAD = threading.local()
_MADE = []  # every LocalClient kept for reuse, closed at exit


@atexit.register
def _close_clients():
    """Close the kept LocalClients while Salt's modules are still there.

    Left to the garbage collector at interpreter exit, a client whose event subscriber still has
    a read in flight (as one waiting for answers with a timeout leaves it) prints Salt's
    "Exception encountered while running stop method" traceback on salt-run's stderr.
    """
    while _MADE:
        try:
            _MADE.pop().destroy()
        except Exception:  # noqa: BLE001 - exiting anyway; nothing to tell the user
            log.debug("vpkg: closing a LocalClient at exit failed", exc_info=True)


def answers(client, tgt, fun, arg=(), kwarg=None, tgt_type="glob", timeout=30, answer_wait=10):
    """Publish ``fun`` and yield ``(minion id, {ret, retcode, success})`` as each answer arrives.

    What ``LocalClient.cmd_iter`` does, read differently: the answers are awaited on the client's
    event bus with a blocking read. ``cmd_iter`` polls it without blocking, and Salt's event
    transport then takes one 4 KiB chunk per poll with a 10 ms sleep between polls: a 300-package
    cluster view (87 KB) took 0.3 s to arrive that way, against a few ms. As ``cmd_iter`` does, a
    minion still silent after ``timeout`` seconds is asked ``saltutil.find_job`` (answered within
    ``answer_wait``) and waited for again while it runs the job; one that does not is left out.
    """
    pub = client.run_job(
        tgt, fun, arg=list(arg), kwarg=kwarg or {}, tgt_type=tgt_type, timeout=timeout, listen=True
    )
    jid, waiting = (pub or {}).get("jid"), set((pub or {}).get("minions") or ())
    if not jid:
        return
    tag = f"salt/job/{jid}/ret/"
    client.event.subscribe(tag, "startswith")  # kept, not dropped, while find_job is asked
    try:
        deadline = time.monotonic() + timeout
        while waiting:
            left = deadline - time.monotonic()
            event = client.event.get_event(wait=max(left, 0.01), tag=tag, match_type="startswith", full=True)
            data = (event or {}).get("data") or {}
            if data.get("id") in waiting and "return" in data:
                waiting.discard(data["id"])
                yield (
                    data["id"],
                    {
                        "ret": data["return"],
                        "retcode": data.get("retcode"),
                        "success": data.get("success", True),
                    },
                )
            elif left <= 0:
                found = client.cmd(
                    sorted(waiting), "saltutil.find_job", [jid], tgt_type="list", timeout=answer_wait
                )
                waiting = {
                    m for m in waiting if vpkg_watch.find_job_says(found.get(m), jid) == vpkg_watch.RUNNING
                }
                deadline = time.monotonic() + timeout
    finally:
        client.event.unsubscribe(tag, "startswith")


class NoClusterView(Exception):
    """No cluster node answered ``serviceguard.cluster``."""


def _targeted(minion_id, tgt, tgt_type):
    """True if ``minion_id`` is among the minions ``vpkg:minions`` names (list or glob)."""
    if tgt_type == "list":
        return minion_id in tgt
    return tgt_type == "glob" and fnmatch.fnmatch(minion_id, tgt)


def vmhost_grains(opts, config):
    """``{minion id: grains}`` of the VM hosts ``vpkg:minions`` (or ``node_map``) names, as cached.

    From the master's grains cache (``minion_data_cache``, on by default): no minion is asked.
    """
    if config.node_map:
        tgt, tgt_type = sorted(set(config.node_map.values())), "list"
    else:
        tgt, tgt_type = config.minions, config.tgt_type
    util = salt.utils.master.MasterPillarUtil(
        tgt, tgt_type, use_cached_grains=True, grains_fallback=False, pillar_fallback=False, opts=opts
    )
    return util.get_minion_grains()


def views_at_once(masters):
    """``{cluster: (view, reporter)}`` of the clusters (``{name: Master}``) one job could ask.

    One ``serviceguard.cluster`` job to one VM host of each cluster: the one that gave its last
    view, else the first of its own. A view counts only from a host of that cluster whose view
    names that cluster; a cluster missing from the result is to be asked on its own.
    """
    first = {}
    for name, master in masters.items():
        tgt, tgt_type = master.targets()
        last = master.cache.reporter() if master.cache is not None else None
        if last is None and tgt_type == "list" and tgt:
            last = sorted(tgt)[0]
        if last is not None and _targeted(last, tgt, tgt_type):
            first[last] = name
    if not first:
        return {}
    some = next(iter(masters.values()))
    views = {}
    for minion_id, ret in some.ask(sorted(first), "serviceguard.cluster", "list", some.view_timeout):
        name = first.get(minion_id)
        value = ret["ret"]
        if name is None or ret["retcode"]:
            continue
        if isinstance(value, dict) and value.get("name") == name and "packages" in value:
            if masters[name].cache is not None:
                masters[name].cache.save(value, minion_id)
            views[name] = (value, minion_id)
    return views


class ViewCache:
    """The last cluster view a runner read (``<cachedir>/vpkg/view.json``, owner-only).

    A move to a named target starts from it instead of asking a minion first (a Salt round trip,
    about 0.2 s): the host-side preflight re-reads ``cmviewcl`` and decides, so a stale view
    can only cost a retry, never a wrong move (see ``vpkg.move`` in the runner).
    """

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, "view.json")

    def save(self, cluster, reporter):
        self._write({"time": time.time(), "reporter": reporter, "cluster": cluster})

    def _write(self, kept):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        vpkg_files.write_private_json(self.path, kept)

    def load(self, max_age):
        """``(cluster, reporter)`` if a view at most ``max_age`` seconds old is kept, else None."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                kept = json.load(handle)
            age = time.time() - float(kept["time"])
            cluster = kept["cluster"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not 0 <= age <= max_age or not isinstance(cluster, dict) or "packages" not in cluster:
            return None
        return cluster, kept.get("reporter")

    def reporter(self):
        """The minion that gave the kept view, whatever its age; None if none is kept."""
        kept = self.load(float("inf"))
        return kept[1] if kept else None

    def moved(self, package, node):
        """Record a finished move in the kept view (its age is unchanged)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                kept = json.load(handle)
            kept["cluster"]["packages"][package]["node"] = node
        except (OSError, ValueError, KeyError, TypeError):
            self.drop()
            return
        self._write(kept)

    def drop(self):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


def _where(guest):
    """The VM layer's look-up command, as an operator types it (for messages only)."""
    return " ".join(vpkg_vm.where_is_it_command(str(guest or "<guest>")))


def _shows_itself_up(cluster, node):
    info = (cluster.get("nodes") or {}).get(node)
    return isinstance(info, dict) and info.get("status") == "up"


class Master:
    """The runner's view of the VM hosts: node <-> minion map, calls, and the event bus."""

    def __init__(self, opts, config, cache=None, members=None):
        """``config``: a ``vpkg_config.MasterConfig``, or the master config's ``vpkg`` mapping.

        ``members``: ``{node: minion id}`` of one cluster of several (``vpkg_site``); its minions
        are then the ones asked, whatever ``vpkg:minions`` says.
        """
        self.opts = opts
        if not isinstance(config, vpkg_config.MasterConfig):
            config = vpkg_config.MasterConfig.read(config)
        self.config = config
        self.node_map = dict(config.node_map or {}) if members is None else dict(members)
        self.timeout = float(config.timeout)
        self.view_timeout = float(
            min(5.0, self.timeout) if config.view_timeout is None else config.view_timeout
        )
        self.cache = cache
        self._client = None

    @property
    def client(self):
        if self._client is None:
            # From the config file, as Salt's own runners do (manage.up): under orchestrate started
            # by the reactor, __opts__["user"] is "Reactor", which has no publish key.
            conf_file = self.opts.get("conf_file")
            clients = _THREAD.__dict__.setdefault("clients", {})
            self._client = clients.get(conf_file)
            if self._client is None:
                if conf_file:
                    self._client = salt.client.get_local_client(conf_file)
                else:
                    self._client = salt.client.get_local_client(mopts=self.opts)
                # Building one costs about 80 ms (it loads the execution modules): a warm process
                # (the master's runner threads, a RunnerClient) reuses it, one per thread.
                if conf_file:
                    clients[conf_file] = self._client
                    _MADE.append(self._client)
        return self._client

    def minion(self, node):
        """Serviceguard node names and minion ids are the same unless ``vpkg:node_map`` says otherwise."""
        return self.node_map.get(node, node)

    def node(self, minion_id):
        for node, mid in self.node_map.items():
            if mid == minion_id:
                return node
        return minion_id

    def targets(self):
        """The minions asked for the cluster view: the mapped ones, else ``vpkg:minions`` (glob)."""
        if self.node_map:
            return sorted(set(self.node_map.values())), "list"
        return self.config.minions, self.config.tgt_type

    def cluster(self, from_up_node=False, prefer=None):
        """The cluster from the first cluster node that answers ``serviceguard.cluster``.

        The minion that answered last time is asked alone first (or, when none did yet, the one
        of node ``prefer``, e.g. the node being evacuated): asking every VM host runs ``cmviewcl``
        on each of them at once (measured 0.4-0.7 s with 9 hosts on 2 CPUs, against 0.1-0.2 s
        for one). If it does not answer within ``vpkg:view_timeout`` seconds (default 5), every
        minion is asked, as before.

        ``from_up_node``: only a node that its own view shows up counts. A node Serviceguard took
        down may still have a minion that answers, with a view nobody should act on.
        """
        tgt, tgt_type = self.targets()
        last = self.cache.reporter() if self.cache is not None else None
        if not last and isinstance(prefer, str) and prefer:
            last = self.minion(prefer)
        if last and _targeted(last, tgt, tgt_type):
            ok, value = self.call(self.node(last), "serviceguard.cluster", timeout=self.view_timeout)
            if ok and isinstance(value, dict) and "packages" in value:
                if not from_up_node or _shows_itself_up(value, self.node(last)):
                    if self.cache is not None:
                        self.cache.save(value, last)
                    return value, last
                value = f"its node {self.node(last)} is not up"
            log.info("vpkg: %s did not give the cluster view (%s); asking every minion", last, value)
        errors = {}
        for minion_id, ret in self.ask(tgt, "serviceguard.cluster", tgt_type, self.timeout):
            value = ret["ret"]
            if isinstance(value, dict) and "packages" in value and not ret["retcode"]:
                if not from_up_node or _shows_itself_up(value, self.node(minion_id)):
                    if self.cache is not None:
                        self.cache.save(value, minion_id)
                    return value, minion_id
                value = f"its node {self.node(minion_id)} is not up"
            errors[minion_id] = value
        detail = "; ".join(f"{m}: {v}" for m, v in errors.items()) or "no minion answered"
        raise NoClusterView(f"No cluster node answered serviceguard.cluster ({detail}).")

    def where_now(self, package):
        """After a lost answer: what Serviceguard shows now, and how to restore protection if needed."""
        try:
            cluster, _ = self.cluster()
        except NoClusterView as exc:
            return (
                f"The package's state could not be read ({exc}); check it with: cmviewcl -v -p {package}. "
                f"Package switching may be LEFT DISABLED: if cmviewcl shows it disabled, then once "
                f"{_where(None)} shows where the guest is On, restore protection with: cmrunpkg -n "
                f"<that node> {package} (if the package is not running there); cmmodpkg -e {package}"
            )
        pkg = cluster["packages"].get(package) or {}
        now = f"Serviceguard now shows {package} {pkg.get('state')} on {pkg.get('node')}, switching " + (
            "enabled" if pkg.get("autorun") else "DISABLED"
        )
        if pkg.get("autorun"):
            return now + "."
        return (
            f"{now}. Package switching is LEFT DISABLED. Once {_where(pkg.get('vm_name'))} shows where guest "
            f"{pkg.get('vm_name')} is On (and no online migration of it is in progress), restore "
            f"protection with: cmrunpkg -n <that node> {package} (if the package is not running there); "
            f"cmmodpkg -e {package}"
        )

    def call(self, node, fun, arg=(), kwarg=None, timeout=None):
        """Run one function on one node's minion and wait for its answer: (ok, return)."""
        minion_id = self.minion(node)
        for _, answer in self.ask([minion_id], fun, "list", timeout or self.timeout, arg, kwarg):
            return bool(not answer["retcode"] and answer["success"]), answer["ret"]
        return False, f"minion {minion_id} (node {node}) did not answer {fun}"

    def ask(self, tgt, fun, tgt_type, timeout, arg=(), kwarg=None):
        """:func:`answers` from this master's minions, with Salt's ``gather_job_timeout``."""
        answer_wait = float(self.opts.get("gather_job_timeout") or 10)
        return answers(self.client, tgt, fun, arg, kwarg, tgt_type, timeout, answer_wait)

    def job_watch(self, jid):
        """How often to ask whether the job still runs, and how long to wait for the answer."""
        try:
            every = vpkg_watch.interval(self.config.job_check_interval)
        except ValueError as exc:
            log.error("vpkg: %s; using %g s", exc, vpkg_watch.DEFAULT_INTERVAL)
            every = vpkg_watch.DEFAULT_INTERVAL
        answer_wait = float(self.opts.get("gather_job_timeout") or 10)  # Salt's own, for the same question
        return vpkg_watch.JobWatch(jid, every, answer_wait, time.monotonic())

    def find_job(self, minion_id, jid, answer_wait):
        """Publish ``saltutil.find_job JID`` without waiting; its jid, or None if it was not published.

        Its answer arrives on the caller's event bus. Not ``client.cmd``: that blocks the event
        relay, and it reports a minion that did not answer with a "Minion did not return" text
        in place of a return, not by leaving the minion out.
        """
        try:
            pub = self.client.run_job(
                minion_id, "saltutil.find_job", arg=[str(jid)], timeout=answer_wait, listen=False
            )
        except SaltClientError as exc:
            log.warning("vpkg: could not ask %s whether job %s still runs: %s", minion_id, jid, exc)
            return None
        return (pub or {}).get("jid")
