"""The Serviceguard clusters one Salt master sees, and where the master keeps each one's records.

Each VM host's grains say which cluster and node it is (``vpkg:cluster``, ``vpkg:node``: the
minion's grains module, or the ``vmhost`` proxy's), and the master reads them from its grains
cache: telling the clusters apart costs no round trip. Node and package names are unique only
within a cluster, so every runner call works on one cluster: the one it names, else the one its
node, package or requesting minion belongs to, else the only one there is.

Everything the master keeps for a cluster (reservations, the kept view, journals, placements,
maintenance requests) lives in ``<cachedir>/vpkg/clusters/<name>/``, so operations in different
clusters never share a lock. A site whose VM hosts have no such grains (an install from before
this) is one unnamed cluster whose records stay in ``<cachedir>/vpkg/``. Records that such an
install left in ``<cachedir>/vpkg/`` are moved into their cluster's folder the first time the
clusters are known (the cluster its kept view names, else the only cluster); one the cluster
already has is kept beside it as ``<name>.legacy``: nothing is lost.
"""

import json
import logging
import os
import pathlib

from salt.exceptions import SaltInvocationError

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_master, vpkg_names, vpkg_records, vpkg_reserve
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_master
    import vpkg_names
    import vpkg_records
    import vpkg_reserve

log = logging.getLogger(__name__)

# What a single-cluster install keeps directly in <cachedir>/vpkg/ (vpkg_reserve, vpkg_master's
# ViewCache, vpkg_records).
LEGACY = ("inflight.json", "inflight.lock", "view.json", "placement", "cancel", "last", "locks", "journal")


class Unresolved(SaltInvocationError):
    """The call does not say which cluster, and it cannot be told; the message lists the choices.

    An argument error: a runner function lets it reach Salt, which prints its message.
    """


def members(grains_by_minion):
    """``{cluster: {node: minion id}}`` from ``{minion id: grains}``; hosts without the grains left out."""
    found = {}
    for minion, grains in sorted((grains_by_minion or {}).items()):
        vpkg = (grains or {}).get("vpkg") if isinstance(grains, dict) else None
        if not isinstance(vpkg, dict) or not vpkg_names.is_valid_name(vpkg.get("cluster")):
            continue
        node = vpkg.get("node") if vpkg_names.is_valid_name(vpkg.get("node")) else minion
        found.setdefault(vpkg["cluster"], {})[node] = minion
    return found


