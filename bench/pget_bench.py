#!/usr/bin/python3
"""Throughput/latency of PGET on a fresh key against plain GET, both through puppy-proxy, with GET
straight to Redis as a reference (see bench/README.md, "pget-bench.sh").

Started through bench/pget-bench.sh. Starts its own redis-server and puppy-proxy, makes one key
fresh (PGET -> lease, PSET with a long timeout, PGET must then answer `fresh`), then runs
redis-benchmark with the commands `PGET key TIMEOUT UPDATE` and `GET key` through the proxy and
`GET key` straight to Redis, interleaved: every round runs every case on every target (the
target order rotates from round to round). Reports medians over the rounds.
"""

import argparse
import csv
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

# name -> (clients, pipeline)
ALL_CASES = {"c50": (50, 1), "c50p16": (50, 16), "c1": (1, 1)}
# target name -> (which server, command kind)
ALL_TARGETS = ["puppy-pget", "puppy-get", "direct-get", "direct-script"]
# top-level Redis command each target makes Redis run (for the INFO commandstats column)
TOP_COMMAND = {"puppy-pget": "evalsha", "puppy-get": "get", "direct-get": "get",
               "direct-script": "evalsha"}

RAW_FIELDS = ["mode", "round", "case", "clients", "pipeline", "requests", "target", "position",
              "command", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms", "wall_s",
              "proxy_user_us_per_req", "proxy_sys_us_per_req", "redis_user_us_per_req",
              "redis_sys_us_per_req", "redis_cmd_calls", "redis_cmd_us_per_call", "status",
              "problems"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="pget-bench.sh",
        description="redis-benchmark: PGET on a fresh key vs GET through puppy-proxy, and GET "
                    "straight to Redis, interleaved.")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5); medians are over rounds")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="aim for about this many seconds per run: a short calibration run per case "
                         "and target sets the request count (default 1.5)")
    ap.add_argument("--requests", type=int, default=None,
                    help="fixed request count for every run (skips calibration)")
    ap.add_argument("--cases", type=bl.csv_list(list(ALL_CASES)), default=list(ALL_CASES),
                    help="comma list of c50 (50 clients), c50p16 (50 clients, -P 16), c1 (1 client); "
                         "default all")
    ap.add_argument("--targets", type=bl.csv_list(ALL_TARGETS), default=ALL_TARGETS,
                    help="comma list of puppy-pget, puppy-get (through puppy-proxy), direct-get "
                         "(GET to redis-server), direct-script (the EVALSHA that puppy-proxy sends "
                         "for the PGET, captured with MONITOR, sent straight to redis-server: the "
                         "cost of the script alone); default all. puppy-pget and puppy-get are "
                         "always run")
    ap.add_argument("--key", default="pget-bench:key", help="the key (default pget-bench:key)")
    ap.add_argument("--data-size", type=int, default=3,
                    help="bytes of the value stored with PSET (default 3, like redis-benchmark -d)")
    ap.add_argument("--timeout-s", type=int, default=3600,
                    help="PGET/PSET timeout argument = freshness in seconds (default 3600: the key "
                         "stays fresh for the whole run)")
    ap.add_argument("--update-time", type=int, default=60,
                    help="PGET/PSET update_time argument in seconds (default 60)")
    ap.add_argument("--pin", action="store_true",
                    help="run redis-server, puppy-proxy and redis-benchmark under taskset -c CPU "
                         "(all on one CPU)")
    ap.add_argument("--pin-cpu", type=int, default=0, help="CPU for --pin (default 0)")
    ap.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for puppy-proxy (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--timeout", type=float, default=None,
                    help="kill a redis-benchmark run after this many seconds (default: 20x its "
                         "expected time, at least 60)")
    ap.add_argument("--target-ratio", type=float, default=0.8,
                    help="PGET/GET throughput ratio to meet (default 0.8); reported, not enforced")
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    ap.add_argument("--label", default=None, help="suffix for the results folder name")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    if a.requests is not None and a.requests < 1:
        ap.error("--requests must be >= 1")
    for must in ("puppy-get", "puppy-pget"):
        if must not in a.targets:
            a.targets.insert(0, must)
    a.targets = [t for t in ALL_TARGETS if t in a.targets]
    if a.data_size < 1:
        ap.error("--data-size must be >= 1")
    if a.timeout_s < 1 or a.update_time < 1:
        ap.error("--timeout-s and --update-time must be >= 1 (whole seconds)")
    return a


