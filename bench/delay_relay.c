/* A TCP relay that holds every byte for a fixed delay in each direction: a stand-in for a
 * network between a client and Redis (bench/README.md, "pget-remote-bench.sh").
 *
 *   delay_relay LISTEN_PORT UPSTREAM_PORT DELAY_US [SPIN_US]     (127.0.0.1 on both sides)
 *
 * Each accepted connection gets its own connection to 127.0.0.1:UPSTREAM_PORT. What is read on
 * one side is written to the other side DELAY_US microseconds after it was read, in order; an
 * end of stream is passed on (shutdown(SHUT_WR)) after the same delay; a reset closes both.
 * Why not tc netem: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set). Why C: a
 * Python event loop waits in whole milliseconds (selectors rounds epoll timeouts up to 1 ms) and
 * adds tens of microseconds per hop.
 *
 * One thread, epoll, one timerfd. The delay is the same for every chunk, so chunks fall due in
 * the order they were read: one FIFO over all connections is a timer queue. A timer wake-up is
 * late by tens of microseconds on a VM, so the timerfd is armed SPIN_US (default 100) before
 * the first chunk falls due, and from then on the loop polls epoll without blocking until it
 * is delivered: chunks go out within a few microseconds of their time, at the price of up to
 * SPIN_US of CPU per chunk (0: no polling, the timer alone). The timer slack is 1 ns. What is
 * left is the same for every connection through the relay. Connecting to the upstream is not
 * delayed (it is immediate on loopback); only data and the ends of streams are.
 *
 * On SIGTERM it prints how late chunks were delivered (time of the write minus the time they
 * fell due: the wake-up latency added to DELAY_US) and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define LATE_BUCKETS 10001 /* lateness histogram: 1 us buckets, the last one is >= 10 ms */

struct side {
  int fd;
  struct side *peer;
  struct pair *pair;
  char *out;          /* bytes due but not yet accepted by the socket */
  size_t out_len, out_cap;
  int eof_pending;    /* an end of stream is due after `out` */
  int eof_sent;
  int read_closed;
  int removed;       /* no longer in epoll (hung up after both ends were shut) */
};

struct pair {
  struct side a, b;  /* a: the accepted client, b: the upstream */
  int queued;        /* chunks in the FIFO that name this pair */
  int dead;          /* closed; freed once no chunk names it, after the event batch */
  struct pair *next_dead;
};

struct chunk {
  struct chunk *next;
  struct side *to;
  uint64_t due_ns;
  size_t len;        /* 0: an end of stream */
  char data[];
};

static struct chunk *head, *tail;
static struct pair *graveyard;
static int ep, tfd;
static uint64_t armed_ns;
static uint64_t delay_ns, spin_ns = 100000;
static uint64_t late_hist[LATE_BUCKETS], late_count, late_max_ns;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void watch(struct side *s) {
  if (s->removed) return;
  struct epoll_event ev = {0};
  ev.events = (s->read_closed ? 0 : EPOLLIN) | (s->out_len ? EPOLLOUT : 0);
  ev.data.ptr = s;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0) die("epoll_ctl mod");
}

/* Frees the closed pairs that no queued chunk names any more (between event batches, so no
 * event of the batch can still point at one). */
static void bury(void) {
  struct pair **pp = &graveyard;
  while (*pp) {
    struct pair *p = *pp;
    if (p->queued) {
      pp = &p->next_dead;
      continue;
    }
    *pp = p->next_dead;
    free(p->a.out);
    free(p->b.out);
    free(p);
  }
}

static void kill_pair(struct pair *p) {
  if (p->dead) return;
  p->dead = 1;
  close(p->a.fd);
  close(p->b.fd);
  p->next_dead = graveyard;
  graveyard = p;
}

static void maybe_finish(struct pair *p) {
  if (p->a.eof_sent && p->b.eof_sent) kill_pair(p);
}

/* Writes what is due for side s (its backlog first). */
static void flush_side(struct side *s) {
  while (s->out_len) {
    ssize_t n = write(s->fd, s->out, s->out_len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      kill_pair(s->pair);
      return;
    }
    memmove(s->out, s->out + n, s->out_len - (size_t)n);
    s->out_len -= (size_t)n;
  }
  if (!s->out_len && s->eof_pending && !s->eof_sent) {
    shutdown(s->fd, SHUT_WR);
    s->eof_sent = 1;
    maybe_finish(s->pair);
    if (s->pair->dead) return;
  }
  watch(s);
}

static void deliver(struct chunk *c) {
  struct side *s = c->to;
  if (s->pair->dead) return;
  if (c->len == 0) {
    s->eof_pending = 1;
  } else {
    if (s->out_len + c->len > s->out_cap) {
      s->out_cap = (s->out_len + c->len) * 2;
      s->out = realloc(s->out, s->out_cap);
      if (!s->out) die("realloc");
    }
    memcpy(s->out + s->out_len, c->data, c->len);
    s->out_len += c->len;
  }
  flush_side(s);
}

static void arm_timer(void) {
  if (!head) return;
  uint64_t at = head->due_ns > spin_ns ? head->due_ns - spin_ns : 1;
  if (armed_ns == at) return;
  struct itimerspec its = {0};
  its.it_value.tv_sec = (time_t)(at / 1000000000ull);
  its.it_value.tv_nsec = (long)(at % 1000000000ull);
  if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
  armed_ns = at;
}

