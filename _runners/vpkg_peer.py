"""
The runner functions a VM host may call on the master: how the ``vpkg.placed`` state moves a guest.

A state runs on the VM host; the move it asks for is the master's ``vpkg.move``, with its
reservations, locks, audit entry and failover handling, run as a runner job of its own. The host
starts it with ``vpkg_peer.place`` (which returns at once: a peer call may take 60 s at most)
and asks ``vpkg_peer.result`` until it ends. Kept apart from the ``vpkg`` runner so that the
master's ``peer_run`` can allow exactly these two and nothing that evacuates or rebalances:

.. code-block:: yaml

    peer_run:
      'xyzo[0-9]+':        # the VM hosts' minion (or proxy) ids, a regular expression
        - vpkg_peer\\..*

:depends: the ``vpkg`` runner
:configuration: ``peer_run`` in the master config, as above; the ``vpkg`` mapping the ``vpkg``
    runner reads (``migrate_timeout`` is the move's migration timeout)
"""

import pathlib

import salt.runner

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "runners"):  # pip-installed
    from saltext.vpkg.utils import vpkg_args, vpkg_config, vpkg_master, vpkg_results, vpkg_single, vpkg_site
else:  # synced or the checkout: the helpers by name, from the utils folders Salt puts on sys.path
    try:
        import vpkg_fresh

        with vpkg_fresh.helpers():  # a sync's new helpers, not this process's old ones
            import vpkg_args
            import vpkg_config
            import vpkg_master
            import vpkg_results
            import vpkg_single
            import vpkg_site
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("vpkg_"):
            raise
        raise ImportError(
            f"salt-vpkg helper {exc.name} not found: this module was synced without its helpers; "
            "run salt-run saltutil.sync_utils (or saltutil.sync_all)"
        ) from exc

__virtualname__ = "vpkg_peer"


def __virtual__():
    return __virtualname__


def _failed(ret):
    __context__["retcode"] = 1
    ret["retcode"] = 1
    return ret


def place(package, node):
    """
    Start the master's move of ``package`` to ``node``; returns its runner job id at once.

    The asking host must be the one that runs the package (the ``vpkg.placed`` state asks only
    from there). ``vpkg_peer.result JID`` gives the move's result once it ends.

    CLI Example:

    .. code-block:: bash

        salt-call publish.runner vpkg_peer.place arg='[slvm1, xyzo2]'    # on xyzo1, which runs slvm1
    """
    package = vpkg_args.name(package, "package")
    node = vpkg_args.name(node, "node")
    asker = str(__opts__.get("id"))  # in a peer call: the asking minion's id
    config = vpkg_config.MasterConfig.read(__opts__.get("vpkg"))
    try:
        # The asker's own cluster: node and package names are unique only within one.
        place = vpkg_site.Site(__opts__, config).one(minion=asker, what="vpkg_peer.place")
    except vpkg_site.Unresolved as exc:
        return _failed(vpkg_results.refusal("move", str(exc), package=package, target=node))
    master = place.master
    try:
        cluster, _ = master.cluster()
    except vpkg_master.NoClusterView as exc:
        return _failed(vpkg_results.refusal("move", str(exc), package=package, target=node))
    why = vpkg_single.place_refusal(master, cluster, asker, package)
    if why:
        return _failed(vpkg_results.refusal("move", why, package=package, target=node))
    low = {"arg": [package, node], "kwarg": {"cluster": place.name} if place.name else {}}
    pub = salt.runner.RunnerClient(__opts__).asynchronous(
        "vpkg.move", low, user=vpkg_single.PEER_USER + asker
    )
    return {
        "kind": "move",
        "result": None,
        "package": package,
        "target": node,
        "jid": pub["jid"],
        "timeout": vpkg_args.timeout(None, config.migrate_timeout),
        "comment": f"move of package {package} to {node} started (runner job {pub['jid']})",
    }


def result(jid):
    """
    The result of the move ``vpkg_peer.place`` started as job ``jid``; ``result: None`` while it runs.

    CLI Example:

    .. code-block:: bash

        salt-call publish.runner vpkg_peer.result arg='[20261202012407378802]'
    """
    jid = vpkg_args.jid(jid)
    found = __salt__["jobs.lookup_jid"](jid, display_progress=False)
    return vpkg_single.placement(found, jid, __opts__.get("id"))