def _listed(names):
    names = sorted(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def choose(clusters, cluster=None, node=None, minion=None, what=None):
    """The cluster a call works on: a name from ``clusters`` (``{cluster: {node: minion}}``).

    ``cluster``: the one the call names. ``node``: a node the call names (evacuate, restore). ``minion``:
    the minion that asks (a VM host's request is about its own cluster). ``what``: what the caller
    needs one cluster for, in the error when the site has several and nothing tells which.
    Raises :class:`Unresolved`.
    """
    if cluster is not None:
        if cluster not in clusters:
            raise Unresolved(
                f"no cluster {cluster} among the VM hosts' grains (clusters: {_listed(clusters)})"
            )
        return cluster
    if minion is not None:
        mine = [c for c, nodes in clusters.items() if minion in nodes.values()]
        if len(mine) == 1:
            return mine[0]
    if node is not None:
        having = [c for c, nodes in clusters.items() if node in nodes]
        if having or len(clusters) > 1:
            return _only(having, "node", node, clusters)
    if len(clusters) == 1:
        return next(iter(clusters))
    raise Unresolved(f"{what or 'this'} needs a cluster: give cluster= one of {_listed(clusters)}")


def choose_by_package(views, package):
    """The cluster whose view (``{cluster: view}``) has ``package``; :class:`Unresolved` if not one."""
    having = [c for c, view in views.items() if package in (view.get("packages") or {})]
    return _only(having, "package", package, views)


def _only(having, what, name, among):
    """The one cluster of ``having`` that has node or package ``name``; else :class:`Unresolved`."""
    having = sorted(having)
    if len(having) == 1:
        return having[0]
    if having:
        raise Unresolved(
            f"{what} {name} is a {what} of clusters {_listed(having)}: say which with cluster={having[0]}"
        )
    raise Unresolved(f"{what} {name} is a {what} of none of the clusters {_listed(among)}")


def crossing(clusters, name, target):
    """Why moving to ``target`` would cross clusters (None if it would not): names both clusters."""
    if target is None or target in clusters.get(name, {}):
        return None
    others = sorted(c for c, nodes in clusters.items() if c != name and target in nodes)
    if not others:
        return None  # not a node anywhere: the preflight says so
    return (
        f"target {target} is a node of cluster {_listed(others)}, not of cluster {name}: a move never "
        "crosses clusters; nothing was changed"
    )


def directory(base, name):
    """The folder of cluster ``name``'s records under ``base`` (``<cachedir>/vpkg``); None: ``base``."""
    if name is None:
        return base
    folder = os.path.join(base, "clusters", name)
    if not os.path.isdir(folder):
        # One level at a time: os.makedirs gives its mode to the last folder only (owner-only, all).
        for path in (base, os.path.dirname(folder), folder):
            os.makedirs(path, mode=0o700, exist_ok=True)
    return folder


def adopt_legacy(base, clusters):
    """Move a single-cluster install's records into their cluster's folder; its name, or None."""
    present = [n for n in LEGACY if os.path.exists(os.path.join(base, n))]
    if not present:
        return None
    owner = _legacy_owner(base, clusters)
    if owner is None:
        log.warning(
            "vpkg: records of a single-cluster install in %s are not moved: which of the clusters %s they "
            "belong to cannot be told (their kept view names none); move them into %s/clusters/<name>/",
            base,
            _listed(clusters),
            base,
        )
        return None
    folder = directory(base, owner)
    for name in present:
        target = os.path.join(folder, name)
        # One the cluster already has (a kept view read since) is kept aside, not merged.
        os.rename(os.path.join(base, name), target if not os.path.exists(target) else f"{target}.legacy")
    log.info("vpkg: the single-cluster records in %s are now cluster %s's (%s)", base, owner, folder)
    return owner


def _legacy_owner(base, clusters):
    try:
        with open(os.path.join(base, "view.json"), encoding="utf-8") as handle:
            named = json.load(handle)["cluster"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        named = None
    if named in clusters:
        return named
    return next(iter(clusters)) if len(clusters) == 1 else None


class Records:
    """One cluster's master-side state: its master view (``vpkg_master.Master``), registry, records."""

    def __init__(self, opts, config, name, nodes):
        base = os.path.join(opts["cachedir"], "vpkg")
        self.name = name  # None: the one cluster of a site without cluster grains
        self.directory = directory(base, name)
        self.master = vpkg_master.Master(opts, config, vpkg_master.ViewCache(self.directory), nodes)
        self.registry = vpkg_reserve.Registry(self.directory)
        self.records = vpkg_records.Records(self.directory)

    def view(self):
        """The kept view if it is fresh enough for a look-up, else a fresh one (NoClusterView)."""
        kept = self.master.cache.load(float(self.master.config.view_max_age))
        return kept[0] if kept else self.master.cluster()[0]


class Site:
    """The clusters of the VM hosts the master's ``vpkg`` settings name, from their cached grains."""

    def __init__(self, opts, config, grains=None):
        self.opts = opts
        self.config = config
        self.clusters = members(vpkg_master.vmhost_grains(opts, config) if grains is None else grains)
        if self.clusters:
            adopt_legacy(os.path.join(opts["cachedir"], "vpkg"), self.clusters)

    def names(self):
        return sorted(self.clusters)

    def one(self, cluster=None, node=None, minion=None, what=None):
        """The :class:`Records` of the cluster a call works on; :class:`Unresolved` if it cannot be told."""
        if not self.clusters:
            if cluster is not None:
                raise Unresolved(
                    f"no VM host's grains name a cluster, so cluster={cluster} cannot be checked: sync the "
                    "vpkg grains to the VM hosts (salt '*' saltutil.sync_grains), or leave cluster out"
                )
            return Records(self.opts, self.config, None, None)
        name = choose(self.clusters, cluster, node, minion, what)
        return Records(self.opts, self.config, name, self.clusters[name])

    def every(self):
        """The :class:`Records` of every cluster (one, unnamed, on a site without cluster grains)."""
        if not self.clusters:
            return [Records(self.opts, self.config, None, None)]
        return [Records(self.opts, self.config, name, self.clusters[name]) for name in self.names()]

    def of_package(self, package, cluster=None):
        """The :class:`Records` of the cluster that has ``package``: ``cluster``'s, when named."""
        if cluster is not None or len(self.clusters) <= 1:
            return self.one(cluster)
        views = {}
        for place in self.every():
            try:
                views[place.name] = place.view()
            except vpkg_master.NoClusterView as exc:
                log.warning("vpkg: cluster %s did not answer: %s", place.name, exc)
        return self.one(choose_by_package(views, package))

    def crossing(self, name, target):
        return crossing(self.clusters, name, target) if name is not None else None
