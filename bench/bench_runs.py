"""Running redis-benchmark (part of benchlib): its command lines, its CSV, calibration of the
request counts, interleaved rounds, time-outs, the raw.csv record of a run and what to do after
a failed one."""

import subprocess
import time

from bench_process import HOST, _child_setup, describe_exit, die, log
from bench_protocol import wait_ping
from bench_report import median, round_sig

# ---------------------------------------------------------------------------------------------
# redis-benchmark

CSV_FIELDS = ["rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
              "p99_latency_ms", "max_latency_ms"]

# Lines redis-benchmark prints that are expected and harmless (the last two: --cluster's list of
# the masters it found, "Cluster has 3 master nodes:" and "Master 0: <id> 127.0.0.1:<port>").
_BENIGN = ("WARNING: Could not fetch server CONFIG", "Cluster has ", "Master ")


def benchmark_argv(port, test, clients, pipeline, requests, data_size=3, keyspace=0, cpu=None,
                   extra_args=()):
    argv = ["redis-benchmark", "-h", HOST, "-p", str(port), "-t", test, "-c", str(clients),
            "-n", str(requests), "-P", str(pipeline), "-d", str(data_size), "--csv"]
    argv += list(extra_args)  # e.g. --tls --cacert FILE
    if keyspace:
        argv += ["-r", str(keyspace)]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    return argv


def command_benchmark_argv(port, command, clients, pipeline, requests, cpu=None, keyspace=0,
                           extra_args=()):
    """redis-benchmark running one arbitrary command (a list of words), e.g. PGET key 300 30.
    keyspace: -r (every __rand_int__ in the command becomes a random number of its own);
    extra_args: more options, e.g. --cluster."""
    argv = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(clients), "-n", str(requests),
            "-P", str(pipeline), "--csv"] + list(extra_args)
    if keyspace:
        argv += ["-r", str(keyspace)]
    argv += list(command)
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + argv


def benchmark_row(result, command):
    """The CSV row of run_benchmark's result for a command_benchmark_argv run (redis-benchmark
    names the row after the command line), or None."""
    row = result["rows"].get(" ".join(command))
    if row is None and len(result["rows"]) == 1:
        row = next(iter(result["rows"].values()))
    return row


def parse_benchmark_csv(text):
    """Returns ({TEST: {field: float}}, [unexpected lines])."""
    rows, other = {}, []
    header = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith('"test"'):
            header = [c.strip('"') for c in line.split(",")]
            continue
        if header and line.startswith('"'):
            cells = [c.strip('"') for c in line.split(",")]
            if len(cells) == len(header):
                try:
                    rows[cells[0]] = {k: float(v) for k, v in zip(header[1:], cells[1:])}
                    continue
                except ValueError:
                    pass
        if not line.startswith(_BENIGN):
            other.append(line)
    return rows, other


def _children_cpu_s():
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_benchmark(argv, timeout):
    """Runs redis-benchmark. Returns dict(rows, problems, wall_s, rc, output, client_cpu_s), the
    last the benchmark's own CPU time (user+sys, from the rusage of waited-for children)."""
    t0, cpu0 = time.monotonic(), _children_cpu_s()
    try:
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=timeout, preexec_fn=_child_setup)
        out = cp.stdout.decode(errors="replace")
        rc = cp.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        return dict(rows={}, problems=[f"TIMEOUT after {timeout:.0f}s (killed)"],
                    wall_s=time.monotonic() - t0, rc=None, output=out, client_cpu_s=None)
    wall = time.monotonic() - t0
    rows, other = parse_benchmark_csv(out)
    problems = list(other)
    if rc != 0:
        problems.insert(0, f"redis-benchmark exit code {rc}")
    if not rows:
        problems.append("no CSV result row")
    return dict(rows=rows, problems=problems, wall_s=wall, rc=rc, output=out,
                client_cpu_s=_children_cpu_s() - cpu0)


def case_label(case):
    """A case key as text: "c50", or ("get", "c50") -> "get c50"."""
    return " ".join(case) if isinstance(case, tuple) else str(case)


def calibrate(cases, targets, seconds, fixed, clients_pipeline, run, incidents):
    """Request counts per case, the same for every target. With `fixed`, that for every case;
    otherwise a short run of max(5000, 200 x clients x pipeline) requests per case on every
    target (run(target, case, n) -> (run_benchmark's result, its CSV row or None); failures go
    to incidents), and n = median rps x seconds, 2 significant digits, at least 1000.
    clients_pipeline(case) -> (clients, pipeline). Returns (requests, expected_rps), the latter
    the slowest target's rate per calibrated case (for time-outs: run_timeout)."""
    if fixed is not None:
        return {c: fixed for c in cases}, {}
    requests, expected_rps = {}, {}
    log(f"calibrating request counts for ~{seconds:g}s per run")
    for case in cases:
        clients, pipeline = clients_pipeline(case)
        n_cal = max(5000, 200 * clients * pipeline)
        rates = []
        for t in targets:
            r, row = run(t, case, n_cal)
            if r["problems"] or not row:
                msg = (f"calibration {case_label(case)} {t.name}: {'; '.join(r['problems'])}\n"
                       "  output (last lines):\n    "
                       + "\n    ".join(r["output"].strip().splitlines()[-8:]))
                log("PROBLEM " + msg)
                incidents.append(msg)
                continue
            rates.append(row["rps"])
        if not rates:
            die(f"calibration failed for {case_label(case)} on every target")
        expected_rps[case] = min(rates)
        requests[case] = max(1000, round_sig(median(rates) * seconds, 2))
        log(f"  {case_label(case)}: rps {', '.join(f'{x:,.0f}' for x in rates)} -> "
            f"n={requests[case]:,}")
    return requests, expected_rps


