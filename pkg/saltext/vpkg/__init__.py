"""salt-vpkg: online moves of HP Integrity VM guest packages under HP Serviceguard.

Salt's loader finds ``modules``, ``runners``, ``states``, ``beacons``, ``utils`` and ``output``
below this package through the ``salt.loader`` entry point.
"""

__version__ = "0.1.0"
