"""The settings vpkg reads, with their defaults: one convention per side, old names as aliases.

- **Master** (the runner): the ``vpkg`` mapping of the master config, ``vpkg: {timeout: 30}``, read
  once per call into a ``MasterConfig``. Its fields are every key the runner and its helpers
  (``vpkg_master``, ``vpkg_operate``) read; the runner's ``:configuration:`` block lists them all.
- **VM hosts** (the execution modules): ``<module>.<key>`` keys read with ``config.get`` (minion
  config, grains or pillar): ``vpkg.node``, ``hpvm.bin_dir``, ... Each module's ``:configuration:``
  block lists the keys it reads.

One migration timeout: ``vpkg:migrate_timeout`` on the master (what the runner gives each move),
``vpkg.migrate_timeout`` on a host (a move started there, and ``hpvm.migrate``). The older
``vpkg:move_timeout`` and ``hpvm.migrate_timeout`` are still read, with a deprecation warning
logged once per process.
"""

import dataclasses
import logging

log = logging.getLogger(__name__)

MIGRATE_TIMEOUT = 3600  # seconds; Integrity VM's Copy phase has no timeout of its own

# Deprecated name -> the key that replaces it (master: keys of the vpkg mapping; host: full names).
MASTER_ALIASES = {"move_timeout": "migrate_timeout"}
HOST_ALIASES = {"vpkg.migrate_timeout": "hpvm.migrate_timeout"}  # the key -> its deprecated name

_told = set()  # deprecation warnings already logged by this process


def _deprecated(old, new, ignored=False):
    if (old, new) not in _told:
        _told.add((old, new))
        tail = f"it is ignored, {new} is set" if ignored else f"set {new} instead"
        log.warning("vpkg: the setting %s is deprecated: %s", old, tail)


def _setting(default, meaning):
    return dataclasses.field(default=default, metadata={"meaning": meaning})


@dataclasses.dataclass(frozen=True)
class MasterConfig:
    """The master config's ``vpkg`` mapping, every key with its default."""

    node_map: dict = dataclasses.field(
        default_factory=dict, metadata={"meaning": "Serviceguard node name -> minion id, where they differ"}
    )
    minions: object = _setting("*", "the minions asked for the cluster view when node_map is empty")
    tgt_type: str = _setting("glob", "how minions is matched: glob or list (Salt's target types)")
    timeout: float = _setting(30, "seconds to wait for a status or check answer")
    view_timeout: float | None = _setting(
        None, "seconds the minion that gave the last view has before every minion is asked (5, or timeout)"
    )
    view_max_age: float = _setting(60, "seconds a kept cluster view may start a move to a named target")
    migrate_timeout: float = _setting(MIGRATE_TIMEOUT, "seconds an online migration may take")
    job_check_interval: float | None = _setting(
        None, "seconds between asking a move's minion whether its job still runs (10)"
    )
    progress_interval: float = _setting(1.0, "seconds between two progress lines of one migration phase")
    pipeline: bool = _setting(True, "publish an evacuation's next move while the previous one migrates")
    audit_file: str | None = _setting(None, "the audit trail (JSON lines); none when unset")

    @classmethod
    def read(cls, conf):
        """The settings in ``conf`` (the master config's ``vpkg`` mapping, or None); defaults for the rest.

        A deprecated key is read when its replacement is not set; unknown keys are logged and ignored.
        """
        conf = dict(conf or {})
        for old, new in MASTER_ALIASES.items():
            if old in conf:
                _deprecated(f"vpkg:{old}", f"vpkg:{new}", ignored=new in conf)
                conf.setdefault(new, conf[old])
                del conf[old]
        known = {f.name for f in dataclasses.fields(cls)}
        for key in sorted(set(conf) - known):
            log.warning("vpkg: vpkg:%s in the master config is not a vpkg setting; it is ignored", key)
        return cls(**{k: v for k, v in conf.items() if k in known})


def host_setting(get, key, default):
    """``key`` read with ``get`` (Salt's ``config.get``); its deprecated name when only that is set."""
    missing = object()
    value = get(key, missing)
    old = HOST_ALIASES.get(key)
    if old is not None:
        before = get(old, missing)
        if before is not missing:
            _deprecated(old, key, ignored=value is not missing)
            if value is missing:
                value = before
    return default if value is missing or value is None else value
