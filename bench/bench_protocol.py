"""Redis, memcached and Redis Cluster protocol helpers of the benchmarks (part of benchlib):
one-shot commands, readiness probes, a tiny RESP client, INFO/commandstats and PUPPY STATS
readings, PGET/PSET set-up, CLUSTER INFO/SLOTS."""

import socket
import time

from bench_process import HOST, die, wait_reply

# ---------------------------------------------------------------------------------------------
# one-shot Redis commands, and the readiness probe through a proxy


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


def node_counters(ports):
    """Per server (e.g. a cluster's nodes): (commandstats, keyspace_hits, keyspace_misses), from
    one INFO each; None if a server did not answer."""
    out = []
    for port in ports:
        try:
            info = redis_info(port, "commandstats", "stats")
        except OSError:
            return None
        out.append((parse_commandstats(info), int(info.get("keyspace_hits", 0)),
                    int(info.get("keyspace_misses", 0))))
    return out


def redis_work(before, after, n, also=()):
    """What the servers executed between two node_counters() snapshots, per client request (n
    requests), as raw.csv fields: Redis commands (counted_commands(also=also)) and their usec,
    keyspace hits and misses, the commands by name, each server's share of the calls."""
    if not before or not after:
        return {}
    per_node = [commandstats_delta(counted_commands(b[0], also), counted_commands(x[0], also))
                for b, x in zip(before, after)]
    total = sum_commandstats(per_node)
    calls = sum(c for c, _ in total.values())
    usec = sum(u for _, u in total.values())
    node_calls = [sum(c for c, _ in d.values()) for d in per_node]
    rec = {"redis_cmds_per_req": f"{calls / n:.4f}",
           "redis_usec_per_req": f"{usec / n:.4f}",
           "hits_per_req": f"{sum(x[1] - b[1] for b, x in zip(before, after)) / n:.4f}",
           "misses_per_req": f"{sum(x[2] - b[2] for b, x in zip(before, after)) / n:.4f}",
           "commands": " ".join(f"{k}={c / n:.3f}" for k, (c, _) in
                                sorted(total.items(), key=lambda kv: -kv[1][0])),
           "node_calls_pct": "/".join(f"{100 * c / calls:.0f}" if calls else "-" for c in node_calls)}
    if calls:
        rec["redis_usec_per_call"] = f"{usec / calls:.4f}"
    return rec


def flushall(ports):
    """FLUSHALL on every server of ports; dies unless each answers OK."""
    for port in ports:
        reply = call_once(port, "FLUSHALL")
        if reply != "OK":
            die(f"FLUSHALL on port {port} answered {reply!r}")


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
# memcached's text protocol (memcached_bench.py)

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


# ---------------------------------------------------------------------------------------------
# Redis Cluster (cluster_bench.py): the nodes' readiness, CLUSTER INFO and CLUSTER SLOTS


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
