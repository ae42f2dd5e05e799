#!/usr/bin/python3
"""puppy-proxy over memcached vs over Redis, with memcached and twemproxy as references.

Started through bench/memcached-bench.sh (see bench/README.md). Starts its own redis-server, three
memcached servers, puppy-proxy over Redis, over one memcached and over all three, and twemproxy
over one and over three memcached; then, interleaved (every round runs every case on every
target, in an order that rotates from round to round), measures GET and SET with
redis-benchmark on the Redis-protocol targets and with a small memcached text-protocol loader
(`mcload`, C, compiled into the results folder; redis-benchmark's load model: C clients, P
requests in flight each) on the memcached-protocol targets. Ratios are computed within each
round, then the median over the rounds is reported.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from proxy_bench import fmt_ms, fmt_ratio, fmt_rps, fmt_us, ratio  # noqa: E402

# name -> (client tool, protocol, what it goes through)
TARGETS = {
    "redis": ("redis-benchmark", "resp", "redis-server"),
    "puppy-redis": ("redis-benchmark", "resp", "puppy-proxy -> redis-server"),
    "puppy-mc1": ("redis-benchmark", "resp", "puppy-proxy -> 1 memcached"),
    "puppy-mc3": ("redis-benchmark", "resp", "puppy-proxy -> 3 memcached"),
    "memcached": ("mcload", "memcache", "memcached (the first of the pool)"),
    "twemproxy-mc1": ("mcload", "memcache", "twemproxy -> 1 memcached"),
    "twemproxy-mc3": ("mcload", "memcache", "twemproxy -> 3 memcached"),
    "mcload-redis": ("mcload", "resp", "redis-server (mcload speaking RESP: checks the two loaders agree)"),
}
ALL_TARGETS = list(TARGETS)
# name -> (clients, pipeline)
ALL_CASES = {"c50": (50, 1), "c50p16": (50, 16), "c1": (1, 1)}
ALL_TESTS = ["get", "set"]
# Ratios computed within each round: (numerator, denominator, what it answers)
RATIOS = [
    ("puppy-mc1", "memcached", "puppy over 1 memcached / memcached direct"),
    ("puppy-mc3", "memcached", "puppy over 3 memcached / memcached direct"),
    ("puppy-mc1", "puppy-redis", "puppy over 1 memcached / puppy over Redis"),
    ("puppy-mc3", "puppy-redis", "puppy over 3 memcached / puppy over Redis"),
    ("twemproxy-mc1", "memcached", "twemproxy over 1 memcached / memcached direct"),
    ("twemproxy-mc3", "memcached", "twemproxy over 3 memcached / memcached direct"),
    ("puppy-mc1", "twemproxy-mc1", "puppy over 1 memcached / twemproxy over 1 memcached"),
    ("puppy-redis", "redis", "puppy over Redis / Redis direct"),
    ("memcached", "redis", "memcached direct (mcload) / Redis direct (redis-benchmark)"),
    ("mcload-redis", "redis", "mcload / redis-benchmark, both on Redis direct"),
]
KEY = "key:__rand_int__"  # redis-benchmark's key; with -r the 12 digits are random

RAW_FIELDS = ["mode", "round", "case", "test", "clients", "pipeline", "requests", "target",
              "position", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms", "wall_s",
              "proxy_user_us_per_req", "proxy_sys_us_per_req", "server_user_us_per_req",
              "server_sys_us_per_req", "status", "problems"]

# The loader for the memcached-protocol targets, compiled into the results folder with `cc -O2`.
MCLOAD_C = r"""/* mcload: redis-benchmark's load model for memcached's text protocol (and for RESP, so the two
 * load generators can be compared on the same Redis).
 *
 * C clients on one thread (epoll), each writes a batch of P identical requests in one write and
 * waits for all P replies before the next batch, N requests in all; the latency of a request is
 * the time from its batch's write to the end of its reply. Every reply must be byte-identical to
 * the reply to one probe request sent first (which must be a hit / STORED / +OK), except for the
 * bytes of a GET's value (same length; redis-benchmark's SET writes random letters, mcload's 'x'),
 * so an error, a miss or a short reply ends the run with exit code 3. Output: redis-benchmark's
 * --csv format.
 *
 * With -r R, "__rand_int__" in the key is replaced in every request by a random 12-digit number
 * below R, as redis-benchmark -r does; the probe uses key 0, and digits of the key in a reply are
 * then compared as "any digit".
 *
 *   mcload -h HOST -p PORT -m memcache|resp -t get|set -c C -P P -n N -d BYTES -k KEY [-r R]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define HIST_US 1000000 /* latency histogram: 1 us buckets up to 1 s, then one overflow bucket */

