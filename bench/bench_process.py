"""Paths, logging and the processes of a benchmark run (part of benchlib; scripts import benchlib).

Process handling: every server is started in its own session with PR_SET_PDEATHSIG=SIGTERM, so
it goes away even if the script itself is killed with SIGKILL; on normal exit, Ctrl-C, SIGTERM
or SIGHUP the registered cleanup stops everything that is still running (SIGTERM, then SIGKILL).
The processes still running are in _procs, the one registry (benchlib re-exports that list).

Readiness is established by polling, never by sleeping a fixed time: a server counts as ready
once /proc shows *that process* (same pid, which holds through `taskset` and `valgrind`, both
exec in place) listening on the expected port (wait_listening), followed by an end-to-end request
(bench_protocol's probes, through wait_reply).
"""

import atexit
import ctypes
import datetime
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
DEFAULT_PROXY_BIN = os.path.join(REPO_DIR, "build", "puppy-proxy")

# ---------------------------------------------------------------------------------------------
# logging


def log(msg):
    ts = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{ts}] {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    log("ERROR: " + msg)
    sys.exit(code)


# ---------------------------------------------------------------------------------------------
# process management

_PR_SET_PDEATHSIG = 1
_libc = None


def _child_setup():
    # Runs in the child between fork and exec: die with the parent; own session so a Ctrl-C in
    # the terminal reaches only this script, which then shuts the children down in order.
    try:
        global _libc
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort
        pass


class Proc:
    """A started child process with its log file."""

    def __init__(self, name, argv, log_path, popen):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.popen = popen
        self.ok_exit_codes = (0,)  # exit codes after SIGTERM that are normal for this program

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


_procs = []


def start_process(name, argv, log_path, cpu=None, cwd=None):
    """Starts argv (optionally under `taskset -c cpu`), stdout+stderr to log_path."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + list(argv)
    logf = open(log_path, "ab")
    logf.write(("$ " + shlex.join(argv) + "\n").encode())
    logf.flush()
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             cwd=cwd, preexec_fn=_child_setup, start_new_session=True)
    logf.close()
    p = Proc(name, argv, log_path, popen)
    _procs.append(p)
    return p


def stop_process(p, timeout=30.0, sig=signal.SIGTERM):
    """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code (negative = signal)."""
    if p.alive():
        try:
            p.popen.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{p.name} (pid {p.pid}) did not exit {timeout:.0f}s after SIGTERM; sending SIGKILL")
            p.popen.kill()
            p.popen.wait()
    if p in _procs:
        _procs.remove(p)
    return p.popen.returncode


def describe_exit(rc):
    if rc is None:
        return "still running"
    return f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"


def cleanup():
    for p in reversed(list(_procs)):
        try:
            stop_process(p, timeout=10.0)
        except Exception:
            pass


def _on_signal(signum, _frame):
    log(f"got signal {signum}, cleaning up")
    cleanup()
    os._exit(128 + signum)


def install_cleanup():
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


def stop_checked(p, incidents):
    """Stops p at the end of a run (stop_process: SIGTERM) and reports, into the list incidents,
    an exit code that is not one of p.ok_exit_codes, with its log tail. Returns the exit code."""
    rc = stop_process(p)
    if rc not in p.ok_exit_codes:
        incidents.append(f"{p.name} (pid {p.pid}) on SIGTERM at the end: "
                         f"{describe_exit(rc)}; log tail:\n" + p.log_tail(15))
    return rc


def finish_proxy(p, incidents, check_exit=True):
    """Stops puppy-proxy p at the end of a run (SIGTERM: it must exit with an expected code, unless
    check_exit is False) and reports, into the list incidents, an unexpected exit and every line
    it logged (it runs with --log-level warn, so any line is a warning or worse)."""
    if check_exit and p in _procs:
        stop_checked(p, incidents)
    with open(p.log_path, errors="replace") as f:
        lines = [line for line in f.read().splitlines() if not line.startswith("$ ")]
    if lines:
        incidents.append(f"{p.name} logged {len(lines)} line(s) at warn or above, e.g.:\n    "
                         + "\n    ".join(lines[:10]))


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """(user, system) CPU seconds used so far by all threads of process pid, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# ports and readiness


def free_port():
    """A port that was free a moment ago. Races are caught by listening_ports() + retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _socket_inodes(pid):
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def listening_ports(pid):
    """TCP ports on which process `pid` holds a listening socket (from /proc/net/tcp{,6})."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == "0A" and parts[9] in inodes:  # 0A = LISTEN
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_listening(p, port, timeout=60.0):
    """Polls until process p listens on port. False if it exited or the timeout passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not p.alive():
            return False
        if port in listening_ports(p.pid):
            return True
        time.sleep(0.02)
    return False


def wait_file(path, p, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if not p.alive():
            return None
        time.sleep(0.02)
    return None


def wait_reply(ask, good, timeout):
    """Calls ask() every 50 ms until good(its reply) or timeout seconds have passed (an OSError
    counts as a bad reply). Returns (ok, the last reply or error)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            last = ask()
            if good(last):
                return True, last
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    return False, last


# ---------------------------------------------------------------------------------------------
# the open-file limit, and C helpers compiled into the results folder


def raise_nofile(needed):
    """Raises the soft open-file limit to at least `needed` (up to the hard limit). Returns the
    soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def compile_c(src, binary):
    """Compiles one C file with `cc -O2 -Wall`; dies with the compiler's output on failure.
    Returns binary."""
    import shutil
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        die(f"no C compiler (cc) to build {os.path.basename(src)}")
    cp = subprocess.run([cc, "-O2", "-Wall", "-o", binary, src], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
    if cp.returncode != 0:
        die(f"building {src} failed:\n" + cp.stdout.decode(errors="replace"))
    return binary
