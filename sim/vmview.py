"""``hpvmstatus`` output: the table, ``-M`` (colon-separated), ``-V`` and ``-P`` (formats.md)."""

from sgsim import model
from sgsim.names import fmt_memory

TABLE_HEADER = [
    "[Virtual Machines]",
    "Virtual Machine Name VM #  OS Type State     #VCPUs #Devs #Nets Memory  Runsysid",
    "==================== ===== ======= ========= ====== ===== ===== ======= ========",
]


def _facts(st, guest, node):
    state = model.guest_state_on(st, guest, node)
    runnable = state != "Off (NR)"
    where = guest["runs_on"] or node
    rec = st["migrations"].get(guest["name"])
    migration = "-"
    if rec and rec["source"] == node:
        migration = f"out;{rec['target']};{rec['phase']}"
    elif rec and rec["target"] == node:
        migration = f"in;{rec['source']};{rec['phase']}"
    return state, runnable, st["nodes"][where]["cpu_family"], migration


def table(st, node):
    out = list(TABLE_HEADER)
    for g in model.guests_on_host(st, node):
        state = model.guest_state_on(st, g, node)
        out.append(
            f"{g['name']:<20} {g['vm_number']:>5} {'HPUX':<7} {state:<9} {g['vcpus']:>6} "
            f"{len(g['devices']):>5} {len(g['vswitches']):>5} {fmt_memory(g['memory_mb']):>7} {0:>8}"
        )
    return out


def machine_line(st, guest, node):
    state, runnable, family, migration = _facts(st, guest, node)
    on = state == "On (OS)"
    fields = [
        guest["name"],
        str(guest["vm_number"]),
        "HPUX",
        guest["uuid"],
        "Runnable" if runnable else "Not Runnable",
        "Modify" if runnable else "Not Modify",
        "Visible" if runnable else "Not Visible",
        "enabled" if guest["online_migration"] else "disabled",
        "OS" if on else "Off",
        str(len(guest["devices"])),
        "On" if on else "Off",
        "Manual",
        str(len(guest["vswitches"])),
        "0",
        ";".join(guest["vswitches"]),
        ";".join(guest["devices"]),
        family,
        "10.0",
        migration,
        f"{guest['vcpus']};{max(guest['vcpus'], 8)}",
        fmt_memory(guest["memory_mb"], sep=""),
    ]
    return ":".join(fields)


def verbose_block(st, guest, node):
    state, runnable, family, migration = _facts(st, guest, node)
    rows = [
        ("Virtual Machine Name", guest["name"]),
        ("VM #", guest["vm_number"]),
        ("OS Type", "HPUX"),
        ("State", state),
        ("Runnable Status", "Runnable" if runnable else "Not Runnable"),
        ("Modify Status", "Modify" if runnable else "Not Modify"),
        ("Visible Status", "Visible" if runnable else "Not Visible"),
        ("Online Migration", "enabled" if guest["online_migration"] else "disabled"),
        ("Boot Type", "Manual"),
        ("Number of virtual CPUs", guest["vcpus"]),
        ("Memory", fmt_memory(guest["memory_mb"])),
        ("Storage", ", ".join(guest["devices"])),
        ("Network", ", ".join(guest["vswitches"])),
        ("CPU Family", family),
        ("Migration Status", migration),
    ]
    return [f"{key:<24}: {value}" for key, value in rows]


def detail(st, guest, node):
    state, runnable, family, _ = _facts(st, guest, node)
    out = [
        "[Virtual Machine Details]",
        "Virtual Machine Name VM #  OS Type State",
        "==================== ===== ======= ========",
        f"{guest['name']:<20} {guest['vm_number']:>5} {'HPUX':<7} {state}",
        "",
        "[Authorized Administrators]",
        "Oper Groups             :",
        "Admin Groups            :",
        "Oper Users              :",
        "Admin Users             :",
        "",
        "[Virtual CPU Details]",
        "#vCPUs Entitlement Maximum",
        "====== =========== =======",
        f"{guest['vcpus']:>6} {'10.0%':>11} {'100.0%':>7}",
        "",
        "[Memory Details]",
        "Total    Reserved",
        "Memory   Memory",
        "=======  ========",
        f"{fmt_memory(guest['memory_mb']):>7}  {'64 MB':>8}",
        "",
        "[Storage Interface Details]",
        "Guest                                 Physical",
        "Device  Adaptor    Bus Dev Ftn Tgt Lun Storage   Device",
        "======= ========== === === === === === ========= =========================",
    ]
    for i, dev in enumerate(guest["devices"]):
        kind = "lv" if "/slvm" in dev or "lvol" in dev else "disk"
        out.append(f"{'disk':<7} {'avio_stor':<10} {0:>3} {1:>3} {0:>3} {i:>3} {0:>3} {kind:<9} {dev}")
    out += [
        "",
        "[Network Interface Details]",
        "Interface Adaptor    Name/Num   PortNum Bus Dev Ftn Mac Address",
        "========= ========== ========== ======= === === === =================",
    ]
    for i, vsw in enumerate(guest["vswitches"]):
        mac = "0x" + guest["uuid"].replace("-", "")[i * 2 : i * 2 + 12]
        out.append(f"{'vswitch':<9} {'avio_lan':<10} {vsw:<10} {i + 1:>7} {0:>3} {i + 2:>3} {0:>3} {mac}")
    out += [
        "",
        "[Misc Interface Details]",
        "Guest                                 Physical",
        "Device  Adaptor    Bus Dev Ftn Tgt Lun Storage   Device",
        "======= ========== === === === === === ========= =========================",
        f"{'serial':<7} {'com1':<10} {'':>3} {'':>3} {'':>3} {'':>3} {'':>3} {'tty':<9} console",
        "",
        f"CPU Family: {family}",
        f"Runnable Status: {'Runnable' if runnable else 'Not Runnable'}",
        f"Online Migration: {'enabled' if guest['online_migration'] else 'disabled'}",
    ]
    return out
