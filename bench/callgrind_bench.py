#!/usr/bin/python3
"""User-space instructions (and, optionally, system calls) per forwarded request.

Started through bench/callgrind.sh; see bench/README.md. For each target -- redis-server alone
("direct"), puppy-proxy and nutcracker (twemproxy), the proxies in front of their own
redis-server -- and each workload, the processes run under `valgrind --tool=callgrind
--collect-atstart=yes`, a fixed number of requests goes through, SIGTERM makes them exit and
callgrind writes its totals. Ir / requests = instructions per request. A baseline run per target
(start, one GET, SIGTERM) measures start-up + shutdown, which the "net" figure subtracts.

With --syscalls (default) a second pass runs the same workloads against natively running
processes with `strace -c -f -p PID` attached to the proxy and to redis-server for the duration
of the benchmark only, giving system calls per request.
"""

import argparse
import csv
import os
import shutil
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ALL_TARGETS = ["direct", "puppy", "twemproxy"]
ALL_TESTS = ["get", "set", "pget"]
# The pget workload: a fresh hit (made fresh with PGET/PSET first; puppy-proxy only).
PGET_COMMAND = ["PGET", "callgrind:pget", "3600", "60"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="callgrind.sh",
        description="Instructions (callgrind Ir) and system calls per request for redis-server, "
                    "puppy-proxy and twemproxy.")
    ap.add_argument("--requests", type=int, default=100000,
                    help="requests per workload (default 100000)")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    ap.add_argument("--pipeline", type=int, default=16,
                    help="-P of the pipelined workload (default 16); every test also runs with -P 1")
    ap.add_argument("--tests", type=bl.csv_list(ALL_TESTS), default=["get"],
                    help="comma list of get,set,pget (default get); pget: a fresh PGET hit, "
                         "puppy target only")
    ap.add_argument("--targets", type=bl.csv_list(ALL_TARGETS), default=ALL_TARGETS,
                    help="comma list of direct,puppy,twemproxy (default all)")
    ap.add_argument("--syscalls", dest="syscalls", action="store_true", default=True,
                    help="also count system calls per request with strace (default)")
    ap.add_argument("--no-syscalls", dest="syscalls", action="store_false",
                    help="skip the strace pass")
    ap.add_argument("--upstream-native", action="store_true",
                    help="run the redis-server behind the proxies natively instead of under "
                         "callgrind (faster, but no 'redis Ir/req' behind the proxies)")
    ap.add_argument("--proxy-bin", default=bl.DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for puppy-proxy (repeatable)")
    ap.add_argument("--data-size", type=int, default=3, help="redis-benchmark -d (default 3)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="kill a redis-benchmark run after this many seconds (default 1800)")
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    ap.add_argument("--label", default=None, help="suffix for the results folder name")
    a = ap.parse_args()
    if a.requests < 1:
        ap.error("--requests must be >= 1")
    return a


def workloads(a):
    """[(tag, test, pipeline)]; tag None = baseline (no benchmark)."""
    w = []
    for test in a.tests:
        w.append((f"{test}-P{a.pipeline}", test, a.pipeline))
        if a.pipeline != 1:
            w.append((f"{test}-P1", test, 1))
    return w


def applies(target, test):
    """PGET is puppy-proxy's own: redis-server and twemproxy do not run that workload."""
    return test != "pget" or target == "puppy"


def workload_argv(a, port, test, pipeline, incidents, name):
    """redis-benchmark's argv for one workload; for pget, the key is made fresh first."""
    if test != "pget":
        return bl.benchmark_argv(port, test, a.clients, pipeline, a.requests, a.data_size)
    problems = bl.make_fresh(port, PGET_COMMAND[1], b"x" * a.data_size, 3600, 60)
    if problems:
        incidents.append(f"{name}: making the key fresh: {'; '.join(problems)}")
    return bl.command_benchmark_argv(port, PGET_COMMAND, a.clients, pipeline, a.requests)


def workload_row(result, test):
    """The benchmark's CSV row for the workload's command."""
    if test == "pget":
        return bl.benchmark_row(result, PGET_COMMAND)
    return result["rows"].get(test.upper())


def callgrind_total(path):
    """Total Ir from a callgrind output file ('totals:' line; 'summary:' as a fallback)."""
    totals = summary = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                totals = int(line.split()[1])
            elif line.startswith("summary:"):
                summary = int(line.split()[1])
    return totals if totals is not None else summary


class Failure(Exception):
    pass


def fmt_int(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_f(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# callgrind pass


def callgrind_run(a, logs, target, wl, incidents):
    """One measurement. Returns {'proxy': Ir, 'redis': Ir} (None where not measured)."""
    tag = wl[0] if wl else "baseline"
    name = f"cg-{target}-{tag}"

    def vg(who):
        return ["valgrind", "--tool=callgrind", "--collect-atstart=yes",
                f"--callgrind-out-file={os.path.join(logs, f'callgrind.out.{name}.{who}')}"]

    redis_under_cg = target == "direct" or not a.upstream_native
    redis, rport = bl.start_redis(logs, f"{name}-redis", wrapper=vg("redis") if redis_under_cg else (),
                                  timeout=180)
    proxy = None
    port = rport
    if target == "puppy":
        proxy, port = bl.start_puppy(a.proxy_bin, rport, logs, f"{name}-puppy", wrapper=vg("proxy"),
                                     extra_args=a.proxy_arg, timeout=180)
    elif target == "twemproxy":
        proxy, port = bl.start_nutcracker(rport, logs, f"{name}-twemproxy", wrapper=vg("proxy"),
                                          timeout=180)
    if wl:
        _, test, pipeline = wl
        argv = workload_argv(a, port, test, pipeline, incidents, name)
        t0 = time.monotonic()
        r = bl.run_benchmark(argv, a.timeout)
        row = workload_row(r, test)
        if r["problems"] or not row:
            msg = (f"{name}: {'; '.join(r['problems'])}\n  command: {' '.join(argv)}\n  output:\n    "
                   + "\n    ".join(r["output"].strip().splitlines()[-8:]))
            for p in (proxy, redis):
                if p and not p.alive():
                    msg += (f"\n  {p.name} (pid {p.pid}) has ended: {bl.describe_exit(p.returncode())}; log:\n    "
                            + "\n    ".join(p.log_tail(15).splitlines()))
            incidents.append(msg)
            bl.log("PROBLEM " + msg)
        else:
            bl.log(f"  {name}: {row['rps']:,.0f} rps under valgrind ({time.monotonic() - t0:.1f}s)")
    result = {}
    for who, p in (("proxy", proxy), ("redis", redis)):
        if p is None:
            continue
        rc = bl.stop_process(p, timeout=600)
        if rc not in p.ok_exit_codes:
            incidents.append(f"{p.name} (pid {p.pid}) on SIGTERM: {bl.describe_exit(rc)}; log tail:\n"
                             + p.log_tail(15))
        if who == "redis" and not redis_under_cg:
            continue
        path = os.path.join(logs, f"callgrind.out.{name}.{who}")
        ir = callgrind_total(path) if os.path.exists(path) else None
        if ir is None:
            incidents.append(f"{p.name}: no callgrind totals in {path}; log tail:\n" + p.log_tail(15))
        result[who] = ir
    return result


# ---------------------------------------------------------------------------------------------
# strace pass


def tracer_attached(pid):
    """True once every thread of pid has a tracer."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("TracerPid:"):
                        if line.split()[1] == "0":
                            return False
                        break
        except OSError:
            return False
    return True


def parse_strace_c(path):
    """({syscall: (calls, errors)}, total calls, total errors) from `strace -c` output."""
    calls, total, total_err = {}, None, None
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) not in (5, 6) or not parts[0][0].isdigit():
                continue
            try:
                n = int(parts[3])
                err = int(parts[4]) if len(parts) == 6 else 0
            except ValueError:
                continue
            if parts[-1] == "total":
                total, total_err = n, err
            else:
                calls[parts[-1]] = (n, err)
    return calls, total, total_err


def strace_pass(a, logs, incidents):
    """Returns {(target, tag): {'proxy': (total, calls), 'redis': (total, calls)}}."""
    out = {}
    redis, rport = bl.start_redis(logs, "st-redis")
    procs = {"direct": (None, rport)}
    if "puppy" in a.targets:
        pp, pport = bl.start_puppy(a.proxy_bin, rport, logs, "st-puppy", extra_args=a.proxy_arg)
        procs["puppy"] = (pp, pport)
    if "twemproxy" in a.targets:
        tw, tport = bl.start_nutcracker(rport, logs, "st-twemproxy")
        procs["twemproxy"] = (tw, tport)
    for target in a.targets:
        proxy, port = procs[target]
        for wl in workloads(a):
            tag, test, pipeline = wl
            if not applies(target, test):
                continue
            tracers = {}
            for who, p in (("proxy", proxy), ("redis", redis)):
                if p is None:
                    continue
                path = os.path.join(logs, f"strace.{target}-{tag}.{who}.txt")
                tracers[who] = (bl.start_process(
                    f"strace-{who}", ["strace", "-c", "-f", "-q", "-o", path, "-p", str(p.pid)],
                    os.path.join(logs, f"strace.{target}-{tag}.{who}.log")), path, p.pid)
            deadline = time.monotonic() + 30
            while not all(tracer_attached(pid) for _, _, pid in tracers.values()):
                if time.monotonic() > deadline:
                    bl.die("strace did not attach within 30s")
                time.sleep(0.02)
            argv = workload_argv(a, port, test, pipeline, incidents, f"strace {target} {tag}")
            t0 = time.monotonic()
            r = bl.run_benchmark(argv, a.timeout)
            for tr, _, _ in tracers.values():
                bl.stop_process(tr, timeout=60, sig=signal.SIGINT)  # detaches, writes the summary
            row = workload_row(r, test)
            if r["problems"] or not row:
                msg = (f"strace {target} {tag}: {'; '.join(r['problems'])}\n  command: {' '.join(argv)}"
                       f"\n  output:\n    " + "\n    ".join(r["output"].strip().splitlines()[-8:]))
                incidents.append(msg)
                bl.log("PROBLEM " + msg)
                continue
            bl.log(f"  strace {target} {tag}: {row['rps']:,.0f} rps under strace "
                   f"({time.monotonic() - t0:.1f}s)")
            res = {}
            for who, (_, path, _) in tracers.items():
                calls, total, errors = parse_strace_c(path)
                res[who] = (total, errors, calls)
            out[(target, tag)] = res
    for target in reversed(a.targets):
        p = procs[target][0]
        if p is not None:
            rc = bl.stop_process(p)
            if rc not in p.ok_exit_codes:
                incidents.append(f"{p.name} on SIGTERM: {bl.describe_exit(rc)}; log:\n" + p.log_tail(15))
    bl.stop_process(redis)
    return out


# ---------------------------------------------------------------------------------------------


def main():
    a = parse_args()
    tools = ["redis-server", "redis-benchmark", "nutcracker", "valgrind"] + (["strace"] if a.syscalls else [])
    for tool in tools:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if "puppy" in a.targets and not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")
    out_dir, logs, meta = bl.start_results(a, "callgrind.sh", "callgrind")
    meta += [f"requests per workload: {a.requests}, clients: {a.clients}, "
             f"redis behind proxies: {'native' if a.upstream_native else 'under callgrind'}"]
    versions = bl.tool_versions(a.proxy_bin)
    meta += [f"{k}: {v}" for k, v in versions.items()]

    incidents = []
    wls = workloads(a)
    t_start = time.monotonic()
    ir = {}  # (target, tag or 'baseline') -> {'proxy': Ir, 'redis': Ir}
    for target in a.targets:
        bl.log(f"callgrind: {target}")
        ir[(target, "baseline")] = callgrind_run(a, logs, target, None, incidents)
        for wl in wls:
            if applies(target, wl[1]):
                ir[(target, wl[0])] = callgrind_run(a, logs, target, wl, incidents)
    sc = {}
    if a.syscalls:
        bl.log("strace pass")
        sc = strace_pass(a, logs, incidents)
    elapsed = time.monotonic() - t_start

    # --- report ------------------------------------------------------------------------------
    n = a.requests
    out = [f"Instructions per request -- {n:,} requests per workload, {a.clients} clients, "
           f"{elapsed:.0f}s; results in {out_dir}",
           f"puppy-proxy: {versions['puppy-proxy']}",
           "Ir/req = callgrind Ir (user-space instructions, all threads, start to exit) / requests;",
           "net = (Ir - Ir of a baseline run that only starts, answers one GET and stops) / requests;",
           "proxy = puppy-proxy or nutcracker; redis = the redis-server the requests end up in "
           "(direct: the only process)"
           + ("" if not a.upstream_native else "; redis behind the proxies ran natively (not measured)"),
           ""]
    rows, csv_rows = [], []
    for tag, test, pipeline in wls:
        for target in (t for t in a.targets if applies(t, test)):
            base = ir.get((target, "baseline"), {})
            cur = ir.get((target, tag), {})

            def per(who, net):
                v = cur.get(who)
                if v is None:
                    return None
                if net:
                    b = base.get(who)
                    return None if b is None else (v - b) / n
                return v / n

            prox, proxn = (per("proxy", False), per("proxy", True)) if target != "direct" else (None, None)
            red, redn = per("redis", False), per("redis", True)
            totn = None if redn is None else (redn + (proxn or 0))
            wl_name = f"{test.upper()} -c {a.clients} -P {pipeline}"
            rows.append([wl_name, target, fmt_int(prox), fmt_int(proxn), fmt_int(red),
                         fmt_int(redn), fmt_int(totn)])
            csv_rows.append(dict(workload=wl_name, target=target, requests=n,
                                 proxy_ir=cur.get("proxy"), proxy_ir_baseline=base.get("proxy"),
                                 redis_ir=cur.get("redis"), redis_ir_baseline=base.get("redis"),
                                 proxy_ir_per_req=prox, proxy_net_ir_per_req=proxn,
                                 redis_ir_per_req=red, redis_net_ir_per_req=redn,
                                 total_net_ir_per_req=totn))
    out.append(bl.format_table(["workload", "target", "proxy Ir/req", "proxy net", "redis Ir/req",
                                "redis net", "proxy+redis net"], rows, align="llrrrrr"))
    base_rows = [[t, fmt_int(ir.get((t, "baseline"), {}).get("proxy")),
                  fmt_int(ir.get((t, "baseline"), {}).get("redis"))] for t in a.targets]
    out += ["", "Baseline runs (start, one GET, SIGTERM), total Ir:",
            bl.format_table(["target", "proxy Ir", "redis Ir"], base_rows)]

    if sc:
        out += ["", "System calls per request (strace -c -f attached only while the benchmark ran; "
                    "strace slows the traced processes, which changes batching -- read as indicative):"]
        srows = []
        for tag, test, pipeline in wls:
            for target in (t for t in a.targets if applies(t, test)):
                res = sc.get((target, tag))
                if not res:
                    srows.append([f"{test.upper()} -c {a.clients} -P {pipeline}", target] + ["-"] * 4)
                    continue

                def top(who):
                    total, _, calls = res.get(who, (None, None, {}))
                    if not total:
                        return "-"
                    best = sorted(calls.items(), key=lambda kv: -kv[1][0])[:4]
                    return " ".join(f"{k}={c / n:.2f}" + (f"({e / n:.2f} failed)" if e / n >= 0.005 else "")
                                    for k, (c, e) in best)

                def per_req(who):
                    total, errors, _ = res.get(who, (None, None, None))
                    if total is None:
                        return "-"
                    return f"{total / n:.2f}" + (f" ({errors / n:.2f} failed)" if errors / n >= 0.005 else "")

                srows.append([f"{test.upper()} -c {a.clients} -P {pipeline}", target,
                              per_req("proxy"), per_req("redis"), top("proxy"), top("redis")])
        out.append(bl.format_table(["workload", "target", "proxy syscalls/req", "redis syscalls/req",
                                    "proxy top syscalls /req", "redis top syscalls /req"], srows,
                                   align="llrrll"))
    out.append("")
    out += bl.problems_lines(incidents, "all benchmark runs succeeded, all processes exited as "
                                        "expected")
    text = "\n".join(out) + "\n"
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(csv_rows[0].keys()))
        w.writeheader()
        for r in csv_rows:
            w.writerow({k: (f"{v:.1f}" if isinstance(v, float) else v) for k, v in r.items()})
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + "\n")
    print(text, end="")
    return 1 if incidents else 0


if __name__ == "__main__":
    sys.exit(main())
