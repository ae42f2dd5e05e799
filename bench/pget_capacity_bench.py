#!/usr/bin/env python3
"""PGET fresh-hit capacity with a load generator that is not the bottleneck (bench/loadgen.c):
near cache off and on (1 and 2 worker threads) against GET through the proxy and GET straight
to Redis. See bench/README.md ("pget-capacity-bench.sh").

redis-benchmark, which pget-bench.sh uses, is single-threaded and spends more CPU per request
than the servers it measures, so there the load generator's cost of a PGET decides. loadgen
sends pre-encoded batches and compares replies byte for byte: the server decides here.
"""

import argparse
import csv
import os
import subprocess
import sys

import benchlib as bl
from pget_bench import warm_near, check_fresh

CASES = {"c50": (50, 1), "c50p16": (50, 16)}


def parse_args():
    p = argparse.ArgumentParser(prog="pget-capacity-bench.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cases", default="c50,c50p16", help="comma list of " + ",".join(CASES))
    p.add_argument("--requests", default="c50=150000,c50p16=1500000",
                   help="requests per run and case, CASE=N,...")
    p.add_argument("--key", default="pget-capacity:key")
    p.add_argument("--data-size", type=int, default=3)
    p.add_argument("--near-cache-size", default="64mb")
    p.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN)
    p.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"))
    a = p.parse_args()
    a.cases = [c for c in a.cases.split(",") if c]
    for c in a.cases:
        if c not in CASES:
            bl.die(f"unknown case {c}")
    a.requests = {k: int(v) for k, v in (x.split("=") for x in a.requests.split(","))}
    return a


def run_loadgen(loadgen, port, case, n, command):
    clients, pipeline = CASES[case]
    argv = [loadgen, str(port), str(clients), str(pipeline), str(n)] + command
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = cp.stdout.decode(errors="replace").strip()
    if cp.returncode != 0:
        return None, out
    return {k: float(v) for k, v in (w.split("=") for w in out.split())}, out


def main():
    a = parse_args()
    out_dir = bl.make_results_dir(a.results_dir, "pget-capacity")
    logs = os.path.join(out_dir, "logs")
    bl.install_cleanup()
    loadgen = bl.compile_c(os.path.join(bl.BENCH_DIR, "loadgen.c"), os.path.join(out_dir, "loadgen"))
    redis, redis_port = bl.start_redis(logs)
    procs = {"redis": redis}
    ports = {}
    for name, extra in [("puppy", []), ("near", ["--near-cache-size", a.near_cache_size]),
                        ("near2", ["--near-cache-size", a.near_cache_size, "--threads", "2"])]:
        procs[name], ports[name] = bl.start_puppy(a.proxy_bin, redis_port, logs, name=name,
                                                  extra_args=extra)
    value = b"x" * a.data_size
    problems = bl.make_fresh(ports["puppy"], a.key, value, 3600, 60)
    for name in ("near", "near2"):
        # Two threads: each worker has its own copies; 100 connections reach both.
        for _ in range(4):
            problems += [p for p in [warm_near(ports[name], a.key, value, 3600, 60)] if p]
    if problems:
        bl.die("; ".join(problems))
    pget = ["PGET", a.key, "3600", "60"]
    get = ["GET", a.key]
    targets = [("direct-get", "redis", redis_port, get), ("puppy-get", "puppy", ports["puppy"], get),
               ("puppy-pget", "puppy", ports["puppy"], pget), ("near-pget", "near", ports["near"], pget),
               ("near2-pget", "near2", ports["near2"], pget)]
    records = []
    with open(os.path.join(out_dir, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "case", "target", "requests", "rps", "server_cpu_us_per_req",
                    "loadgen_cpu_us_per_req", "redis_cpu_us_per_req"])
        for rnd in range(1, a.rounds + 1):
            for case in a.cases:
                k = (rnd - 1) % len(targets)
                for name, server, port, command in targets[k:] + targets[:k]:
                    n = a.requests[case]
                    before = {s: bl.cpu_seconds(procs[s].pid) for s in (server, "redis")}
                    r, out = run_loadgen(loadgen, port, case, n, command)
                    after = {s: bl.cpu_seconds(procs[s].pid) for s in (server, "redis")}
                    if r is None:
                        bl.die(f"round {rnd} {case} {name}: loadgen failed: {out}")
                    cpu = {s: sum(after[s]) - sum(before[s]) for s in before}
                    rec = dict(round=rnd, case=case, target=name, rps=r["rps"],
                               server=cpu[server] * 1e6 / n, client=r["cpu_us_per_req"],
                               redis=cpu["redis"] * 1e6 / n)
                    records.append(rec)
                    w.writerow([rnd, case, name, n, f"{r['rps']:.0f}", f"{rec['server']:.3f}",
                                f"{rec['client']:.3f}", f"{rec['redis']:.3f}"])
                    bl.log(f"round {rnd} {case:7s} {name:11s} {r['rps']:>11,.0f} rps")
    stale = [p for p in [check_fresh(ports[s], a.key, value, 3600, 60) for s in ports] if p]
    lines = [f"PGET capacity -- loadgen (bench/loadgen.c), {a.rounds} interleaved rounds, medians; "
             f"results in {out_dir}",
             f"puppy-proxy: {a.proxy_bin}; load average at end: {open('/proc/loadavg').read().strip()}",
             "targets: direct-get = GET to redis-server; puppy-get / puppy-pget = GET / PGET to "
             "puppy-proxy without a near cache; near-pget = PGET to puppy-proxy --near-cache-size "
             f"{a.near_cache_size}; near2-pget = the same with --threads 2",
             "cpu us/req from /proc (10 ms ticks): the server measured, Redis, and loadgen itself", ""]
    for case in a.cases:
        rows = []
        med = {}
        for name, *_ in targets:
            rs = [r for r in records if r["case"] == case and r["target"] == name]
            med[name] = {f: bl.median([r[f] for r in rs]) for f in ("rps", "server", "client", "redis")}
            m = med[name]
            rows.append([name, f"{m['rps']:,.0f}", f"{m['server']:.2f}", f"{m['redis']:.2f}",
                         f"{m['client']:.2f}"])
        lines += [f"== {case} ({CASES[case][0]} connections, pipeline {CASES[case][1]}, "
                  f"{a.requests[case]:,} requests per run)",
                  bl.format_table(["target", "rps", "server cpu us/req", "redis cpu us/req",
                                   "loadgen cpu us/req"], rows), ""]
        for num, den, target in [("puppy-pget", "puppy-get", 0.8), ("near-pget", "direct-get", 1.0),
                                 ("near2-pget", "direct-get", 1.0)]:
            per_round = []
            for rnd in range(1, a.rounds + 1):
                x = [r["rps"] for r in records if r["round"] == rnd and r["case"] == case
                     and r["target"] in (num, den)]
                if len(x) == 2:
                    nr = next(r["rps"] for r in records if r["round"] == rnd and r["case"] == case
                              and r["target"] == num)
                    dr = next(r["rps"] for r in records if r["round"] == rnd and r["case"] == case
                              and r["target"] == den)
                    per_round.append(nr / dr)
            ratio = med[num]["rps"] / med[den]["rps"]
            met = ratio >= target if target < 1 else ratio > target
            lines.append(f"{case:7s} {num} / {den}: {ratio:.2f} (per round "
                         f"{min(per_round):.2f}-{max(per_round):.2f}); target "
                         f"{'>=' if target < 1 else '>'}{target:g}: {'met' if met else 'NOT met'}")
        lines.append("")
    lines.append("problems: " + ("; ".join(stale) if stale else "none (the key stayed fresh)"))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
