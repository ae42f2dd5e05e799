#!/usr/bin/python3
"""Throughput/latency of PGET on a fresh key against plain GET, both through puppy-proxy, with
the near cache off and on, and GET / MGET straight to Redis as references (see bench/README.md,
"pget-bench.sh" and "pget-remote-bench.sh").

Started through bench/pget-bench.sh (Redis on loopback) or bench/pget-remote-bench.sh (Redis
behind a relay that delays every byte, as a network would). Starts its own redis-server, two
puppy-proxies in front of it (near cache off, and on with --near-cache-size), makes one key fresh
(PGET -> lease, PSET with a long timeout, PGET must then answer `fresh`), then runs
redis-benchmark with the commands `PGET key TIMEOUT UPDATE`, `GET key` and `MGET key puppy:key`,
interleaved: every round runs every case on every target (the target order rotates from round to
round). Reports medians over the rounds.
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
from proxy_bench import fmt_ms, fmt_ratio, fmt_rps, fmt_us, ratio  # noqa: E402

# name -> (clients, pipeline)
ALL_CASES = {"c50": (50, 1), "c50p16": (50, 16), "c1": (1, 1), "c4": (4, 1)}
# target -> (server it talks to, command). Servers: plain = puppy-proxy without near cache,
# near = puppy-proxy with --near-cache-size, redis = redis-server (through the delaying relay
# when there is one), local = redis-server without the relay, relay0 = the relay program with no
# delay in front of redis-server (local and relay0: only with --relay-delay-ms, to show what the
# relay itself adds).
TARGETS = {
    "puppy-pget": ("plain", "pget"),
    "puppy-get": ("plain", "get"),
    "near-pget": ("near", "pget"),
    "direct-get": ("redis", "get"),
    "direct-mget": ("redis", "mget"),
    "local-get": ("local", "get"),
    "relay0-get": ("relay0", "get"),
}
ALL_TARGETS = list(TARGETS)
RELAY_ONLY = ("local-get", "relay0-get")
# top-level Redis command of each command kind (for the `redis us/cmd` column)
TOP_COMMAND = {"pget": "mget", "get": "get", "mget": "mget"}

RAW_FIELDS = ["mode", "round", "case", "clients", "pipeline", "requests", "target", "position",
              "command", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms", "wall_s",
              "proxy_user_us_per_req", "proxy_sys_us_per_req", "redis_user_us_per_req",
              "redis_sys_us_per_req", "client_us_per_req", "redis_cmds_per_req", "redis_cmd_calls",
              "redis_cmd_us_per_call", "near_hits_per_req", "status", "problems"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog=os.environ.get("PGET_BENCH_PROG", "pget-bench.sh"),
        description="redis-benchmark: PGET on a fresh key through puppy-proxy with the near cache "
                    "off and on, GET through puppy-proxy, GET and MGET straight to Redis; "
                    "interleaved.")
    bl.add_run_args(ap)
    ap.add_argument("--cases", type=bl.csv_list(list(ALL_CASES)), default=["c50", "c50p16", "c1"],
                    help="comma list of c50 (50 clients), c50p16 (50 clients, -P 16), c1 (1 client), "
                         "c4 (4 clients, no pipelining); default c50,c50p16,c1")
    ap.add_argument("--targets", type=bl.csv_list(ALL_TARGETS), default=None,
                    help="comma list of puppy-pget, puppy-get (through puppy-proxy, near cache "
                         "off), near-pget (PGET through a second puppy-proxy with the near cache), "
                         "direct-get (GET to redis-server), direct-mget (MGET key puppy:key to "
                         "redis-server: the read a PGET fresh hit makes), and with "
                         "--relay-delay-ms also local-get (GET to redis-server without the relay) "
                         "and relay0-get (GET through the relay program with no delay); default "
                         "all that apply. puppy-pget and puppy-get are always run")
    ap.add_argument("--near-cache-size", default="64mb",
                    help="--near-cache-size of the near-pget proxy (default 64mb)")
    ap.add_argument("--relay-delay-ms", type=float, default=0,
                    help="put bench/delay_relay.c between Redis and everything that talks to it "
                         "(both proxies, the direct targets), holding every byte this many ms in "
                         "each direction (default 0: no relay)")
    ap.add_argument("--key", default="pget-bench:key", help="the key (default pget-bench:key)")
    ap.add_argument("--status-prefix", default="puppy:",
                    help="the proxies' --pget-status-prefix, for direct-mget (default puppy:)")
    ap.add_argument("--data-size", type=int, default=3,
                    help="bytes of the value stored with PSET (default 3, like redis-benchmark -d)")
    ap.add_argument("--timeout-s", type=int, default=3600,
                    help="PGET/PSET timeout argument = freshness in seconds (default 3600: the key "
                         "stays fresh for the whole run)")
    ap.add_argument("--update-time", type=int, default=60,
                    help="PGET/PSET update_time argument in seconds (default 60)")
    bl.add_pin_args(ap, "run redis-server, the proxies, the relays and redis-benchmark under "
                        "taskset -c CPU (all on one CPU)")
    bl.add_timeout_arg(ap, "a redis-benchmark run")
    ap.add_argument("--target-ratio", type=float, default=0.8,
                    help="PGET/GET throughput ratio to meet, near cache off (default 0.8); "
                         "reported, not enforced")
    ap.add_argument("--target-near", type=float, default=1.0,
                    help="near-pget / direct-get throughput ratio to exceed (default 1.0)")
    ap.add_argument("--target-latency", type=float, default=10.0,
                    help="with --relay-delay-ms: direct-get p50 / near-pget p50 to meet (default 10)")
    bl.add_proxy_args(ap)
    a = ap.parse_args()
    bl.check_run_args(ap, a)
    if a.relay_delay_ms < 0:
        ap.error("--relay-delay-ms must be >= 0")
    relay = a.relay_delay_ms > 0
    if a.targets is None:
        a.targets = [t for t in ALL_TARGETS if relay or t not in RELAY_ONLY]
    elif not relay and any(t in RELAY_ONLY for t in a.targets):
        ap.error(f"{' and '.join(RELAY_ONLY)} need --relay-delay-ms")
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


def warm_near(port, key, value, timeout_s, update_time, wait_s=10.0):
    """PGETs through the near-cache proxy until one is answered from its near cache (the first
    miss asks its tracking connection for a fill). Returns a problem, or None."""
    hits0 = bl.puppy_stat(port, "puppy_near_cache_hits_total")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        problem = check_fresh(port, key, value, timeout_s, update_time)
        if problem:
            return problem
        if bl.puppy_stat(port, "puppy_near_cache_hits_total") > hits0:
            return None
        time.sleep(0.01)
    return f"no near cache hit within {wait_s:g}s of PGETs (fills: " \
           f"{bl.puppy_stat(port, 'puppy_near_cache_fills_total'):.0f})"


class Target:
    def __init__(self, name, port, command, procs, proxy=None):
        self.name = name
        self.port = port
        self.command = command  # list of words for redis-benchmark
        self.procs = procs
        self.proxy = proxy
        self.near = TARGETS[name][0] == "near"
        self.top = TOP_COMMAND[TARGETS[name][1]]
        self.disabled = None


def case_title(case, n):
    clients, pipeline = ALL_CASES[case]
    pipe = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    return f"{clients} client{'s' if clients > 1 else ''}, {pipe} (n={n:,} per run)"


def start_servers(a, logs, cpu, meta):
    """redis-server, the relays (with --relay-delay-ms), both proxies. Returns (redis, ports,
    procs): ports by server kind (TARGETS), procs by server kind (the processes a target on
    that kind depends on)."""
    redis, redis_port = bl.start_redis(logs, "redis", cpu=cpu)
    bl.log(f"redis-server pid {redis.pid} on port {redis_port}")
    ports, procs = {"redis": redis_port, "local": redis_port}, {"redis": [redis], "local": [redis]}
    if a.relay_delay_ms > 0:
        relay_bin = bl.compile_c(os.path.join(bl.BENCH_DIR, "delay_relay.c"),
                                 os.path.join(os.path.dirname(logs), "delay_relay"))
        relay, ports["redis"] = bl.start_delay_relay(relay_bin, redis_port, logs, "relay",
                                                     a.relay_delay_ms * 1000, cpu=cpu)
        procs["redis"] = [relay, redis]
        procs["relays"] = [relay]
        bl.log(f"relay pid {relay.pid} on port {ports['redis']}: {a.relay_delay_ms:g} ms each way")
        if "relay0-get" in a.targets:
            relay0, ports["relay0"] = bl.start_delay_relay(relay_bin, redis_port, logs, "relay0", 0,
                                                           cpu=cpu)
            procs["relay0"] = [relay0, redis]
            procs["relays"].append(relay0)
        meta.append(f"relay: {relay_bin} (from bench/delay_relay.c), {a.relay_delay_ms:g} ms each "
                    f"way, port {ports['redis']} -> {redis_port}"
                    + (f"; relay0 (no delay) port {ports['relay0']}" if "relay0" in ports else ""))
    pp, ports["plain"] = bl.start_puppy(a.proxy_bin, ports["redis"], logs, "puppy", cpu=cpu,
                                        extra_args=a.proxy_arg)
    procs["plain"] = [pp] + procs["redis"]
    bl.log(f"puppy-proxy pid {pp.pid} on port {ports['plain']} (near cache off)")
    if "near-pget" in a.targets:
        ppn, ports["near"] = bl.start_puppy(
            a.proxy_bin, ports["redis"], logs, "puppy-near", cpu=cpu,
            extra_args=list(a.proxy_arg) + ["--near-cache-size", a.near_cache_size])
        procs["near"] = [ppn] + procs["redis"]
        bl.log(f"puppy-proxy pid {ppn.pid} on port {ports['near']} (--near-cache-size "
               f"{a.near_cache_size})")
    meta.append("processes: " + ", ".join(f"{k} port {v}" for k, v in ports.items()))
    return redis, ports, procs


def make_targets(a, ports, procs, value, incidents):
    pget_cmd = ["PGET", a.key, str(a.timeout_s), str(a.update_time)]
    commands = {"pget": pget_cmd, "get": ["GET", a.key],
                "mget": ["MGET", a.key, a.status_prefix + a.key]}
    problems = bl.make_fresh(ports["plain"], a.key, value, a.timeout_s, a.update_time)
    if problems:
        bl.die("could not make the key fresh: " + "; ".join(problems) + "\npuppy log:\n"
               + procs["plain"][0].log_tail())
    bl.log(f"key {a.key!r} is fresh (PGET answers fresh, GET returns the PSET value)")
    # direct-mget must read what a PGET reads: the value and a current status.
    got = bl.call_once(ports["local"], *commands["mget"])
    if not (isinstance(got, list) and got[0] == value and isinstance(got[1], bytes)
            and got[1].startswith(b"current")):
        bl.die(f"{' '.join(commands['mget'])} answered {got!r}: is the status prefix "
               f"{a.status_prefix!r}? (--status-prefix)")
    if "near" in ports:
        problem = warm_near(ports["near"], a.key, value, a.timeout_s, a.update_time)
        if problem:
            incidents.append(f"near cache never answered a PGET before the runs: {problem}")
            bl.log("PROBLEM " + incidents[-1])
    targets = []
    for name in a.targets:
        server, kind = TARGETS[name]
        proxy = procs[server][0] if server in ("plain", "near") else None
        targets.append(Target(name, ports[server], commands[kind], procs[server], proxy=proxy))
    return targets


def run_one(t, case, n, redis, redis_port, cpu, timeout):
    """One redis-benchmark run of target t. Returns (record fields, result of run_benchmark,
    argv). INFO is read from Redis itself (redis_port), never through the relay."""
    clients, pipeline = ALL_CASES[case]
    argv = bl.command_benchmark_argv(t.port, t.command, clients, pipeline, n, cpu=cpu)
    cs0 = bl.commandstats(redis_port)
    hits0 = bl.puppy_stat(t.port, "puppy_near_cache_hits_total") if t.near else None
    cpu0 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid), "redis": bl.cpu_seconds(redis.pid)}
    r = bl.run_benchmark(argv, timeout)
    cpu1 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid), "redis": bl.cpu_seconds(redis.pid)}
    cs1 = bl.commandstats(redis_port)
    rec = {"command": " ".join(t.command), "wall_s": f"{r['wall_s']:.3f}"}
    row = bl.benchmark_row(r, t.command)
    rec.update({f: row.get(f) for f in bl.CSV_FIELDS} if row else {})
    rec.update(bl.cpu_per_request(cpu0, cpu1, n))
    if r.get("client_cpu_s") is not None:
        rec["client_us_per_req"] = f"{r['client_cpu_s'] * 1e6 / n:.2f}"
    # What Redis executed meanwhile (INFO commandstats): all commands per request (without INFO
    # and CONFIG: the measurement's own and redis-benchmark's start-up), and the time it spent
    # executing the target's top-level command (GET or MGET), per call.
    if cs0 and cs1:
        before, after = bl.counted_commands(cs0), bl.counted_commands(cs1)
        calls = sum(c for c, _ in after.values()) - sum(c for c, _ in before.values())
        rec["redis_cmds_per_req"] = f"{calls / n:.4f}"
        c0, u0 = before.get(t.top, (0, 0))
        c1, u1 = after.get(t.top, (0, 0))
        rec["redis_cmd_calls"] = c1 - c0
        if c1 > c0:
            rec["redis_cmd_us_per_call"] = f"{(u1 - u0) / (c1 - c0):.3f}"
    problems = list(r["problems"])
    if t.near:
        hits = bl.puppy_stat(t.port, "puppy_near_cache_hits_total") - hits0
        rec["near_hits_per_req"] = f"{hits / n:.4f}"
        if row and not problems and hits < n:
            problems.append(f"only {hits:.0f} of {n} PGETs answered from the near cache")
    rec["status"] = "ok" if row and not problems else "error"
    rec["problems"] = " | ".join(problems)
    r["problems"] = problems
    return rec, r, argv


def calibrate(a, targets, cpu, incidents):
    def run(t, case, n):
        clients, pipeline = ALL_CASES[case]
        r = bl.run_benchmark(bl.command_benchmark_argv(t.port, t.command, clients, pipeline, n,
                                                       cpu=cpu), timeout=300)
        return r, bl.benchmark_row(r, t.command)

    return bl.calibrate(a.cases, targets, a.seconds, a.requests, ALL_CASES.get, run, incidents)


def run_rounds(a, targets, requests, expected_rps, redis, redis_port, cpu, mode, out_dir,
               incidents):
    raw_file = open(os.path.join(out_dir, "raw.csv"), "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
    raw.writeheader()
    results, reported_dead = {}, set()
    total = a.rounds * len(a.cases) * len(targets)
    done = 0
    for done, rnd, case, pos, t in bl.interleaved_runs(a.rounds, a.cases, targets):
        if t.disabled:
            continue
        n = requests[case]
        timeout = bl.run_timeout(a.timeout, n, expected_rps.get(case))
        rec, r, argv = run_one(t, case, n, redis, redis_port, cpu, timeout)
        rec.update(mode=mode, round=rnd, case=case, clients=ALL_CASES[case][0],
                   pipeline=ALL_CASES[case][1], requests=n, target=t.name, position=pos)
        raw.writerow(rec)
        raw_file.flush()
        if rec["status"] == "ok":
            results.setdefault((case, t.name), []).append(rec)
            bl.log(f"[{done}/{total}] round {rnd} {case:7s} {t.name:11s} "
                   f"{rec['rps']:>11,.0f} rps  p50 {rec['p50_latency_ms']:.3f} ms  "
                   f"p99 {rec['p99_latency_ms']:.3f} ms  ({r['wall_s']:.1f}s)")
            continue
        bl.report_failure(f"round {rnd} {case} {t.name}", r, argv, t, targets, incidents,
                          reported_dead=reported_dead)
        if not redis.alive():
            bl.die("redis-server has exited; giving up")
    raw_file.close()
    return results, reported_dead, done


def medians(recs):
    rps = [float(r["rps"]) for r in recs]

    def med(field):
        return bl.median([float(r[field]) for r in recs if r.get(field) not in (None, "")])

    m = dict(rps=bl.median(rps), p50=med("p50_latency_ms"), p99=med("p99_latency_ms"),
             spread=((max(rps) - min(rps)) / bl.median(rps) * 100) if rps else None, ok=len(recs),
             cmds=med("redis_cmds_per_req"), cmd_us=med("redis_cmd_us_per_call"),
             client_cpu=med("client_us_per_req"),
             near=med("near_hits_per_req"))
    for who in ("proxy", "redis"):
        m[f"{who}_cpu"] = bl.median([float(r[f"{who}_user_us_per_req"]) + float(r[f"{who}_sys_us_per_req"])
                                     for r in recs if r.get(f"{who}_user_us_per_req") not in (None, "")])
    return m


def round_ratios(results, case, num, den, field, invert=False):
    """The ratio num/den (den/num if invert) of `field` within each round where both ran."""
    by_round = {}
    for name in (num, den):
        for r in results.get((case, name), []):
            by_round.setdefault(r["round"], {})[name] = float(r[field])
    out = []
    for v in by_round.values():
        if num in v and den in v:
            out.append(ratio(v[den], v[num]) if invert else ratio(v[num], v[den]))
    return [x for x in out if x is not None]


def checks_of(a, names):
    """The targets of the issue, as (label, numerator, denominator, field, invert, threshold):
    value = num/den of the medians (den/num with invert), met when >= threshold (> for
    strict)."""
    out = []
    if a.relay_delay_ms > 0:
        if "near-pget" in names:
            out.append(("direct GET p50 / near PGET p50", "near-pget", "direct-get", "p50", True,
                        a.target_latency, False))
            out.append(("direct GET p99 / near PGET p99", "near-pget", "direct-get", "p99", True,
                        None, False))
        out.append(("puppy PGET p50 / direct GET p50", "puppy-pget", "direct-get", "p50", False,
                    None, False))
        if "relay0-get" in names and "local-get" in names:
            out.append(("relay0 GET p50 / local GET p50", "relay0-get", "local-get", "p50", False,
                        None, False))
    else:
        out.append(("PGET (near off) / GET via proxy, rps", "puppy-pget", "puppy-get", "rps", False,
                    a.target_ratio, False))
        if "near-pget" in names:
            out.append(("near PGET / direct GET, rps", "near-pget", "direct-get", "rps", False,
                        a.target_near, True))
            out.append(("near PGET / PGET (near off), rps", "near-pget", "puppy-pget", "rps",
                        False, None, False))
    return [c for c in out if c[1] in names and c[2] in names]


FIELD = {"rps": "rps", "p50": "p50_latency_ms", "p99": "p99_latency_ms"}


def summarize(a, targets, requests, results, mode):
    names = [t.name for t in targets]
    out, overview, summary_rows = [], [], []
    checks = checks_of(a, names)
    for case in a.cases:
        n = requests[case]
        med = {name: medians(results.get((case, name), [])) for name in names}
        rows = []
        for name in names:
            m = med[name]
            rows.append([name, f"{m['ok']}/{a.rounds}", fmt_rps(m["rps"]),
                         "-" if m["spread"] is None else f"{m['spread']:.1f}%",
                         fmt_ms(m["p50"]), fmt_ms(m["p99"]),
                         fmt_ratio(ratio(m["rps"], med["puppy-get"]["rps"])),
                         fmt_ratio(ratio(m["rps"], med["direct-get"]["rps"])
                                   if "direct-get" in med else None),
                         fmt_us(m["proxy_cpu"]) if TARGETS[name][0] in ("plain", "near") else "-",
                         fmt_us(m["redis_cpu"]), fmt_us(m["client_cpu"]),
                         "-" if m["cmds"] is None else f"{m['cmds']:.3f}", fmt_us(m["cmd_us"]),
                         "-" if m["near"] is None else f"{m['near']:.3f}"])
            summary_rows.append(dict(
                mode=mode, case=case, clients=ALL_CASES[case][0], pipeline=ALL_CASES[case][1],
                requests=n, target=name, runs_ok=m["ok"], rounds=a.rounds, rps_median=m["rps"],
                rps_spread_pct=m["spread"], p50_ms_median=m["p50"], p99_ms_median=m["p99"],
                rps_vs_puppy_get=ratio(m["rps"], med["puppy-get"]["rps"]),
                rps_vs_direct_get=ratio(m["rps"], med["direct-get"]["rps"])
                if "direct-get" in med else None,
                proxy_cpu_us_per_req=m["proxy_cpu"], redis_cpu_us_per_req=m["redis_cpu"],
                client_cpu_us_per_req=m["client_cpu"],
                redis_cmds_per_req=m["cmds"], redis_cmd_us_per_req=m["cmd_us"],
                near_hits_per_req=m["near"]))
        out += ["", "== " + case_title(case, n), bl.format_table(
            ["target", "ok", "rps", "spread", "p50 ms", "p99 ms", "rps/puppy-get", "rps/direct-get",
             "proxy cpu us/req", "redis cpu us/req", "client cpu us/req", "redis cmds/req",
             "redis us/cmd",
             "near hits/req"], rows)]
        for label, num, den, field, invert, threshold, strict in checks:
            a_, b_ = med[num][field], med[den][field]
            value = ratio(b_, a_) if invert else ratio(a_, b_)
            per_round = round_ratios(results, case, num, den, FIELD[field], invert)
            if threshold is None or value is None:
                verdict = "-"
            else:
                met = value > threshold if strict else value >= threshold
                verdict = ("yes" if met else "NO") + f" ({'>' if strict else '>='}{threshold:g})"
            overview.append([case, label, fmt_ratio(value),
                             f"{min(per_round):.2f}-{max(per_round):.2f}" if per_round else "-",
                             verdict])
    out += ["", "== Overview: the targets (ratio of the medians over rounds; per-round = the same "
            "ratio within each round, min-max)",
            bl.format_table(["case", "ratio", "value", "per-round", "target met"], overview,
                            align="llrrl")]
    return out, summary_rows


def main():
    a = parse_args()
    for tool in ["redis-server", "redis-benchmark", "taskset"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode, cpu = bl.pin_mode(a)
    kind = "pget-remote" if a.relay_delay_ms > 0 else "pget"
    out_dir, logs, meta = bl.start_results(a, f"{kind}-bench.sh", f"{kind}-{mode}")
    meta += [bl.pin_meta(a),
             f"rounds: {a.rounds}  cases: {','.join(a.cases)}  targets: {','.join(a.targets)}",
             f"key: {a.key}  value size: {a.data_size}  PGET args: {a.timeout_s} {a.update_time}  "
             f"near cache size: {a.near_cache_size}"]
    versions = bl.tool_versions(a.proxy_bin, leave_out=("nutcracker", "valgrind"))
    meta += [f"{k}: {v}" for k, v in versions.items()]

    incidents = []
    value = b"x" * a.data_size
    redis, ports, procs = start_servers(a, logs, cpu, meta)
    targets = make_targets(a, ports, procs, value, incidents)
    meta.append("commands: " + "; ".join(f"{t.name} = {' '.join(t.command)} to port {t.port}"
                                         for t in targets))

    requests, expected_rps = calibrate(a, targets, cpu, incidents)
    meta.append("requests per run: " + ", ".join(f"{c}={requests[c]}" for c in a.cases))
    t_start = time.monotonic()
    results, reported_dead, done = run_rounds(a, targets, requests, expected_rps, redis,
                                              ports["local"], cpu, mode, out_dir, incidents)
    elapsed = time.monotonic() - t_start

    # The key must still be fresh after the runs (timeout 3600 s): otherwise the PGET figures
    # would have measured something else than the fresh path.
    for server in ("plain", "near"):
        if server in procs and procs[server][0].alive():
            still = check_fresh(ports[server], a.key, value, a.timeout_s, a.update_time)
            if still:
                incidents.append(f"after the runs the key is no longer fresh through "
                                 f"{procs[server][0].name}: {still}")
            bl.finish_proxy(procs[server][0], incidents,
                            check_exit=procs[server][0].pid not in reported_dead)
    relay_notes = []
    for relay in procs.get("relays", []):
        rc = bl.stop_process(relay)
        lines = [x for x in relay.log_tail(50).splitlines() if "lateness" in x]
        if rc != 0 or not lines:
            incidents.append(f"{relay.name} (pid {relay.pid}) at the end: {bl.describe_exit(rc)}; "
                             f"log tail:\n" + relay.log_tail(10))
        relay_notes += [f"{relay.name}: {x.split(': ', 1)[-1]}" for x in lines[-1:]]
    bl.stop_process(redis)

    out = [f"PGET benchmark -- mode: {mode}"
           + (f" (every process under taskset -c {cpu})" if a.pin else " (no CPU pinning)")
           + (f"; Redis behind a relay delaying {a.relay_delay_ms:g} ms each way"
              if a.relay_delay_ms > 0 else ""),
           f"{a.rounds} interleaved rounds, medians over rounds; {done} runs in {elapsed:.0f}s; "
           f"results in {out_dir}",
           f"puppy-proxy: {versions['puppy-proxy']}",
           f"load average at start: {versions['loadavg at start']}; at end: "
           f"{open('/proc/loadavg').read().strip()}",
           "targets: " + "; ".join(f"{t.name} = `{' '.join(t.command)}` to "
                                   + {"plain": "puppy-proxy (near cache off)",
                                      "near": f"puppy-proxy --near-cache-size {a.near_cache_size}",
                                      "redis": "redis-server" + (" through the delaying relay"
                                                                 if a.relay_delay_ms > 0 else ""),
                                      "local": "redis-server (no relay)",
                                      "relay0": "redis-server through the relay with no delay",
                                      }[TARGETS[t.name][0]] for t in targets)
           + (f"; both proxies reach Redis through the delaying relay" if a.relay_delay_ms > 0
              else "")
           + f" (key fresh: PSET with timeout {a.timeout_s} s; {a.data_size}-byte value)",
           "rps = requests/s; p50/p99 = latency in ms reported by redis-benchmark; spread = "
           "(max-min)/median of rps over the rounds; cpu us/req = CPU time (user+sys) of "
           "puppy-proxy / redis-server per request during the run (from /proc, 10 ms ticks); "
           "client cpu us/req = the same for redis-benchmark itself (its rusage); "
           "redis cmds/req = commands Redis executed per request (INFO commandstats, without "
           "INFO/CONFIG); redis us/cmd = microseconds Redis spent executing each GET / MGET (the "
           "read a PGET makes), excluding I/O; near hits/req = PGETs answered from the near cache "
           "per request (PUPPY STATS)"]
    if relay_notes:
        out.append("relay delivery after the time a chunk fell due (whole run, all targets): "
                   + "; ".join(relay_notes))
    tables, summary_rows = summarize(a, targets, requests, results, mode)
    out += tables + [""]
    out += bl.problems_lines(incidents, "every run succeeded, every near-pget request was a near "
                                        "cache hit, the key was still fresh at the end, the "
                                        "proxies exited cleanly and logged nothing at warn or "
                                        "above")
    text = "\n".join(out) + "\n"
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary_rows[0].keys()) if summary_rows else ["mode"])
        w.writeheader()
        for r in summary_rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) and k.endswith(("_pct", "_get", "_req"))
                            else f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()})
    bl.write_summary(out_dir, text, meta)
    return 1 if any(t.disabled for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
