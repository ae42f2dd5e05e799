/* A lean load generator for one repeated command whose reply never changes (a fresh PGET, a GET
 * of an unchanging key): what redis-benchmark measures when it is not itself the bottleneck
 * (bench/README.md, "pget-capacity-bench.sh").
 *
 *   loadgen PORT CONNECTIONS PIPELINE REQUESTS WORD...          (127.0.0.1)
 *
 * The command (WORD...) is encoded once as a RESP array. One probe request on a connection of
 * its own gives the reply; it must be a whole RESP reply that is not an error. Then CONNECTIONS
 * connections each write PIPELINE requests at once (one write), wait for PIPELINE replies and
 * start over until REQUESTS requests were answered in all. Every reply is compared byte for byte
 * with the probe's, so a wrong or failed answer is never counted (the run fails instead). One
 * thread, epoll: per batch a write and (usually) a read, nothing parsed, so a request costs far
 * less here than in the server being measured.
 *
 * Prints one line: "requests=N seconds=S rps=R cpu_us_per_req=C" (C: this process's own CPU
 * time per request, user+sys). Exit 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  size_t batch;      /* requests in flight on this connection */
  size_t got;        /* bytes of this batch's replies received so far */
  char *rx;          /* batch * reply_len bytes */
};

static char *request, *reply, *batch_req;
static size_t request_len, reply_len;

static void fail(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
  exit(1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) fail("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write");
    p += w;
    n -= (size_t)w;
  }
}

/* Length of the whole RESP reply at p[0..n), 0 if incomplete, -1 if not RESP. Enough for the
 * replies measured here: simple types, bulk strings, nested arrays. */
static long resp_len(const char *p, size_t n) {
  const char *end = memchr(p, '\n', n);
  if (n == 0 || end == NULL) return 0;
  long head = end - p + 1;
  long count = strtol(p + 1, NULL, 10);
  switch (p[0]) {
    case '+': case '-': case ':': case '_': case '#': case ',':
      return head;
    case '$':
      if (count < 0) return head;
      return (size_t)(head + count + 2) <= n ? head + count + 2 : 0;
    case '*': case '%': case '~': {
      long at = head;
      if (p[0] == '%') count *= 2;
      for (long i = 0; i < count; ++i) {
        long len = resp_len(p + at, n - (size_t)at);
        if (len <= 0) return len;
        at += len;
      }
      return at;
    }
    default:
      return -1;
  }
}

static void encode(int argc, char **argv) {
  size_t cap = 32;
  for (int i = 0; i < argc; ++i) cap += strlen(argv[i]) + 32;
  request = malloc(cap);
  int n = sprintf(request, "*%d\r\n", argc);
  for (int i = 0; i < argc; ++i) n += sprintf(request + n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
  request_len = (size_t)n;
}

static void probe(int port) {
  int fd = connect_to(port);
  write_all(fd, request, request_len);
  size_t cap = 1 << 20, got = 0;
  reply = malloc(cap);
  long len = 0;
  while ((len = resp_len(reply, got)) == 0) {
    ssize_t r = read(fd, reply + got, cap - got);
    if (r <= 0) fail("probe read");
    got += (size_t)r;
  }
  if (len < 0) fail("probe: the reply is not RESP");
  if (reply[0] == '-') {
    fprintf(stderr, "loadgen: the command fails: %.*s", (int)len, reply);
    exit(1);
  }
  reply_len = (size_t)len;
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: loadgen PORT CONNECTIONS PIPELINE REQUESTS WORD...\n");
    return 2;
  }
  const int port = atoi(argv[1]);
  const size_t conns = strtoul(argv[2], NULL, 10), pipeline = strtoul(argv[3], NULL, 10);
  const size_t total = strtoul(argv[4], NULL, 10);
  if (conns == 0 || pipeline == 0 || total == 0) fail("CONNECTIONS, PIPELINE, REQUESTS > 0");
  encode(argc - 5, argv + 5);
  probe(port);
  batch_req = malloc(request_len * pipeline);
  for (size_t i = 0; i < pipeline; ++i) memcpy(batch_req + i * request_len, request, request_len);

  int ep = epoll_create1(0);
  struct conn *cs = calloc(conns, sizeof *cs);
  for (size_t i = 0; i < conns; ++i) {
    cs[i].fd = connect_to(port);
    cs[i].rx = malloc(reply_len * pipeline);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) fail("epoll_ctl");
  }
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  const double t0 = now_s();
  size_t sent = 0, done = 0;
  for (size_t i = 0; i < conns && sent < total; ++i) {
    size_t b = total - sent < pipeline ? total - sent : pipeline;
    cs[i].batch = b;
    sent += b;
    write_all(cs[i].fd, batch_req, b * request_len);
  }
  struct epoll_event evs[256];
  while (done < total) {
    int n = epoll_wait(ep, evs, 256, 10000);
    if (n <= 0) fail(n == 0 ? "no reply for 10 s" : "epoll_wait");
    for (int e = 0; e < n; ++e) {
      struct conn *c = evs[e].data.ptr;
      size_t want = c->batch * reply_len;
      ssize_t r = read(c->fd, c->rx + c->got, want - c->got);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) fail("read (the server closed the connection?)");
      c->got += (size_t)r;
      if (c->got < want) continue;
      for (size_t k = 0; k < c->batch; ++k) {
        if (memcmp(c->rx + k * reply_len, reply, reply_len) != 0) {
          fprintf(stderr, "loadgen: reply %zu differs from the probe's: %.*s\n", done + k,
                  (int)reply_len, c->rx + k * reply_len);
          return 1;
        }
      }
      done += c->batch;
      c->got = 0;
      c->batch = total - sent < pipeline ? total - sent : pipeline;
      if (c->batch > 0) {
        sent += c->batch;
        write_all(c->fd, batch_req, c->batch * request_len);
      }
    }
  }
  const double secs = now_s() - t0;
  getrusage(RUSAGE_SELF, &ru1);
  const double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                     (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                     (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                     (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  printf("requests=%zu seconds=%.6f rps=%.1f cpu_us_per_req=%.3f\n", done, secs, done / secs,
         cpu * 1e6 / done);
  return 0;
}