def check_fresh(port, key, value, timeout_s, update_time):
    """None if PGET answers fresh with the value, else a description of what it answered."""
    try:
        r = bl.call_once(port, "PGET", key, timeout_s, update_time)
    except OSError as e:
        return f"PGET failed: {e}"
    if isinstance(r, list) and len(r) == 3 and r[0] == b"fresh" and r[1] == value:
        return None
    return f"PGET answered {r!r}"


def parse_monitor_args(line):
    """The quoted arguments of a MONITOR line (Redis prints them with sdscatrepr)."""
    args, i, n = [], 0, len(line)
    while i < n:
        if line[i] != '"':
            i += 1
            continue
        i += 1
        cur = bytearray()
        while i < n and line[i] != '"':
            ch = line[i]
            if ch == "\\" and i + 1 < n:
                nx = line[i + 1]
                if nx == "x" and i + 3 < n:
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 4
                    continue
                cur += {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b"}.get(
                    nx, nx.encode())
                i += 2
                continue
            cur += ch.encode()
            i += 1
        args.append(bytes(cur))
        i += 1
    return args


def capture_script_call(redis_port, proxy_port, key, timeout_s, update_time):
    """The EVALSHA command puppy-proxy sends to Redis for `PGET key timeout update_time`, as a
    list of strings (seen with MONITOR on redis-server). None if it cannot be captured."""
    mon = bl.Resp(redis_port, timeout=5.0)
    try:
        if mon.call("MONITOR") != "OK":
            return None
        c = bl.Resp(proxy_port)
        try:
            c.call("PGET", key, timeout_s, update_time)
        finally:
            c.close()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            line = mon.read()
            if not isinstance(line, str) or "lua]" in line:
                continue
            args = parse_monitor_args(line)
            if args and args[0].upper() == b"EVALSHA" and key.encode() in args:
                try:
                    return [x.decode() for x in args]
                except UnicodeDecodeError:
                    return None
        return None
    except OSError:
        return None
    finally:
        mon.close()


# ---------------------------------------------------------------------------------------------


class Target:
    def __init__(self, name, port, command, procs, proxy=None):
        self.name = name
        self.port = port
        self.command = command  # list of words for redis-benchmark
        self.procs = procs
        self.proxy = proxy
        self.disabled = None


