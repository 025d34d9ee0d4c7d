"""Which Serviceguard cluster a VM host belongs to, from its own ``cmviewcl`` (its grains).

Shared by the minion's grains module and the ``vmhost`` proxy's grains.
"""

import pathlib

if pathlib.PurePath(__file__).parent.parts[-3:] == ("saltext", "vpkg", "utils"):  # pip-installed
    from saltext.vpkg.utils import vpkg_names, vpkg_sgparse
else:  # synced or the checkout: the helpers beside this one, by name
    import vpkg_names
    import vpkg_sgparse


def cluster_name(result):
    """``(name, "")`` from the result of ``cmviewcl -f line -l cluster``; ``(None, why)`` if not read."""
    if result.get("retcode") != 0:
        return None, (result.get("stderr") or "").strip() or f"exit status {result.get('retcode')}"
    try:
        return vpkg_names.check_name(
            vpkg_sgparse.parse_cluster_name(result.get("stdout") or ""), "cluster"
        ), ""
    except ValueError as exc:  # vpkg_sgparse.ParseError is one
        return None, str(exc)
