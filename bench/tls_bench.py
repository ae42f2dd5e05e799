#!/usr/bin/python3
"""What TLS costs through puppy-proxy (see bench/README.md).

Started through bench/tls-bench.sh. Starts one redis-server serving a plain port and a TLS port
(a throwaway PKI from tests/tls/make_certs.sh), and in front of it:

  puppy          plain -> plain (for reference)
  puppy-rediss   plain listener -> rediss:// upstream
  puppy-tls      TLS listener -> rediss:// upstream

then runs redis-benchmark against those and against Redis directly (`direct`, and
`direct-tls` with redis-benchmark --tls), interleaved as proxy-bench.sh does: every round runs
every case on every target, the order rotating. Reports medians over the rounds and the ratios
that matter: puppy-rediss/direct-tls and puppy-tls/direct-tls, with puppy/direct and
direct-tls/direct for reference. (The plain path against another build: proxy-bench.sh
--baseline-bin.)
"""

import argparse
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ALL_CASES = {"c50": (50, 1), "c50p16": (50, 16), "c1": (1, 1)}
RATIOS = [("puppy-rediss", "direct-tls"), ("puppy-tls", "direct-tls"), ("puppy", "direct"),
          ("direct-tls", "direct")]


class Target:
    def __init__(self, name, port, proc=None, tls_args=()):
        self.name, self.port, self.proc, self.tls_args = name, port, proc, list(tls_args)


def parse_args():
    ap = argparse.ArgumentParser(prog="tls-bench.sh", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="aim for about this many seconds per run (default 1.5)")
    ap.add_argument("--tests", default="get", help="comma list of get,set (default get)")
    ap.add_argument("--cases", default="c50,c50p16,c1",
                    help="comma list of c50, c50p16, c1 (default all)")
    ap.add_argument("--pin", action="store_true", help="everything under taskset -c 0")
    ap.add_argument("--proxy-bin", default=os.path.join(bl.REPO_DIR, "build", "puppy-proxy"))
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"))
    return ap.parse_args()


def main():
    a = parse_args()
    cpu = 0 if a.pin else None
    out_dir = bl.make_results_dir(a.results_dir, "tls" + ("-pinned" if a.pin else ""))
    logs = os.path.join(out_dir, "logs")
    bl.install_cleanup()
    pki = os.path.join(out_dir, "pki")
    subprocess.run([os.path.join(bl.REPO_DIR, "tests", "tls", "make_certs.sh"), pki], check=True)
    ca = ["--cacert", os.path.join(pki, "ca.crt")]

    tls_port = bl.free_port()
    redis, port = bl.start_redis(logs, "redis", cpu=cpu, extra_args=[
        "--tls-port", str(tls_port), "--tls-cert-file", os.path.join(pki, "server.crt"),
        "--tls-key-file", os.path.join(pki, "server.key"), "--tls-ca-cert-file",
        os.path.join(pki, "ca.crt"), "--tls-auth-clients", "no"])
    rediss = f"rediss://127.0.0.1:{tls_port}"
    upstream_ca = ["--upstream-tls-ca-cert-file", os.path.join(pki, "ca.crt")]
    listener = ["--tls-listen", "127.0.0.1:0", "--tls-cert-file", os.path.join(pki, "server.crt"),
                "--tls-key-file", os.path.join(pki, "server.key")]
    targets = [Target("direct", port), Target("direct-tls", tls_port, tls_args=["--tls"] + ca)]
    p, pport = bl.start_puppy(a.proxy_bin, port, logs, "puppy", cpu=cpu)
    targets.append(Target("puppy", pport, p))
    p, pport = bl.start_puppy(a.proxy_bin, port, logs, "puppy-rediss", cpu=cpu, upstream=rediss,
                              extra_args=upstream_ca)
    targets.append(Target("puppy-rediss", pport, p))
    p, _ = bl.start_puppy(a.proxy_bin, port, logs, "puppy-tls", cpu=cpu, upstream=rediss,
                          extra_args=upstream_ca + listener)
    targets.append(Target("puppy-tls", bl.ready_tls_port(logs, "puppy-tls"), p, ["--tls"] + ca))
    bl.redis_command(port, "SET", "key:__rand_int__", "xxx")

    cases = [(t, c) for t in a.tests.split(",") for c in a.cases.split(",")]

    def run(t, test, case, n):
        clients, pipeline = ALL_CASES[case]
        argv = bl.benchmark_argv(t.port, test, clients, pipeline, n, cpu=cpu,
                                 extra_args=t.tls_args)
        cpu0 = t.proc and bl.cpu_seconds(t.proc.pid)
        r = bl.run_benchmark(argv, timeout=300)
        cpu1 = t.proc and bl.cpu_seconds(t.proc.pid)
        row = r["rows"].get(test.upper())
        if r["problems"] or not row:
            bl.die(f"{t.name} {test} {case}: {'; '.join(r['problems'])}\n{r['output'][-2000:]}")
        if cpu0 and cpu1:
            row["proxy_us"] = (sum(cpu1) - sum(cpu0)) * 1e6 / n
        return row

    requests = {}
    for (test, case) in cases:  # calibration on direct Redis
        clients, pipeline = ALL_CASES[case]
        rps = run(targets[0], test, case, max(5000, 200 * clients * pipeline))["rps"]
        requests[(test, case)] = max(1000, bl.round_sig(rps * a.seconds, 2))
    results = {}
    t0 = time.monotonic()
    for rnd in range(a.rounds):
        for (test, case) in cases:
            k = rnd % len(targets)
            for t in targets[k:] + targets[:k]:
                results.setdefault((test, case, t.name), []).append(
                    run(t, test, case, requests[(test, case)]))
        bl.log(f"round {rnd + 1}/{a.rounds} done")

    out = [f"TLS benchmark: {a.rounds} interleaved rounds, medians; {time.monotonic() - t0:.0f}s;"
           f" {'pinned to CPU 0' if a.pin else 'no pinning'}; results in {out_dir}",
           f"load average at end: {open('/proc/loadavg').read().strip()}"]
    for (test, case) in cases:
        med = {}
        rows = []
        for t in targets:
            recs = results[(test, case, t.name)]
            rps = [r["rps"] for r in recs]
            m = dict(rps=bl.median(rps), p50=bl.median([r["p50_latency_ms"] for r in recs]),
                     p99=bl.median([r["p99_latency_ms"] for r in recs]),
                     cpu=bl.median([r["proxy_us"] for r in recs if "proxy_us" in r]))
            med[t.name] = m
            rows.append([t.name, f"{m['rps']:,.0f}",
                         f"{(max(rps) - min(rps)) / m['rps'] * 100:.1f}%", f"{m['p50']:.3f}",
                         f"{m['p99']:.3f}", "-" if m["cpu"] is None else f"{m['cpu']:.2f}"])
        out += ["", f"== {test.upper()} {case} ({requests[(test, case)]:,} requests per run)",
                bl.format_table(["target", "rps", "spread", "p50 ms", "p99 ms",
                                 "proxy cpu us/req"], rows)]
        for x, y in RATIOS:
            if x in med and y in med:
                out.append(f"  {x}/{y}: rps {med[x]['rps'] / med[y]['rps']:.2f}, "
                           f"p50 {med[x]['p50'] / med[y]['p50']:.2f}")
    for t in targets:
        if t.proc:
            bl.stop_process(t.proc)
    bl.stop_process(redis)
    text = "\n".join(out) + "\n"
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
