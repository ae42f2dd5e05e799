"""Shared helpers for the puppy-proxy benchmark scripts (Python 3 standard library only).

Process handling: every server is started in its own session with PR_SET_PDEATHSIG=SIGTERM, so
it goes away even if the script itself is killed with SIGKILL; on normal exit, Ctrl-C, SIGTERM
or SIGHUP the registered cleanup stops everything that is still running (SIGTERM, then SIGKILL).

Readiness is established by polling, never by sleeping a fixed time: a server counts as ready
once /proc shows *that process* (same pid, which holds through `taskset` and `valgrind`, both
exec in place) listening on the expected port, followed by an end-to-end GET.
"""

import argparse
import atexit
import csv
import ctypes
import datetime
import os
import shlex
import signal
import socket
import statistics
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


def finish_proxy(p, incidents, check_exit=True):
    """Stops puppy-proxy p at the end of a run (SIGTERM: it must exit with an expected code, unless
    check_exit is False) and reports, into the list incidents, an unexpected exit and every line
    it logged (it runs with --log-level warn, so any line is a warning or worse)."""
    if check_exit and p in _procs:
        rc = stop_process(p)
        if rc not in p.ok_exit_codes:
            incidents.append(f"{p.name} (pid {p.pid}) on SIGTERM at the end: "
                             f"{describe_exit(rc)}; log tail:\n" + p.log_tail(15))
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


def encode_command(*args):
    """One command as a RESP array of bulk strings (str, bytes or numbers)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def redis_command(port, *args, timeout=10.0):
    """Sends one RESP command, returns the first reply line (good enough for PING/SET/INFO checks)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(encode_command(*args))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def wait_ping(port, timeout=30.0):
    """Waits until a GET through the target gets a bulk reply from Redis (nil is fine).

    Not PING: twemproxy answers PING itself, so only a keyed command proves the whole path to
    Redis works (a proxy may also need a moment for its upstream connection).
    """
    return wait_reply(lambda: redis_command(port, "GET", "puppy-bench:probe", timeout=5.0),
                      lambda reply: reply.startswith("$"), timeout)


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
# a tiny blocking RESP client, enough for set-ups and checks (PGET/PSET answers are arrays)


class RespError(str):
    """An error reply: Resp.read returns it (it does not raise), so callers can compare replies."""


class Resp:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"_":
            return None
        raise ValueError(f"unexpected reply line {line!r}")

    def call(self, *args):
        self.sock.sendall(encode_command(*args))
        return self.read()


async def read_reply_async(reader):
    """The raw bytes of one RESP2 reply from an asyncio StreamReader (for byte-exact checks)."""
    line = await reader.readuntil(b"\r\n")
    t = line[:1]
    if t == b"$":
        n = int(line[1:-2])
        return line if n < 0 else line + await reader.readexactly(n + 2)
    if t == b"*":
        parts = [line]
        for _ in range(max(0, int(line[1:-2]))):
            parts.append(await read_reply_async(reader))
        return b"".join(parts)
    return line  # +simple, -error, :integer


def call_once(port, *args, timeout=10.0):
    """One command on a connection of its own; returns the parsed reply (see Resp.read)."""
    c = Resp(port, timeout=timeout)
    try:
        return c.call(*args)
    finally:
        c.close()


