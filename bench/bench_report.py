"""Options, results folders and reports of the benchmark scripts (part of benchlib): the shared
command-line options, meta.txt, plain-text tables, CSV files and the summary."""

import argparse
import csv
import datetime
import os
import statistics
import subprocess
import sys

from bench_process import BENCH_DIR, DEFAULT_PROXY_BIN, REPO_DIR, install_cleanup, log

# ---------------------------------------------------------------------------------------------
# an option type, numbers, tables, and the versions of the tools


def csv_list(allowed):
    """argparse type: a comma list of distinct names out of `allowed`."""
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad or not items or len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)} (got {text!r})")
        return items
    return parse


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def round_sig(x, sig=2):
    """Rounds a positive number to `sig` significant digits (for request counts)."""
    if x <= 0:
        return 0
    digits = len(str(int(x))) - sig
    if digits <= 0:
        return int(round(x))
    return int(round(x, -digits))


def format_table(headers, rows, align=None):
    """Plain-text table; align is a string of 'l'/'r' per column (default: first l, rest r)."""
    cols = len(headers)
    align = align or ("l" + "r" * (cols - 1))
    widths = [len(h) for h in headers]
    srows = [[("" if c is None else str(c)) for c in r] for r in rows]
    for r in srows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def fmt(r):
        return "  ".join(c.ljust(widths[i]) if align[i] == "l" else c.rjust(widths[i])
                         for i, c in enumerate(r)).rstrip()

    out = [fmt(headers), "  ".join("-" * w for w in widths)]
    out += [fmt(r) for r in srows]
    return "\n".join(out)