def fmt_rps(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_ms(x):
    return "-" if x is None else f"{x:.3f}"


def fmt_us(x):
    return "-" if x is None else f"{x:.2f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def case_title(case, n):
    clients, pipeline = ALL_CASES[case]
    pipe = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    return f"{clients} client{'s' if clients > 1 else ''}, {pipe} (n={n:,} per run)"


def main():
    a = parse_args()
    for tool in ["redis-server", "redis-benchmark", "taskset"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode = "pinned" if a.pin else "unpinned"
    cpu = a.pin_cpu if a.pin else None
    out_dir = bl.make_results_dir(a.results_dir, "pget-" + mode + (f"-{a.label}" if a.label else ""))
    logs = os.path.join(out_dir, "logs")
    bl.install_cleanup()
    bl.log(f"results: {out_dir}")

    cmd_line = " ".join([os.path.join(bl.BENCH_DIR, "pget-bench.sh")] + sys.argv[1:])
    meta = [f"command: {cmd_line}",
            f"mode: {mode}" + (f" (everything under taskset -c {cpu})" if a.pin else ""),
            f"rounds: {a.rounds}  cases: {','.join(a.cases)}",
            f"key: {a.key}  value size: {a.data_size}  PGET args: {a.timeout_s} {a.update_time}"]
    versions = bl.tool_versions(a.proxy_bin)
    versions.pop("nutcracker", None)
    versions.pop("valgrind", None)
    meta += [f"{k}: {v}" for k, v in versions.items()]

    # --- servers ------------------------------------------------------------------------------
    redis, redis_port = bl.start_redis(logs, "redis", cpu=cpu)
    bl.log(f"redis-server pid {redis.pid} on port {redis_port}")
    pp, pport = bl.start_puppy(a.proxy_bin, redis_port, logs, "puppy", cpu=cpu,
                               extra_args=a.proxy_arg)
    bl.log(f"puppy-proxy pid {pp.pid} on port {pport}")

    value = b"x" * a.data_size
    problems = bl.make_fresh(pport, a.key, value, a.timeout_s, a.update_time)
    if problems:
        bl.die("could not make the key fresh: " + "; ".join(problems) + f"\npuppy log:\n{pp.log_tail()}")
    bl.log(f"key {a.key!r} is fresh (PGET answers fresh, GET returns the PSET value)")

    pget_cmd = ["PGET", a.key, str(a.timeout_s), str(a.update_time)]
    get_cmd = ["GET", a.key]
    targets = [Target("puppy-pget", pport, pget_cmd, [pp, redis], proxy=pp),
               Target("puppy-get", pport, get_cmd, [pp, redis], proxy=pp)]
    if "direct-get" in a.targets:
        targets.append(Target("direct-get", redis_port, get_cmd, [redis]))
    script_cmd = None
    if "direct-script" in a.targets:
        script_cmd = capture_script_call(redis_port, pport, a.key, a.timeout_s, a.update_time)
        if not script_cmd:
            bl.die("could not capture puppy-proxy's EVALSHA for PGET with MONITOR "
                   "(use --targets without direct-script)")
        bl.log("captured the script call: " + " ".join(script_cmd[:2]) + " ... "
               + " ".join(repr(x) for x in script_cmd[2:]))
        targets.append(Target("direct-script", redis_port, script_cmd, [redis]))
    names = [t.name for t in targets]
    meta.append(f"processes: redis-server port {redis_port}; puppy-proxy port {pport}")
    meta.append("commands: puppy-pget = " + " ".join(pget_cmd) + " via puppy-proxy; "
                "puppy-get = " + " ".join(get_cmd) + " via puppy-proxy; direct-get = "
                + " ".join(get_cmd) + " to redis-server"
                + (("; direct-script = " + " ".join(repr(x) for x in script_cmd) + " to redis-server")
                   if script_cmd else ""))

    def bench_argv(t, case, n):
        clients, pipeline = ALL_CASES[case]
        argv = ["redis-benchmark", "-h", bl.HOST, "-p", str(t.port), "-c", str(clients),
                "-n", str(n), "-P", str(pipeline), "--csv"] + t.command
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        return argv

    def row_of(r, t):
        # redis-benchmark names the CSV row after the command line it ran.
        row = r["rows"].get(" ".join(t.command))
        if row is None and len(r["rows"]) == 1:
            row = next(iter(r["rows"].values()))
        return row

    incidents = []

    # --- calibration --------------------------------------------------------------------------
    requests, expected_rps = {}, {}
    if a.requests is not None:
        for c in a.cases:
            requests[c] = a.requests
    else:
        bl.log(f"calibrating request counts for ~{a.seconds:g}s per run")
        for case in a.cases:
            clients, pipeline = ALL_CASES[case]
            n_cal = max(5000, 200 * clients * pipeline)
            rates = []
            for t in targets:
                r = bl.run_benchmark(bench_argv(t, case, n_cal), timeout=300)
                row = row_of(r, t)
                if r["problems"] or not row:
                    msg = (f"calibration {case} {t.name}: {'; '.join(r['problems'])}\n"
                           f"  command: {' '.join(bench_argv(t, case, n_cal))}\n"
                           f"  output (last lines):\n    "
                           + "\n    ".join(r["output"].strip().splitlines()[-8:]))
                    bl.log("PROBLEM " + msg)
                    incidents.append(msg)
                    continue
                rates.append(row["rps"])
            if not rates:
                bl.die(f"calibration failed for {case} on every target")
            expected_rps[case] = min(rates)
            requests[case] = max(1000, bl.round_sig(bl.median(rates) * a.seconds, 2))
            bl.log(f"  {case}: rps {', '.join(f'{x:,.0f}' for x in rates)} -> n={requests[case]:,}")
    meta.append("requests per run: " + ", ".join(f"{c}={requests[c]}" for c in a.cases))

    # --- interleaved rounds -------------------------------------------------------------------
    raw_file = open(os.path.join(out_dir, "raw.csv"), "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
    raw.writeheader()
    results = {}
    reported_dead = set()
    total = a.rounds * len(a.cases) * len(targets)
    done = 0
    t_start = time.monotonic()
    for rnd in range(1, a.rounds + 1):
        for case in a.cases:
            n = requests[case]
            k = (rnd - 1) % len(targets)
            order = targets[k:] + targets[:k]
            for pos, t in enumerate(order):
                done += 1
                if t.disabled:
                    continue
                if a.timeout:
                    timeout = a.timeout
                elif case in expected_rps:
                    timeout = max(60.0, 20.0 * n / expected_rps[case])
                else:
                    timeout = 300.0
                argv = bench_argv(t, case, n)
                cs0 = bl.commandstats(redis_port)
                cpu0 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                        "redis": bl.cpu_seconds(redis.pid)}
                r = bl.run_benchmark(argv, timeout)
                cpu1 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                        "redis": bl.cpu_seconds(redis.pid)}
                cs1 = bl.commandstats(redis_port)
                row = row_of(r, t)
                status = "ok" if row and not r["problems"] else "error"
                rec = dict(mode=mode, round=rnd, case=case, clients=ALL_CASES[case][0],
                           pipeline=ALL_CASES[case][1], requests=n, target=t.name, position=pos,
                           command=" ".join(t.command), wall_s=f"{r['wall_s']:.3f}",
                           status=status, problems=" | ".join(r["problems"]))
                if row:
                    for f in bl.CSV_FIELDS:
                        rec[f] = row.get(f)
                for who in ("proxy", "redis"):
                    if cpu0[who] and cpu1[who]:
                        for i, kind in enumerate(("user", "sys")):
                            rec[f"{who}_{kind}_us_per_req"] = \
                                f"{(cpu1[who][i] - cpu0[who][i]) * 1e6 / n:.2f}"
                # Time Redis spent executing the target's top-level command (GET or the script's
                # EVALSHA, including what the script calls), per call, from INFO commandstats.
                top = TOP_COMMAND[t.name]
                if top in cs1:
                    c0, u0 = cs0.get(top, (0, 0))
                    c1, u1 = cs1[top]
                    rec["redis_cmd_calls"] = c1 - c0 - 1 if top == "get" else c1 - c0
                    if c1 > c0:
                        rec["redis_cmd_us_per_call"] = f"{(u1 - u0) / (c1 - c0):.3f}"
                raw.writerow(rec)
                raw_file.flush()
                if status == "ok":
                    results.setdefault((case, t.name), []).append(rec)
                    bl.log(f"[{done}/{total}] round {rnd} {case:7s} {t.name:10s} "
                           f"{row['rps']:>11,.0f} rps  p50 {row['p50_latency_ms']:.3f} ms  "
                           f"p99 {row['p99_latency_ms']:.3f} ms  ({r['wall_s']:.1f}s)")
                    continue
                msg = (f"round {rnd} {case} {t.name}: {'; '.join(r['problems'])}\n"
                       f"  command: {' '.join(argv)}\n"
                       f"  output (last lines):\n    " +
                       "\n    ".join(r["output"].strip().splitlines()[-8:]))
                dead = [p for p in t.procs if not p.alive()]
                if dead:
                    for p in dead:
                        reported_dead.add(p.pid)
                        msg += (f"\n  {p.name} (pid {p.pid}) has ended: {bl.describe_exit(p.returncode())}; "
                                f"log tail:\n    " + "\n    ".join(p.log_tail(15).splitlines()))
                    for other in targets:
                        if any(p in dead for p in other.procs):
                            other.disabled = "process exited"
                else:
                    ok, reply = bl.wait_ping(t.port, timeout=10)
                    msg += f"\n  GET through {t.name} afterwards: {'ok' if ok else reply}"
                    if not ok:
                        t.disabled = "no GET reply after a failed run"
                if t.disabled:
                    msg += f"\n  -> {t.name} disabled for the remaining runs ({t.disabled})"
                bl.log("PROBLEM " + msg)
                incidents.append(msg)
                if not redis.alive():
                    bl.die("redis-server has exited; giving up")
    raw_file.close()
    elapsed = time.monotonic() - t_start

    # The key must still be fresh after the runs (timeout 3600 s): otherwise the PGET figures
    # would have measured something else than the fresh path.
    if pp.alive():
        still = check_fresh(pport, a.key, value, a.timeout_s, a.update_time)
        if still:
            incidents.append(f"after the runs the key is no longer fresh: {still}")

    # --- shut down, check exit codes and logs -------------------------------------------------
    bl.finish_proxy(pp, incidents, check_exit=pp.pid not in reported_dead)
    bl.stop_process(redis)

    # --- summary -------------------------------------------------------------------------------
    out = []
    out.append(f"PGET benchmark -- mode: {mode}"
               + (f" (redis-server, puppy-proxy and redis-benchmark all under taskset -c {cpu})"
                  if a.pin else " (no CPU pinning)"))
    out.append(f"{a.rounds} interleaved rounds, medians over rounds; {done} runs in {elapsed:.0f}s; "
               f"results in {out_dir}")
    out.append(f"puppy-proxy: {versions['puppy-proxy']}")
    out.append(f"load average at start: {versions['loadavg at start']}; at end: "
               f"{open('/proc/loadavg').read().strip()}")
    out.append(f"targets: puppy-pget = `{' '.join(pget_cmd)}` through puppy-proxy (key fresh: "
               f"PSET with timeout {a.timeout_s} s); puppy-get = `GET {a.key}` through "
               f"puppy-proxy; direct-get = `GET {a.key}` to redis-server ({a.data_size}-byte value)")
    if script_cmd:
        out.append(f"direct-script = puppy-proxy's own script call for this PGET, "
                   f"`{' '.join(script_cmd[:2])} ...` (captured with MONITOR), sent straight to "
                   f"redis-server: what the script costs without the proxy")
    out.append("rps = requests/s; p50/p99 = latency in ms reported by redis-benchmark; spread = "
               "(max-min)/median of rps over the rounds; cpu us/req = CPU time (user+sys) of "
               "puppy-proxy / redis-server per request during the run (from /proc, 10 ms ticks); "
               "redis us/cmd = microseconds Redis spent executing each GET / EVALSHA (INFO "
               "commandstats, excludes I/O)")
    overview = []
    summary_rows = []
    for case in a.cases:
        n = requests[case]
        med = {}
        for name in names:
            recs = results.get((case, name), [])
            rps = [float(r["rps"]) for r in recs]
            m = dict(rps=bl.median(rps),
                     p50=bl.median([float(r["p50_latency_ms"]) for r in recs]),
                     p99=bl.median([float(r["p99_latency_ms"]) for r in recs]),
                     spread=((max(rps) - min(rps)) / bl.median(rps) * 100) if rps else None,
                     ok=len(recs))
            for who in ("proxy", "redis"):
                vals = [float(r[f"{who}_user_us_per_req"]) + float(r[f"{who}_sys_us_per_req"])
                        for r in recs if r.get(f"{who}_user_us_per_req") not in (None, "")]
                m[f"{who}_cpu"] = bl.median(vals)
            m["cmd_us"] = bl.median([float(r["redis_cmd_us_per_call"]) for r in recs
                                     if r.get("redis_cmd_us_per_call") not in (None, "")])
            med[name] = m
        rows = []
        for name in names:
            m = med[name]
            rows.append([name, f"{m['ok']}/{a.rounds}", fmt_rps(m["rps"]),
                         "-" if m["spread"] is None else f"{m['spread']:.1f}%",
                         fmt_ms(m["p50"]), fmt_ms(m["p99"]),
                         fmt_ratio(ratio(m["rps"], med["puppy-get"]["rps"])),
                         fmt_ratio(ratio(m["rps"], med["direct-get"]["rps"])
                                   if "direct-get" in med else None),
                         fmt_us(m["proxy_cpu"]) if name.startswith("puppy") else "-",
                         fmt_us(m["redis_cpu"]), fmt_us(m["cmd_us"])])
            summary_rows.append(dict(mode=mode, case=case, clients=ALL_CASES[case][0],
                                     pipeline=ALL_CASES[case][1], requests=n, target=name,
                                     runs_ok=m["ok"], rounds=a.rounds, rps_median=m["rps"],
                                     rps_spread_pct=m["spread"], p50_ms_median=m["p50"],
                                     p99_ms_median=m["p99"],
                                     rps_vs_puppy_get=ratio(m["rps"], med["puppy-get"]["rps"]),
                                     rps_vs_direct_get=ratio(m["rps"], med["direct-get"]["rps"])
                                     if "direct-get" in med else None,
                                     proxy_cpu_us_per_req=m["proxy_cpu"],
                                     redis_cpu_us_per_req=m["redis_cpu"],
                                     redis_cmd_us_per_req=m["cmd_us"]))
        out.append("")
        out.append("== " + case_title(case, n))
        out.append(bl.format_table(
            ["target", "ok", "rps", "spread", "p50 ms", "p99 ms", "rps/puppy-get",
             "rps/direct-get", "proxy cpu us/req", "redis cpu us/req", "redis us/cmd"], rows))
        pg, gg = med["puppy-pget"], med["puppy-get"]
        dg = med.get("direct-get", dict(rps=None, p50=None, p99=None))
        r_rps = ratio(pg["rps"], gg["rps"])
        verdict = "-" if r_rps is None else ("yes" if r_rps >= a.target_ratio else "NO")
        overview.append([case, fmt_rps(pg["rps"]), fmt_ms(pg["p50"]), fmt_ms(pg["p99"]),
                         fmt_rps(gg["rps"]), fmt_ms(gg["p50"]), fmt_ms(gg["p99"]),
                         fmt_rps(dg["rps"]), fmt_ms(dg["p50"]), fmt_ms(dg["p99"]),
                         fmt_ratio(r_rps), verdict,
                         fmt_ratio(ratio(pg["p50"], gg["p50"])),
                         fmt_ratio(ratio(pg["p99"], gg["p99"]))])
    out.append("")
    out.append(f"== Overview (medians over rounds; PGET/GET = puppy-pget / puppy-get; "
               f"target: rps ratio >= {a.target_ratio:g})")
    out.append(bl.format_table(
        ["case", "PGET rps", "p50", "p99", "GET rps", "p50", "p99", "direct GET rps", "p50", "p99",
         "PGET/GET rps", f">={a.target_ratio:g}", "PGET/GET p50", "PGET/GET p99"], overview))
    out.append("")
    if incidents:
        out.append(f"== Problems ({len(incidents)})")
        out += incidents
    else:
        out.append("== Problems: none (every run succeeded, the key was still fresh at the end, "
                   "puppy-proxy exited cleanly and logged nothing at warn or above)")
    text = "\n".join(out) + "\n"

    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary_rows[0].keys()) if summary_rows else ["mode"])
        w.writeheader()
        for r in summary_rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) and k.endswith(("_pct", "_get", "_req"))
                            else f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()})
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + f"\nloadavg at end: {open('/proc/loadavg').read().strip()}\n")
    print(text, end="")
    return 1 if any(t.disabled for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
