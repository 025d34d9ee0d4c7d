"""The cluster manager of a move: HP Serviceguard, through the ``serviceguard`` execution module.

A move asks the cluster manager where a package runs and how its switching is set, turns
switching off and back on, and hands the running guest over to the target (live application
detach here, ``cmrunpkg -n TARGET`` adopting it there). HP's own ``cmmovevpkg`` does all of a
move in one command (the ``cmmovevpkg`` driver of ``vpkg_hostmove``). The words of the other
layer, Integrity VM, stay in ``vpkg_vm``.
"""


class Serviceguard:
    """Serviceguard on this VM host, through ``salt`` (the loader's ``__salt__``)."""

    def __init__(self, salt):
        self.salt = salt

    def view(self):
        """The cluster: nodes, packages with their node, state, switching and weights."""
        return self.salt["serviceguard.cluster"]()

    def package(self, name):
        return self.salt["serviceguard.package"](name)

    def disable_switching(self, package):
        return self.salt["serviceguard.disable_switching"](package)

    def enable_switching(self, package):
        return self.salt["serviceguard.enable_switching"](package)

    def detach(self, package):
        """Halt the package here while its guest keeps running (``cmhaltpkg -d``)."""
        return self.salt["serviceguard.halt"](package, detach=True)

    def adopt(self, package, node):
        """Start the package on ``node``, where its guest already runs (``cmrunpkg -n``)."""
        return self.salt["serviceguard.run"](package, node=node)

    def move_vpkg(self, package, node, timeout, progress):
        """HP's whole move in one command (``cmmovevpkg -v -P PACKAGE -h NODE``)."""
        return self.salt["serviceguard.move_vpkg"](package, node, timeout=timeout, progress=progress)