struct conn {
  int fd;
  size_t exp_off;     /* position inside the expected reply */
  long inflight;      /* requests of the current batch still without a reply */
  uint64_t sent_ns;   /* when the current batch was written */
  char *out;          /* this connection's batch (its own copy: keys are randomized per batch) */
  size_t out_len, out_off;
  int want_out;
};

static const char *host = "127.0.0.1", *mode = "memcache", *test = "get", *key = "key:__rand_int__";
static int port = 11211, clients = 50, pipeline = 1, data_size = 3;
static long requests = 100000, issued = 0, finished = 0, keyspace = 0;
static char *req, *batch, *expect, *wild; /* wild[i]: expect[i] may be 1 any digit, 2 any byte */
static size_t req_len, expect_len, rand_off; /* rand_off: where the 12 digits are in req */
static uint64_t rng = 88172645463325252ull;
static uint32_t *hist;
static uint64_t over_max_us, lat_sum_us, lat_min_us = UINT64_MAX, lat_max_us;
static int epfd;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, const char *data, size_t len) {
  fprintf(stdout, "ERROR: %s", what);
  if (data) {
    fputs(": \"", stdout);
    for (size_t i = 0; i < len && i < 200; i++) {
      unsigned char ch = (unsigned char)data[i];
      if (ch == '\r') fputs("\\r", stdout);
      else if (ch == '\n') fputs("\\n", stdout);
      else if (ch < 32 || ch > 126) fprintf(stdout, "\\x%02x", ch);
      else fputc(ch, stdout);
    }
    fputc('"', stdout);
  }
  fputc('\n', stdout);
  exit(3);
}

static int connect_to(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) fail("socket/address", NULL, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "connect %s:%d: %s", host, port, strerror(errno));
    fail(msg, NULL, 0);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void build_request(void) {
  char *val = malloc((size_t)data_size + 1);
  memset(val, 'x', (size_t)data_size);
  val[data_size] = 0;
  size_t cap = strlen(key) + (size_t)data_size + 128;
  req = malloc(cap);
  char *k = strdup(key), *r = strstr(k, "__rand_int__");
  if (keyspace > 0 && !r) keyspace = 0;
  if (keyspace > 0) memcpy(r, "000000000000", 12); /* same length as __rand_int__ */
  key = k;
  int get = strcmp(test, "get") == 0;
  if (strcmp(mode, "memcache") == 0)
    req_len = get ? (size_t)snprintf(req, cap, "get %s\r\n", key)
                  : (size_t)snprintf(req, cap, "set %s 0 0 %d\r\n%s\r\n", key, data_size, val);
  else
    req_len = get ? (size_t)snprintf(req, cap, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key)
                  : (size_t)snprintf(req, cap, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
                                     strlen(key), key, data_size, val);
  if (keyspace > 0) rand_off = (size_t)(strstr(req, key) - req) + (size_t)(r - k);
  batch = malloc(req_len * (size_t)pipeline);
  for (int i = 0; i < pipeline; i++) memcpy(batch + (size_t)i * req_len, req, req_len);
  free(val);
}

/* Is buf[0..len) one complete reply? */
static int probe_complete(const char *buf, size_t len) {
  if (strcmp(mode, "memcache") == 0) {
    if (strcmp(test, "get") == 0)
      return len >= 5 && (memcmp(buf + len - 5, "END\r\n", 5) == 0 || memmem(buf, len, "ERROR", 5));
    return len >= 2 && memcmp(buf + len - 2, "\r\n", 2) == 0;
  }
  const char *eol = memmem(buf, len, "\r\n", 2);
  if (!eol) return 0;
  if (buf[0] != '$') return 1;
  long n = atol(buf + 1);
  if (n < 0) return 1;
  return len >= (size_t)(eol - buf) + 2 + (size_t)n + 2;
}