def redis_info(port, *sections):
    """INFO [sections...] (Redis 7 takes several at once) as {field: value string}."""
    text = call_once(port, "INFO", *sections)
    out = {}
    for line in (text or b"").decode(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            out[name] = value
    return out


def parse_commandstats(info):
    """{command: (calls, usec)} from the cmdstat_ fields of redis_info()."""
    out = {}
    for name, value in info.items():
        if name.startswith("cmdstat_"):
            fields = dict(kv.split("=", 1) for kv in value.split(",") if "=" in kv)
            try:
                out[name[8:]] = (int(fields["calls"]), int(fields["usec"]))
            except (KeyError, ValueError):
                pass
    return out


def commandstats(port):
    """{command: (calls, usec)} from INFO commandstats, or {} on failure."""
    try:
        return parse_commandstats(redis_info(port, "commandstats"))
    except OSError:
        return {}


def counted_commands(stats, also=()):
    """commandstats without the measurement's own commands and redis-benchmark's start-up
    (INFO, CONFIG GET/RESETSTAT), and without the commands whose names start with one of the
    prefixes `also` (e.g. CLUSTER_TOPOLOGY_COMMANDS)."""
    return {k: v for k, v in stats.items()
            if k != "info" and not k.startswith("config") and not k.startswith(tuple(also))}


# What a cluster client or proxy reads about the cluster, not requests: redis-benchmark --cluster's
# CLUSTER NODES/SLOTS at start, puppy-proxy's CLUSTER SLOTS refresh and COMMAND (commandstats
# names subcommands "cluster|slots", "command|docs", ...). For counted_commands(also=...).
CLUSTER_TOPOLOGY_COMMANDS = ("cluster", "command")


def sum_commandstats(stats_list):
    """{command: (calls, usec)} summed over several servers' commandstats (e.g. a cluster's
    nodes)."""
    out = {}
    for stats in stats_list:
        for k, (calls, usec) in stats.items():
            c, u = out.get(k, (0, 0))
            out[k] = (c + calls, u + usec)
    return out


def commandstats_delta(before, after):
    """{command: (calls, usec)} executed between two commandstats snapshots (commands with no new
    call left out)."""
    out = {}
    for k, (calls, usec) in after.items():
        c0, u0 = before.get(k, (0, 0))
        if calls > c0:
            out[k] = (calls - c0, usec - u0)
    return out


def puppy_stat(port, name):
    """One figure of puppy-proxy's PUPPY STATS (the Prometheus text), e.g.
    puppy_near_cache_hits_total; dies if the proxy does not report it."""
    text = call_once(port, "PUPPY", "STATS") or b""
    for line in text.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    die(f"PUPPY STATS on port {port} has no {name}")


def make_fresh(port, key, value, timeout_s, update_time):
    """PGET -> lease, PSET, PGET -> fresh. Returns a list of problems (empty when fine)."""
    c = Resp(port)
    try:
        r = c.call("PGET", key, timeout_s, update_time)
        if not (isinstance(r, list) and len(r) == 3):
            return [f"PGET {key}: unexpected reply {r!r}"]
        state = r[0].decode() if isinstance(r[0], bytes) else r[0]
        if state == "fresh" and r[1] == value:
            return []  # already fresh with our value (e.g. a re-check)
        if state != "lease" or not r[2]:
            return [f"PGET {key} on a new key answered {r!r}, expected a lease"]
        ok = c.call("PSET", key, r[2], value, timeout_s, update_time)
        if ok != 1:
            return [f"PSET {key} answered {ok!r}, expected 1"]
        r = c.call("PGET", key, timeout_s, update_time)
        if not (isinstance(r, list) and len(r) == 3 and r[0] == b"fresh" and r[1] == value):
            return [f"PGET {key} after PSET answered {r!r}, expected fresh with the value"]
        g = c.call("GET", key)
        if g != value:
            return [f"GET {key} after PSET answered {g!r}, expected the PSET value"]
        return []
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# the servers


def _retry_start(what, attempts, fn):
    last = None
    for i in range(attempts):
        try:
            return fn()
        except RuntimeError as e:
            last = e
            log(f"starting {what} failed (attempt {i + 1}/{attempts}): {e}")
    die(f"could not start {what}: {last}")


def redis_server_argv(port, workdir, extra_args=()):
    """redis-server on 127.0.0.1:port, in the foreground, without persistence, logging warnings
    to stdout."""
    return ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", workdir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
            "--logfile", ""] + list(extra_args)


def start_redis(workdir, name="redis", cpu=None, wrapper=(), timeout=60.0, attempts=3,
                extra_args=()):
    """redis-server without persistence on a free port. Returns (Proc, port)."""

    def attempt():
        port = free_port()
        argv = list(wrapper) + redis_server_argv(port, workdir, extra_args)
        p = start_process(name, argv, os.path.join(workdir, f"{name}.log"), cpu=cpu)
        if not wait_listening(p, port, timeout):
            rc = stop_process(p, timeout=5)
            raise RuntimeError(f"{name} not listening on {port} (exit {rc}): {p.log_tail(5)!r}")
        ok, reply = wait_ping(port)
        if not ok:
            stop_process(p, timeout=5)
            raise RuntimeError(f"{name} on {port} does not answer GET: {reply}")
        return p, port

    return _retry_start(name, attempts, attempt)


