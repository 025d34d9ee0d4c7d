"""The integration tier is a package, and so is each lab folder in it (clusters, proxy, syndic).

pytest ends a ``scope="package"`` fixture with its package only if its folder has an
``__init__.py``; without one it keeps it for the whole session. Each lab's master, minions,
proxies and sshds are package fixtures, so without these files every lab started stayed up until
the last test of the session: by the time the main lab's tests ran, four labs' daemons shared the
two CPUs. Helpers here are imported relatively (``from . import invariants``).
"""