def tool_versions(proxy_bin, leave_out=()):
    """{tool: version line} of the tools the scripts use (without the names in leave_out), the
    kernel, the CPU count and the load average at start."""
    def first_line(argv):
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            return cp.stdout.decode(errors="replace").strip().splitlines()[0]
        except Exception as e:
            return f"? ({e})"

    git = first_line(["git", "-C", REPO_DIR, "describe", "--always", "--dirty"])
    try:
        import hashlib
        with open(proxy_bin, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        built = datetime.datetime.fromtimestamp(os.path.getmtime(proxy_bin)).isoformat(" ", "seconds")
    except OSError:
        digest = built = "?"
    versions = {
        "puppy-proxy": f"{proxy_bin} ({first_line([proxy_bin, '--version'])}, sha256 {digest}, "
                       f"built {built}; work tree: git {git})",
        "redis-server": first_line(["redis-server", "--version"]),
        "redis-benchmark": first_line(["redis-benchmark", "--version"]),
        "nutcracker": first_line(["nutcracker", "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
        "kernel": os.uname().release,
        "cpus": str(os.cpu_count()),
        "loadavg at start": open("/proc/loadavg").read().strip(),
    }
    for k in leave_out:
        versions.pop(k, None)
    return versions


# ---------------------------------------------------------------------------------------------
# the options the scripts share


def add_proxy_args(ap, label=True):
    """The options every script shares: --proxy-bin, --proxy-arg, --results-dir (and --label)."""
    ap.add_argument("--proxy-bin", default=DEFAULT_PROXY_BIN,
                    help=f"puppy-proxy binary (default {DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for puppy-proxy (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--results-dir", default=os.path.join(BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    if label:
        ap.add_argument("--label", default=None, help="suffix for the results folder name")


def add_run_args(ap, targets=None, tests=None, cases=None, pin=None):
    """The options of an interleaved benchmark whose runs calibrate() sizes: --rounds, --seconds,
    --requests (check_run_args checks them); then add_list_args(targets, tests, cases) and, given
    pin (the help of --pin), add_pin_args. A script with options of its own in between calls
    those two itself."""
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5); medians are over rounds")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="aim for about this many seconds per run: a short calibration run per case "
                         "and target sets the request count (default 1.5)")
    ap.add_argument("--requests", type=int, default=None,
                    help="fixed request count for every run (skips calibration)")
    add_list_args(ap, targets, tests, cases)
    if pin:
        add_pin_args(ap, pin)


def check_run_args(ap, a):
    """ap.error unless add_run_args' --rounds and --requests are >= 1."""
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    if a.requests is not None and a.requests < 1:
        ap.error("--requests must be >= 1")


def add_list_args(ap, targets=None, tests=None, cases=None):
    """--targets, --tests, --cases: each one given as (the names allowed, help) is a comma list of
    those names (csv_list), by default all of them."""
    for option, given in (("--targets", targets), ("--tests", tests), ("--cases", cases)):
        if given:
            allowed, help_text = given
            ap.add_argument(option, type=csv_list(allowed), default=list(allowed), help=help_text)


def add_pin_args(ap, help_text):
    """--pin (help_text: what it runs under taskset -c CPU) and --pin-cpu; see pin_mode."""
    ap.add_argument("--pin", action="store_true", help=help_text)
    ap.add_argument("--pin-cpu", type=int, default=0, help="CPU for --pin (default 0)")


def add_timeout_arg(ap, run="a run"):
    """--timeout, for run_timeout (`run`: what it kills)."""
    ap.add_argument("--timeout", type=float, default=None,
                    help=f"kill {run} after this many seconds (default: 20x its expected time, at "
                         "least 60)")


def pin_mode(a):
    """("pinned", the CPU) with add_pin_args' --pin, else ("unpinned", None)."""
    return ("pinned", a.pin_cpu) if a.pin else ("unpinned", None)


def pin_meta(a):
    """The meta.txt line of add_pin_args' options."""
    mode, cpu = pin_mode(a)
    return f"mode: {mode}" + (f" (everything under taskset -c {cpu})" if a.pin else "")


def run_meta(a):
    """The meta.txt lines of add_run_args' options: the mode (--pin), the rounds, the targets,
    tests and cases."""
    return [pin_meta(a), f"rounds: {a.rounds}",
            f"targets: {','.join(a.targets)}  tests: {','.join(a.tests)}  cases: {','.join(a.cases)}"]


# ---------------------------------------------------------------------------------------------
# the results folder: meta.txt, CSV files, the summary


def start_results(a, script, name, label=True):
    """The start of a run: its results folder <--results-dir>/<timestamp>-<name>[-<--label>]
    (make_results_dir; label=False: a script without --label), the clean-up of every process
    started from now on (install_cleanup), and the first line of meta.txt, the command as given
    (bench/<script> and the arguments). Returns (the folder, its logs/ folder, [that line])."""
    out_dir = make_results_dir(a.results_dir, name + (f"-{a.label}" if label and a.label else ""))
    install_cleanup()
    log(f"results: {out_dir}")
    command = " ".join([os.path.join(BENCH_DIR, script)] + sys.argv[1:])
    return out_dir, os.path.join(out_dir, "logs"), [f"command: {command}"]


def problems_lines(incidents, none):
    """The summary's last section: "== Problems (N)" and the incidents, or, with none,
    "== Problems: none (<none>)"."""
    if incidents:
        return [f"== Problems ({len(incidents)})"] + incidents
    return [f"== Problems: none ({none})"]


def write_csv(path, rows, empty_header="test"):
    """rows (dicts with the same keys) as CSV, floats with 4 significant digits; with no rows, a
    header of the one column empty_header."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else [empty_header])
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})


def write_summary(out_dir, text, meta):
    """summary.txt (the text, also printed to stdout) and meta.txt (lines) in out_dir."""
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + f"\nloadavg at end: {open('/proc/loadavg').read().strip()}\n")
    print(text, end="")


def make_results_dir(base, label):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(base, f"{stamp}-{label}")
    n = 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(base, f"{stamp}-{label}-{n}")
    os.makedirs(os.path.join(path, "logs"))
    return path
