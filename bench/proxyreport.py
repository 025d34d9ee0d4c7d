"""bench_proxy.py's report: its figures in one table (no goals were set for them).

Kept apart from the measuring (bench_proxy.py) so each file reads as one thing.
"""

import statistics

import common

NO_GOAL = "none set"
SETTLE = 3.0  # seconds after the answers, for the job processes to end before memory is read


def _mib(kib):
    return f"{kib / 1024:.1f} MiB"


def report(args, separate, delta, fresh, conn):
    n = args.hosts
    print(f"{n} VM hosts as vmhost proxies over SSH (sshd per host on 127.0.0.1), salt-proxies in processes")
    rows = []
    for name, fig in ((f"{n} separate salt-proxy processes", separate), ("one deltaproxy", delta)):
        rows.append(
            [
                f"1. {name}: RSS, sum over {fig['processes']} processes",
                f"{_mib(fig['rss'])} ({_mib(fig['rss'] / n)} per VM host)",
                NO_GOAL,
                "",
            ]
        )
        rows.append(
            [
                f"   {name}: PSS, same processes",
                f"{_mib(fig['pss'])} ({_mib(fig['pss'] / n)} per VM host)",
                "",
                "",
            ]
        )
        rows.append(
            [
                f"   {name}: {fig['ssh_masters']} ssh ControlMasters, RSS / PSS",
                f"{_mib(fig['ssh_rss'])} / {_mib(fig['ssh_pss'])}",
                "",
                "",
            ]
        )
        ended = "not within 60 s" if fig["jobs_ended"] is None else f"ended {fig['jobs_ended']:.1f} s later"
        rows.append(
            [
                f"   {name}: job processes still there {SETTLE:.0f} s after the answers",
                f"{fig['jobs']} ({_mib(fig['jobs_rss'])} RSS, {_mib(fig['jobs_pss'])} PSS; {ended})",
                "",
                "",
            ]
        )
        rows.append(
            [f"   {name}: started until every id answered test.ping", f"{fig['started']:.1f} s", "", ""]
        )
    rows.append(
        [
            "   deltaproxy / separate, RSS (PSS)",
            f"{delta['rss'] / separate['rss']:.3f} ({delta['pss'] / separate['pss']:.3f})",
            "",
            "",
        ]
    )

    def med(values):
        return f"{statistics.median(values):.3f} s"

    cluster_first = [r["first serviceguard.cluster"] for r in fresh if r["order"] == "serviceguard.cluster"]
    ping_first = [r["first test.ping"] for r in fresh if r["order"] == "test.ping"]
    cluster_after_ping = [r["first serviceguard.cluster"] for r in fresh if r["order"] == "test.ping"]
    ping_after_cluster = [r["first test.ping"] for r in fresh if r["order"] == "serviceguard.cluster"]
    nxt_cluster = [t for r in fresh for t in r["next serviceguard.cluster"]]
    nxt_ping = [t for r in fresh for t in r["next test.ping"]]
    reconnect = [t for r in fresh for t in r["reconnect"]]
    starts = len(fresh)
    rows += [
        [
            f"2. salt-proxy start until its start event (median of {starts})",
            med([r["start"] for r in fresh]),
            NO_GOAL,
            "",
        ],
    ]
    if cluster_first:
        rows.append(
            [
                f"   first job serviceguard.cluster (median of {len(cluster_first)})",
                med(cluster_first),
                "",
                "",
            ]
        )
    if ping_first:
        rows.append([f"   first job test.ping (median of {len(ping_first)})", med(ping_first), "", ""])
    if cluster_after_ping:
        rows.append(["   first serviceguard.cluster after a test.ping", med(cluster_after_ping), "", ""])
    if ping_after_cluster:
        rows.append(["   first test.ping after a serviceguard.cluster", med(ping_after_cluster), "", ""])
    rows += [
        [f"   next serviceguard.cluster (median of {len(nxt_cluster)})", med(nxt_cluster), "", ""],
        [f"   next test.ping (median of {len(nxt_ping)})", med(nxt_ping), "", ""],
        [
            f"   serviceguard.cluster after its ControlMaster ended (median of {len(reconnect)})",
            med(reconnect),
            "",
            "",
        ],
    ]
    k = args.commands
    seq_true, seq_cl, loc_cl = sum(conn["true"]), sum(conn["cmviewcl"]), sum(conn["cmviewcl_local"])
    done, took = conn["parallel"]
    rows += [
        ["3. connection set-up (ssh -M -N -f, connect())", f"{conn['setup']:.3f} s", NO_GOAL, ""],
        [
            f"   {k} x true, one connection, in turn",
            f"{k / seq_true:.0f} /s (median {statistics.median(conn['true']) * 1000:.1f} ms)",
            "",
            "",
        ],
        [
            f"   {k} x cmviewcl -v -f line, one connection, in turn",
            f"{k / seq_cl:.0f} /s (median {statistics.median(conn['cmviewcl']) * 1000:.1f} ms)",
            "",
            "",
        ],
        [
            f"   {k} x cmviewcl -v -f line, locally (as on a minion)",
            f"{k / loc_cl:.0f} /s (median {statistics.median(conn['cmviewcl_local']) * 1000:.1f} ms)",
            "",
            "",
        ],
        [f"   {done} x true, one connection, 4 threads at once", f"{done / took:.0f} /s", "", ""],
    ]
    common.print_table(["figure", "value", "goal", "verdict"], rows)
