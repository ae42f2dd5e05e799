#!/usr/bin/python3
"""puppy-proxy in front of a Redis Cluster against the cluster-aware client (issue 15's benchmark;
see bench/README.md, "cluster-bench.sh").

Started through bench/cluster-bench.sh. Starts a cluster of three masters (no replicas) and
puppy-proxy with `--upstream redis-cluster://<the three nodes>`, then, interleaved (every round
runs every case on every target, in an order that rotates from round to round), runs:

- direct:       `redis-benchmark --cluster` against the first node: the cluster-aware client a
                user would otherwise use. It connects every client to one master (about a third
                of the 50 each) and puts the hash tag of that master's first slot into every key
                (redis-benchmark 7.0 keeps that one slot per master as long as the slots do not
                move), so each request goes to one node, with no redirection and no split.
                --cluster also makes redis-benchmark run one thread per master (3) unless
                --threads says otherwise;
- direct-t1:    the same with `--threads 1`: the cluster client on one thread, like the plain
                (single-threaded) redis-benchmark of the puppy targets;
- puppy:        plain `redis-benchmark` through the proxy, random keys without tags: the proxy
                routes each key by its slot and splits an MGET of 10 keys by slot;
- puppy-tagged: (MGET only) through the proxy, the cluster client's own MGET command line with the
                `{tag}` left as it is: all 10 keys in one slot, so the proxy forwards one MGET
                unchanged. puppy-tagged vs direct is the proxy hop; puppy vs puppy-tagged is the
                split.

Before the runs, every key any target can ask for is written (--keyspace keys per key pattern,
the values redis-benchmark's SET writes), so every GET and MGET hits; the hash tags the cluster
client uses are found by a short SET run first (--no-fill: nothing is written, every node is
flushed at the start of each round, every GET/MGET misses). Besides redis-benchmark's figures,
each run reads INFO commandstats (and keyspace hits/misses) from all three nodes before and after
it: the Redis commands executed per client request and the microseconds Redis spent executing
them. Medians over rounds.
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
from memcached_bench import cpu_sum, fill, fmt_range  # noqa: E402
from proxy_bench import fmt_ms, fmt_ratio, fmt_rps, fmt_us, ratio  # noqa: E402

ALL_TARGETS = ["direct", "direct-t1", "puppy", "puppy-tagged"]
# Run order within a round: GET and MGET before SET, so that with the flush at the start of every
# round no GET/MGET finds a key (every target misses alike; see "Keys" in bench/README.md).
ALL_TESTS = ["get", "mget", "set"]
# name -> (clients, pipeline)
ALL_CASES = {"c50p1": (50, 1), "c50p16": (50, 16)}
MGET_KEYS = 10
# rps ratios reported (numerator, denominator): the proxy against the cluster client (with its
# default threads, and on one thread), and the split's cost (puppy / puppy-tagged, MGET only).
RATIOS = [("puppy", "direct"), ("puppy", "direct-t1"), ("puppy-tagged", "direct"),
          ("puppy-tagged", "direct-t1"), ("puppy", "puppy-tagged"), ("direct-t1", "direct")]
# redis-benchmark 7.0 has no MGET test (`-t mget` runs nothing; its only 10-key test is MSET), so
# MGET is a command line. With --cluster, redis-benchmark (7.0) replaces "{tag}" before every
# write by the hash tag of the first slot of the client's master (node->slots[current_slot_index],
# an index that stays 0 while the slots do not move: with -r 1 a SET test creates one key per
# master); its own GET/SET tests use key:{tag}:__rand_int__ too. Without --cluster the "{tag}"
# stays: one slot, the slot of "tag".
MGET_TAGGED = ["MGET"] + ["key:{tag}:__rand_int__"] * MGET_KEYS
MGET_PLAIN = ["MGET"] + ["key:__rand_int__"] * MGET_KEYS
# What each target sends per test: (command line or None for redis-benchmark's own -t test, extra
# options, what the keys are).
SENDS = {
    ("direct", "get"): (None, ["--cluster"], "GET key:{T}:N (redis-benchmark -t get --cluster)"),
    ("direct", "set"): (None, ["--cluster"], "SET key:{T}:N xxx (redis-benchmark -t set --cluster)"),
    ("direct", "mget"): (MGET_TAGGED, ["--cluster"], "MGET key:{T}:N1 .. key:{T}:N10 (--cluster): "
                         "one slot, one node, one Redis MGET of 10 keys"),
    ("direct-t1", "get"): (None, ["--cluster", "--threads", "1"], "the same as direct, on one thread"),
    ("direct-t1", "set"): (None, ["--cluster", "--threads", "1"], "the same as direct, on one thread"),
    ("direct-t1", "mget"): (MGET_TAGGED, ["--cluster", "--threads", "1"],
                            "the same as direct, on one thread"),
    ("puppy", "get"): (None, [], "GET key:N (redis-benchmark -t get)"),
    ("puppy", "set"): (None, [], "SET key:N xxx (redis-benchmark -t set)"),
    ("puppy", "mget"): (MGET_PLAIN, [], "MGET key:N1 .. key:N10: 10 random slots, split by the "
                        "proxy into one MGET per slot over the 3 masters"),
    ("puppy-tagged", "mget"): (MGET_TAGGED, [], "MGET key:{tag}:N1 .. key:{tag}:N10 (no --cluster: "
                               "the literal tag, one fixed slot): forwarded unsplit"),
}

RAW_FIELDS = ["round", "test", "case", "clients", "pipeline", "requests", "target", "position",
              "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
              "p99_latency_ms", "max_latency_ms", "wall_s", "proxy_user_us_per_req",
              "proxy_sys_us_per_req", "redis_user_us_per_req", "redis_sys_us_per_req",
              "client_us_per_req", "redis_cmds_per_req", "redis_usec_per_call",
              "redis_usec_per_req", "node_calls_pct", "hits_per_req", "misses_per_req",
              "commands", "status", "problems"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="cluster-bench.sh",
        description="redis-benchmark through puppy-proxy in front of a 3-master Redis Cluster vs "
                    "redis-benchmark --cluster straight to it; interleaved rounds, medians, and "
                    "the Redis commands behind each request (INFO commandstats).")
    bl.add_run_args(
        ap, targets=(ALL_TARGETS, f"comma list of {','.join(ALL_TARGETS)} (default all; "
                                  "puppy-tagged runs the mget test only)"),
        tests=(ALL_TESTS, "comma list of get,mget,set (default all; always run in that order)"),
        cases=(list(ALL_CASES), "comma list of c50p1 (50 clients), c50p16 (50 clients, -P 16); "
                                "default both"))
    ap.add_argument("--masters", type=int, default=3, help="cluster masters (default 3)")
    ap.add_argument("--keyspace", type=int, default=100000,
                    help="redis-benchmark -r: every key (each of an MGET's 10) is key:N with N "
                         "random below this (default 100000); 0 = one key")
    ap.add_argument("--data-size", type=int, default=3, help="redis-benchmark -d (default 3 bytes)")
    ap.add_argument("--no-fill", dest="fill", action="store_false",
                    help="do not write the keys beforehand; instead flush every node at the start "
                         "of each round (GET and MGET run before SET), so every GET/MGET misses. "
                         "Default: every key any target can ask for holds a value, so every "
                         "GET/MGET hits")
    bl.add_pin_args(ap, "run the nodes, the proxy and redis-benchmark under taskset -c CPU")
    bl.add_timeout_arg(ap)
    bl.add_proxy_args(ap)
    a = ap.parse_args()
    bl.check_run_args(ap, a)
    if a.masters < 1:
        ap.error("--masters must be >= 1")
    if a.keyspace < 0 or a.data_size < 1:
        ap.error("--keyspace must be >= 0 and --data-size >= 1")
    a.tests = [t for t in ALL_TESTS if t in a.tests]
    return a


class Target:
    def __init__(self, name, port, procs, proxy, ping):
        self.name = name
        self.port = port
        self.procs = procs    # every process it depends on (checked after a failure)
        self.proxy = proxy    # puppy-proxy, or None
        self.ping = ping      # ping(port, timeout=...) -> (ok, reply): does it still work?
        self.disabled = None  # reason, once it stopped working


def case_title(test, case, n):
    clients, pipeline = ALL_CASES[case]
    pipe = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    what = f"MGET of {MGET_KEYS} keys" if test == "mget" else test.upper()
    return f"{what}, {clients} clients, {pipe} (n={n:,} per run)"


def bench_argv(a, t, test, case, n, cpu):
    clients, pipeline = ALL_CASES[case]
    command, extra, _ = SENDS[(t.name, test)]
    if command is None:
        return bl.benchmark_argv(t.port, test, clients, pipeline, n, a.data_size, a.keyspace,
                                 cpu=cpu, extra_args=extra)
    return bl.command_benchmark_argv(t.port, command, clients, pipeline, n, cpu=cpu,
                                     keyspace=a.keyspace, extra_args=extra)


def result_row(r, t, test):
    command = SENDS[(t.name, test)][0]
    return r["rows"].get(test.upper()) if command is None else bl.benchmark_row(r, command)


def main():
    a = parse_args()
    for tool in ["redis-server", "redis-cli", "redis-benchmark", "taskset"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if any(t.startswith("puppy") for t in a.targets) and not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode, cpu = bl.pin_mode(a)
    out_dir, logs, meta = bl.start_results(a, "cluster-bench.sh",
                                           "cluster" + ("-pinned" if a.pin else ""))
    meta += bl.run_meta(a) + [f"masters: {a.masters}  data size: {a.data_size}  "
                              f"keyspace: {a.keyspace or 'single key'}"]
    versions = bl.tool_versions(a.proxy_bin, leave_out=("nutcracker", "valgrind"))
    meta += [f"{k}: {v}" for k, v in versions.items()]

    # --- servers ------------------------------------------------------------------------------
    nodes = bl.start_redis_cluster(logs, a.masters, cpu=cpu)
    node_procs = [p for p, _ in nodes]
    node_ports = [port for _, port in nodes]
    slots = bl.cluster_slots(node_ports[0])
    bl.log("cluster: " + "; ".join(f"node{i + 1} pid {p.pid} port {port} slots "
                                   + ",".join(f"{s}-{e}" for s, e, m in slots if m == port)
                                   for i, (p, port) in enumerate(nodes)))
    tag_slot = bl.call_once(node_ports[0], "CLUSTER", "KEYSLOT", "key:{tag}:0")
    tag_node = next(i for i, port in enumerate(node_ports)
                    if any(s <= tag_slot <= e and m == port for s, e, m in slots))

    def cluster_ping(_port, timeout=10):
        return bl.wait_cluster_ok(node_ports, timeout)

    targets = []
    proxy = pport = None
    for name in ("direct", "direct-t1"):
        if name in a.targets:
            targets.append(Target(name, node_ports[0], node_procs, None, cluster_ping))
    if {"puppy", "puppy-tagged"} & set(a.targets):
        proxy, pport = bl.start_puppy_cluster(a.proxy_bin, node_ports, logs, "puppy", cpu=cpu,
                                              extra_args=a.proxy_arg)
        bl.log(f"puppy-proxy pid {proxy.pid} on port {pport}")
        for name in ("puppy", "puppy-tagged"):
            if name in a.targets:
                targets.append(Target(name, pport, [proxy] + node_procs, proxy, bl.wait_ping))
    meta.append("processes: " + "; ".join(f"node{i + 1} port {port} (pid {p.pid})"
                                          for i, (p, port) in enumerate(nodes))
                + (f"; puppy-proxy port {proxy and targets[-1].port} (pid {proxy.pid})"
                   if proxy else ""))
    meta.append("slots: " + ", ".join(f"{s}-{e} on port {m}" for s, e, m in slots))
    meta.append(f"puppy-tagged's keys key:{{tag}}:N are in slot {tag_slot}, on node{tag_node + 1}")

    def applicable(test):
        return [t for t in targets if (t.name, test) in SENDS]

    cases = [(test, case) for test in a.tests for case in a.cases]
    cases = [c for c in cases if applicable(c[0])]
    incidents = []

    # --- keys ---------------------------------------------------------------------------------
    # direct's keys are key:{T}:N, with T the tag of the first slot of each master (see
    # MGET_TAGGED): found with a SET run with -r 1 on the empty cluster, which leaves exactly one
    # key per tag it used. Then every key of every pattern is written (SET, pipelined): through
    # the proxy for key:N (it routes them), straight to the node for a single-slot pattern.
    value = "x" * a.data_size  # what redis-benchmark's SET writes
    patterns = []  # (prefix, port to write to, what)
    if a.fill:
        if {"direct", "direct-t1"} & set(a.targets):
            bl.flushall(node_ports)
            argv = bl.benchmark_argv(node_ports[0], "set", 50, 1, 1000, a.data_size, 1,
                                     cpu=cpu, extra_args=["--cluster"])
            r = bl.run_benchmark(argv, 120)
            if r["problems"]:
                bl.die(bl.failure_message("finding redis-benchmark --cluster's hash tags", r, argv))
            found = [bl.call_once(port, "KEYS", "*") for port in node_ports]
            bl.flushall(node_ports)
            if any(len(keys) != 1 for keys in found):
                bl.die("redis-benchmark --cluster -r 1 did not leave exactly one key per master "
                       f"({found!r}): it does not keep one slot per master, so its keys cannot be "
                       "written beforehand; run with --no-fill")
            for i, keys in enumerate(found):
                prefix = keys[0].decode()[:-12]  # key:{T}: without the 12 digits
                patterns.append((prefix, node_ports[i], f"direct's keys on node{i + 1}"))
        if "puppy" in a.targets:
            patterns.append(("key:", pport, "puppy's keys (through the proxy)"))
        if "puppy-tagged" in a.targets:
            patterns.append(("key:{tag}:", node_ports[tag_node], f"puppy-tagged's keys on node{tag_node + 1}"))
        for prefix, port, what in patterns:
            keys = ([f"{prefix}{i:012d}" for i in range(a.keyspace)] if a.keyspace
                    else [prefix + "__rand_int__"])
            t0 = time.monotonic()
            try:
                fill(port, "resp", keys, value)
            except (OSError, RuntimeError) as e:
                bl.die(f"writing {what} failed: {e}")
            bl.log(f"wrote {len(keys):,} keys {prefix}N ({what}) in {time.monotonic() - t0:.1f}s")
        meta.append("keys written before the runs: " + "; ".join(
            f"{prefix}N x{a.keyspace or 1} ({what})" for prefix, _, what in patterns))

    # --- calibration --------------------------------------------------------------------------
    def calibration_run(t, case, n):
        r = bl.run_benchmark(bench_argv(a, t, case[0], case[1], n, cpu), timeout=300)
        return r, result_row(r, t, case[0])

    requests, expected_rps = {}, {}
    for c in cases:
        req, exp = bl.calibrate([c], applicable(c[0]), a.seconds, a.requests,
                                lambda c_: ALL_CASES[c_[1]], calibration_run, incidents)
        requests.update(req)
        expected_rps.update(exp)
    meta.append("requests per run: " + ", ".join(f"{t} {c}={requests[(t, c)]}" for t, c in cases))

    # --- interleaved rounds -------------------------------------------------------------------
    raw_file = open(os.path.join(out_dir, "raw.csv"), "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
    raw.writeheader()
    results = {}  # (test, case, target) -> {round: record}
    reported_dead = set()
    total = a.rounds * sum(len(applicable(test)) for test, _ in cases)
    done = 0
    t_start = time.monotonic()
    # --no-fill: each round starts on empty nodes (flushed outside the measured runs, around which
    # the commandstats and CPU readings are taken).
    for done, rnd, (test, case), pos, t in bl.interleaved_runs(
            a.rounds, cases, lambda c: applicable(c[0]),
            start_round=None if a.fill else lambda _: bl.flushall(node_ports)):
        if t.disabled:
            continue
        n = requests[(test, case)]
        timeout = bl.run_timeout(a.timeout, n, expected_rps.get((test, case)))
        argv = bench_argv(a, t, test, case, n, cpu)
        stats0 = bl.node_counters(node_ports)
        cpu0 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                "redis": cpu_sum(node_procs)}
        r = bl.run_benchmark(argv, timeout)
        cpu1 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid),
                "redis": cpu_sum(node_procs)}
        stats1 = bl.node_counters(node_ports)
        row = result_row(r, t, test)
        rec = bl.run_record(r, row, n, cpu0, cpu1, round=rnd, test=test, case=case,
                            clients=ALL_CASES[case][0], pipeline=ALL_CASES[case][1], requests=n,
                            target=t.name, position=pos)
        if r.get("client_cpu_s") is not None:
            rec["client_us_per_req"] = f"{r['client_cpu_s'] * 1e6 / n:.2f}"
        rec.update(bl.redis_work(stats0, stats1, n, also=bl.CLUSTER_TOPOLOGY_COMMANDS))
        if a.fill and test in ("get", "mget") and float(rec.get("misses_per_req") or 0) > 0:
            r["problems"].append(f"{float(rec['misses_per_req']) * n:.0f} key misses: "
                                 "not every key was written beforehand")
            rec["problems"] = " | ".join(r["problems"])
            rec["status"] = "error"
        raw.writerow(rec)
        raw_file.flush()
        if rec["status"] == "ok":
            results.setdefault((test, case, t.name), {})[rnd] = rec
            bl.log(f"[{done}/{total}] round {rnd} {test:4s} {case:6s} {t.name:12s} "
                   f"{row['rps']:>11,.0f} rps  p50 {row['p50_latency_ms']:.3f} ms  "
                   f"redis cmds/req {rec.get('redis_cmds_per_req', '-')}  "
                   f"({r['wall_s']:.1f}s)")
            continue
        bl.report_failure(f"round {rnd} {test} {case} {t.name}", r, argv, t, targets, incidents,
                          ping=t.ping, reported_dead=reported_dead)
        if not all(p.alive() for p in node_procs):
            bl.die("a cluster node has exited; giving up")
    raw_file.close()
    elapsed = time.monotonic() - t_start

    # --- shut down, check exit codes and logs -------------------------------------------------
    if proxy is not None and proxy.pid not in reported_dead:
        bl.finish_proxy(proxy, incidents)
    for p in node_procs:
        if p in bl._procs and p.pid not in reported_dead:
            bl.stop_checked(p, incidents)

    # --- summary -------------------------------------------------------------------------------
    names = [t.name for t in targets]
    out = [f"puppy-proxy in front of a Redis Cluster ({a.masters} masters, no replicas) vs "
           f"redis-benchmark --cluster -- mode: {mode}"
           + (f" (everything under taskset -c {cpu})" if a.pin else " (no CPU pinning)"),
           f"{a.rounds} interleaved rounds, medians over rounds; {done} runs in {elapsed:.0f}s; "
           f"results in {out_dir}",
           f"puppy-proxy: {versions['puppy-proxy']}",
           f"load average at start: {versions['loadavg at start']}; at end: "
           f"{open('/proc/loadavg').read().strip()}",
           "",
           "What each target runs (redis-benchmark -c 50 [-P 16] -n N"
           + (f" -r {a.keyspace}" if a.keyspace else "") + f" -d {a.data_size}; "
           f"N = 12-digit random number below {a.keyspace or 1} drawn anew for every key; "
           "T = redis-benchmark --cluster's hash tag: that of the first slot of the client's "
           "master, so direct's keys are in 3 slots, one per master):"]
    for (name, test), (_, _, what) in SENDS.items():
        if name in names and test in a.tests:
            out.append(f"  {name:12s} {test:4s}  {what}")
    out += [f"  direct connects to node1 (port {node_ports[0]}), reads the topology and spreads "
            f"its 50 clients over the {a.masters} masters (each client stays on its master), on "
            f"{a.masters} threads (--cluster's default: one per master; direct-t1: --threads 1; "
            "the puppy targets' plain redis-benchmark is single-threaded); "
            f"puppy-tagged's slot {tag_slot} is on node{tag_node + 1}, so all its MGETs go to "
            "that one master.",
            ("  Every key any target can ask for was written before the runs (3-byte values, "
             "as redis-benchmark's SET writes): every GET/MGET is a hit on every target "
             "(hits/req: 1 per GET, 10 per MGET)." if a.fill else
             "  --no-fill: every node is flushed at the start of each round and GET/MGET run "
             "before SET: every GET/MGET is a miss on every target (nil replies; see hits/req)."),
            "",
            "rps = requests/s (median over rounds); spread = (max-min)/median of rps; p50/p99 = "
            "latency in ms (median over rounds); x/direct = ratio of the medians;",
            "redis cmds/req = commands the nodes executed per client request, usec/call = "
            "microseconds they spent executing each (INFO commandstats of all nodes, before/after "
            "each run, without INFO, CONFIG, CLUSTER and COMMAND), redis us/req = that time per "
            "client request; node % = share of those commands per node (node1/node2/...);",
            "proxy / redis / bench cpu = CPU time (user+sys) of puppy-proxy / all nodes / "
            "redis-benchmark per request (from /proc and rusage, 10 ms ticks)."]
    summary_rows = []
    med_all = {}
    for (test, case) in cases:
        n = requests[(test, case)]
        ts = [t.name for t in applicable(test)]
        med = {}
        for name in ts:
            recs = list(results.get((test, case, name), {}).values())
            rps = [float(r["rps"]) for r in recs]

            def mf(field, recs=recs):
                return bl.median([float(r[field]) for r in recs if r.get(field) not in (None, "")])

            def mcpu(who, recs=recs):
                return bl.median([float(r[f"{who}_user_us_per_req"]) + float(r[f"{who}_sys_us_per_req"])
                                  for r in recs if r.get(f"{who}_user_us_per_req") not in (None, "")])

            shares = [r["node_calls_pct"].split("/") for r in recs if r.get("node_calls_pct")]
            med[name] = dict(
                ok=len(recs), rps=bl.median(rps),
                spread=((max(rps) - min(rps)) / bl.median(rps) * 100) if rps else None,
                p50=mf("p50_latency_ms"), p99=mf("p99_latency_ms"),
                cmds=mf("redis_cmds_per_req"), usec_call=mf("redis_usec_per_call"),
                usec_req=mf("redis_usec_per_req"), hits=mf("hits_per_req"),
                nodes="/".join(str(round(bl.median([float(s[i]) for s in shares if s[i] != "-"]) or 0))
                               for i in range(len(shares[0]))) if shares else "-",
                proxy_cpu=mcpu("proxy"), redis_cpu=mcpu("redis"), client_cpu=mf("client_us_per_req"),
                per_round={r: float(rec["rps"]) for r, rec in results.get((test, case, name), {}).items()})
        med_all[(test, case)] = med
        base = med.get("direct")
        rows = []
        for name in ts:
            m = med[name]
            rr = ratio(m["rps"], base["rps"]) if base else None
            rows.append([name, f"{m['ok']}/{a.rounds}", fmt_rps(m["rps"]),
                         "-" if m["spread"] is None else f"{m['spread']:.0f}%",
                         fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_ratio(rr),
                         "-" if m["cmds"] is None else f"{m['cmds']:.3f}",
                         "-" if m["usec_call"] is None else f"{m['usec_call']:.3f}",
                         "-" if m["usec_req"] is None else f"{m['usec_req']:.3f}",
                         "-" if m["hits"] is None else f"{m['hits']:.3f}", m["nodes"],
                         fmt_us(m["proxy_cpu"]), fmt_us(m["redis_cpu"]), fmt_us(m["client_cpu"])])
            summary_rows.append(dict(test=test, case=case, clients=ALL_CASES[case][0],
                                     pipeline=ALL_CASES[case][1], requests=n, target=name,
                                     runs_ok=m["ok"], rounds=a.rounds, rps_median=m["rps"],
                                     rps_spread_pct=m["spread"], p50_ms_median=m["p50"],
                                     p99_ms_median=m["p99"], rps_vs_direct=rr,
                                     redis_cmds_per_req=m["cmds"], redis_usec_per_call=m["usec_call"],
                                     redis_usec_per_req=m["usec_req"], hits_per_req=m["hits"],
                                     node_calls_pct=m["nodes"], proxy_cpu_us_per_req=m["proxy_cpu"],
                                     redis_cpu_us_per_req=m["redis_cpu"],
                                     bench_cpu_us_per_req=m["client_cpu"]))
        out.append("")
        out.append("== " + case_title(test, case, n))
        out.append(bl.format_table(
            ["target", "ok", "rps", "spread", "p50 ms", "p99 ms", "rps/direct", "redis cmds/req",
             "usec/call", "redis us/req", "hits/req", "node %", "proxy cpu", "redis cpu",
             "bench cpu"], rows))

    # Overview 1: rps ratios, the median [min-max] of the ratios computed within each round (both
    # runs of the round succeeded); the per-case tables have the ratio of the medians.
    pairs = [(x, y) for x, y in RATIOS if x in names and y in names]
    ratio_rows = []
    if pairs:
        out.append("")
        out.append("== Overview: rps ratios, median [min-max] of the per-round ratios (higher = "
                   "the first is faster)")
        ov = []
        for (test, case) in cases:
            med = med_all[(test, case)]
            row = [test.upper(), case, fmt_rps(med["direct"]["rps"]) if "direct" in med else "-"]
            for x, y in pairs:
                if x not in med or y not in med:
                    row.append("-")
                    continue
                per_round = [ratio(med[x]["per_round"][r], med[y]["per_round"][r])
                             for r in sorted(med[x]["per_round"]) if r in med[y]["per_round"]]
                row.append(fmt_range(per_round))
                ratio_rows.append(dict(test=test, case=case, numerator=x, denominator=y,
                                       rounds=len(per_round), median=bl.median(per_round),
                                       min=min(per_round) if per_round else None,
                                       max=max(per_round) if per_round else None,
                                       ratio_of_medians=ratio(med[x]["rps"], med[y]["rps"])))
            ov.append(row)
        out.append(bl.format_table(["test", "case", "direct rps"] + [f"{x}/{y}" for x, y in pairs],
                                   ov, align="ll" + "r" * (len(pairs) + 1)))
    # Overview 2: what Redis executed per client request, per target.
    out.append("")
    out.append("== Overview: Redis commands per client request / usec per Redis call / Redis usec "
               "per client request (all nodes, INFO commandstats)")
    ov = []
    for (test, case) in cases:
        med = med_all[(test, case)]
        row = [test.upper(), case]
        for name in names:
            m = med.get(name)
            row.append("-" if not m or m["cmds"] is None else
                       f"{m['cmds']:.2f} / {m['usec_call']:.3f} / {m['usec_req']:.3f}")
        ov.append(row)
    out.append(bl.format_table(["test", "case"] + names, ov, align="ll" + "r" * len(names)))
    out.append("")
    out += bl.problems_lines(incidents, "every run succeeded, all processes exited cleanly, "
                                        "puppy-proxy logged nothing at warn or above")
    text = "\n".join(out) + "\n"

    bl.write_csv(os.path.join(out_dir, "summary.csv"), summary_rows)
    bl.write_csv(os.path.join(out_dir, "ratios.csv"), ratio_rows)
    bl.write_summary(out_dir, text, meta)
    return 1 if any(t.disabled for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