def interleaved_runs(rounds, cases, targets, start_round=None):
    """The runs of interleaved rounds, in order: every round runs every case on every target, the
    targets in an order rotated by one from round to round, so that none always runs first or last
    and slow drifts of the machine hit all alike. targets: a list, or a function giving a case's
    list; start_round(round) is called as each round starts. Yields (run number from 1, round
    from 1, case, position in the round's order, target), for disabled targets too."""
    done = 0
    for rnd in range(1, rounds + 1):
        if start_round:
            start_round(rnd)
        for case in cases:
            ts = targets(case) if callable(targets) else targets
            k = (rnd - 1) % len(ts)
            for pos, t in enumerate(ts[k:] + ts[:k]):
                done += 1
                yield done, rnd, case, pos, t


def run_timeout(fixed, n, expected_rps):
    """A run's time-out: `fixed` if given, else 20x its expected time (at least 60 s), else
    300 s."""
    if fixed:
        return fixed
    return max(60.0, 20.0 * n / expected_rps) if expected_rps else 300.0


def cpu_per_request(before, after, n):
    """{WHO_user_us_per_req, WHO_sys_us_per_req} (text) from two {WHO: (user, sys) seconds}
    snapshots (cpu_seconds; None entries are skipped) around a run of n requests."""
    out = {}
    for who, b in before.items():
        a = after.get(who)
        if b and a:
            for i, kind in enumerate(("user", "sys")):
                out[f"{who}_{kind}_us_per_req"] = f"{(a[i] - b[i]) * 1e6 / n:.2f}"
    return out


def run_record(r, row, n, cpu0, cpu1, **fields):
    """The raw.csv record of a run_benchmark run r of n requests: fields, its wall time, status
    ("ok": a result row and no problems) and problems, the row's CSV_FIELDS, and the CPU time per
    request between the cpu0 and cpu1 snapshots (cpu_per_request)."""
    rec = dict(fields, wall_s=f"{r['wall_s']:.3f}",
               status="ok" if row and not r["problems"] else "error",
               problems=" | ".join(r["problems"]))
    rec.update({f: row.get(f) for f in CSV_FIELDS} if row else {})
    rec.update(cpu_per_request(cpu0, cpu1, n))
    return rec


def report_failure(what, r, argv, t, targets, incidents, ping=None, reported_dead=None):
    """After a failed run (`what`: which) of target t: logs as a PROBLEM, and adds to incidents,
    what the run said (failure_message) and what check_after_failure found."""
    msg = check_after_failure(t, targets, failure_message(what, r, argv), ping=ping,
                              reported_dead=reported_dead)
    log("PROBLEM " + msg)
    incidents.append(msg)


def failure_message(what, r, argv):
    """What a failed run said: its problems, its command and the last lines of its output."""
    return (f"{what}: {'; '.join(r['problems'])}\n  command: {' '.join(argv)}\n"
            "  output (last lines):\n    " + "\n    ".join(r["output"].strip().splitlines()[-8:]))


def check_after_failure(t, targets, msg, ping=None, reported_dead=None):
    """After a failed run of target t (attributes name, port, procs, disabled): which of its
    processes ended (with their log tails; every target depending on one is disabled), or else
    whether t still answers ping(port, timeout=...) (wait_ping by default; disabled if not).
    Returns msg with what was found. The pids of ended processes go into reported_dead."""
    dead = [p for p in t.procs if not p.alive()]
    if dead:
        for p in dead:
            if reported_dead is not None:
                reported_dead.add(p.pid)
            msg += (f"\n  {p.name} (pid {p.pid}) has ended: {describe_exit(p.returncode())}; "
                    "log tail:\n    " + "\n    ".join(p.log_tail(15).splitlines()))
        for other in targets:
            if any(p in dead for p in other.procs):
                other.disabled = "process exited"
    else:
        ok, reply = (ping or wait_ping)(t.port, timeout=10)
        msg += f"\n  a GET through {t.name} afterwards: {'ok' if ok else reply}"
        if not ok:
            t.disabled = "no GET reply after a failed run"
    if t.disabled:
        msg += f"\n  -> {t.name} disabled for the remaining runs ({t.disabled})"
    return msg
