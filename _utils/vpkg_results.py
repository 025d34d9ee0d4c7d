"""The results vpkg hands to Salt, typed: each shape is defined here once (docs/data.md).

The code builds these objects and returns ``to_dict()``, the plain serialisable dict that Salt
returns and its outputters print. Every return of the runner, and of the host's ``vpkg.check`` and
``vpkg.move``, carries ``kind``: the function that answered (``KINDS``), so a reader (the ``vpkg``
outputter, a script) never has to guess a shape from the keys it happens to have. A ``test=True``
run keeps its function's kind and says ``test: true``: a move's is then a ``Verdict``, an
operation's a plan.
"""

import dataclasses

# The runner's public functions; the host's vpkg.check and vpkg.move answer as "check" and "move".
KINDS = ("status", "check", "move", "plan", "evacuate", "restore", "rebalance", "cancel", "history")


def refusal(kind, comment, **about):
    """A return that did nothing and says why: ``{kind, result: False, comment}``, and what it was about."""
    return {"kind": kind, "result": False, **about, "comment": comment}


@dataclasses.dataclass(slots=True)
class Step:
    """One step of a move (preflight, disable_switching, migrate, verify, adopt, restore_switching, ...)."""

    step: str
    result: bool
    seconds: float
    comment: str = ""
    checks: list | None = None  # a preflight step's checks

    def to_dict(self):
        ret = {"step": self.step, "result": bool(self.result), "seconds": round(float(self.seconds), 3)}
        ret["comment"] = self.comment
        if self.checks is not None:
            ret["checks"] = self.checks
        return ret


@dataclasses.dataclass(slots=True)
class Verdict:
    """The preflight of one move: every check with its verdict and reason; nothing was changed.

    ``vpkg.check`` on the master and on a VM host, and ``vpkg.move test=True`` (``kind`` "move",
    ``test`` true: ``result`` is then None when the move would run).
    """

    package: str
    source: str | None
    target: str | None
    checks: list
    guest: str | None = None
    kind: str = "check"
    test: bool = False

    @property
    def ok(self):
        return bool(self.checks) and all(c.get("ok") for c in self.checks)

    def comment(self):
        if not self.ok:
            return "; ".join(f"{c['name']}: {c.get('reason', '')}" for c in self.checks if not c.get("ok"))
        if self.test:
            return f"Package {self.package} would move online from {self.source} to {self.target}."
        return f"Package {self.package} can move from {self.source} to {self.target}."

    def to_dict(self):
        ret = {
            "kind": self.kind,
            "result": (None if self.test else True) if self.ok else False,
            "package": self.package,
            "guest": self.guest,
            "source": self.source,
            "target": self.target,
            "checks": self.checks,
            "comment": self.comment(),
        }
        if self.test:
            ret["test"] = True
        return ret


@dataclasses.dataclass(slots=True)
class MoveResult:
    """What one move did (``vpkg.move``, on the master and on a VM host): every step, and the truth.

    ``switching`` is ``{"before": ..., "after": ...}`` as ``vpkg_move.switching_snapshot`` records
    it; ``location`` where the guest runs once switching was off (``vpkg_vm.ON_TARGET`` ...).
    ``checks`` only on a move the master refused on its own view (no step ran).
    """

    result: bool
    package: str
    source: str | None
    target: str | None
    comment: str
    steps: list = dataclasses.field(default_factory=list)
    guest: str | None = None
    switching: dict | None = None
    location: str | None = None
    unprotected_seconds: float | None = None
    seconds: float | None = None
    checks: list | None = None
    driver: str | None = None  # a VM host's: steps or cmmovevpkg (vpkg_hostmove.DRIVERS)

    def to_dict(self):
        ret = {"kind": "move"}
        ret.update((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))
        for optional in ("checks", "driver"):
            if ret[optional] is None:
                del ret[optional]
        return ret


@dataclasses.dataclass(slots=True)
class PlannedMove:
    """One move of a plan, in the order the plan runs them; ``with_``: the rest of its same_node group."""

    package: str
    source: str
    target: str
    weights: dict
    with_: list | None = None

    def to_dict(self):
        ret = {"package": self.package, "source": self.source, "target": self.target}
        ret["weights"] = dict(self.weights)
        if self.with_:
            ret["with"] = list(self.with_)  # preflight's moving_with for this move
        return ret


@dataclasses.dataclass(slots=True)
class Outcome:
    """One planned move's fate in an evacuation, restore or rebalance (the ``moves`` of its return)."""

    package: str
    source: str
    target: str
    result: bool
    comment: str
    seconds: float | None  # None when it never started
    unprotected_seconds: float | None = None  # from the host's result, when it answered
    switching_after: dict | None = None

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
