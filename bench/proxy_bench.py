#!/usr/bin/python3
"""Throughput/latency of puppy-proxy and twemproxy relative to direct Redis (see bench/README.md).

Started through bench/proxy-bench.sh. Starts its own redis-server, puppy-proxy and nutcracker,
then runs redis-benchmark against each target, interleaved: every round runs every case on every
target (the target order rotates from round to round), so slow drifts of a noisy machine hit all
targets alike. Reports medians over the rounds.
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

ALL_TARGETS = ["direct", "puppy", "twemproxy"]
# name -> (clients, pipeline)
ALL_CASES = {"c50": (50, 1), "c50p16": (50, 16), "c1": (1, 1)}
ALL_TESTS = ["get", "set"]

RAW_FIELDS = ["mode", "round", "case", "test", "clients", "pipeline", "requests", "target",
              "position", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms", "wall_s",
              "proxy_user_us_per_req", "proxy_sys_us_per_req", "redis_user_us_per_req",
              "redis_sys_us_per_req", "status", "problems"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="proxy-bench.sh",
        description="redis-benchmark against direct Redis, puppy-proxy and twemproxy, interleaved.")
    bl.add_run_args(ap)
    ap.add_argument("--baseline-bin", default=None,
                    help="a second puppy-proxy binary, run as target 'puppy-base' with the same "
                         "--proxy-arg options (e.g. a build from before a change, to measure its "
                         "cost in the same run)")
    ap.add_argument("--scrape-metrics", type=float, default=0, metavar="SECONDS",
                    help="run the 'puppy' target with --metrics-listen and fetch its /metrics "
                         "every SECONDS during the runs, as Prometheus would (0: off)")
    bl.add_list_args(
        ap, targets=(ALL_TARGETS, "comma list of direct,puppy,twemproxy (default all)"),
        tests=(ALL_TESTS, "comma list of get,set (default both; each is its own redis-benchmark run)"),
        cases=(list(ALL_CASES), "comma list of c50 (50 clients), c50p16 (50 clients, -P 16), "
                                "c1 (1 client); default all"))
    bl.add_pin_args(ap, "run redis-server, both proxies and redis-benchmark under taskset -c CPU "
                        "(all on one CPU)")
    ap.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for puppy-proxy (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--data-size", type=int, default=3, help="redis-benchmark -d (default 3 bytes)")
    ap.add_argument("--keyspace", type=int, default=0,
                    help="redis-benchmark -r (random keys); default 0 = one key, pre-set so GET hits")
    bl.add_timeout_arg(ap, "a redis-benchmark run")
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    ap.add_argument("--label", default=None, help="suffix for the results folder name")
    a = ap.parse_args()
    bl.check_run_args(ap, a)
    return a


class Target:
    def __init__(self, name, port, procs, proxy=None):
        self.name = name
        self.port = port
        self.procs = procs  # processes this target depends on (checked after failures)
        self.proxy = proxy  # the proxy process, whose CPU time is measured per run
        self.disabled = None  # reason, once it stopped working


def case_title(test, case, n):
    clients, pipeline = ALL_CASES[case]
    pipe = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    return f"{test.upper()}, {clients} client{'s' if clients > 1 else ''}, {pipe} (n={n:,} per run)"


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


def main():
    a = parse_args()
    for tool in ["redis-server", "redis-benchmark", "nutcracker", "taskset"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if "puppy" in a.targets and not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode, cpu = bl.pin_mode(a)
    out_dir, logs, meta = bl.start_results(a, "proxy-bench.sh", mode)
    meta += bl.run_meta(a) + [f"data size: {a.data_size}  keyspace: {a.keyspace or 'single key'}"]
    versions = bl.tool_versions(a.proxy_bin)
    meta += [f"{k}: {v}" for k, v in versions.items()]

    # --- servers ------------------------------------------------------------------------------
    redis, redis_port = bl.start_redis(logs, "redis", cpu=cpu)
    bl.log(f"redis-server pid {redis.pid} on port {redis_port}")
    targets = []
    if "direct" in a.targets:
        targets.append(Target("direct", redis_port, [redis]))
    scraper = None
    if "puppy" in a.targets:
        extra = list(a.proxy_arg)
        if a.scrape_metrics > 0:
            extra += ["--metrics-listen", f"{bl.HOST}:0"]
        pp, pport = bl.start_puppy(a.proxy_bin, redis_port, logs, "puppy", cpu=cpu,
                                   extra_args=extra)
        bl.log(f"puppy-proxy pid {pp.pid} on port {pport}")
        targets.append(Target("puppy", pport, [pp, redis], proxy=pp))
        if a.scrape_metrics > 0:
            with open(os.path.join(logs, "puppy.ready")) as f:
                metrics_line = [l for l in f.read().splitlines() if l.startswith("metrics ")][0]
            scraper = bl.MetricsScraper(int(metrics_line.rsplit(":", 1)[1]), a.scrape_metrics)
            meta.append(f"puppy: /metrics fetched every {a.scrape_metrics:g}s during the runs")
    if a.baseline_bin:
        bp, bport = bl.start_puppy(a.baseline_bin, redis_port, logs, "puppy-base", cpu=cpu,
                                   extra_args=a.proxy_arg)
        bl.log(f"baseline puppy-proxy ({a.baseline_bin}) pid {bp.pid} on port {bport}")
        targets.append(Target("puppy-base", bport, [bp, redis], proxy=bp))
        meta.append(f"puppy-base: {a.baseline_bin}")
    if "twemproxy" in a.targets:
        tw, tport = bl.start_nutcracker(redis_port, logs, "twemproxy", cpu=cpu)
        bl.log(f"nutcracker pid {tw.pid} on port {tport}")
        targets.append(Target("twemproxy", tport, [tw, redis], proxy=tw))
    meta.append("processes: " + "; ".join(f"{t.name} port {t.port}" for t in targets))
    meta.append("twemproxy config:\n" + bl.NUTCRACKER_YAML.format(
        host=bl.HOST, port="<port>", upstream_port="<redis port>").rstrip())
    # The single default key, so GET always returns a value of --data-size bytes.
    bl.redis_command(redis_port, "SET", "key:__rand_int__", "x" * a.data_size)

    cases = [(test, case) for test in a.tests for case in a.cases]

    def bench_argv(target, test, case, n):
        clients, pipeline = ALL_CASES[case]
        return bl.benchmark_argv(target.port, test, clients, pipeline, n, a.data_size,
                                 a.keyspace, cpu=cpu)

    # --- calibration --------------------------------------------------------------------------
    incidents = []

    def calibration_run(t, case, n):
        r = bl.run_benchmark(bench_argv(t, case[0], case[1], n), timeout=300)
        return r, r["rows"].get(case[0].upper())

    requests, expected_rps = bl.calibrate(cases, targets, a.seconds, a.requests,
                                          lambda c: ALL_CASES[c[1]], calibration_run, incidents)
    meta.append("requests per run: " + ", ".join(f"{t} {c}={requests[(t, c)]}" for t, c in cases))

    # --- interleaved rounds -------------------------------------------------------------------
    raw_path = os.path.join(out_dir, "raw.csv")
    raw_file = open(raw_path, "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
    raw.writeheader()
    results = {}  # (test, case, target) -> list of row dicts
    reported_dead = set()
    total = a.rounds * len(cases) * len(targets)
    done = 0
    t_start = time.monotonic()
    for done, rnd, (test, case), pos, t in bl.interleaved_runs(a.rounds, cases, targets):
        if t.disabled:
            continue
        n = requests[(test, case)]
        timeout = bl.run_timeout(a.timeout, n, expected_rps.get((test, case)))
        argv = bench_argv(t, test, case, n)
        cpu0 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                "redis": bl.cpu_seconds(redis.pid)}
        r = bl.run_benchmark(argv, timeout)
        cpu1 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                "redis": bl.cpu_seconds(redis.pid)}
        row = r["rows"].get(test.upper())
        # With the CPU time the proxy and Redis spent during this run, per request (from
        # /proc/PID/stat, 10 ms resolution; includes the benchmark's connection setup).
        rec = bl.run_record(r, row, n, cpu0, cpu1, mode=mode, round=rnd, case=case, test=test,
                            clients=ALL_CASES[case][0], pipeline=ALL_CASES[case][1], requests=n,
                            target=t.name, position=pos)
        raw.writerow(rec)
        raw_file.flush()
        if rec["status"] == "ok":
            results.setdefault((test, case, t.name), []).append(rec)
            bl.log(f"[{done}/{total}] round {rnd} {test} {case:7s} {t.name:9s} "
                   f"{row['rps']:>11,.0f} rps  p50 {row['p50_latency_ms']:.3f} ms  "
                   f"p99 {row['p99_latency_ms']:.3f} ms  ({r['wall_s']:.1f}s)")
            continue
        # Something went wrong: say exactly what, then check the target still works.
        bl.report_failure(f"round {rnd} {test} {case} {t.name}", r, argv, t, targets, incidents,
                          reported_dead=reported_dead)
        if not redis.alive():
            bl.die("redis-server has exited; giving up")
    raw_file.close()
    elapsed = time.monotonic() - t_start
    if scraper is not None:
        scrapes, failures = scraper.stop()
        meta.append(f"metrics scrapes: {scrapes} ok, {failures} failed")
        bl.log(f"metrics scrapes: {scrapes} ok, {failures} failed")
        if failures:
            incidents.append(f"{failures} /metrics scrapes failed")

    # --- shut down, check exit codes and logs -------------------------------------------------
    for t in reversed(targets):
        for p in t.procs:
            if p is redis or p not in bl._procs or p.pid in reported_dead:
                continue
            rc = bl.stop_process(p)
            if rc not in p.ok_exit_codes:
                incidents.append(f"{p.name} (pid {p.pid}) on SIGTERM at the end: "
                                 f"{bl.describe_exit(rc)}; log tail:\n"
                                 + p.log_tail(15))
    bl.stop_process(redis)
    if "puppy" in a.targets:
        with open(os.path.join(logs, "puppy.log"), errors="replace") as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("$ ")]
        if lines:
            incidents.append(f"puppy-proxy logged {len(lines)} line(s) at warn or above, e.g.:\n    "
                             + "\n    ".join(lines[:10]))

    # --- summary -------------------------------------------------------------------------------
    out = []
    out.append(f"puppy-proxy benchmark -- mode: {mode}"
               + (f" (redis-server, proxies and redis-benchmark all under taskset -c {cpu})"
                  if a.pin else " (no CPU pinning)"))
    out.append(f"{a.rounds} interleaved rounds, medians over rounds; "
               f"{done} runs in {elapsed:.0f}s; results in {out_dir}")
    out.append(f"puppy-proxy: {versions['puppy-proxy']}")
    out.append(f"load average at start: {versions['loadavg at start']}; at end: "
               f"{open('/proc/loadavg').read().strip()}")
    out.append("rps = requests/s; p50/p99 = latency in ms reported by redis-benchmark; "
               "spread = (max-min)/median of rps over the rounds; x/direct = ratio of medians;")
    out.append("cpu us/req = CPU time (user+sys, all threads) the proxy / redis-server used per "
               "request during the run (from /proc, 10 ms ticks)")
    summary_rows = []
    overview = []
    names = [t.name for t in targets]
    for (test, case) in cases:
        n = requests[(test, case)]
        med = {}
        rows = []
        for name in names:
            recs = results.get((test, case, name), [])
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
            med[name] = m
        base = med.get("direct")
        for name in names:
            m = med[name]
            rr = ratio(m["rps"], base["rps"]) if base else None
            r50 = ratio(m["p50"], base["p50"]) if base else None
            r99 = ratio(m["p99"], base["p99"]) if base else None
            rows.append([name, f"{m['ok']}/{a.rounds}", fmt_rps(m["rps"]),
                         "-" if m["spread"] is None else f"{m['spread']:.1f}%",
                         fmt_ms(m["p50"]), fmt_ms(m["p99"]),
                         fmt_ratio(rr), fmt_ratio(r50), fmt_ratio(r99),
                         fmt_us(m["proxy_cpu"]), fmt_us(m["redis_cpu"])])
            summary_rows.append(dict(mode=mode, test=test, case=case, clients=ALL_CASES[case][0],
                                     pipeline=ALL_CASES[case][1], requests=n, target=name,
                                     runs_ok=m["ok"], rounds=a.rounds, rps_median=m["rps"],
                                     rps_spread_pct=m["spread"], p50_ms_median=m["p50"],
                                     p99_ms_median=m["p99"], rps_vs_direct=rr,
                                     p50_vs_direct=r50, p99_vs_direct=r99,
                                     proxy_cpu_us_per_req=m["proxy_cpu"],
                                     redis_cpu_us_per_req=m["redis_cpu"]))
        out.append("")
        out.append("== " + case_title(test, case, n))
        out.append(bl.format_table(
            ["target", "ok", "rps", "spread", "p50 ms", "p99 ms", "rps/direct", "p50/direct",
             "p99/direct", "proxy cpu us/req", "redis cpu us/req"], rows))
        ov = [f"{test.upper()} {case}", fmt_rps(base["rps"]) if base else "-"]
        for name in names:
            if name == "direct":
                continue
            ov += [fmt_ratio(ratio(med[name]["rps"], base["rps"]) if base else None),
                   fmt_ratio(ratio(med[name]["p50"], base["p50"]) if base else None),
                   fmt_ratio(ratio(med[name]["p99"], base["p99"]) if base else None)]
        overview.append(ov)
    if "direct" in names and len(names) > 1:
        hdr = ["case", "direct rps"]
        for name in names:
            if name != "direct":
                hdr += [f"{name} rps", "p50", "p99"]
        out.append("")
        out.append("== Overview: median ratios target/direct (rps: higher is better; "
                   "p50/p99 latency: lower is better)")
        out.append(bl.format_table(hdr, overview))
    out.append("")
    out += bl.problems_lines(incidents, "every run succeeded, all processes exited cleanly, "
                                        "puppy-proxy logged nothing at warn or above")
    text = "\n".join(out) + "\n"

    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary_rows[0].keys()) if summary_rows else ["mode"])
        w.writeheader()
        for r in summary_rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) and k.endswith(("_pct", "_direct", "_req"))
                            else f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()})
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + f"\nloadavg at end: {open('/proc/loadavg').read().strip()}\n")
    print(text, end="")
    return 1 if incidents and any(t.disabled for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
