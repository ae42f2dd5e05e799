"""The servers a benchmark starts (part of benchlib): redis-server (alone or as a Redis Cluster),
puppy-proxy (over Redis, a cluster or memcached), twemproxy, memcached and the delaying relay.
Each on a free port of 127.0.0.1, ready when this returns; see bench_process for how they are
started and stopped."""

import os
import shlex
import subprocess

from bench_process import (HOST, _child_setup, die, free_port, log, start_process, stop_process,
                           wait_file, wait_listening)
from bench_protocol import cluster_slots, wait_cluster_ok, wait_memcache, wait_ping, wait_pong

# ---------------------------------------------------------------------------------------------
# starting a server on a free port


def _retry_start(what, attempts, fn):
    last = None
    for i in range(attempts):
        try:
            return fn()
        except RuntimeError as e:
            last = e
            log(f"starting {what} failed (attempt {i + 1}/{attempts}): {e}")
    die(f"could not start {what}: {last}")


def start_listener(name, make_argv, workdir, ready, cpu=None, out_name=None, ok_exit_codes=(0,),
                   timeout=60.0, attempts=3, unready="does not answer"):
    """Starts make_argv(port) for a free port, waits until that process listens there and
    ready(port) returns (True, reply); retries on a port race (`unready`: what the error says when
    ready fails). Returns (Proc, port)."""

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
            raise RuntimeError(f"{name} on {port} {unready}: {reply}")
        return p, port

    return _retry_start(name, attempts, attempt)


# ---------------------------------------------------------------------------------------------
# redis-server and puppy-proxy


def redis_server_argv(port, workdir, extra_args=()):
    """redis-server on 127.0.0.1:port, in the foreground, without persistence, logging warnings
    to stdout."""
    return ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", workdir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
            "--logfile", ""] + list(extra_args)


def start_redis(workdir, name="redis", cpu=None, wrapper=(), timeout=60.0, attempts=3,
                extra_args=()):
    """redis-server without persistence on a free port. Returns (Proc, port)."""

    def argv(port):
        return list(wrapper) + redis_server_argv(port, workdir, extra_args)

    return start_listener(name, argv, workdir, wait_ping, cpu=cpu, timeout=timeout,
                          attempts=attempts, unready="does not answer GET")


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


def ready_tls_port(workdir, name):
    """The TLS listener's port from the ready file of start_puppy's proxy `name`."""
    with open(os.path.join(workdir, f"{name}.ready")) as f:
        for line in f:
            if line.startswith("tls "):
                return int(line.rsplit(":", 1)[1])
    die(f"{name} has no TLS listener in its ready file")


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


# ---------------------------------------------------------------------------------------------
# twemproxy (nutcracker) in front of Redis or of a memcached pool


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
_NUTCRACKER_POOL = """\
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  timeout: 10000
  backlog: 1024
  servers:
"""
NUTCRACKER_YAML = """\
bench:
  listen: {host}:{port}
  redis: true
  hash: fnv1a_64
""" + _NUTCRACKER_POOL + """\
   - {host}:{upstream_port}:1
"""


# nutcracker installs no SIGTERM handler (only SIGINT), so it dies of the signal: normal.
_NUTCRACKER_EXIT_CODES = (0, -15)


def _nutcracker_argv(workdir, name, config):
    """nutcracker with the settings `config` (written to <name>.yml in workdir), its stats on a
    free port of its own, its pid file and log in workdir."""
    conf = os.path.join(workdir, f"{name}.yml")
    with open(conf, "w") as f:
        f.write(config)
    return ["nutcracker", "-c", conf, "-s", str(free_port()), "-a", HOST,
            "-p", os.path.join(workdir, f"{name}.pid"), "-o", os.path.join(workdir, f"{name}.log")]


def start_nutcracker(upstream_port, workdir, name="twemproxy", cpu=None, wrapper=(), timeout=60.0,
                     attempts=3):
    """nutcracker on a free port in front of upstream_port. Returns (Proc, port)."""

    def argv(port):
        config = NUTCRACKER_YAML.format(host=HOST, port=port, upstream_port=upstream_port)
        return list(wrapper) + _nutcracker_argv(workdir, name, config)

    return start_listener(name, argv, workdir, wait_ping, cpu=cpu, out_name=f"{name}.out",
                          ok_exit_codes=_NUTCRACKER_EXIT_CODES, timeout=timeout, attempts=attempts,
                          unready="does not answer GET")


# twemproxy in front of a memcached pool: the settings of NUTCRACKER_YAML, with `hash: md5` (the
# ketama of libmemcached, which puppy-proxy's default `--memcached-hash md5` reproduces, so both
# proxies place every key on the same server) and memcached's text protocol (no `redis: true`).
NUTCRACKER_MEMCACHE_YAML = """\
bench:
  listen: {host}:{port}
  hash: md5
""" + _NUTCRACKER_POOL + """\
{servers}
"""


def start_nutcracker_memcache(upstream_ports, workdir, name="twemproxy-mc", cpu=None):
    """nutcracker on a free port in front of the memcached servers upstream_ports. (Proc, port)."""
    servers = "\n".join(f"   - {HOST}:{p}:1" for p in upstream_ports)

    def argv(port):
        config = NUTCRACKER_MEMCACHE_YAML.format(host=HOST, port=port, servers=servers)
        return _nutcracker_argv(workdir, name, config)

    return start_listener(name, argv, workdir, wait_memcache, cpu=cpu, out_name=f"{name}.out",
                          ok_exit_codes=_NUTCRACKER_EXIT_CODES)


# ---------------------------------------------------------------------------------------------
# memcached, puppy-proxy over memcached, and the delaying relay (pget-remote-bench.sh)


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


def start_puppy_memcached(proxy_bin, memcached_ports, workdir, name="puppy-mc", cpu=None,
                          extra_args=(), timeout=60.0):
    """puppy-proxy over the memcached pool memcached_ports: start_puppy with a second --upstream
    (a flag given twice: the last one wins). Returns (Proc, port)."""
    url = "memcached://" + ",".join(f"{HOST}:{p}" for p in memcached_ports)
    return start_puppy(proxy_bin, memcached_ports[0], workdir, name, cpu=cpu,
                       extra_args=["--upstream", url] + list(extra_args), timeout=timeout)


def start_delay_relay(binary, upstream_port, workdir, name, delay_us, cpu=None):
    """bench/delay_relay.c (compiled: binary) on a free port in front of upstream_port, holding
    every byte delay_us microseconds in each direction. Returns (Proc, port)."""
    return start_listener(name, lambda port: [binary, str(port), str(upstream_port), f"{delay_us:g}"],
                          workdir, wait_ping, cpu=cpu)


# ---------------------------------------------------------------------------------------------
# Redis Cluster (cluster_bench.py): N masters on free ports, and puppy-proxy in front of them


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
