#!/usr/bin/python3
"""Cache stampede: naive get-or-compute against Redis vs PGET through puppy-proxy
(see bench/README.md, "stampede-bench.sh").

Started through bench/stampede-bench.sh. Starts its own redis-server and puppy-proxy. For each
contender, N client threads (each with its own connection) call get() on one key in a loop for
--duration seconds; the value costs --compute-ms to compute (a sleep) and stays fresh for
--freshness seconds:

  naive  GET key -> value: done; nil: compute, SET key value EX freshness   (straight to Redis)
  pget   PGET key freshness update_time WAIT w -> fresh/stale: done; lease: compute,
         PSET key token value freshness update_time; miss (after the wait): counted as a miss
         (through puppy-proxy)

Every get() call is timed (including the computation and the store when the caller computes).
Computations are grouped into expiries: an expiry starts at the first call that finds the key
without a fresh value (naive: GET answers nil; pget: PGET answers stale, lease or miss) after the
key had a value, or at the start; it ends when the first value computed for it is stored.
Each round runs every contender once, on a key of its own (so each starts cold), in rotating
order; summaries are medians over rounds (counts: sums).
"""

import argparse
import csv
import os
import random
import shutil
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ALL_CONTENDERS = ["naive", "pget", "naive-puppy"]
DEFAULT_CONTENDERS = ["naive", "pget"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="stampede-bench.sh",
        description="Cache stampede: naive get-or-compute against Redis vs PGET through puppy-proxy.")
    ap.add_argument("--clients", type=int, default=50, help="client threads (default 50)")
    ap.add_argument("--compute-ms", type=int, default=200,
                    help="cost of computing the value, a sleep (default 200 ms)")
    ap.add_argument("--freshness", type=int, default=2,
                    help="seconds a value stays fresh: SET ... EX / PGET and PSET timeout (default 2)")
    ap.add_argument("--update-time", type=int, default=2,
                    help="PGET/PSET update_time in seconds: how long a lease lasts (default 2)")
    ap.add_argument("--wait-ms", type=int, default=1000,
                    help="PGET ... WAIT ms (default 1000; at most update_time * 1000)")
    ap.add_argument("--duration", type=float, default=20.0,
                    help="seconds each contender runs per round (default 20)")
    ap.add_argument("--think-ms", type=float, default=10.0,
                    help="pause between a client's calls, drawn uniformly from [0.5, 1.5] x this "
                         "(default 10 ms; 0 = closed loop, no pause)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds (default 3); each runs every contender once, order rotating")
    ap.add_argument("--contenders", type=bl.csv_list(ALL_CONTENDERS), default=DEFAULT_CONTENDERS,
                    help="comma list of naive (GET/SET straight to Redis), pget (PGET/PSET through "
                         "puppy-proxy), naive-puppy (the naive pattern through puppy-proxy); "
                         "default naive,pget")
    ap.add_argument("--value-size", type=int, default=100, help="bytes per value (default 100)")
    bl.add_pin_args(ap, "run redis-server, puppy-proxy and this script's client threads on one CPU "
                        "(taskset -c CPU / sched_setaffinity)")
    ap.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for puppy-proxy (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--seed", type=int, default=1, help="seed for the think-time jitter (default 1)")
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    ap.add_argument("--label", default=None, help="suffix for the results folder name")
    a = ap.parse_args()
    if a.clients < 1 or a.rounds < 1 or a.duration <= 0:
        ap.error("--clients, --rounds must be >= 1 and --duration > 0")
    if a.freshness < 1 or a.update_time < 1:
        ap.error("--freshness and --update-time are whole seconds >= 1")
    if a.compute_ms < 0 or a.think_ms < 0 or a.value_size < 1:
        ap.error("--compute-ms, --think-ms must be >= 0, --value-size >= 1")
    if not 0 <= a.wait_ms <= a.update_time * 1000:
        ap.error("--wait-ms must be between 0 and update_time * 1000 (PGET rejects more)")
    return a


# ---------------------------------------------------------------------------------------------
# a small blocking RESP client (one per thread)


class RespError(Exception):
    pass


class Resp:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection((bl.HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"+":
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"-":
            raise RespError(rest.decode(errors="replace"))
        if t == b"_":
            return None
        raise ValueError(f"unexpected reply line {line[:80]!r}")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for x in args:
            b = x if isinstance(x, bytes) else str(x).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self.read()


# ---------------------------------------------------------------------------------------------
# one contender run


class ThreadLog:
    def __init__(self):
        self.lat = {}        # outcome -> list of seconds
        self.notfresh = []   # (t_sent, computed) of calls that found no fresh value
        self.computes = []   # (t_sent of the triggering call, t_store_done, stored ok)
        self.errors = []     # (t, text)
        self.bad_values = 0  # answers that should carry a value but did not
        self.pset_refused = 0


def make_value(tag, size):
    v = tag.encode()
    return (v + b":" + b"v" * max(0, size - len(v) - 1))[:max(size, len(v))]


def client_thread(a, contender, port, key, idx, start_evt, deadline_box, log, ready, rng):
    compute_s = a.compute_ms / 1000.0
    timeout = a.wait_ms / 1000.0 + compute_s + 15.0
    conn = None
    try:
        conn = Resp(port, timeout)
    except OSError as e:
        log.errors.append((time.monotonic(), f"connect: {e}"))
    ready.release()
    start_evt.wait()
    deadline = deadline_box[0]
    seq = 0
    think = a.think_ms / 1000.0
    if think > 0:
        time.sleep(rng.uniform(0, think))  # desynchronise the first calls a little
    pget_args = ("PGET", key, a.freshness, a.update_time) + (
        ("WAIT", a.wait_ms) if a.wait_ms > 0 else ())
    while time.monotonic() < deadline:
        if conn is None:
            try:
                conn = Resp(port, timeout)
            except OSError as e:
                log.errors.append((time.monotonic(), f"connect: {e}"))
                time.sleep(0.1)
                continue
        t0 = time.monotonic()
        outcome = None
        try:
            if contender in ("naive", "naive-puppy"):
                v = conn.call("GET", key)
                if v is not None:
                    outcome = "hit"
                else:
                    log.notfresh.append((t0, True))
                    time.sleep(compute_s)
                    seq += 1
                    ok = conn.call("SET", key, make_value(f"{idx}-{seq}", a.value_size),
                                   "EX", a.freshness)
                    log.computes.append((t0, time.monotonic(), ok == "OK"))
                    outcome = "nil -> computed"
            else:
                r = conn.call(*pget_args)
                if not (isinstance(r, list) and len(r) == 3):
                    raise ValueError(f"unexpected PGET reply {r!r}")
                state = r[0]
                if state == b"fresh":
                    outcome = "fresh"
                    if r[1] is None:
                        log.bad_values += 1
                elif state == b"stale":
                    outcome = "stale"
                    log.notfresh.append((t0, False))
                    if r[1] is None:
                        log.bad_values += 1
                elif state == b"lease":
                    log.notfresh.append((t0, True))
                    time.sleep(compute_s)
                    seq += 1
                    ok = conn.call("PSET", key, r[2], make_value(f"{idx}-{seq}", a.value_size),
                                   a.freshness, a.update_time)
                    if ok != 1:
                        log.pset_refused += 1
                    log.computes.append((t0, time.monotonic(), ok == 1))
                    outcome = "lease -> computed"
                elif state == b"miss":
                    outcome = "miss"
                    log.notfresh.append((t0, False))
                else:
                    raise ValueError(f"unexpected PGET state {state!r}")
        except (OSError, RespError, ValueError, ConnectionError) as e:
            log.errors.append((time.monotonic(), f"{type(e).__name__}: {e}"))
            if not isinstance(e, RespError):
                conn.close()
                conn = None
            outcome = "error"
        log.lat.setdefault(outcome, []).append(time.monotonic() - t0)
        if think > 0:
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))
    if conn is not None:
        conn.close()


def group_expiries(notfresh, computes):
    """Groups computations into expiries (see the module docstring). Returns a list of dicts."""
    comp_by_t0 = {}
    for t0, t_done, ok in computes:
        comp_by_t0.setdefault(t0, []).append((t_done, ok))
    groups = []
    cur = None
    for t0, computed in sorted(notfresh):
        if cur is None or (cur["first_store"] is not None and t0 > cur["first_store"]):
            cur = dict(start=t0, first_store=None, computations=0, calls=0)
            groups.append(cur)
        cur["calls"] += 1
        if computed:
            for t_done, ok in comp_by_t0.get(t0, []):
                cur["computations"] += 1
                if ok and (cur["first_store"] is None or t_done < cur["first_store"]):
                    cur["first_store"] = t_done
    return groups


def percentile(sorted_xs, q):
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, int(round(q / 100.0 * len(sorted_xs) + 0.5)) - 1))
    return sorted_xs[k]