static void probe(void) {
  int fd = connect_to();
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write(fd, req, req_len) != (ssize_t)req_len) fail("probe write", NULL, 0);
  size_t cap = 1 << 20, len = 0;
  expect = malloc(cap);
  while (!probe_complete(expect, len)) {
    ssize_t r = read(fd, expect + len, cap - len);
    if (r <= 0) fail(r == 0 ? "probe: connection closed" : "probe: no reply in 10 s", expect, len);
    len += (size_t)r;
  }
  close(fd);
  expect_len = len;
  int ok;
  if (strcmp(mode, "memcache") == 0)
    ok = strcmp(test, "get") == 0 ? (len > 6 && memcmp(expect, "VALUE ", 6) == 0)
                                  : (len == 8 && memcmp(expect, "STORED\r\n", 8) == 0);
  else
    ok = strcmp(test, "get") == 0 ? (expect[0] == '$' && expect[1] != '-')
                                  : (len == 5 && memcmp(expect, "+OK\r\n", 5) == 0);
  if (!ok) fail("probe reply is not a hit/success", expect, len);
  wild = calloc(len, 1);
  char *at = keyspace > 0 ? memmem(expect, len, key, strlen(key)) : NULL;
  if (at) memset(wild + (at - expect) + (rand_off - (size_t)(strstr(req, key) - req)), 1, 12);
  if (strcmp(test, "get") == 0) { /* the value: after the first line, its length is the line's last number */
    char *eol = memmem(expect, len, "\r\n", 2), *num = eol;
    while (num > expect && num[-1] >= '0' && num[-1] <= '9') num--;
    size_t vlen = (size_t)atol(num), voff = (size_t)(eol - expect) + 2;
    if (voff + vlen <= len) memset(wild + voff, 2, vlen);
  }
}

static void randomize_keys(char *out, long k) {
  for (long i = 0; i < k; i++) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    uint64_t v = rng % (uint64_t)keyspace;
    char *d = out + (size_t)i * req_len + rand_off;
    for (int j = 11; j >= 0; j--) { d[j] = (char)('0' + v % 10); v /= 10; }
  }
}

/* Does received data match expect[off..off+n)? */
static int matches(const char *got, size_t off, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char w = wild[off + i];
    if (w == 0 ? got[i] != expect[off + i] : w == 1 && (got[i] < '0' || got[i] > '9')) return 0;
  }
  return 1;
}

static void arm(struct conn *c, int out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  if (c->want_out != out) {
    c->want_out = out;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  }
}

static void flush_out(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) { arm(c, 1); return; }
      fail("write failed", NULL, 0);
    }
    c->out_off += (size_t)w;
  }
  arm(c, 0);
}

static void send_batch(struct conn *c) {
  if (issued >= requests) return;
  long k = requests - issued < pipeline ? requests - issued : pipeline;
  issued += k;
  c->inflight = k;
  c->sent_ns = now_ns();
  if (keyspace > 0) randomize_keys(c->out, k);
  c->out_len = (size_t)k * req_len;
  c->out_off = 0;
  flush_out(c);
}

static void record(uint64_t us) {
  if (us < HIST_US) hist[us]++;
  else { hist[HIST_US]++; if (us > over_max_us) over_max_us = us; }
  lat_sum_us += us;
  if (us < lat_min_us) lat_min_us = us;
  if (us > lat_max_us) lat_max_us = us;
}

static void on_read(struct conn *c) {
  static char buf[1 << 16];
  for (;;) {
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      fail("read failed", NULL, 0);
    }
    if (r == 0) fail("connection closed by the server", NULL, 0);
    uint64_t t = now_ns();
    size_t off = 0;
    while (off < (size_t)r) {
      size_t n = expect_len - c->exp_off;
      if (n > (size_t)r - off) n = (size_t)r - off;
      if (!matches(buf + off, c->exp_off, n))
        fail("unexpected reply (differs from the probe's)", buf + off, (size_t)r - off);
      off += n;
      c->exp_off += n;
      if (c->exp_off == expect_len) {
        c->exp_off = 0;
        if (c->inflight <= 0) fail("more replies than requests", buf, (size_t)r);
        c->inflight--;
        finished++;
        record((t - c->sent_ns) / 1000);
      }
    }
    if (c->inflight == 0) send_batch(c);
    if ((size_t)r < sizeof buf) return;
  }
}

