"""Parsers for Integrity VM's ``hpvmstatus`` and ``hpvmmigrate`` output (pure: text in, data out).

Shapes follow docs/data.md; the forms parsed are those of docs/formats.md and the real samples of
the reference (OpenSVC's ``-M`` field positions). A line that
claims to be a guest but lacks a field the data needs is a :class:`ParseError` that shows the line;
so is the first line of text in another form (``hpvmstatus``'s table given to the ``-M`` parser, ...): such
text is refused, never read as a host without guests. A host without guests is an empty result:
no output, or Integrity VM's ``No vPars or VMs currently configured``.

Hypervisor specifics stay here and in ``_modules/hpvm.py``: the rest of the project sees only the
guest shape, so another hypervisor's module can stand beside them.

Standard library only; no Salt dunders (see docs/installing.md).
"""

import re


class ParseError(ValueError):
    """Output that cannot be turned into the documented data; the message shows where."""


_UNITS = {"": 1.0, "K": 1.0 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}
_MEMORY_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:B|iB)?\s*", re.IGNORECASE)


def memory_mb(text):
    """``"4GB"``, ``"512MB"``, ``"16 GB"``, ``"1.5G"`` -> megabytes (int). A bare number is MB."""
    match = _MEMORY_RE.fullmatch(text or "")
    if not match:
        raise ParseError(f"bad memory size {text!r}: expected a number with KB, MB, GB or TB")
    return round(float(match.group(1)) * _UNITS[match.group(2).upper()])


# What hpvmstatus prints on a VM host with no guest (HP's getsysinfo.sh looks for this line).
_NO_GUESTS_RE = re.compile(r"(?:hpvmstatus:\s*)?No (?:vPars or )?VMs currently configured\.?", re.I)


def _lines(text):
    """``(number, stripped line)`` for each line of ``text``; none for a host without guests."""
    lines = [(n, raw.strip()) for n, raw in enumerate(text.splitlines(), 1)]
    shown = [line for _, line in lines if line]
    if len(shown) == 1 and _NO_GUESTS_RE.fullmatch(shown[0]):
        return []
    return lines


def _unread(form, number, line):
    return ParseError(f"line {number} is not in the form of {form}: {line!r}")


def _state(text):
    """Normalise a state column (``On (OS)``, ``On (EFI)``, ``Off``, ``Off (NR)``) to data.md's."""
    text = " ".join(text.split())
    if text.startswith("On"):
        return "On"
    if text.replace(" ", "").upper() == "OFF(NR)":
        return "Off (NR)"
    return text


def _yes(text, yes, no):
    """True / False for the two known words, None for anything else (an unknown form)."""
    word = " ".join(text.split()).lower()
    if word == yes.lower():
        return True
    if word == no.lower():
        return False
    return None


def _int(text):
    try:
        return int(text.strip())
    except (AttributeError, ValueError):
        return None


def _list(text):
    return [item for item in re.split(r"[;,\s]+", text or "") if item and item != "-"]


def _migration(text):
    """``-`` -> None; ``out:xyzo2:Copy`` (or with ``;``) -> {direction, peer, phase}."""
    text = (text or "").strip()
    if text in ("", "-"):
        return None
    parts = re.split(r"[:;]", text, maxsplit=2)
    if len(parts) < 2 or parts[0] not in ("in", "out"):
        return {"direction": None, "peer": None, "phase": text}
    return {"direction": parts[0], "peer": parts[1], "phase": parts[2] if len(parts) > 2 else None}


# ---------------------------------------------------------------------------------------------
# hpvmstatus -M

_M_FIELDS = 21


def _machine_fields(line):
    fields = line.split(":")
    # The migration status (field 18) may itself hold colons ("out:xyzo2:Copy"): it is then the
    # span between the 18 leading fields and the two trailing ones (vCPUs, memory).
    if len(fields) > _M_FIELDS and fields[18] in ("in", "out"):
        extra = len(fields) - _M_FIELDS
        fields = [*fields[:18], ":".join(fields[18 : 19 + extra]), *fields[19 + extra :]]
    return fields