static void run_due(void) {
  uint64_t now = now_ns();
  while (head && head->due_ns <= now) {
    struct chunk *c = head;
    head = c->next;
    if (!head) tail = NULL;
    struct pair *p = c->to->pair;
    uint64_t late = now - c->due_ns;
    late_hist[late / 1000 < LATE_BUCKETS - 1 ? late / 1000 : LATE_BUCKETS - 1]++;
    late_count++;
    if (late > late_max_ns) late_max_ns = late;
    deliver(c);
    p->queued--;
    free(c);
    if (!head) break;
    if (head->due_ns > now) now = now_ns();
  }
  arm_timer();
}

static void enqueue(struct side *to, const char *data, size_t len) {
  struct chunk *c = malloc(sizeof *c + len);
  if (!c) die("malloc");
  c->next = NULL;
  c->to = to;
  c->due_ns = now_ns() + delay_ns;
  c->len = len;
  if (len) memcpy(c->data, data, len);
  to->pair->queued++;
  if (tail) tail->next = c; else head = c;
  tail = c;
}

static void on_readable(struct side *s, uint32_t events) {
  static char buf[BUF_SIZE];
  if (s->read_closed) {
    /* Only a hang-up can be reported now: both ends are shut (or an error). */
    if (events & EPOLLERR) {
      kill_pair(s->pair);
    } else if (!s->removed) {
      epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
      s->removed = 1;
    }
    return;
  }
  ssize_t n = read(s->fd, buf, sizeof buf);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    kill_pair(s->pair);
    return;
  }
  if (n == 0) {
    s->read_closed = 1;
    watch(s);
    enqueue(s->peer, NULL, 0);
    return;
  }
  enqueue(s->peer, buf, (size_t)n);
}

static void add_side(struct side *s, int fd, struct side *peer, struct pair *p) {
  s->fd = fd;
  s->peer = peer;
  s->pair = p;
  struct epoll_event ev = {0};
  ev.events = EPOLLIN;
  ev.data.ptr = s;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
}

static void on_accept(int lfd, int upstream_port) {
  int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
  if (cfd < 0) return;
  int ufd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in ua = {0};
  ua.sin_family = AF_INET;
  ua.sin_port = htons((uint16_t)upstream_port);
  ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (ufd < 0 || connect(ufd, (struct sockaddr *)&ua, sizeof ua) < 0) {
    perror("connect upstream");
    close(cfd);
    if (ufd >= 0) close(ufd);
    return;
  }
  set_nonblock(ufd);
  set_nodelay(cfd);
  set_nodelay(ufd);
  struct pair *p = calloc(1, sizeof *p);
  if (!p) die("calloc");
  add_side(&p->a, cfd, &p->b, p);
  add_side(&p->b, ufd, &p->a, p);
}

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static uint64_t late_percentile(double q) {
  uint64_t want = (uint64_t)(q * (double)late_count), seen = 0;
  for (int i = 0; i < LATE_BUCKETS; ++i) {
    seen += late_hist[i];
    if (seen > want) return (uint64_t)i;
  }
  return LATE_BUCKETS - 1;
}

static void report(void) {
  if (!late_count) {
    fprintf(stderr, "delay_relay: lateness: no chunk delivered\n");
    return;
  }
  fprintf(stderr,
          "delay_relay: lateness: %llu chunks, p50 %llu us, p90 %llu us, p99 %llu us, max %.0f us "
          "(1 us buckets)\n",
          (unsigned long long)late_count, (unsigned long long)late_percentile(0.5),
          (unsigned long long)late_percentile(0.9), (unsigned long long)late_percentile(0.99),
          (double)late_max_ns / 1000.0);
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT DELAY_US [SPIN_US]\n", argv[0]);
    return 2;
  }
  int listen_port = atoi(argv[1]), upstream_port = atoi(argv[2]);
  delay_ns = (uint64_t)(atof(argv[3]) * 1000.0);
  if (argc == 5) spin_ns = (uint64_t)(atof(argv[4]) * 1000.0);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: epoll_wait returns EINTR */
  sigaction(SIGINT, &sa, NULL);
  /* The signals are let in only while waiting, so none is missed between check and wait. */
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGTERM);
  sigdelset(&waiting, SIGINT);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in la = {0};
  la.sin_family = AF_INET;
  la.sin_port = htons((uint16_t)listen_port);
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&la, sizeof la) < 0) die("bind");
  if (listen(lfd, 1024) < 0) die("listen");

  ep = epoll_create1(0);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (ep < 0 || tfd < 0) die("epoll/timerfd");
  struct epoll_event ev = {0};
  ev.events = EPOLLIN;
  ev.data.ptr = &lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &tfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  fprintf(stderr, "delay_relay: 127.0.0.1:%d -> 127.0.0.1:%d, %.1f us each way, polling the last "
          "%.1f us\n", listen_port, upstream_port, (double)delay_ns / 1000.0,
          (double)spin_ns / 1000.0);

  struct epoll_event evs[256];
  for (;;) {
    /* Block (the timer wakes us SPIN_US early), or poll once a chunk is about to fall due. */
    int timeout = head && head->due_ns <= now_ns() + spin_ns ? 0 : -1;
    int n = epoll_pwait(ep, evs, 256, timeout, &waiting);
    if (stopping) {
      report();
      return 0;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      void *ptr = evs[i].data.ptr;
      if (ptr == &lfd) {
        on_accept(lfd, upstream_port);
      } else if (ptr == &tfd) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("timerfd");
        armed_ns = 0;
      } else {
        struct side *s = ptr;
        if (s->pair->dead) continue;
        if (evs[i].events & EPOLLOUT) flush_side(s);
        if (s->pair->dead) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(s, evs[i].events);
      }
    }
    run_due();
    bury();
  }
}