static double percentile_ms(double p) {
  uint64_t want = (uint64_t)(p / 100.0 * (double)finished + 0.5), seen = 0;
  if (want < 1) want = 1;
  for (size_t i = 0; i <= HIST_US; i++) {
    seen += hist[i];
    if (seen >= want) return (i == HIST_US ? (double)over_max_us : (double)i) / 1000.0;
  }
  return (double)lat_max_us / 1000.0;
}

int main(int argc, char **argv) {
  int opt;
  while ((opt = getopt(argc, argv, "h:p:m:t:c:P:n:d:k:r:")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'm': mode = optarg; break;
      case 't': test = optarg; break;
      case 'c': clients = atoi(optarg); break;
      case 'P': pipeline = atoi(optarg); break;
      case 'n': requests = atol(optarg); break;
      case 'd': data_size = atoi(optarg); break;
      case 'k': key = optarg; break;
      case 'r': keyspace = atol(optarg); break;
      default:
        fprintf(stderr, "usage: %s -h HOST -p PORT -m memcache|resp -t get|set -c C -P P -n N -d BYTES -k KEY [-r R]\n", argv[0]);
        return 2;
    }
  }
  if ((strcmp(mode, "memcache") && strcmp(mode, "resp")) || (strcmp(test, "get") && strcmp(test, "set")) ||
      clients < 1 || pipeline < 1 || requests < 1 || data_size < 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  hist = calloc(HIST_US + 1, sizeof *hist);
  build_request();
  probe();
  epfd = epoll_create1(0);
  struct conn *conns = calloc((size_t)clients, sizeof *conns);
  for (int i = 0; i < clients; i++) {
    conns[i].fd = connect_to();
    conns[i].out = malloc(req_len * (size_t)pipeline);
    memcpy(conns[i].out, batch, req_len * (size_t)pipeline);
    fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  uint64_t start = now_ns();
  for (int i = 0; i < clients; i++) send_batch(&conns[i]);
  struct epoll_event evs[256];
  while (finished < requests) {
    int n = epoll_wait(epfd, evs, 256, -1);
    if (n < 0 && errno != EINTR) fail("epoll_wait", NULL, 0);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (evs[i].events & EPOLLOUT) flush_out(c);
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_read(c);
    }
  }
  double secs = (double)(now_ns() - start) / 1e9;
  char name[8];
  snprintf(name, sizeof name, "%s", test);
  for (char *p = name; *p; p++) *p = (char)(*p - 32);
  printf("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\","
         "\"p99_latency_ms\",\"max_latency_ms\"\n");
  printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\"\n", name,
         (double)finished / secs, (double)lat_sum_us / (double)finished / 1000.0,
         (double)lat_min_us / 1000.0, percentile_ms(50), percentile_ms(95), percentile_ms(99),
         (double)lat_max_us / 1000.0);
  return 0;
}
"""


def parse_args():
    ap = argparse.ArgumentParser(
        prog="memcached-bench.sh",
        description="GET/SET through puppy-proxy over memcached vs over Redis, with memcached itself "
                    "and twemproxy over memcached as references; interleaved rounds, medians.")
    bl.add_run_args(
        ap, targets=(ALL_TARGETS, f"comma list of {','.join(ALL_TARGETS)} (default all)"),
        tests=(ALL_TESTS, "comma list of get,set (default both; each is its own run)"),
        cases=(list(ALL_CASES), "comma list of c50 (50 clients), c50p16 (50 clients, -P 16), "
                                "c1 (1 client); default all"),
        pin="run every server, proxy and load generator under taskset -c CPU")
    ap.add_argument("--proxy-bin", default=os.environ.get("PUPPY_PROXY_BIN", bl.DEFAULT_PROXY_BIN),
                    help="puppy-proxy binary (default $PUPPY_PROXY_BIN, else "
                         f"{bl.DEFAULT_PROXY_BIN})")
    ap.add_argument("--proxy-arg", action="append", default=[],
                    help="extra argument for every puppy-proxy (repeatable), e.g. --proxy-arg=--threads=2")
    ap.add_argument("--memcached-threads", type=int, default=None,
                    help="memcached -t (default: memcached's own default, 4)")
    ap.add_argument("--data-size", type=int, default=3, help="value size in bytes (default 3)")
    ap.add_argument("--keyspace", type=int, default=10000,
                    help="random keys key:000000000000 .. (redis-benchmark -r), all written before the "
                         "runs so every GET hits; default 10000, so a 3-server pool gets traffic on "
                         "every server; 0 = the single key key:__rand_int__")
    bl.add_timeout_arg(ap)
    ap.add_argument("--results-dir", default=os.path.join(bl.BENCH_DIR, "results"),
                    help="parent folder for the results (default bench/results)")
    ap.add_argument("--label", default=None, help="suffix for the results folder name")
    a = ap.parse_args()
    bl.check_run_args(ap, a)
    if a.keyspace < 0 or a.data_size < 1:
        ap.error("--keyspace must be >= 0 and --data-size >= 1")
    return a


class Target:
    def __init__(self, name, port, procs, servers, proxy=None):
        self.name = name
        self.tool, self.protocol, self.via = TARGETS[name]
        self.port = port
        self.procs = procs      # every process this target depends on (checked after failures)
        self.servers = servers  # the redis-server / memcached processes behind it (CPU per run)
        self.proxy = proxy      # the proxy process (CPU per run)
        self.disabled = None    # reason, once it stopped working


def build_mcload(out_dir):
    src = os.path.join(out_dir, "logs", "mcload.c")
    binary = os.path.join(out_dir, "mcload")
    with open(src, "w") as f:
        f.write(MCLOAD_C)
    return bl.compile_c(src, binary)


def keys_of(keyspace):
    return [KEY] if keyspace == 0 else [f"key:{i:012d}" for i in range(keyspace)]


def fill(port, protocol, keys, value, chunk=1000):
    """Writes value to every key through the target, pipelined; raises RuntimeError on a reply
    that is not a success."""
    import socket
    ok_reply = b"+OK\r\n" if protocol == "resp" else b"STORED\r\n"
    with socket.create_connection((bl.HOST, port), timeout=30) as s:
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            if protocol == "resp":
                payload = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                                   % (len(k), k.encode(), len(value), value.encode()) for k in part)
            else:
                payload = b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(value), value.encode())
                                   for k in part)
            s.sendall(payload)
            want = ok_reply * len(part)
            got = b""
            while len(got) < len(want):
                data = s.recv(1 << 16)
                if not data:
                    raise RuntimeError(f"connection closed after {len(got)} bytes of replies")
                got += data
            if got != want:
                bad = got.replace(ok_reply, b"")[:200]
                raise RuntimeError(f"unexpected reply while writing keys: {bad!r}")


def run_argv(a, t, mcload, test, case, n, cpu):
    clients, pipeline = ALL_CASES[case]
    if t.tool == "redis-benchmark":
        return bl.benchmark_argv(t.port, test, clients, pipeline, n, a.data_size, a.keyspace, cpu=cpu)
    argv = [mcload, "-h", bl.HOST, "-p", str(t.port), "-m", t.protocol, "-t", test,
            "-c", str(clients), "-P", str(pipeline), "-n", str(n), "-d", str(a.data_size), "-k", KEY]
    if a.keyspace:
        argv += ["-r", str(a.keyspace)]
    return (["taskset", "-c", str(cpu)] if cpu is not None else []) + argv


def case_title(test, case, n):
    clients, pipeline = ALL_CASES[case]
    pipe = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    return f"{test.upper()}, {clients} client{'s' if clients > 1 else ''}, {pipe} (n={n:,} per run)"


def cpu_sum(procs):
    vals = [bl.cpu_seconds(p.pid) for p in procs]
    if any(v is None for v in vals):
        return None
    return sum(v[0] for v in vals), sum(v[1] for v in vals)


def fmt_range(xs):
    """median [min-max] of per-round values."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{bl.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def main():
    a = parse_args()
    needed = ["redis-server", "redis-benchmark", "memcached", "nutcracker", "taskset"]
    for tool in needed:
        if not shutil.which(tool):
            bl.die(f"{tool} not found in PATH")
    if any(t.startswith("puppy") for t in a.targets) and not os.access(a.proxy_bin, os.X_OK):
        bl.die(f"puppy-proxy binary {a.proxy_bin} not found; build it first (see bench/README.md)")

    mode, cpu = bl.pin_mode(a)
    out_dir, logs, meta = bl.start_results(a, "memcached-bench.sh", "memcached-" + mode)
    mcload = build_mcload(out_dir)

    meta += bl.run_meta(a) + [f"data size: {a.data_size}  keyspace: {a.keyspace or 'single key'}"]
    versions = bl.tool_versions(a.proxy_bin, leave_out=("valgrind",))
    versions["memcached"] = subprocess.run(["memcached", "-V"], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT).stdout.decode().strip()
    meta += [f"{k}: {v}" for k, v in versions.items()]

    # --- servers ------------------------------------------------------------------------------
    wanted = set(a.targets)
    redis = redis_port = None
    if wanted & {"redis", "puppy-redis", "mcload-redis"}:
        redis, redis_port = bl.start_redis(logs, "redis", cpu=cpu)
        bl.log(f"redis-server pid {redis.pid} on port {redis_port}")
    mcs = []  # (Proc, port) of memcached servers; the first serves the 1-server targets
    n_mc = 3 if wanted & {"puppy-mc3", "twemproxy-mc3"} else (
        1 if wanted & {"memcached", "puppy-mc1", "twemproxy-mc1"} else 0)
    for i in range(n_mc):
        p, port = bl.start_memcached(logs, f"memcached{i + 1}", cpu=cpu, threads=a.memcached_threads)
        bl.log(f"memcached{i + 1} pid {p.pid} on port {port}")
        mcs.append((p, port))
    mc_procs = [p for p, _ in mcs]
    mc_ports = [port for _, port in mcs]
    targets = []
    for name in a.targets:
        if name == "redis":
            targets.append(Target(name, redis_port, [redis], [redis]))
        elif name == "mcload-redis":
            targets.append(Target(name, redis_port, [redis], [redis]))
        elif name == "memcached":
            targets.append(Target(name, mc_ports[0], mc_procs[:1], mc_procs[:1]))
        elif name == "puppy-redis":
            pp, port = bl.start_puppy(a.proxy_bin, redis_port, logs, name, cpu=cpu,
                                      extra_args=a.proxy_arg)
            targets.append(Target(name, port, [pp, redis], [redis], proxy=pp))
        elif name in ("puppy-mc1", "puppy-mc3"):
            k = 1 if name.endswith("1") else 3
            pp, port = bl.start_puppy_memcached(a.proxy_bin, mc_ports[:k], logs, name, cpu=cpu,
                                                extra_args=a.proxy_arg)
            targets.append(Target(name, port, [pp] + mc_procs[:k], mc_procs[:k], proxy=pp))
        else:  # twemproxy-mc1 / -mc3
            k = 1 if name.endswith("1") else 3
            tw, port = bl.start_nutcracker_memcache(mc_ports[:k], logs, name, cpu=cpu)
            targets.append(Target(name, port, [tw] + mc_procs[:k], mc_procs[:k], proxy=tw))
        bl.log(f"{name}: port {targets[-1].port}" +
               (f", pid {targets[-1].proxy.pid}" if targets[-1].proxy else ""))
    meta.append("processes: " + "; ".join(f"{t.name} port {t.port}" for t in targets)
                + "; memcached ports " + ",".join(map(str, mc_ports)))
    meta.append("twemproxy config (memcached pool):\n" + bl.NUTCRACKER_MEMCACHE_YAML.format(
        host=bl.HOST, port="<port>", servers="   - 127.0.0.1:<memcached port>:1  (x1 or x3)").rstrip())

    # Every key a run can ask for holds the value, through every target (so each pool has it
    # where that target looks for it, and every GET hits). mcload checks every reply.
    keys = keys_of(a.keyspace)
    value = "x" * a.data_size  # what redis-benchmark -d writes
    for t in targets:
        if t.name in ("puppy-redis", "mcload-redis"):
            continue  # same redis-server as "redis"; filled through it (or below if absent)
        t0 = time.monotonic()
        try:
            fill(t.port, t.protocol, keys, value)
        except (OSError, RuntimeError) as e:
            bl.die(f"writing the {len(keys)} keys through {t.name} failed: {e}")
        bl.log(f"wrote {len(keys)} keys through {t.name} in {time.monotonic() - t0:.1f}s")
    if redis and "redis" not in wanted:
        fill(redis_port, "resp", keys, value)

    cases = [(test, case) for test in a.tests for case in a.cases]
    incidents = []

    # --- calibration --------------------------------------------------------------------------
    def calibration_run(t, case, n):
        r = bl.run_benchmark(run_argv(a, t, mcload, case[0], case[1], n, cpu), timeout=300)
        return r, r["rows"].get(case[0].upper())

    requests, expected_rps = bl.calibrate(cases, targets, a.seconds, a.requests,
                                          lambda c: ALL_CASES[c[1]], calibration_run, incidents)
    meta.append("requests per run: " + ", ".join(f"{t} {c}={requests[(t, c)]}" for t, c in cases))

    # --- interleaved rounds -------------------------------------------------------------------
    raw_file = open(os.path.join(out_dir, "raw.csv"), "w", newline="")
    raw = csv.DictWriter(raw_file, fieldnames=RAW_FIELDS)
    raw.writeheader()
    results = {}  # (test, case, target) -> {round: record}
    total = a.rounds * len(cases) * len(targets)
    done = 0
    t_start = time.monotonic()
    for done, rnd, (test, case), pos, t in bl.interleaved_runs(a.rounds, cases, targets):
        if t.disabled:
            continue
        n = requests[(test, case)]
        timeout = bl.run_timeout(a.timeout, n, expected_rps.get((test, case)))
        argv = run_argv(a, t, mcload, test, case, n, cpu)
        cpu0 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid), "server": cpu_sum(t.servers)}
        r = bl.run_benchmark(argv, timeout)
        cpu1 = {"proxy": t.proxy and bl.cpu_seconds(t.proxy.pid), "server": cpu_sum(t.servers)}
        row = r["rows"].get(test.upper())
        rec = bl.run_record(r, row, n, cpu0, cpu1, mode=mode, round=rnd, case=case, test=test,
                            clients=ALL_CASES[case][0], pipeline=ALL_CASES[case][1], requests=n,
                            target=t.name, position=pos)
        raw.writerow(rec)
        raw_file.flush()
        if rec["status"] == "ok":
            results.setdefault((test, case, t.name), {})[rnd] = rec
            bl.log(f"[{done}/{total}] round {rnd} {test} {case:6s} {t.name:13s} "
                   f"{row['rps']:>11,.0f} rps  p50 {row['p50_latency_ms']:.3f} ms  "
                   f"p99 {row['p99_latency_ms']:.3f} ms  ({r['wall_s']:.1f}s)")
            continue
        bl.report_failure(f"round {rnd} {test} {case} {t.name}", r, argv, t, targets, incidents,
                          ping=bl.wait_ping if t.protocol == "resp" else bl.wait_memcache)
    raw_file.close()
    elapsed = time.monotonic() - t_start

    # --- shut down, check exit codes and logs -------------------------------------------------
    servers = [redis] + mc_procs if redis else mc_procs
    for t in targets:
        if t.proxy and t.proxy in bl._procs:
            rc = bl.stop_process(t.proxy)
            if rc not in t.proxy.ok_exit_codes:
                incidents.append(f"{t.proxy.name} (pid {t.proxy.pid}) on SIGTERM at the end: "
                                 f"{bl.describe_exit(rc)}; log tail:\n" + t.proxy.log_tail(15))
    for p in servers:
        if p in bl._procs:
            bl.stop_process(p)
    for t in targets:
        if t.name.startswith("puppy"):
            with open(os.path.join(logs, f"{t.name}.log"), errors="replace") as f:
                lines = [line for line in f.read().splitlines() if not line.startswith("$ ")]
            if lines:
                incidents.append(f"{t.name} logged {len(lines)} line(s) at warn or above, e.g.:\n    "
                                 + "\n    ".join(lines[:10]))

    # --- summary -------------------------------------------------------------------------------
    out = [f"puppy-proxy over memcached -- mode: {mode}"
           + (f" (everything under taskset -c {cpu})" if a.pin else " (no CPU pinning)"),
           f"{a.rounds} interleaved rounds, medians over rounds; {done} runs in {elapsed:.0f}s; "
           f"results in {out_dir}",
           f"puppy-proxy: {versions['puppy-proxy']}",
           f"keys: {a.keyspace or 1} ({'random, -r ' + str(a.keyspace) if a.keyspace else 'one key'}), "
           f"{a.data_size}-byte values, every GET a hit",
           f"load average at start: {versions['loadavg at start']}; at end: "
           f"{open('/proc/loadavg').read().strip()}",
           "rps = requests/s (median over rounds); spread = (max-min)/median of rps; p50/p99 = "
           "latency in ms (median over rounds);",
           "proxy / server cpu = CPU time (user+sys, all threads) of the proxy / of the servers "
           "behind it per request (from /proc, 10 ms ticks);",
           "ratios are computed within each round (both runs of the round succeeded): median "
           "[min-max] over the rounds."]
    summary_rows = []
    ratio_rows = []
    names = [t.name for t in targets]
    for (test, case) in cases:
        n = requests[(test, case)]
        rows = []
        for t in targets:
            recs = list(results.get((test, case, t.name), {}).values())
            rps = [float(r["rps"]) for r in recs]
            m = dict(rps=bl.median(rps),
                     p50=bl.median([float(r["p50_latency_ms"]) for r in recs]),
                     p99=bl.median([float(r["p99_latency_ms"]) for r in recs]),
                     spread=((max(rps) - min(rps)) / bl.median(rps) * 100) if rps else None)
            for who in ("proxy", "server"):
                vals = [float(r[f"{who}_user_us_per_req"]) + float(r[f"{who}_sys_us_per_req"])
                        for r in recs if r.get(f"{who}_user_us_per_req") not in (None, "")]
                m[f"{who}_cpu"] = bl.median(vals)
            rows.append([t.name, t.tool, f"{len(recs)}/{a.rounds}", fmt_rps(m["rps"]),
                         "-" if m["spread"] is None else f"{m['spread']:.0f}%",
                         fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["proxy_cpu"]),
                         fmt_us(m["server_cpu"])])
            summary_rows.append(dict(mode=mode, test=test, case=case, clients=ALL_CASES[case][0],
                                     pipeline=ALL_CASES[case][1], requests=n, target=t.name,
                                     tool=t.tool, runs_ok=len(recs), rounds=a.rounds,
                                     rps_median=m["rps"], rps_spread_pct=m["spread"],
                                     p50_ms_median=m["p50"], p99_ms_median=m["p99"],
                                     proxy_cpu_us_per_req=m["proxy_cpu"],
                                     server_cpu_us_per_req=m["server_cpu"]))
        out.append("")
        out.append("== " + case_title(test, case, n))
        out.append(bl.format_table(["target", "client", "ok", "rps", "spread", "p50 ms", "p99 ms",
                                    "proxy cpu us/req", "server cpu us/req"], rows))
        rrows = []
        for num, den, what in RATIOS:
            if num not in names or den not in names:
                continue
            a_runs = results.get((test, case, num), {})
            b_runs = results.get((test, case, den), {})
            per_round = [ratio(float(a_runs[r]["rps"]), float(b_runs[r]["rps"]))
                         for r in sorted(a_runs) if r in b_runs]
            rrows.append([f"{num} / {den}", fmt_range(per_round), len(per_round), what])
            ratio_rows.append(dict(mode=mode, test=test, case=case, numerator=num, denominator=den,
                                   rounds=len(per_round), median=bl.median(per_round),
                                   min=min(per_round) if per_round else None,
                                   max=max(per_round) if per_round else None))
        if rrows:
            out.append("")
            out.append(bl.format_table(["rps ratio", "median [min-max]", "rounds", "meaning"], rrows,
                                       align="lrrl"))
    # Overview: the headline ratios for every case.
    heads = [(n_, d_) for n_, d_, _ in RATIOS if n_ in names and d_ in names]
    if heads:
        out.append("")
        out.append("== Overview: median of per-round rps ratios")
        ov = []
        for (test, case) in cases:
            row = [f"{test.upper()} {case}"]
            for n_, d_ in heads:
                rr = [r for r in ratio_rows if (r["test"], r["case"], r["numerator"],
                                                r["denominator"]) == (test, case, n_, d_)]
                row.append(fmt_ratio(rr[0]["median"]) if rr else "-")
            ov.append(row)
        out.append(bl.format_table(["case"] + [f"{n_}/{d_}" for n_, d_ in heads], ov))
    out.append("")
    out += bl.problems_lines(incidents, "every run succeeded, all processes exited cleanly, "
                                        "puppy-proxy logged nothing at warn or above")
    text = "\n".join(out) + "\n"

    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)

    bl.write_csv(os.path.join(out_dir, "summary.csv"), summary_rows, "mode")
    bl.write_csv(os.path.join(out_dir, "ratios.csv"), ratio_rows, "mode")
    with open(os.path.join(out_dir, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + f"\nloadavg at end: {open('/proc/loadavg').read().strip()}\n")
    print(text, end="")
    return 1 if any(t.disabled for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