def _guest_from_machine(line):
    fields = _machine_fields(line)
    if len(fields) < _M_FIELDS:
        raise ParseError(f"hpvmstatus -M line has {len(fields)} fields, expected {_M_FIELDS}: {line!r}")
    name = fields[0].strip()
    # vCPUs and memory may carry ';'-separated sub-fields: the first is the value (as OpenSVC reads).
    vcpus = _int(fields[19].split(";")[0])
    if not name or vcpus is None or fields[10].strip() not in ("On", "Off"):
        raise ParseError(f"hpvmstatus -M line lacks name, state or vCPUs: {line!r}")
    try:
        memory = memory_mb(fields[20].split(";")[0])
    except ParseError as err:
        raise ParseError(f"{err} in hpvmstatus -M line {line!r}") from None
    runnable = _yes(fields[4], "Runnable", "Not Runnable")
    state = fields[10].strip()
    if state == "Off" and runnable is False:
        state = "Off (NR)"
    return {
        "name": name,
        "vm_number": _int(fields[1]),
        "os_type": fields[2].strip() or None,
        "state": state,
        "runnable": runnable,
        "modifiable": _yes(fields[5], "Modify", "Not Modify"),
        "visible": _yes(fields[6], "Visible", "Not Visible"),
        "online_migration": _yes(fields[7], "enabled", "disabled"),
        "boot": fields[11].strip() or None,
        "vcpus": vcpus,
        "memory_mb": memory,
        "vswitches": _list(fields[14]),
        "devices": _list(fields[15]),
        "cpu_family": fields[16].strip() or None,
        "migration": _migration(fields[18]),
    }


def parse_status_machine(text):
    """``hpvmstatus -M`` -> ``{guest name: guest}`` (docs/data.md), in output order.

    Every line is a guest: a line without a ``:`` (a table's header or row) is refused.
    """
    guests = {}
    for number, line in _lines(text):
        if not line:
            continue
        if ":" not in line:
            raise _unread("hpvmstatus -M (colon-separated fields)", number, line)
        guest = _guest_from_machine(line)
        guests[guest["name"]] = guest
    return guests


# ---------------------------------------------------------------------------------------------
# hpvmstatus -V [-P guest]

# Key spellings vary between releases ("Runnable Status", "runnable_status"): compare normalised.
_V_KEYS = {
    "virtual machine name": "name",
    "vm #": "vm_number",
    "os type": "os_type",
    "state": "state",
    "runnable status": "runnable",
    "modify status": "modifiable",
    "visible status": "visible",
    "online migration": "online_migration",
    "boot type": "boot",
    "number of virtual cpus": "vcpus",
    "memory": "memory_mb",
    "storage": "devices",
    "network": "vswitches",
    "cpu family": "cpu_family",
    "migration status": "migration",
}


def _verbose_key(text):
    return " ".join(text.replace("_", " ").split()).lower()


def _guest_from_verbose(block):
    raw = {}
    for line in block:
        key, sep, value = line.partition(":")
        field = _V_KEYS.get(_verbose_key(key))
        if sep and field and field not in raw:
            raw[field] = value.strip()
    shown = "\n  ".join(block)
    for needed in ("name", "state", "vcpus", "memory_mb"):
        if not raw.get(needed):
            label = next(k for k, v in _V_KEYS.items() if v == needed)
            raise ParseError(f"hpvmstatus -V block without '{label}':\n  {shown}")
    vcpus = _int(raw["vcpus"].split(";")[0])
    if vcpus is None:
        raise ParseError(f"hpvmstatus -V: bad number of virtual CPUs {raw['vcpus']!r}:\n  {shown}")
    state = _state(raw["state"])
    runnable = _yes(raw.get("runnable", ""), "Runnable", "Not Runnable")
    if state == "Off" and runnable is False:
        state = "Off (NR)"
    return {
        "name": raw["name"],
        "vm_number": _int(raw.get("vm_number")),
        "os_type": raw.get("os_type") or None,
        "state": state,
        "runnable": runnable if runnable is not None else (False if state == "Off (NR)" else None),
        "modifiable": _yes(raw.get("modifiable", ""), "Modify", "Not Modify"),
        "visible": _yes(raw.get("visible", ""), "Visible", "Not Visible"),
        "online_migration": _yes(raw.get("online_migration", ""), "enabled", "disabled"),
        "boot": raw.get("boot") or None,
        "vcpus": vcpus,
        "memory_mb": memory_mb(raw["memory_mb"]),
        "vswitches": _list(raw.get("vswitches")),
        "devices": _list(raw.get("devices")),
        "cpu_family": raw.get("cpu_family") or None,
        "migration": _migration(raw.get("migration")),
    }