def run_contender(a, contender, port, key, rnd, procs):
    logs = [ThreadLog() for _ in range(a.clients)]
    start_evt = threading.Event()
    ready = threading.Semaphore(0)
    deadline_box = [0.0]
    threads = []
    for i in range(a.clients):
        rng = random.Random(a.seed * 1000003 + rnd * 1009 + i)
        th = threading.Thread(target=client_thread,
                              args=(a, contender, port, key, i, start_evt, deadline_box, logs[i],
                                    ready, rng), daemon=True)
        th.start()
        threads.append(th)
    for _ in threads:
        ready.acquire()
    t_start = time.monotonic()
    deadline_box[0] = t_start + a.duration
    start_evt.set()
    hang_limit = t_start + a.duration + a.wait_ms / 1000.0 + a.compute_ms / 1000.0 + 30.0
    hung = 0
    for th in threads:
        th.join(max(0.0, hang_limit - time.monotonic()))
        if th.is_alive():
            hung += 1
    t_end = time.monotonic()

    lat = {}
    notfresh, computes, errors = [], [], []
    bad_values = pset_refused = 0
    for lg in logs:
        for k, v in lg.lat.items():
            lat.setdefault(k, []).extend(v)
        notfresh += lg.notfresh
        computes += lg.computes
        errors += lg.errors
        bad_values += lg.bad_values
        pset_refused += lg.pset_refused
    all_lat = sorted(x for v in lat.values() for x in v)
    groups = group_expiries(notfresh, computes)
    per = [g["computations"] for g in groups]
    steady = per[1:]
    res = dict(
        round=rnd, contender=contender, key=key, calls=len(all_lat),
        wall_s=t_end - t_start, calls_per_s=len(all_lat) / a.duration,
        p50_ms=(percentile(all_lat, 50) or 0) * 1000, p99_ms=(percentile(all_lat, 99) or 0) * 1000,
        p999_ms=(percentile(all_lat, 99.9) or 0) * 1000,
        max_ms=(all_lat[-1] if all_lat else 0) * 1000,
        expiries=len(groups), computations=sum(per),
        regen_mean=(sum(per) / len(per)) if per else None, regen_max=max(per) if per else None,
        cold_regen=per[0] if per else None,
        steady_mean=(sum(steady) / len(steady)) if steady else None,
        steady_max=max(steady) if steady else None,
        stores_ok=sum(1 for c in computes if c[2]), pset_refused=pset_refused,
        misses=len(lat.get("miss", [])), stale=len(lat.get("stale", [])),
        errors=len(errors), bad_values=bad_values, hung_threads=hung,
        error_samples=[e[1] for e in sorted(errors)[:5]],
        lat=lat, groups=groups, t_start=t_start)
    dead = [p for p in procs if not p.alive()]
    res["dead"] = [f"{p.name} (pid {p.pid}): {bl.describe_exit(p.returncode())}; log tail:\n    "
                   + "\n    ".join(p.log_tail(15).splitlines()) for p in dead]
    return res


