#!/usr/bin/python3
"""Idle-connection soak: what 10,000 idle clients cost puppy-proxy in memory, and whether they slow
down the clients that do work (see bench/README.md, "idle-soak.sh").

Started through bench/idle-soak.sh (which raises the open-file limit). Each round starts its own
redis-server and puppy-proxy (--max-clients above the idle count), then:

1. runs redis-benchmark (GET and SET) through the proxy: throughput without idle clients, and
   a warm-up, so the proxy's buffers and allocator arenas exist before the baseline;
2. reads the proxy's RSS (VmRSS in /proc/PID/status): "before";
3. opens --idle connections; each sends one PING and must get +PONG; then they stay open, idle;
4. reads the RSS again after a pause (--settle): "with idle", and the proxy's CPU time over the
   pause (idle connections should cost none);
5. runs the same redis-benchmark again: throughput with idle clients; then checks that no idle
   connection was closed or got a byte it did not ask for;
6. closes the idle connections, waits until the proxy has closed its side of them (its open file
   descriptors, from /proc) and reads the RSS once more: "after close".

Reports per round and the median over rounds: RSS before/with/after, (with - before) / idle as
memory per idle connection, and throughput without/with idle clients.
"""

import argparse
import os
import resource
import selectors
import shutil
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"


def parse_args():
    ap = argparse.ArgumentParser(
        prog="idle-soak.sh",
        description="RSS of puppy-proxy with many idle client connections, and redis-benchmark "
                    "throughput through it with and without them.")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections (default 10000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each with fresh servers (default 3)")
    ap.add_argument("--requests", type=int, default=200000,
                    help="redis-benchmark -n per run (default 200000)")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    ap.add_argument("--tests", default="get,set", help="redis-benchmark -t (default get,set)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds between opening the idle connections and reading the RSS; the "
                         "proxy's CPU time over them is reported too (default 3)")
    ap.add_argument("--batch", type=int, default=500,
                    help="idle connections opened (and PINGed) at a time (default 500)")
    ap.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra puppy-proxy argument (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="where the results folder is made (default bench/results)")
    return ap.parse_args()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def open_idle(port, n, batch):
    """n connections, each having sent PING and got exactly +PONG. Returns the sockets."""
    socks = []
    while len(socks) < n:
        group = []
        for _ in range(min(batch, n - len(socks))):
            s = socket.create_connection((bl.HOST, port), timeout=30)
            s.sendall(PING)
            group.append(s)
        for s in group:
            got = b""
            while len(got) < len(PONG):
                chunk = s.recv(len(PONG) - len(got))
                if not chunk:
                    raise RuntimeError(f"idle connection {len(socks)} closed before +PONG "
                                       f"(got {got!r})")
                got += chunk
            if got != PONG:
                raise RuntimeError(f"idle connection {len(socks)}: PING answered {got!r}")
            s.setblocking(False)
            socks.append(s)
    return socks


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds_below(pid, n, timeout):
    """Polls until process pid has fewer than n open file descriptors."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_fds(pid) < n:
            return True
        time.sleep(0.05)
    return False


def check_idle(socks):
    """How many idle connections were closed or got a byte they did not ask for."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    events = sel.select(timeout=0)
    sel.close()
    return len(events)  # readable = closed or unexpected data: both are failures


def bench(port, a):
    argv = ["redis-benchmark", "-h", bl.HOST, "-p", str(port), "-t", a.tests, "-c", str(a.clients),
            "-n", str(a.requests), "-d", "3", "--csv"]
    r = bl.run_benchmark(argv, timeout=600)
    if r["problems"]:
        bl.die(f"redis-benchmark: {'; '.join(r['problems'])}\n{r['output'][-2000:]}")
    return {test: row["rps"] for test, row in r["rows"].items()}


def cpu_total(pid):
    c = bl.cpu_seconds(pid)
    return None if c is None else c[0] + c[1]


def one_round(a, i, logs):
    redis, redis_port = bl.start_redis(logs, f"redis-{i}", timeout=60)
    proxy, port = bl.start_puppy(a.proxy_bin, redis_port, logs, f"puppy-{i}",
                                 extra_args=["--max-clients", str(a.idle + a.clients + 100)]
                                 + a.proxy_arg)
    bl.redis_command(redis_port, "SET", "key:__rand_int__", "xxx")
    r = {}
    r["rps_without"] = bench(port, a)
    r["rss_before"] = rss_kib(proxy.pid)
    t0 = time.monotonic()
    socks = open_idle(port, a.idle, a.batch)
    r["open_s"] = time.monotonic() - t0
    cpu0 = cpu_total(proxy.pid)
    time.sleep(a.settle)  # the measured idle period (CPU time over it is reported)
    r["idle_cpu_ms"] = (cpu_total(proxy.pid) - cpu0) * 1000
    r["rss_with"] = rss_kib(proxy.pid)
    r["proxy_fds"] = open_fds(proxy.pid)
    r["rps_with"] = bench(port, a)
    r["rss_with_after_bench"] = rss_kib(proxy.pid)
    r["idle_failures"] = check_idle(socks)
    for s in socks:
        s.close()
    if not wait_fds_below(proxy.pid, a.clients + 100, 60):
        bl.die("the proxy did not close its side of the idle connections within 60 s")
    if bl.redis_command(port, "PING") != "+PONG":
        bl.die("the proxy does not answer PING after the idle connections closed")
    r["rss_after_close"] = rss_kib(proxy.pid)
    r["proxy_alive"] = proxy.alive()
    rc = bl.stop_process(proxy)
    bl.stop_process(redis)
    r["proxy_exit"] = rc
    warn = [line for line in open(proxy.log_path, errors="replace") if "[warn" in line
            or "[error" in line or "[critical" in line]
    r["proxy_warnings"] = len(warn)
    return r


def main():
    a = parse_args()
    for tool in ["redis-server", "redis-benchmark"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.idle + 100:
        want = min(hard, a.idle + 1000) if hard != resource.RLIM_INFINITY else a.idle + 1000
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if want < a.idle + 100:
            bl.die(f"open-file limit {hard} is too low for {a.idle} idle connections")
    out_dir, logs, meta = bl.start_results(a, "idle-soak.sh", "idle-soak", label=False)
    meta += [f"idle connections: {a.idle}; redis-benchmark -t {a.tests} -c {a.clients} "
             f"-n {a.requests} -d 3; rounds: {a.rounds}; settle: {a.settle}s"]
    meta += [f"{k}: {v}" for k, v in bl.tool_versions(a.proxy_bin).items()]

    rounds = []
    for i in range(1, a.rounds + 1):
        bl.log(f"round {i}/{a.rounds}")
        r = one_round(a, i, logs)
        bl.log(f"  {r}")
        rounds.append(r)

    tests = sorted(rounds[0]["rps_without"])
    headers = ["round", "RSS before MiB", "RSS with idle MiB", "KiB/idle conn",
               "RSS after close MiB", "idle CPU ms"]
    headers += [f"{t} rps without" for t in tests] + [f"{t} rps with" for t in tests]
    rows = []
    per_conn = []
    for i, r in enumerate(rounds, 1):
        kib = (r["rss_with"] - r["rss_before"]) / a.idle
        per_conn.append(kib)
        rows.append([i, f"{r['rss_before'] / 1024:.1f}", f"{r['rss_with'] / 1024:.1f}",
                     f"{kib:.2f}", f"{r['rss_after_close'] / 1024:.1f}", f"{r['idle_cpu_ms']:.0f}"]
                    + [f"{r['rps_without'].get(t, 0):,.0f}" for t in tests]
                    + [f"{r['rps_with'].get(t, 0):,.0f}" for t in tests])
    med = lambda key: bl.median([r[key] for r in rounds])  # noqa: E731
    rows.append(["median", f"{med('rss_before') / 1024:.1f}", f"{med('rss_with') / 1024:.1f}",
                 f"{bl.median(per_conn):.2f}", f"{med('rss_after_close') / 1024:.1f}",
                 f"{med('idle_cpu_ms'):.0f}"]
                + [f"{bl.median([r['rps_without'].get(t) for r in rounds]):,.0f}" for t in tests]
                + [f"{bl.median([r['rps_with'].get(t) for r in rounds]):,.0f}" for t in tests])
    problems = []
    for i, r in enumerate(rounds, 1):
        if r["idle_failures"]:
            problems.append(f"round {i}: {r['idle_failures']} idle connections closed or got data")
        if not r["proxy_alive"] or r["proxy_exit"] != 0:
            problems.append(f"round {i}: proxy {bl.describe_exit(r['proxy_exit'])}")
        if r["proxy_warnings"]:
            problems.append(f"round {i}: proxy logged {r['proxy_warnings']} warning(s)")
    summary = [f"idle soak: {a.idle} idle connections (PING answered +PONG, then idle)",
               f"load: redis-benchmark -t {a.tests} -c {a.clients} -n {a.requests} -d 3",
               "", bl.format_table(headers, rows), "",
               "KiB/idle conn = (RSS with idle - RSS before) / idle connections",
               "problems: " + ("; ".join(problems) if problems else "none")]
    text = "\n".join(summary)
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + "\n")
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