class MetricsScraper:
    """Fetches http://HOST:port/metrics every `interval` seconds on a thread until stop()."""

    def __init__(self, port, interval):
        import threading
        self.port, self.interval = port, interval
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import urllib.request
        while not self._stop.wait(self.interval):
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/metrics", timeout=5) as r:
                    if r.status == 200 and b"puppy_commands_total" in r.read():
                        self.ok += 1
                        continue
            except OSError:
                pass
            self.failed += 1

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.ok, self.failed


def start_puppy(proxy_bin, upstream_port, workdir, name="puppy", cpu=None, wrapper=(),
                extra_args=(), timeout=60.0, upstream=None):
    """puppy-proxy on a port it picks itself (--listen :0 + --ready-file). Returns (Proc, port).

    `upstream`: a URL instead of redis://HOST:upstream_port. With --tls-listen among extra_args
    the ready file's second line is "tls host:port" (see ready_tls_port)."""
    ready = os.path.join(workdir, f"{name}.ready")
    if os.path.exists(ready):
        os.unlink(ready)
    argv = list(wrapper) + [
        proxy_bin, "--listen", f"{HOST}:0", "--ready-file", ready,
        "--upstream", upstream or f"redis://{HOST}:{upstream_port}",
        "--log-level", "warn"] + list(extra_args)
    p = start_process(name, argv, os.path.join(workdir, f"{name}.log"), cpu=cpu)
    text = wait_file(ready, p, timeout)
    if text is None:
        rc = stop_process(p, timeout=5)
        die(f"{name} never wrote {ready} (exit {rc}); log:\n{p.log_tail()}")
    port = int(text.splitlines()[0].rsplit(":", 1)[1])  # line 2 may name the metrics listener
    if not wait_listening(p, port, timeout):
        die(f"{name} wrote {text} to the ready file but does not listen there; log:\n{p.log_tail()}")
    ok, reply = wait_ping(port)
    if not ok:
        die(f"{name} on {port} does not answer GET: {reply}; log:\n{p.log_tail()}")
    return p, port


# twemproxy (nutcracker) settings. These are its usual best for a single Redis behind it:
#  - server_connections: 1 (the default) -- twemproxy multiplexes all client requests onto the
#    server connection and pipelines them; one connection per server gives it the largest
#    batches and is what its authors recommend; more connections only spread the same work.
#  - preconnect: true -- connect to Redis at start, not on the first request.
#  - auto_eject_hosts: false -- a single server must never be ejected.
#  - timeout: 10000 ms -- generous; the benchmark must not see timeouts as errors.
#  - backlog: 1024 -- plenty for 50 clients connecting at once.
#  - hash/distribution: fnv1a_64/ketama -- the usual choice; irrelevant with one server.
#  - mbuf size (-m): default 16384 bytes -- fine for small values and 50 clients.
#  - stats on a private free port (-s) so parallel runs never collide on the default 22222.
NUTCRACKER_YAML = """\
bench:
  listen: {host}:{port}
  redis: true
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  timeout: 10000
  backlog: 1024
  servers:
   - {host}:{upstream_port}:1
"""


