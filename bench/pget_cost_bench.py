#!/usr/bin/python3
"""What PGET costs Redis, counted rather than timed (issue 13; see bench/README.md,
"pget-cost-bench.sh").

Started through bench/pget-cost-bench.sh. Three parts, each with its own Redis and puppy-proxy
(cost and waiters by default, cold with --parts):

1. cost: the Redis work behind one fresh hit, for every form of PGET (plain, WAIT, BETA, both),
   for the Python and Node helpers in clients/, and for the references `MGET k puppy:k` (the read
   django-puppy-cache makes) straight to Redis and through the proxy. Per form: CONFIG RESETSTAT,
   --calls calls over --connections connections, then INFO commandstats and INFO cpu read from
   Redis directly. Reported per call: Redis commands executed, microseconds Redis spent executing
   them (commandstats usec) and Redis CPU time (used_cpu_user + used_cpu_sys). Interleaved
   rounds with rotating order; medians over rounds.
2. waiters: --waiters connections wait on one key (`PGET k2 T U WAIT ms`) while one client holds
   the lease; after CONFIG RESETSTAT the holder's PSET goes through the proxy. Reported: the Redis
   commands executed between the PSET and the last waiter's answer (every answer must be `fresh`
   with the value), and the times from the PSET to its reply, the first and the last answer.
3. cold: the Redis work behind one cold miss, over two upstreams, each with puppy-proxy in front:
   one redis-server (`redis`) and a Redis Cluster of three masters (`cluster`). Per upstream and
   round: CONFIG RESETSTAT on every node, --cold-calls `PGET <a key never used before> T U` over
   --connections connections (every reply must be a lease), then INFO commandstats and INFO cpu
   from every node, summed. Reported per miss as in part 1 (without the cluster's CLUSTER and
   COMMAND calls, which read the topology); the upstreams interleaved, the order rotating per
   round; medians over --rounds rounds.
"""

import argparse
import asyncio
import csv
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ALL_FORMS = ["pget", "pget-wait", "pget-beta", "pget-wait-beta", "python-helper", "node-helper",
             "mget-direct", "mget-proxy", "seed-pget", "seed-pget-beta"]
ALL_PARTS = ["cost", "waiters", "cold"]
DEFAULT_PARTS = ["cost", "waiters"]
STATUS_PREFIX = "puppy:"  # puppy-proxy's default --pget-status-prefix, django-puppy-cache's naming
PYTHON_CLIENT_DIR = os.path.join(bl.REPO_DIR, "clients", "python")
NODE_HELPER = os.path.join(bl.REPO_DIR, "clients", "node", "puppy-cache.js")
NODE_MODULES = os.path.join(bl.REPO_DIR, "tests", "clients", "node", "node_modules")
RAW_FIELDS = ["round", "position", "form", "calls", "loadavg", "wall_s", "redis_cmds", "redis_usec",
              "redis_cpu_us", "cmds_per_call", "usec_per_call", "cpu_us_per_call", "commands",
              "status", "problems"]


