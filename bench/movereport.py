"""bench_move.py's report: the table of figures against both baselines, the goals and verdicts.

Kept apart from the measuring (bench_move.py) so each file reads as one thing.
"""

import common

PACKAGE = "app1"
GOALS = {"cli": 1.0, "client": 0.3, "window": 0.2}  # against the native cmmovevpkg
SCRIPT_GOALS = {"cli": 0.8, "client": 0.2, "window": 0.1}  # against the shell script
PROXY_GOAL = 0.1  # the proxy path against the same RunnerClient move through the minions


def _against(values, base, goal):
    """Three cells: ``values``' median minus ``base``'s, the goal, the verdict (blank as fits)."""
    if base is None:
        return ["", "", ""]
    diff = common.spread(values)[0] - common.spread(base)[0]
    if goal is None:
        return [f"{diff:+.3f}", "", ""]
    return [f"{diff:+.3f}", f"<= {goal:+.1f}", common.verdict(diff <= goal)]


def _row(name, values, *against, width=2):
    """``name``, median, min, max, then three cells per ``(baseline values, goal)`` of ``against``
    (blank ones up to ``width`` baselines)."""
    med, low, high = common.spread(values)
    row = [name, f"{med:.3f}", f"{low:.3f}", f"{high:.3f}"]
    for base, goal in [*against, *[(None, None)] * (width - len(against))]:
        row += _against(values, base, goal)
    return row


def _view_from(args):
    if args.view_from:
        return args.view_from
    if args.proxy:
        return "every minion (vpkg:minions: the node names), every proxy (vpkg:node_map)"
    return "every minion (vpkg:minions default)"


def report(figs, args, runs, sim_seconds, parts, floors):
    print(
        f"vpkg.move vs cmmovevpkg and the move script: guest {PACKAGE} {args.memory} MB, link "
        f"{args.link} Mb/s, time scale {args.scale} (migration itself {sim_seconds:.3f} s), median of "
        f"{runs}; cluster view from {_view_from(args)}; minion "
        f"jobs in {'threads' if args.minion_threads else 'processes (default)'}; kept view "
        f"{'stale (not refreshed after native/script/LocalClient moves)' if args.stale_view else 'current'}"
    )
    t = {k: [f["seconds"] for f in v] for k, v in figs.items()}
    w = {k: [f["window"] for f in v] for k, v in figs.items()}
    r = {k: [f["reported"] for f in v] for k, v in figs.items()}
    tn, ts, wn, ws = t["native"], t["script"], w["native"], w["script"]

    def judged(name, values, kind, native, script):
        return _row(name, values, (native, GOALS[kind]), (script, SCRIPT_GOALS[kind]))

    rows = [
        _row("a. cmmovevpkg -v (process)", tn),
        _row("a. sh script, the five commands (process)", ts, (tn, None)),
        judged("a. salt-run vpkg.move (process)", t["cli"], "cli", tn, ts),
        judged("b. RunnerClient vpkg.move (warm)", t["client"], "client", tn, ts),
    ]
    if "proxy" in t:
        rows.append(judged("b. RunnerClient vpkg.move via proxies (warm)", t["proxy"], "client", tn, ts))
    rows += [
        _row("   LocalClient vpkg.move on source (no runner)", t["direct"], (tn, None), (ts, None)),
        _row("c. unprotected, native (state poll)", wn),
        _row("c. unprotected, script (state poll)", ws, (wn, None)),
        judged("c. unprotected, salt-run (state poll)", w["cli"], "window", wn, ws),
        judged("c. unprotected, RunnerClient (state poll)", w["client"], "window", wn, ws),
    ]
    if "proxy" in w:
        rows.append(judged("c. unprotected, via proxies (state poll)", w["proxy"], "window", wn, ws))
    rows += [
        _row("   native, Disabling..Enabling lines", r["native"]),
        _row("   ours, unprotected_seconds (host clock)", r["cli"] + r["client"], (r["native"], None)),
    ]
    judge = ["goal", "verdict"]
    common.print_table(["seconds", "median", "min", "max", "vs native", *judge, "vs script", *judge], rows)
    if "proxy" in t:
        print("  through the vmhost proxies (SSH) against the same RunnerClient move through the minions:")
        rows = [
            ("d. RunnerClient vpkg.move via minions", t["client"], None),
            ("d. RunnerClient vpkg.move via proxies", t["proxy"], (t["client"], PROXY_GOAL)),
            ("   unprotected via minions (state poll)", w["client"], None),
            ("   unprotected via proxies (state poll)", w["proxy"], (w["client"], None)),
            ("   unprotected_seconds via minions (host clock)", r["client"], None),
            ("   unprotected_seconds via proxies (host clock)", r["proxy"], (r["client"], None)),
        ]
        common.print_table(
            ["seconds", "median", "min", "max", "vs minions", *judge],
            [_row(name, values, *([vs] if vs else []), width=1) for name, values, vs in rows],
        )
    print("  directions: " + ", ".join(f"{k}: {[f['direction'] for f in v]}" for k, v in figs.items()))
    native_over = common.spread(tn)[0] - sim_seconds
    script_over = common.spread(ts)[0] - sim_seconds
    print(f"  overhead beyond the migration itself: native {native_over:.3f} s, script {script_over:.3f} s")
    runs, segments = parts
    kinds = list(segments)
    columns = ", ".join(
        f"column {n + 1} via {'proxies' if k == 'proxy' else 'minions'}" for n, k in enumerate(kinds)
    )
    print(
        f"  where ours spends its time beyond the migration (RunnerClient, median of {runs} runs; {columns}):"
    )
    totals = dict.fromkeys(kinds, 0.0)
    for name in segments[kinds[0]]:
        cells = []
        for kind in kinds:
            totals[kind] += segments[kind][name]
            cells.append(f"{segments[kind][name]:6.3f}")
        print(f"    {'  '.join(cells)}  {name}")
    allowed = min(native_over + GOALS["client"], script_over + SCRIPT_GOALS["client"])
    print(f"    {'  '.join(f'{totals[k]:6.3f}' for k in kinds)}  total (goal b allows {allowed:.3f})")
    _floors(floors, t)


def _floors(floors, t):
    """Salt's own cost, measured the same way, and what ours adds beyond it."""
    cli, client, job = (common.spread(floors[k])[0] for k in ("cli", "client", "job"))
    native, script = common.spread(t["native"])[0], common.spread(t["script"])[0]
    print(
        f"  Salt's own floor: salt-run test.arg {cli:.3f} s (process start included); warm "
        f"RunnerClient test.arg {client:.3f} s; one job round trip (LocalClient test.ping) {job:.3f} s"
    )
    beyond_cli = common.spread(t["cli"])[0] - cli - script
    beyond_client = common.spread(t["client"])[0] - client - job - script
    print(
        f"  ours beyond the script and Salt's floor: salt-run {beyond_cli:+.3f} s (vpkg.move minus "
        f"test.arg minus the script), RunnerClient {beyond_client:+.3f} s (minus test.arg, one job, "
        f"the script); the salt-run goal against native allows {native + GOALS['cli']:.3f} s in all"
    )