def start_nutcracker(upstream_port, workdir, name="twemproxy", cpu=None, wrapper=(), timeout=60.0,
                     attempts=3):
    """nutcracker on a free port in front of upstream_port. Returns (Proc, port)."""

    def attempt():
        port, stats_port = free_port(), free_port()
        conf = os.path.join(workdir, f"{name}.yml")
        with open(conf, "w") as f:
            f.write(NUTCRACKER_YAML.format(host=HOST, port=port, upstream_port=upstream_port))
        argv = list(wrapper) + [
            "nutcracker", "-c", conf, "-s", str(stats_port), "-a", HOST,
            "-p", os.path.join(workdir, f"{name}.pid"), "-o", os.path.join(workdir, f"{name}.log")]
        p = start_process(name, argv, os.path.join(workdir, f"{name}.out"), cpu=cpu)
        # nutcracker installs no SIGTERM handler (only SIGINT), so it dies of the signal: normal.
        p.ok_exit_codes = (0, -15)
        if not wait_listening(p, port, timeout):
            rc = stop_process(p, timeout=5)
            raise RuntimeError(f"{name} not listening on {port} (exit {rc}): {p.log_tail(5)!r}")
        ok, reply = wait_ping(port)
        if not ok:
            stop_process(p, timeout=5)
            raise RuntimeError(f"{name} on {port} does not answer GET: {reply}")
        return p, port

    return _retry_start(name, attempts, attempt)


# ---------------------------------------------------------------------------------------------
# redis-benchmark

CSV_FIELDS = ["rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
              "p99_latency_ms", "max_latency_ms"]

# Lines redis-benchmark prints that are expected and harmless (the last two: --cluster's list of
# the masters it found, "Cluster has 3 master nodes:" and "Master 0: <id> 127.0.0.1:<port>").
_BENIGN = ("WARNING: Could not fetch server CONFIG", "Cluster has ", "Master ")


def ready_tls_port(workdir, name):
    """The TLS listener's port from the ready file of start_puppy's proxy `name`."""
    with open(os.path.join(workdir, f"{name}.ready")) as f:
        for line in f:
            if line.startswith("tls "):
                return int(line.rsplit(":", 1)[1])
    die(f"{name} has no TLS listener in its ready file")


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


# ---------------------------------------------------------------------------------------------
# misc


def csv_list(allowed):
    """argparse type: a comma list of distinct names out of `allowed`."""
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad or not items or len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)} (got {text!r})")
        return items
    return parse