def parse_args():
    ap = argparse.ArgumentParser(
        prog="pget-cost-bench.sh",
        description="Redis commands, commandstats usec and Redis CPU per PGET fresh hit in every "
                    "form, against one MGET of two keys; and the Redis commands behind waking "
                    "a thousand waiters; and the Redis commands behind a cold miss, over one "
                    "redis-server and over a Redis Cluster.")
    ap.add_argument("--parts", type=bl.csv_list(ALL_PARTS), default=DEFAULT_PARTS,
                    help="comma list of cost, waiters, cold (default cost,waiters)")
    ap.add_argument("--forms", type=bl.csv_list(ALL_FORMS), default=ALL_FORMS,
                    help="comma list of " + ",".join(ALL_FORMS) + " (default all; mget-direct, "
                         "the reference, is always run)")
    ap.add_argument("--calls", type=int, default=20000, help="calls per form and round (20000)")
    ap.add_argument("--connections", type=int, default=50,
                    help="client connections per form (default 50; the Node helper: one ioredis "
                         "client each, the Python helper: threads sharing one pooled client)")
    ap.add_argument("--pipeline", type=int, default=1,
                    help="requests written at once per connection by the raw-socket forms "
                         "(default 1; the helpers never pipeline)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the cost and cold parts (default 3)")
    ap.add_argument("--cold-calls", type=int, default=2000,
                    help="cold misses (PGETs of new keys) per upstream and round (2000)")
    ap.add_argument("--key", default="pget-cost:k", help="the key of the cost part")
    ap.add_argument("--timeout-s", type=int, default=300, help="PGET/PSET timeout (300)")
    ap.add_argument("--update-time", type=int, default=30, help="PGET/PSET update_time (30)")
    ap.add_argument("--wait-ms", type=int, default=5000, help="WAIT of the *-wait forms (5000)")
    ap.add_argument("--waiters", type=int, default=1000, help="waiting connections (1000)")
    ap.add_argument("--waiter-wait-ms", type=int, default=20000, help="their WAIT (20000)")
    ap.add_argument("--waiter-rounds", type=int, default=3,
                    help="rounds of the waiters part, each on a key of its own (default 3)")
    ap.add_argument("--run-timeout", type=float, default=300.0,
                    help="give up a form's run (or a waiters round) after this many seconds")
    ap.add_argument("--node", default="node", help="node binary for the Node helper")
    bl.add_proxy_args(ap)
    a = ap.parse_args()
    for name in ("calls", "cold_calls", "connections", "pipeline", "rounds", "waiters",
                 "waiter_rounds", "timeout_s", "update_time"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= a.wait_ms <= a.update_time * 1000 or \
            not 0 < a.waiter_wait_ms <= a.update_time * 1000:
        ap.error("--wait-ms and --waiter-wait-ms must be at most --update-time * 1000")
    if "mget-direct" not in a.forms:
        a.forms.append("mget-direct")
    a.forms = [f for f in ALL_FORMS if f in a.forms]
    return a


# ---------------------------------------------------------------------------------------------
# the forms of part 1


class Form:
    """One way of reading the fresh value. kind: raw (this script's asyncio client sends
    `command`), python or node (the helper's get()). to: proxy or redis."""

    def __init__(self, name, kind, to, command=None, sends=None):
        self.name, self.kind, self.to, self.command = name, kind, to, command
        self.sends = sends or " ".join(command)


def make_forms(a):
    k, ks, t, u = a.key, a.key + ":seeded", str(a.timeout_s), str(a.update_time)
    pget, seed = ["PGET", k, t, u], ["PGET", ks, t, u]
    wait, beta = ["WAIT", str(a.wait_ms)], ["BETA", "1"]
    helper_wait = min(30000, a.update_time * 1000)  # the helpers' default wait (no socket timeout)
    forms = {
        "pget": Form("pget", "raw", "proxy", pget),
        "pget-wait": Form("pget-wait", "raw", "proxy", pget + wait),
        "pget-beta": Form("pget-beta", "raw", "proxy", pget + beta),
        "pget-wait-beta": Form("pget-wait-beta", "raw", "proxy", pget + wait + beta),
        "python-helper": Form("python-helper", "python", "proxy",
                              sends=f"PuppyCache.get: PGET {k} {t} {u} WAIT {helper_wait}"),
        "node-helper": Form("node-helper", "node", "proxy",
                            sends=f"PuppyCache.get: PGET {k} {t} {u} (WAIT only after a miss)"),
        "mget-direct": Form("mget-direct", "raw", "redis", ["MGET", k, STATUS_PREFIX + k],
                            sends=f"MGET {k} {STATUS_PREFIX + k} (django-puppy-cache's read; "
                                  "the reference)"),
        "mget-proxy": Form("mget-proxy", "raw", "proxy", ["MGET", k, STATUS_PREFIX + k]),
        "seed-pget": Form("seed-pget", "raw", "proxy", seed),
        "seed-pget-beta": Form("seed-pget-beta", "raw", "proxy", seed + beta),
    }
    return [forms[n] for n in a.forms]


def bulk_array(items):
    """RESP array of bulk strings, None as nil: the exact reply bytes a check expects."""
    out = [b"*%d\r\n" % len(items)]
    for x in items:
        out.append(b"$-1\r\n" if x is None else b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)


def refresh(a, redis_port, proxy_port, value):
    """Makes both keys fresh again (freshness starts now, so a round never outlives it): the
    PSET-made key through the proxy (PINVALIDATE, lease, PSET), and the seeded key as
    django-puppy-cache writes it (value, and status `current`). Returns the expected replies
    {form command key: bytes}."""
    bl.call_once(proxy_port, "PINVALIDATE", a.key)
    problems = bl.make_fresh(proxy_port, a.key, value, a.timeout_s, a.update_time)
    if problems:
        bl.die("could not make the key fresh: " + "; ".join(problems))
    seeded = a.key + ":seeded"
    for k, v in ((seeded, value), (STATUS_PREFIX + seeded, b"current")):
        if bl.call_once(redis_port, "SET", k, v, "EX", a.timeout_s) != "OK":
            bl.die(f"SET {k} failed")
    status = bl.call_once(redis_port, "GET", STATUS_PREFIX + a.key)
    return {"PGET": bulk_array([b"fresh", value, None]), "MGET": bulk_array([value, status])}


# ---------------------------------------------------------------------------------------------
# load generators: each gets start(), called once every connection is open, right before the
# measured calls, and returns dict(calls=<answered as expected>, wall_s=..., problems=[...])


def split(calls, conns):
    return [calls // conns + (1 if i < calls % conns else 0) for i in range(conns)]


async def _raw_conn(reader, writer, requests, check, pipeline):
    """Sends the encoded requests (`pipeline` at a time) and check(reply) -> a problem or None
    for each reply; stops at the first problem. Returns (replies that passed, problems)."""
    done, problems = 0, []
    while done < len(requests) and not problems:
        k = min(pipeline, len(requests) - done)
        writer.write(b"".join(requests[done:done + k]))
        for _ in range(k):
            problem = check(await bl.read_reply_async(reader))
            if problem:
                problems.append(problem)
                break
            done += 1
    writer.close()
    return done, problems


async def _raw_run(port, conn_requests, check, a, start):
    """One connection per list of encoded requests in conn_requests (see _raw_conn)."""
    conns = [await asyncio.open_connection(bl.HOST, port) for _ in conn_requests]
    start()
    t0 = time.monotonic()
    jobs = [_raw_conn(r, w, requests, check, a.pipeline)
            for (r, w), requests in zip(conns, conn_requests)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*jobs), a.run_timeout)
    except asyncio.TimeoutError:
        return dict(calls=0, wall_s=time.monotonic() - t0,
                    problems=[f"no end after {a.run_timeout:.0f}s (a reply never came?)"])
    return dict(calls=sum(d for d, _ in results), wall_s=time.monotonic() - t0,
                problems=sorted({p for _, ps in results for p in ps}))


def run_raw(port, command, expected, a, start):
    """--calls of the same command over --connections connections; every reply must be
    `expected` (bytes)."""
    request = bl.encode_command(*command)

    def check(got):
        return None if got == expected else f"unexpected reply {got[:200]!r}, expected {expected!r}"

    return asyncio.run(_raw_run(port, [[request] * n for n in split(a.calls, a.connections)],
                                check, a, start))


def run_python_helper(port, key, value, a, start):
    """Threads (one per connection) calling PuppyCache.get on one pooled redis.Redis, as
    clients/README.md shows it. Each thread's first call (before start) opens its connection."""
    if PYTHON_CLIENT_DIR not in sys.path:
        sys.path.insert(0, PYTHON_CLIENT_DIR)
    import redis
    from puppy_cache import PuppyCache
    cache = PuppyCache(redis.Redis(host=bl.HOST, port=port), timeout=a.timeout_s,
                       update_time=a.update_time)
    ready, go = threading.Barrier(a.connections + 1), threading.Event()
    done, problems = [0] * a.connections, []

    def compute():
        raise RuntimeError("compute() called: the key was not fresh")

    def worker(i, calls):
        try:
            cache.get(key, compute)
            ready.wait()
            go.wait()
            for _ in range(calls):
                got = cache.get(key, compute)
                if got != value:
                    raise RuntimeError(f"get() returned {got!r}, expected {value!r}")
                done[i] += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported
            problems.append(f"{type(e).__name__}: {e}")
            ready.abort()

    threads = [threading.Thread(target=worker, args=(i, n), daemon=True)
               for i, n in enumerate(split(a.calls, a.connections))]
    for t in threads:
        t.start()
    try:
        ready.wait(a.run_timeout)
    except threading.BrokenBarrierError:
        return dict(calls=0, wall_s=0.0, problems=problems or ["threads did not start"])
    start()
    t0 = time.monotonic()
    go.set()
    for t in threads:
        t.join(max(1.0, t0 + a.run_timeout - time.monotonic()))
    if any(t.is_alive() for t in threads):
        problems.append(f"threads still running after {a.run_timeout:.0f}s")
    cache.redis.connection_pool.disconnect()
    return dict(calls=sum(done), wall_s=time.monotonic() - t0, problems=sorted(set(problems)))


# The Node helper's load: one ioredis client (and PuppyCache) per connection, each awaiting its
# calls one after another. One warm-up get() per client, then "ready"; the calls start on a line
# on stdin; the result is one JSON line.
NODE_SCRIPT = r"""
'use strict';
const Redis = require('ioredis');
const { PuppyCache } = require(process.env.PUPPY_CACHE_JS);
const cfg = JSON.parse(process.argv[2]);
const expected = Buffer.from(cfg.value, 'hex');
const compute = () => { throw new Error('compute() called: the key was not fresh'); };

async function calls(cache, n, out) {
  for (let i = 0; i < n; i++) {
    const got = await cache.get(cfg.key, compute);
    if (!expected.equals(got)) throw new Error(`get() returned ${String(got)}`);
    out.calls++;
  }
}

async function main() {
  const clients = cfg.split.map(() => new Redis({ host: cfg.host, port: cfg.port }));
  const caches = clients.map((r) => new PuppyCache(r, { timeout: cfg.timeout, updateTime: cfg.updateTime }));
  await Promise.all(caches.map((c) => c.get(cfg.key, compute)));
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.destroy();
  const out = { calls: 0, problems: [] };
  const t0 = process.hrtime.bigint();
  const settled = await Promise.allSettled(caches.map((c, i) => calls(c, cfg.split[i], out)));
  out.wall_s = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of settled) if (s.status === 'rejected') out.problems.push(String(s.reason));
  out.problems = [...new Set(out.problems)];
  process.stdout.write(JSON.stringify(out) + '\n');
  await Promise.all(caches.map((c) => c.close()));
  clients.forEach((r) => r.disconnect());
}
main().catch((e) => {
  process.stdout.write(JSON.stringify({ calls: 0, wall_s: 0, problems: [String(e)] }) + '\n');
  process.exit(1);
});
"""


def _read_line(proc, timeout):
    """A line from proc's stdout within timeout seconds, or '' (end or time-out)."""
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode(errors="replace").strip() if r else ""


def run_node_helper(port, key, value, a, start, work_dir):
    script = os.path.join(work_dir, "pget_cost_node.js")
    with open(script, "w") as f:
        f.write(NODE_SCRIPT)
    cfg = dict(host=bl.HOST, port=port, key=key, value=value.hex(), timeout=a.timeout_s,
               updateTime=a.update_time, split=split(a.calls, a.connections))
    env = dict(os.environ, NODE_PATH=NODE_MODULES, PUPPY_CACHE_JS=NODE_HELPER)
    with open(os.path.join(work_dir, "node-helper.log"), "ab") as err:
        proc = subprocess.Popen([a.node, script, json.dumps(cfg)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=env)
    try:
        line = _read_line(proc, 60)
        if line != "ready":
            return dict(calls=0, wall_s=0.0, problems=[f"node helper did not start: {line!r}"])
        start()
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        line = _read_line(proc, a.run_timeout)
        try:
            return json.loads(line)
        except ValueError:
            return dict(calls=0, wall_s=0.0, problems=[f"node helper answered {line!r}"])
    finally:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# measuring: CONFIG RESETSTAT and a CPU reading at start(), INFO commandstats + cpu afterwards


def counted(commandstats):
    """commandstats without the measurement's own commands (INFO, CONFIG RESETSTAT)."""
    return bl.counted_commands(commandstats)


def redis_cpu_s(info):
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def reset_and_read_cpu(redis_port):
    if bl.call_once(redis_port, "CONFIG", "RESETSTAT") != "OK":
        bl.die("CONFIG RESETSTAT failed")
    return redis_cpu_s(bl.redis_info(redis_port, "cpu"))


def measure(redis_ports, runner, also=()):
    """Runs runner(start) and adds what the servers redis_ports (one redis-server, or a cluster's
    nodes) did from start() on, summed over them: commands {name: (calls, usec)} (without those
    whose names start with one of `also`), cmds, usec, cpu_us."""
    mark = {}

    def start():
        mark["cpu"] = sum(reset_and_read_cpu(port) for port in redis_ports)

    res = runner(start)
    infos = [bl.redis_info(port, "commandstats", "cpu") for port in redis_ports]
    if "cpu" not in mark:
        return res
    res["commands"] = bl.sum_commandstats(
        bl.counted_commands(bl.parse_commandstats(info), also) for info in infos)
    res["cmds"] = sum(c for c, _ in res["commands"].values())
    res["usec"] = sum(u for _, u in res["commands"].values())
    res["cpu_us"] = (sum(redis_cpu_s(info) for info in infos) - mark["cpu"]) * 1e6
    return res


def commands_text(commands, calls=None):
    """'mget 1 + evalsha 1' style, most frequent first: per call, or counts without calls."""
    items = sorted(commands.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if not items:
        return "-"
    return " + ".join(f"{name} {c / calls:.3g}" if calls else f"{name} {c}"
                      for name, (c, _) in items)


def run_form(f, a, ports, value, expected, logs):
    port = ports[f.to]
    if f.kind == "python":
        def runner(start):
            return run_python_helper(port, a.key, value, a, start)
    elif f.kind == "node":
        def runner(start):
            return run_node_helper(port, a.key, value, a, start, logs)
    else:
        def runner(start):
            return run_raw(port, f.command, expected[f.command[0]], a, start)
    return measure([ports["redis"]], runner)


# ---------------------------------------------------------------------------------------------
# part 1: cost per fresh hit


def record(rnd, pos, f, res, calls):
    ok = res.get("calls") == calls and not res.get("problems") and "cmds" in res
    rec = dict(round=rnd, position=pos, form=f.name, calls=res.get("calls"),
               loadavg=open("/proc/loadavg").read().split()[0],
               wall_s=f"{res.get('wall_s', 0):.3f}", status="ok" if ok else "error",
               problems=" | ".join(res.get("problems") or ([] if ok else ["incomplete"])))
    if "cmds" in res and res.get("calls"):
        n = res["calls"]
        rec.update(redis_cmds=res["cmds"], redis_usec=res["usec"],
                   redis_cpu_us=f"{res['cpu_us']:.0f}", cmds_per_call=res["cmds"] / n,
                   usec_per_call=res["usec"] / n, cpu_us_per_call=res["cpu_us"] / n,
                   commands=commands_text(res["commands"], n))
    return rec


def interleaved(a, path, forms, calls, start_round, run, incidents):
    """--rounds rounds of every form, the order rotated by one each round: start_round(round),
    then per form run(round, form) (a measure() result of `calls` calls), one row of path (a
    RAW_FIELDS CSV) each. Returns the records."""
    records = []
    with open(path, "w", newline="") as raw_file:
        raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
        raw.writeheader()
        for rnd in range(1, a.rounds + 1):
            start_round(rnd)
            k = (rnd - 1) % len(forms)
            for pos, f in enumerate(forms[k:] + forms[:k]):
                rec = record(rnd, pos, f, run(rnd, f), calls)
                raw.writerow({key: (f"{v:.4f}" if isinstance(v, float) else v)
                              for key, v in rec.items()})
                raw_file.flush()
                records.append(rec)
                if rec["status"] != "ok":
                    incidents.append(f"round {rnd} {f.name}: {rec['problems']}")
                    bl.log(f"PROBLEM round {rnd} {f.name}: {rec['problems']}")
                    continue
                bl.log(f"round {rnd} {f.name:15s} {rec['cmds_per_call']:.3f} cmds/call  "
                       f"{rec['usec_per_call']:.3f} usec/call  {rec['cpu_us_per_call']:.2f} "
                       f"CPU us/call  ({rec['commands']}; {float(rec['wall_s']):.1f}s)")
    return records


def cost_part(a, out_dir, logs, value, incidents):
    """Runs every form --rounds times (order rotated per round). Returns (forms, records)."""
    redis, rport = bl.start_redis(logs, "redis")
    pp, pport = bl.start_puppy(a.proxy_bin, rport, logs, "puppy", extra_args=a.proxy_arg)
    bl.log(f"cost: redis-server port {rport}, puppy-proxy port {pport}")
    ports = {"redis": rport, "proxy": pport}
    forms, expected = make_forms(a), {}

    def start_round(_rnd):
        expected.update(refresh(a, rport, pport, value))

    def run(_rnd, f):
        return run_form(f, a, ports, value, expected, logs)

    records = interleaved(a, os.path.join(out_dir, "cost-raw.csv"), forms, a.calls, start_round,
                          run, incidents)
    bl.finish_proxy(pp, incidents)
    bl.stop_process(redis)
    return forms, records


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(x, ref):
    return None if x is None or not ref else x / ref


def form_medians(f, records):
    recs = [r for r in records if r["form"] == f.name and r["status"] == "ok"]
    usec = [r["usec_per_call"] for r in recs]
    cpu = [r["cpu_us_per_call"] for r in recs]
    return dict(ok=len(recs), cmds=bl.median([r["cmds_per_call"] for r in recs]),
                usec=bl.median(usec), usec_range=span(usec), cpu=bl.median(cpu),
                cpu_range=span(cpu), commands=recs[len(recs) // 2]["commands"] if recs else "-")


def span(xs, spec=".3g"):
    return f"{fmt(min(xs), spec)}-{fmt(max(xs), spec)}" if xs else "-"


def cost_summary(a, forms, records):
    med = {f.name: form_medians(f, records) for f in forms}
    ref, ref_proxy = med["mget-direct"], med.get("mget-proxy", {})
    rows = []
    for f in forms:
        m = med[f.name]
        rows.append([f.name, f.to, f"{m['ok']}/{a.rounds}", fmt(m["cmds"], ".3f"),
                     fmt(m["usec"], ".3f"), m["usec_range"], fmt(ratio(m["usec"], ref["usec"]), ".2f"),
                     fmt(ratio(m["usec"], ref_proxy.get("usec")), ".2f"), fmt(m["cpu"], ".2f"),
                     m["cpu_range"], fmt(ratio(m["cpu"], ref["cpu"]), ".2f"), m["commands"]])
    table = bl.format_table(
        ["form", "to", "ok", "cmds/call", "usec/call", "usec range", "/MGET", "/proxy MGET",
         "CPU us/call", "CPU range", "CPU/MGET", "Redis commands per call"], rows,
        align="llrrrrrrrrrl")
    legend = [f"  {f.name:15s} {f.sends}" for f in forms]
    return [f"PART 1: what a fresh hit costs Redis ({a.calls:,} calls per form and round over "
            f"{a.connections} connections, pipeline {a.pipeline}; {a.rounds} rounds, medians)",
            "", table, "",
            "cmds/call = Redis commands executed per call (INFO commandstats, without INFO/CONFIG; "
            "commands a script calls count too); usec/call = their commandstats usec (time spent "
            "executing them); /MGET, /proxy MGET = usec/call over mget-direct's, mget-proxy's; "
            "CPU us/call = Redis CPU time (used_cpu_user + used_cpu_sys) per call, which also "
            "counts reading, parsing and answering requests, so it depends on how many requests "
            "arrive per read (direct: one per connection; through the proxy: batched on shared "
            "connections) and moves with machine load; ranges are min-max over rounds",
            "", "forms (what each call sends):"] + legend


# ---------------------------------------------------------------------------------------------
# part 2: a thousand waiters on one key


def pget_waits(proxy_port):
    """puppy_pget_waits_total from PUPPY STATS (PGET ... WAIT requests that began waiting)."""
    return bl.puppy_stat(proxy_port, "puppy_pget_waits_total")


async def _open_many(port, n, batch=200):
    conns = []
    for i in range(0, n, batch):
        conns += await asyncio.gather(*[asyncio.open_connection(bl.HOST, port)
                                        for _ in range(min(batch, n - i))])
    return conns


async def _timed_reply(reader):
    reply = await bl.read_reply_async(reader)
    return time.monotonic(), reply


async def _until_waiting(proxy_port, target, answers, timeout):
    """Polls puppy_pget_waits_total until it reaches target. Returns a problem or None."""
    deadline = time.monotonic() + timeout
    while pget_waits(proxy_port) < target:
        early = [t.result()[1] for t in answers if t.done() and not t.exception()]
        if early or time.monotonic() > deadline:
            return f"waiters not all waiting: {len(early)} answered early, e.g. {early[:1]!r}"
        await asyncio.sleep(0.02)
    return None


def take_lease(a, pport, key):
    """The token of a new key's lease, taken through the proxy; dies if there is none."""
    lease = bl.call_once(pport, "PGET", key, a.timeout_s, a.update_time)
    if not (isinstance(lease, list) and lease[0] == b"lease" and lease[2]):
        bl.die(f"PGET {key} on a new key answered {lease!r}, expected a lease")
    return lease[2]


def pset_alone(a, rport, pport, key, value):
    """The Redis commands of a PSET that nobody waits for: the PSET's own share of a round."""
    token = take_lease(a, pport, key)
    reset_and_read_cpu(rport)
    if bl.call_once(pport, "PSET", key, token, value, a.timeout_s, a.update_time) != 1:
        bl.die(f"PSET {key} was refused")
    return counted(bl.parse_commandstats(bl.redis_info(rport, "commandstats")))


async def _waiters_round(a, rport, pport, key, value):
    token = take_lease(a, pport, key)
    conns = await _open_many(pport, a.waiters)
    holder_r, holder_w = await asyncio.open_connection(bl.HOST, pport)
    base = pget_waits(pport)
    request = bl.encode_command("PGET", key, a.timeout_s, a.update_time, "WAIT", a.waiter_wait_ms)
    for _, w in conns:
        w.write(request)
    answers = [asyncio.ensure_future(_timed_reply(r)) for r, _ in conns]
    res = dict(problems=[])
    problem = await _until_waiting(pport, base + a.waiters, answers, a.run_timeout)
    if problem:
        res["problems"].append(problem)
    res["redis_clients"] = int(bl.redis_info(rport, "clients")["connected_clients"])
    cpu0 = reset_and_read_cpu(rport)
    t0 = time.monotonic()
    holder_w.write(bl.encode_command("PSET", key, token, value, a.timeout_s, a.update_time))
    pset = await bl.read_reply_async(holder_r)
    res["pset_ms"] = (time.monotonic() - t0) * 1e3
    try:
        done = await asyncio.wait_for(asyncio.gather(*answers), a.run_timeout)
    except asyncio.TimeoutError:
        done = [t.result() for t in answers if t.done() and not t.exception()]
        res["problems"].append(f"only {len(done)} of {a.waiters} answered")
    info = bl.redis_info(rport, "commandstats", "cpu")
    for _, w in conns + [(None, holder_w)]:
        w.close()
    fresh = bulk_array([b"fresh", value, None])
    wrong = [reply for _, reply in done if reply != fresh]
    if pset != b":1\r\n" or wrong:
        res["problems"].append(f"PSET answered {pset!r}; {len(wrong)} waiter(s) answered other "
                               f"than {fresh!r}, e.g. {wrong[:1]!r}")
    times = sorted((t - t0) * 1e3 for t, _ in done)
    res.update(answered=len(done) - len(wrong), first_ms=times[0] if times else None,
               median_ms=bl.median(times), last_ms=times[-1] if times else None,
               commands=counted(bl.parse_commandstats(info)),
               cpu_ms=(redis_cpu_s(info) - cpu0) * 1e3)
    return res


WAITER_FIELDS = ["round", "waiters", "answered", "redis_clients", "pset_ms", "first_ms",
                 "median_ms", "last_ms", "redis_cmds", "commands", "pset_alone", "cpu_ms",
                 "problems"]


def waiter_csv_row(rnd, a, res):
    row = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in res.items()
           if k in WAITER_FIELDS}
    row.update(round=rnd, waiters=a.waiters, problems=" | ".join(res["problems"]))
    for k in ("commands", "pset_alone"):
        if k in res:
            row[k] = commands_text(res[k])
    if "commands" in res:
        row["redis_cmds"] = sum_calls(res)
    return row


def waiters_part(a, out_dir, logs, value, incidents):
    """--waiter-rounds rounds, each on a key of its own. Returns the round results."""
    redis, rport = bl.start_redis(logs, "redis-w")
    pp, pport = bl.start_puppy(a.proxy_bin, rport, logs, "puppy-w", extra_args=a.proxy_arg)
    bl.log(f"waiters: redis-server port {rport}, puppy-proxy port {pport}")
    results = []
    raw_file = open(os.path.join(out_dir, "waiters-raw.csv"), "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=WAITER_FIELDS)
    raw.writeheader()
    for rnd in range(1, a.waiter_rounds + 1):
        res = asyncio.run(_waiters_round(a, rport, pport, f"{a.key}2:r{rnd}", value))
        res["pset_alone"] = pset_alone(a, rport, pport, f"{a.key}2:r{rnd}:alone", value)
        results.append(res)
        raw.writerow(waiter_csv_row(rnd, a, res))
        if res["problems"]:
            incidents += [f"waiters round {rnd}: {p}" for p in res["problems"]]
            bl.log(f"PROBLEM waiters round {rnd}: {'; '.join(res['problems'])}")
        if "commands" in res:
            bl.log(f"waiters round {rnd}: {res['answered']} fresh, last answer after "
                   f"{res['last_ms']:.1f} ms, Redis commands: {sum_calls(res)} "
                   f"({commands_text(res['commands'])})")
    raw_file.close()
    bl.finish_proxy(pp, incidents)
    bl.stop_process(redis)
    return results


def sum_calls(res):
    return sum(c for c, _ in res["commands"].values())


def waiters_summary(a, results):
    rows, per_round = [], []
    for i, r in enumerate(results, 1):
        if "commands" not in r:
            rows.append([str(i), "failed"] + [""] * 9)
            continue
        usec = sum(u for _, u in r["commands"].values())
        own = sum(c for c, _ in r["pset_alone"].values())
        vals = dict(answered=r["answered"], clients=r["redis_clients"], pset=r["pset_ms"],
                    first=r["first_ms"], median=r["median_ms"], last=r["last_ms"],
                    cmds=sum_calls(r), waiter_cmds=sum_calls(r) - own, usec=usec, cpu=r["cpu_ms"])
        per_round.append(vals)
        rows.append(waiters_row(str(i), vals, commands_text(r["commands"]), a.waiters))
    if per_round:
        med = {k: bl.median([v[k] for v in per_round]) for k in per_round[0]}
        rows.append(waiters_row("median", med, "", a.waiters))
    table = bl.format_table(
        ["round", "fresh", "Redis clients", "PSET ms", "first ms", "median ms", "last ms",
         "Redis cmds", "per waiter", "usec", "CPU ms", "Redis commands, PSET to last answer"],
        rows, align="lrrrrrrrrrrl")
    alone = [commands_text(r["pset_alone"]) for r in results if r.get("pset_alone")]
    return [f"PART 2: {a.waiters:,} waiters (PGET k2 {a.timeout_s} {a.update_time} WAIT "
            f"{a.waiter_wait_ms}) woken by one PSET through the proxy; {a.waiter_rounds} rounds",
            "", table, "",
            "fresh = waiters answered `fresh` with the value; Redis clients = connected_clients of "
            "redis-server while they wait; times from writing the PSET: its reply, the first, "
            "median and last waiter's answer; Redis cmds / usec / CPU ms = commands executed "
            "(commandstats, without INFO/CONFIG), their commandstats usec and Redis CPU time "
            "from the PSET to the last answer; per waiter = (Redis cmds - the PSET's own) / "
            "waiters, where the PSET's own commands are those of a PSET nobody waits for: "
            + (alone[0] if alone else "-")]


def waiters_row(name, v, commands, waiters):
    return [name, f"{v['answered']:.0f}", f"{v['clients']:.0f}", fmt(v["pset"], ".1f"),
            fmt(v["first"], ".1f"), fmt(v["median"], ".1f"), fmt(v["last"], ".1f"),
            f"{v['cmds']:.0f}", f"{v['waiter_cmds'] / waiters:.3f}", f"{v['usec']:.0f}",
            fmt(v["cpu"], ".1f"), commands]


# ---------------------------------------------------------------------------------------------
# part 3: a cold miss, over one redis-server and over a Redis Cluster


def lease_problem(got):
    """None if the reply bytes got are a RESP array whose first element is the bulk string
    `lease`, else the problem."""
    head, _, rest = got.partition(b"\r\n")
    if head[:1] == b"*" and int(head[1:]) >= 1 and rest.startswith(b"$5\r\nlease\r\n"):
        return None
    return f"unexpected reply {got[:200]!r}, expected a lease"


def run_cold(port, prefix, a, start):
    """--cold-calls PGETs of keys never used before (prefix:0, prefix:1, ...) over --connections
    connections; every reply must be a lease."""
    conn_requests, n = [], 0
    for calls in split(a.cold_calls, a.connections):
        conn_requests.append([bl.encode_command("PGET", f"{prefix}:{i}", a.timeout_s, a.update_time)
                              for i in range(n, n + calls)])
        n += calls
    return asyncio.run(_raw_run(port, conn_requests, lease_problem, a, start))


def cold_part(a, out_dir, logs, incidents):
    """A cold miss on each upstream, --rounds times (order rotated per round), each round on
    keys of its own. Returns (upstreams, records)."""
    redis, rport = bl.start_redis(logs, "redis-c")
    pp, pport = bl.start_puppy(a.proxy_bin, rport, logs, "puppy-c", extra_args=a.proxy_arg)
    nodes = bl.start_redis_cluster(logs, 3)
    node_ports = [port for _, port in nodes]
    ppc, cport = bl.start_puppy_cluster(a.proxy_bin, node_ports, logs, "puppy-cluster",
                                        extra_args=a.proxy_arg)
    bl.log(f"cold: redis-server port {rport}, puppy-proxy port {pport}; cluster nodes ports "
           f"{','.join(map(str, node_ports))}, puppy-proxy port {cport}")
    sends = f"PGET <a new key> {a.timeout_s} {a.update_time} through puppy-proxy"
    upstreams = [Form("redis", "raw", "proxy", sends=f"{sends} over one redis-server"),
                 Form("cluster", "raw", "proxy",
                      sends=f"{sends} over a Redis Cluster of 3 masters (no replicas)")]
    where = {"redis": (pport, [rport]), "cluster": (cport, node_ports)}

    def run(rnd, f):
        proxy_port, redis_ports = where[f.name]
        return measure(redis_ports,
                       lambda start: run_cold(proxy_port, f"{a.key}:cold:r{rnd}:{f.name}", a, start),
                       also=bl.CLUSTER_TOPOLOGY_COMMANDS)

    records = interleaved(a, os.path.join(out_dir, "cold-raw.csv"), upstreams, a.cold_calls,
                          lambda _rnd: None, run, incidents)
    for p in (pp, ppc):
        bl.finish_proxy(p, incidents)
    for p in [redis] + [p for p, _ in nodes]:
        bl.stop_process(p)
    return upstreams, records


def cold_summary(a, upstreams, records):
    rows = []
    for f in upstreams:
        m = form_medians(f, records)
        rows.append([f.name, f"{m['ok']}/{a.rounds}", fmt(m["cmds"], ".3f"), fmt(m["usec"], ".3f"),
                     m["usec_range"], fmt(m["cpu"], ".2f"), m["cpu_range"], m["commands"]])
    table = bl.format_table(
        ["upstream", "ok", "cmds/miss", "usec/miss", "usec range", "CPU us/miss", "CPU range",
         "Redis commands per miss"], rows, align="lrrrrrrl")
    return [f"PART 3: what a cold miss costs Redis ({a.cold_calls:,} PGETs of new keys per "
            f"upstream and round over {a.connections} connections, pipeline {a.pipeline}; "
            f"{a.rounds} rounds, medians)",
            "", table, "",
            "every reply a lease; counted over every node of the upstream, summed, as in part 1 "
            "(commands a script calls count too), without INFO/CONFIG and the cluster's "
            "CLUSTER/COMMAND calls (topology); CPU us/miss = Redis CPU time of all nodes, idle "
            "cron included; ranges are min-max over rounds",
            "", "upstreams (what each call sends):"] + [f"  {f.name:8s} {f.sends}" for f in upstreams]


# ---------------------------------------------------------------------------------------------


def check_tools(a):
    for tool in ["redis-server"] + ([a.node] if "node-helper" in a.forms else []) + \
            (["redis-cli"] if "cold" in a.parts else []):
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")
    if "node-helper" in a.forms and not os.path.isdir(os.path.join(NODE_MODULES, "ioredis")):
        bl.die(f"ioredis not found in {NODE_MODULES} (npm ci there, or leave out node-helper)")


def main():
    a = parse_args()
    check_tools(a)
    bl.raise_nofile(a.waiters + 256)
    out_dir, logs, meta = bl.start_results(a, "pget-cost-bench.sh", "pget-cost")
    versions = bl.tool_versions(a.proxy_bin, leave_out=("nutcracker", "valgrind", "redis-benchmark"))
    meta += [f"{k}: {v}" for k, v in versions.items()]
    value, incidents, out = b"val", [], []
    t0 = time.monotonic()
    if "cost" in a.parts:
        forms, records = cost_part(a, out_dir, logs, value, incidents)
        out += cost_summary(a, forms, records) + [""]
    if "waiters" in a.parts:
        out += waiters_summary(a, waiters_part(a, out_dir, logs, value, incidents)) + [""]
    if "cold" in a.parts:
        out += cold_summary(a, *cold_part(a, out_dir, logs, incidents)) + [""]
    out.append(f"puppy-proxy: {versions['puppy-proxy']}")
    out.append(f"{time.monotonic() - t0:.0f}s; load average at start {versions['loadavg at start']}"
               f", at end {open('/proc/loadavg').read().strip()}; results in {out_dir}")
    if incidents:
        out += ["", f"PROBLEMS ({len(incidents)}):"] + [f"  - {i}" for i in incidents]
    text = "\n".join(out) + "\n"
    bl.write_summary(out_dir, text, meta)
    return 1 if incidents else 0


if __name__ == "__main__":
    sys.exit(main())
