#!/usr/bin/python3
"""How long a primary failover interrupts writes through the proxy (issue 16; see bench/README.md,
"failover-bench.sh").

Started through bench/failover-bench.sh. The scenarios are the sentinel ctest's own (built with
the tests: build/tests/integration/sentinel_tests), each a real primary, replica and three
redis-sentinel processes (or, for `endpoint`, a primary and a replica behind a relay that is
re-pointed) started on free loopback ports, and the proxy under test
(PUPPY_TEST_PROXY_BINARY=--proxy-bin, PUPPY_TEST_PROXY_ARGS=the --proxy-arg values):

- failover: SENTINEL FAILOVER under 20 checked clients (16 one request at a time, 4 pipelining
  16 SETs of 8 KiB and their GETs);
- kill: the primary SIGKILLed under the same load;
- endpoint: a managed endpoint: the replica promoted, the host name's relay re-pointed, the old
  primary answering -READONLY, under the same load;
- one-sentinel: the proxy given one sentinel, which is killed; SENTINEL FAILOVER through a
  sentinel it learned;
- tls: rediss-sentinel:// to TLS data nodes, SENTINEL FAILOVER (no load).

Each scenario asserts what the tests assert (no wrong reply, no unexpected error, no client of a
graceful failover losing its connection); a run whose test fails is reported as a problem. Per
scenario and run the test prints the times from the command (or the kill) to the new primary's
election and to the first write through the proxy that lands on it, and the load's error and
lost-write counts; this script collects them over --rounds interleaved rounds (the order rotating
per round) and reports medians, minimum and maximum.
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

TESTS_BIN = os.path.join(bl.REPO_DIR, "build", "tests", "integration", "sentinel_tests")
PKI_DIR = os.path.join(bl.REPO_DIR, "build", "tests", "tls-pki")

# Scenario -> the Catch test (a name prefix: Catch reads commas in a filter as "or").
SCENARIOS = {
    "failover": "sentinel: SENTINEL FAILOVER under load*",
    "kill": "sentinel: the primary SIGKILLed under load*",
    "endpoint": "managed endpoint: the old primary answers READONLY*",
    "one-sentinel": "sentinel: given one sentinel*",
    "tls": "sentinel: rediss-sentinel*",
}

FIRST_WRITE = re.compile(r"first write on (?:it|the new primary)[^;]*? (\d+) ms after")
ELECTED = re.compile(r"elected (\d+) ms after")
ERRORS = re.compile(r"(\d+) errors")
LOST = re.compile(r"(\d+) lost (?:or refused )?writes")


def number(pattern, text):
    m = pattern.search(text)
    return int(m.group(1)) if m else None


def run_one(a, scenario, log_path):
    """One run of a scenario's test: its figures (a dict) and, if it failed, why."""
    env = dict(os.environ)
    env["PUPPY_TEST_PROXY_BINARY"] = os.path.abspath(a.proxy_bin)
    if a.proxy_arg:
        env["PUPPY_TEST_PROXY_ARGS"] = " ".join(a.proxy_arg)
    started = time.monotonic()
    done = subprocess.run([a.tests_bin, SCENARIOS[scenario]], env=env, capture_output=True,
                          text=True, timeout=a.timeout)
    out = done.stdout + done.stderr
    with open(log_path, "w") as f:
        f.write(out)
    figures = {"scenario": scenario, "elected_ms": number(ELECTED, out),
               "first_write_ms": number(FIRST_WRITE, out), "errors": number(ERRORS, out),
               "lost_writes": number(LOST, out), "seconds": time.monotonic() - started,
               "exit": done.returncode}
    why = None
    if done.returncode != 0:
        why = f"{scenario}: the test failed (exit {done.returncode}; {log_path})"
    elif figures["first_write_ms"] is None:
        why = f"{scenario}: no time printed ({log_path})"
    return figures, why


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return ""
    return f"{bl.median(xs):g} ({min(xs)}-{max(xs)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5); medians over rounds")
    bl.add_list_args(ap, cases=(list(SCENARIOS), "scenarios, a comma list (default all)"))
    ap.add_argument("--tests-bin", default=TESTS_BIN, help=f"the sentinel tests (default {TESTS_BIN})")
    ap.add_argument("--timeout", type=float, default=300, help="kill a run after this many seconds")
    bl.add_proxy_args(ap)
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    for path in (a.tests_bin, a.proxy_bin):
        if not os.access(path, os.X_OK):
            bl.die(f"{path} is missing: build first (./scripts/build.sh)")
    if "tls" in a.cases and not os.path.exists(os.path.join(PKI_DIR, "ca.crt")):
        subprocess.run([os.path.join(bl.REPO_DIR, "tests", "tls", "make_certs.sh"), PKI_DIR],
                       check=True, capture_output=True)

    out_dir, logs, meta = bl.start_results(a, "failover-bench.sh", "failover")
    meta += [f"rounds: {a.rounds}  scenarios: {','.join(a.cases)}", f"tests: {a.tests_bin}"]
    versions = bl.tool_versions(a.proxy_bin, leave_out=("redis-benchmark", "nutcracker", "valgrind"))
    meta += [f"{k}: {v}" for k, v in versions.items()]
    rows, incidents = [], []
    for r in range(a.rounds):
        order = a.cases[r % len(a.cases):] + a.cases[:r % len(a.cases)]
        for scenario in order:
            bl.log(f"round {r + 1}/{a.rounds}: {scenario}")
            figures, why = run_one(a, scenario, os.path.join(logs, f"{scenario}-{r + 1}.log"))
            rows.append(dict(round=r + 1, **figures))
            if why:
                incidents.append(why)
    bl.write_csv(os.path.join(out_dir, "raw.csv"), rows)

    table = []
    for scenario in a.cases:
        mine = [x for x in rows if x["scenario"] == scenario and x["exit"] == 0]
        table.append([scenario, f"{len(mine)}/{a.rounds}",
                      spread([x["elected_ms"] for x in mine]),
                      spread([x["first_write_ms"] for x in mine]),
                      spread([x["errors"] for x in mine]),
                      spread([x["lost_writes"] for x in mine])])
    text = "\n".join([
        "== Failover: ms from the command (kill, promotion) to the new primary's election and to "
        "the first write through the proxy on it; median (min-max) over passing runs",
        bl.format_table(["scenario", "passed", "elected ms", "first write ms", "errors",
                         "lost writes"], table),
        "(errors: the load's error replies and lost connections, all of kinds a failover allows; "
        "lost writes: acknowledged by the old primary after the promotion)",
        *bl.problems_lines(incidents, "every run's test passed"),
    ]) + "\n"
    bl.write_summary(out_dir, text, meta)
    return 1 if incidents else 0


if __name__ == "__main__":
    sys.exit(main())