def raise_nofile(needed):
    """Raises the soft open-file limit to at least `needed` (up to the hard limit). Returns the
    soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


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


# ---------------------------------------------------------------------------------------------
# memcached (memcached_bench.py): memcached itself, twemproxy with a memcached pool, puppy-proxy
# over memcached

# memcached text-protocol lines that end a reply.
_MEMCACHE_END = (b"END", b"STORED", b"NOT_STORED", b"EXISTS", b"NOT_FOUND", b"DELETED", b"OK",
                 b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")


def memcache_command(port, payload, timeout=10.0):
    """Sends raw memcached text-protocol bytes; returns the reply up to the first line that ends one
    (END, STORED, ..., an error), as text. Good enough for probes and single SETs."""
    if isinstance(payload, str):
        payload = payload.encode()
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.endswith(b"\r\n") and data[:-2].rsplit(b"\r\n", 1)[-1].startswith(_MEMCACHE_END):
                break
    return data.decode(errors="replace")


def wait_memcache(port, timeout=30.0):
    """Waits until a memcached `get` through the target is answered (a miss is fine): through
    twemproxy that proves the whole path to the server."""
    return wait_reply(lambda: memcache_command(port, "get puppy-bench:probe\r\n", timeout=5.0),
                      lambda reply: reply.endswith("END\r\n"), timeout)


def start_listener(name, make_argv, workdir, ready, cpu=None, out_name=None, ok_exit_codes=(0,),
                   timeout=60.0, attempts=3):
    """Starts make_argv(port) for a free port, waits until that process listens there and
    ready(port) returns (True, reply); retries on a port race. Returns (Proc, port)."""

    def attempt():
        port = free_port()
        p = start_process(name, make_argv(port), os.path.join(workdir, out_name or f"{name}.log"),
                          cpu=cpu)
        p.ok_exit_codes = ok_exit_codes
        if not wait_listening(p, port, timeout):
            rc = stop_process(p, timeout=5)
            raise RuntimeError(f"{name} not listening on {port} (exit {rc}): {p.log_tail(5)!r}")
        ok, reply = ready(port)
        if not ok:
            stop_process(p, timeout=5)
            raise RuntimeError(f"{name} on {port} does not answer: {reply}")
        return p, port

    return _retry_start(name, attempts, attempt)


def start_memcached(workdir, name="memcached", cpu=None, threads=None, memory_mb=64, extra_args=()):
    """memcached on a free TCP port of 127.0.0.1 (no UDP). Returns (Proc, port)."""

    def argv(port):
        a = ["memcached", "-l", HOST, "-p", str(port), "-U", "0", "-m", str(memory_mb)]
        if os.geteuid() == 0:
            a += ["-u", "root"]  # memcached refuses to run as root without -u
        if threads:
            a += ["-t", str(threads)]
        return a + list(extra_args)

    return start_listener(name, argv, workdir, wait_memcache, cpu=cpu)


# twemproxy in front of a memcached pool: the settings of NUTCRACKER_YAML, with `hash: md5` (the
# ketama of libmemcached, which puppy-proxy's default `--memcached-hash md5` reproduces, so both
# proxies place every key on the same server) and memcached's text protocol (no `redis: true`).
NUTCRACKER_MEMCACHE_YAML = """\
bench:
  listen: {host}:{port}
  hash: md5
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  timeout: 10000
  backlog: 1024
  servers:
{servers}
"""


def start_nutcracker_memcache(upstream_ports, workdir, name="twemproxy-mc", cpu=None):
    """nutcracker on a free port in front of the memcached servers upstream_ports. (Proc, port)."""
    servers = "\n".join(f"   - {HOST}:{p}:1" for p in upstream_ports)

    def argv(port):
        conf = os.path.join(workdir, f"{name}.yml")
        with open(conf, "w") as f:
            f.write(NUTCRACKER_MEMCACHE_YAML.format(host=HOST, port=port, servers=servers))
        return ["nutcracker", "-c", conf, "-s", str(free_port()), "-a", HOST,
                "-p", os.path.join(workdir, f"{name}.pid"), "-o", os.path.join(workdir, f"{name}.log")]

    # nutcracker installs no SIGTERM handler (only SIGINT), so it dies of the signal: normal.
    return start_listener(name, argv, workdir, wait_memcache, cpu=cpu, out_name=f"{name}.out",
                          ok_exit_codes=(0, -15))


def start_puppy_memcached(proxy_bin, memcached_ports, workdir, name="puppy-mc", cpu=None,
                          extra_args=(), timeout=60.0):
    """puppy-proxy over the memcached pool memcached_ports: start_puppy with a second --upstream
    (a flag given twice: the last one wins). Returns (Proc, port)."""
    url = "memcached://" + ",".join(f"{HOST}:{p}" for p in memcached_ports)
    return start_puppy(proxy_bin, memcached_ports[0], workdir, name, cpu=cpu,
                       extra_args=["--upstream", url] + list(extra_args), timeout=timeout)


# ---------------------------------------------------------------------------------------------
# C helpers compiled into the results folder, and the delaying relay (pget-remote-bench.sh)


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


def start_delay_relay(binary, upstream_port, workdir, name, delay_us, cpu=None):
    """bench/delay_relay.c (compiled: binary) on a free port in front of upstream_port, holding
    every byte delay_us microseconds in each direction. Returns (Proc, port)."""
    return start_listener(name, lambda port: [binary, str(port), str(upstream_port), f"{delay_us:g}"],
                          workdir, wait_ping, cpu=cpu)


# ---------------------------------------------------------------------------------------------
# Redis Cluster (cluster_bench.py): N masters on free ports, and puppy-proxy in front of them


def wait_pong(port, timeout=30.0):
    """Waits until PING is answered +PONG. For cluster nodes, where wait_ping's GET gets -MOVED
    or -CLUSTERDOWN (a node without slots) instead of a bulk reply. Returns (ok, last reply)."""
    return wait_reply(lambda: redis_command(port, "PING", timeout=5.0),
                      lambda reply: reply == "+PONG", timeout)


def cluster_info(port):
    """CLUSTER INFO of one node as {field: value string}."""
    text = call_once(port, "CLUSTER", "INFO")
    if isinstance(text, RespError) or text is None:
        raise RuntimeError(f"CLUSTER INFO on {port}: {text}")
    return dict(line.split(":", 1) for line in text.decode().splitlines() if ":" in line)


def wait_cluster_ok(ports, timeout=60.0):
    """Polls CLUSTER INFO on every node until each says cluster_state:ok, knows all len(ports)
    nodes and sees all 16384 slots assigned. Returns (ok, what the nodes said last)."""
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        good = 0
        for port in ports:
            try:
                info = cluster_info(port)
                last[port] = (f"state {info.get('cluster_state')}, known nodes "
                              f"{info.get('cluster_known_nodes')}, slots assigned "
                              f"{info.get('cluster_slots_assigned')}")
                good += (info.get("cluster_state") == "ok"
                         and info.get("cluster_known_nodes") == str(len(ports))
                         and info.get("cluster_slots_assigned") == "16384")
            except (OSError, RuntimeError, ValueError) as e:
                last[port] = str(e)
        if good == len(ports):
            return True, last
        time.sleep(0.05)
    return False, last


def cluster_slots(port):
    """[(first slot, last slot, master port)] from CLUSTER SLOTS of one node."""
    reply = call_once(port, "CLUSTER", "SLOTS")
    if not isinstance(reply, list):
        raise RuntimeError(f"CLUSTER SLOTS on {port}: {reply!r}")
    return [(r[0], r[1], r[2][1]) for r in reply]


def start_redis_cluster(workdir, masters=3, name="node", cpu=None, timeout=60.0,
                        node_timeout_ms=5000):
    """A Redis Cluster of `masters` masters and no replicas: redis-server with --cluster-enabled
    yes (no persistence; its nodes.conf in workdir; the cluster bus on a free port of its own,
    --cluster-port, not port + 10000), joined with `redis-cli --cluster create ... --cluster-replicas
    0 --cluster-yes` (which assigns the slots evenly), then polled until every node says
    cluster_state:ok. Returns [(Proc, port)] in slot order (the first serves slot 0)."""
    nodes = []
    for i in range(masters):
        node_name = f"{name}{i + 1}"
        conf = os.path.join(workdir, f"{node_name}-nodes.conf")

        def argv(port, conf=conf):
            if os.path.exists(conf):  # left by a failed attempt (a port race)
                os.unlink(conf)
            return redis_server_argv(port, workdir, [
                "--cluster-enabled", "yes", "--cluster-config-file", conf,
                "--cluster-port", str(free_port()), "--cluster-node-timeout", str(node_timeout_ms)])

        nodes.append(start_listener(node_name, argv, workdir, wait_pong, cpu=cpu, timeout=timeout))
    ports = [port for _, port in nodes]
    create = ["redis-cli", "--cluster", "create"] + [f"{HOST}:{p}" for p in ports] + [
        "--cluster-replicas", "0", "--cluster-yes"]
    log_path = os.path.join(workdir, "cluster-create.log")
    with open(log_path, "wb") as f:
        f.write(("$ " + shlex.join(create) + "\n").encode())
        f.flush()
        try:
            cp = subprocess.run(create, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                timeout=timeout, preexec_fn=_child_setup)
            rc = cp.returncode
        except subprocess.TimeoutExpired:
            rc = "time-out"
    if rc != 0:
        with open(log_path, errors="replace") as f:
            die(f"redis-cli --cluster create failed ({rc}):\n{f.read()[-2000:]}")
    ok, last = wait_cluster_ok(ports, timeout)
    if not ok:
        die("the cluster never reached cluster_state:ok on every node: "
            + "; ".join(f"{p}: {s}" for p, s in last.items()))
    first_slot = {port: min(s for s, _, m in cluster_slots(ports[0]) if m == port) for port in ports}
    return sorted(nodes, key=lambda n: first_slot[n[1]])


def start_puppy_cluster(proxy_bin, node_ports, workdir, name="puppy", cpu=None, extra_args=(),
                        timeout=60.0):
    """puppy-proxy with --upstream redis-cluster://<every node> (start_puppy; its readiness GET
    goes through the proxy to the master of the probe key's slot). Returns (Proc, port)."""
    url = "redis-cluster://" + ",".join(f"{HOST}:{p}" for p in node_ports)
    return start_puppy(proxy_bin, node_ports[0], workdir, name, cpu=cpu, extra_args=extra_args,
                       timeout=timeout, upstream=url)