def parse_status_verbose(text):
    """``hpvmstatus -V [-P guest]`` -> ``{guest name: guest}``; blocks are separated by blank lines.

    Section headers (``[Virtual Machine Details]``) and ``====`` rulers are skipped; a block with no
    ``Virtual Machine Name`` line is not a guest and is ignored. Text with lines but no guest at all
    (another form of output) is refused at its first line.
    """
    guests = {}
    block = []
    first = None  # the first line that is neither a header nor a ruler
    for number, line in [*_lines(text), (None, "")]:
        if line.startswith(("[", "=")):
            continue
        if line:
            first = first or (number, line)
            block.append(line)
            continue
        if any(_V_KEYS.get(_verbose_key(b.partition(":")[0])) == "name" for b in block):
            guest = _guest_from_verbose(block)
            guests[guest["name"]] = guest
        block = []
    if first and not guests:
        raise _unread("hpvmstatus -V ('Key : Value' blocks, one with 'Virtual Machine Name')", *first)
    return guests


# ---------------------------------------------------------------------------------------------
# hpvmmigrate

_CHECK_RE = re.compile(r"(?:hpvmmigrate:\s*)?Check\s+(\S+?):\s*(passed|failed)\s*(?::\s*(.*))?", re.I)
_VERDICT_RE = re.compile(r"(?:hpvmmigrate:\s*)?Guest\s+(can|cannot)\s+be\s+migrated\.?", re.I)
_PROGRESS_RE = re.compile(
    r"(?:hpvmmigrate:\s*)?(Init|Copy|I/O quiesce|Frozen|Completion)\s+phase:\s*(\d+(?:\.\d+)?)%", re.I
)
_PHASES = {p.lower(): p for p in ("Init", "Copy", "I/O quiesce", "Frozen", "Completion")}


def parse_migrate_check(text, guest=None, host=None):
    """``hpvmmigrate -s`` output -> the check shape of docs/data.md.

    Every ``Check <name>: passed|failed[: reason]`` line becomes a check. The verdict line decides
    ``migratable``; without one, the guest is migratable when there were checks and all passed.
    Other ``hpvmmigrate:`` lines (the real command's own messages) are kept in ``messages``.
    Raises ParseError when the text holds neither a check nor a verdict.
    """
    checks, messages, verdict = [], [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _CHECK_RE.fullmatch(line)
        if match:
            checks.append(
                {
                    "name": match[1],
                    "passed": match[2].lower() == "passed",
                    "reason": (match[3] or "").strip(),
                }
            )
            continue
        match = _VERDICT_RE.fullmatch(line)
        if match:
            verdict = match[1].lower() == "can"
            continue
        messages.append(line)
    if not checks and verdict is None:
        shown = "\n  ".join(messages) or "(no output)"
        raise ParseError(f"hpvmmigrate -s printed no check and no verdict:\n  {shown}")
    migratable = verdict if verdict is not None else all(c["passed"] for c in checks)
    # A "can be migrated" verdict never overrides a failed check: the checks are the evidence.
    migratable = migratable and all(c["passed"] for c in checks)
    return {"guest": guest, "host": host, "migratable": migratable, "checks": checks, "messages": messages}


def parse_migrate_progress(line):
    """One ``hpvmmigrate`` progress line -> ``{"phase": "Copy", "percent": 25}``, else None."""
    match = _PROGRESS_RE.match((line or "").strip())
    if not match:
        return None
    percent = float(match[2])
    return {"phase": _PHASES[match[1].lower()], "percent": int(percent) if percent.is_integer() else percent}