# ---------------------------------------------------------------------------------------------


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    a = parse_args()
    for tool in ["redis-server", "taskset"]:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    need_proxy = any(c in ("pget", "naive-puppy") for c in a.contenders)
    if need_proxy and not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode, cpu = bl.pin_mode(a)
    if a.pin:
        os.sched_setaffinity(0, {cpu})  # this script's client threads too
    out_dir, logs_dir, meta = bl.start_results(a, "stampede-bench.sh", "stampede-" + mode)
    versions = bl.tool_versions(a.proxy_bin, leave_out=("nutcracker", "valgrind", "redis-benchmark"))
    settings = (f"clients {a.clients}, compute {a.compute_ms} ms, freshness {a.freshness} s, "
                f"update_time {a.update_time} s, WAIT {a.wait_ms} ms, "
                + (f"think {a.think_ms:g} ms (x U[0.5,1.5])" if a.think_ms > 0
                   else "no think time (closed loop)")
                + f", duration {a.duration:g} s per contender and round, "
                f"rounds {a.rounds}, value {a.value_size} bytes")
    meta += [f"mode: {mode}", f"settings: {settings}",
             f"contenders: {','.join(a.contenders)}"] + [f"{k}: {v}" for k, v in versions.items()]

    redis, redis_port = bl.start_redis(logs_dir, "redis", cpu=cpu)
    bl.log(f"redis-server pid {redis.pid} on port {redis_port}")
    pp = pport = None
    if need_proxy:
        pp, pport = bl.start_puppy(a.proxy_bin, redis_port, logs_dir, "puppy", cpu=cpu,
                                   extra_args=a.proxy_arg)
        bl.log(f"puppy-proxy pid {pp.pid} on port {pport}")
    meta.append(f"processes: redis-server port {redis_port}" +
                (f"; puppy-proxy port {pport}" if pp else ""))

    def where(c):
        if c == "naive":
            return redis_port, [redis]
        return pport, [pp, redis]

    results = []
    incidents = []
    disabled = {}
    tag = f"{os.getpid()}"
    for rnd in range(1, a.rounds + 1):
        k = (rnd - 1) % len(a.contenders)
        order = a.contenders[k:] + a.contenders[:k]
        for c in order:
            if c in disabled:
                continue
            port, procs = where(c)
            key = f"stampede:{tag}:{rnd}:{c}"
            bl.log(f"round {rnd}/{a.rounds}: {c} ({a.clients} clients, {a.duration:g} s, key {key})")
            r = run_contender(a, c, port, key, rnd, procs)
            results.append(r)
            bl.log(f"  {r['calls']:,} calls, {r['expiries']} expiries, {r['computations']} "
                   f"computations (regen/expiry mean {fmt(r['regen_mean'], '.2f')}, max "
                   f"{fmt(r['regen_max'], 'd')}), p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms "
                   f"max {r['max_ms']:.1f} ms, misses {r['misses']}, errors {r['errors']}")
            problems = []
            if r["errors"]:
                problems.append(f"{r['errors']} failed call(s); first: " + " | ".join(r["error_samples"]))
            if r["hung_threads"]:
                problems.append(f"{r['hung_threads']} client thread(s) still blocked "
                                f"{a.duration:g}s + 30s after the start (hang)")
            if r["bad_values"]:
                problems.append(f"{r['bad_values']} fresh/stale answer(s) without a value")
            if r["pset_refused"]:
                problems.append(f"{r['pset_refused']} PSET(s) refused (answered 0)")
            if r["dead"]:
                problems += [f"process ended: {d}" for d in r["dead"]]
                disabled[c] = "process exited"
                for other in a.contenders:
                    if other != c and any(not p.alive() for p in where(other)[1] if p):
                        disabled[other] = "process exited"
            elif r["hung_threads"] or r["errors"]:
                ok, reply = bl.wait_ping(port, timeout=10)
                problems.append(f"GET through {c}'s server afterwards: {'ok' if ok else reply}")
                if not ok:
                    disabled[c] = "no GET reply after a failed run"
            if problems:
                msg = f"round {rnd} {c}: " + "\n  ".join(problems)
                bl.log("PROBLEM " + msg)
                incidents.append(msg)
            if not redis.alive():
                incidents.append("redis-server has exited; stopping")
                break
        if not redis.alive():
            break

    # --- shut down, check exit codes and logs -------------------------------------------------
    if pp is not None:
        if pp.alive():
            rc = bl.stop_process(pp)
            if rc not in pp.ok_exit_codes:
                incidents.append(f"puppy-proxy (pid {pp.pid}) on SIGTERM at the end: "
                                 f"{bl.describe_exit(rc)}; log tail:\n" + pp.log_tail(15))
        with open(os.path.join(logs_dir, "puppy.log"), errors="replace") as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("$ ")]
        if lines:
            incidents.append(f"puppy-proxy logged {len(lines)} line(s) at warn or above, e.g.:\n    "
                             + "\n    ".join(lines[:10]))
    bl.stop_process(redis)

    # --- files ---------------------------------------------------------------------------------
    cols = ["round", "contender", "key", "calls", "calls_per_s", "wall_s", "p50_ms", "p99_ms",
            "p999_ms", "max_ms", "expiries", "computations", "regen_mean", "regen_max", "cold_regen",
            "steady_mean", "steady_max", "stores_ok", "pset_refused", "misses", "stale", "errors",
            "bad_values", "hung_threads"]
    with open(os.path.join(out_dir, "rounds.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in results:
            w.writerow([f"{r[c]:.3f}" if isinstance(r[c], float) else r[c] for c in cols])
    with open(os.path.join(out_dir, "expiries.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "contender", "expiry", "start_s", "computations", "notfresh_calls",
                    "gap_ms"])
        for r in results:
            for i, g in enumerate(r["groups"], 1):
                gap = None if g["first_store"] is None else (g["first_store"] - g["start"]) * 1000
                w.writerow([r["round"], r["contender"], i, f"{g['start'] - r['t_start']:.3f}",
                            g["computations"], g["calls"], "" if gap is None else f"{gap:.1f}"])

    # --- summary -------------------------------------------------------------------------------
    out = [f"stampede benchmark -- mode: {mode}"
           + (f" (redis-server, puppy-proxy and the client threads all on CPU {cpu})" if a.pin
              else " (no CPU pinning)"),
           f"settings: {settings}",
           "contenders: naive = GET; on nil compute + SET key value EX freshness, straight to "
           "Redis" + ("; naive-puppy = the same through puppy-proxy" if "naive-puppy" in a.contenders else "")
           + (f"; pget = PGET key {a.freshness} {a.update_time}"
              + (f" WAIT {a.wait_ms}" if a.wait_ms else "")
              + "; lease -> compute + PSET, through puppy-proxy" if "pget" in a.contenders else ""),
           f"puppy-proxy: {versions['puppy-proxy']}",
           f"load average at start: {versions['loadavg at start']}; at end: "
           f"{open('/proc/loadavg').read().strip()}",
           f"results in {out_dir}",
           "expiry = the first call that finds no fresh value (naive: nil; pget: stale/lease/miss) "
           "after a value was stored, or at the start, up to the first store of a new value;",
           "regen/expiry = computations (compute + SET/PSET) per expiry: mean (total/total) and "
           "max over all rounds; 'cold' = the first expiry of a run (empty key at the start), "
           "'steady' = all later ones;",
           "latency = one get() call (the read, plus computation and store when this call "
           "computed, plus PGET's WAIT): p50/p99/p99.9 median over rounds, max over all rounds"]
    rows = []
    for c in a.contenders:
        rs = [r for r in results if r["contender"] == c]
        if not rs:
            rows.append([c] + ["-"] * 15)
            continue
        per = [g["computations"] for r in rs for g in r["groups"]]
        steady = [g["computations"] for r in rs for g in r["groups"][1:]]
        cold = [r["cold_regen"] for r in rs if r["cold_regen"] is not None]
        rows.append([
            c, len(rs), f"{sum(r['calls'] for r in rs):,}",
            f"{bl.median([r['calls_per_s'] for r in rs]):,.0f}",
            sum(r["expiries"] for r in rs), sum(r["computations"] for r in rs),
            fmt(sum(per) / len(per) if per else None, ".2f"), fmt(max(per) if per else None, "d"),
            fmt(sum(steady) / len(steady) if steady else None, ".2f"),
            fmt(max(steady) if steady else None, "d"),
            "/".join(str(x) for x in cold) or "-",
            fmt(bl.median([r["p50_ms"] for r in rs]), ".2f"),
            fmt(bl.median([r["p99_ms"] for r in rs]), ".2f"),
            fmt(bl.median([r["p999_ms"] for r in rs]), ".2f"),
            fmt(max(r["max_ms"] for r in rs), ".1f"),
            sum(r["misses"] for r in rs), sum(r["errors"] for r in rs)])
    out.append("")
    out.append("== Summary")
    out.append(bl.format_table(
        ["contender", "rounds", "calls", "calls/s", "expiries", "computations", "regen/exp mean",
         "max", "steady mean", "steady max", "cold (per round)", "p50 ms", "p99 ms", "p99.9 ms",
         "max ms", "misses", "errors"], rows, align="lrrrrrrrrrrrrrrrr"))

    out.append("")
    out.append("== Per round")
    prow = []
    for r in results:
        prow.append([r["round"], r["contender"], f"{r['calls']:,}", r["expiries"], r["computations"],
                     fmt(r["regen_mean"], ".2f"), fmt(r["regen_max"], "d"),
                     fmt(r["steady_mean"], ".2f"), fmt(r["steady_max"], "d"),
                     f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['p999_ms']:.2f}", f"{r['max_ms']:.1f}",
                     r["misses"], r["stale"], r["errors"]])
    out.append(bl.format_table(
        ["round", "contender", "calls", "expiries", "computations", "regen/exp mean", "max",
         "steady mean", "steady max", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "misses", "stale",
         "errors"], prow, align="rl" + "r" * 14))

    out.append("")
    out.append("== Latency by answer (all rounds pooled)")
    brow = []
    for c in a.contenders:
        rs = [r for r in results if r["contender"] == c]
        pooled = {}
        for r in rs:
            for k, v in r["lat"].items():
                pooled.setdefault(k, []).extend(v)
        total = sum(len(v) for v in pooled.values())
        for k in sorted(pooled, key=lambda k: -len(pooled[k])):
            xs = sorted(pooled[k])
            brow.append([c, k, f"{len(xs):,}", f"{100.0 * len(xs) / total:.2f}%",
                         f"{percentile(xs, 50) * 1000:.2f}", f"{percentile(xs, 99) * 1000:.2f}",
                         f"{xs[-1] * 1000:.1f}"])
    out.append(bl.format_table(["contender", "answer", "calls", "share", "p50 ms", "p99 ms",
                                "max ms"], brow, align="llrrrrr"))
    out.append("(pget 'fresh' includes the calls that got a miss, waited (WAIT) and were then "
               "answered with the new value; naive 'hit' = GET returned a value)")
    out.append("")
    out += bl.problems_lines(incidents, "no failed call, no hang, no PSET refused, no fresh/stale "
                                        "answer without a value; puppy-proxy exited cleanly and "
                                        "logged nothing at warn or above")
    text = "\n".join(out) + "\n"
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + f"\nloadavg at end: {open('/proc/loadavg').read().strip()}\n")
    print(text, end="")
    return 1 if disabled else 0


if __name__ == "__main__":
    sys.exit(main())
