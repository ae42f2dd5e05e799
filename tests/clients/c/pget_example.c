/* PGET from C with hiredis (Debian's libhiredis-dev): the lease / PSET / WAIT cycle of
 * docs/pget.md through the client's generic command call, redisCommand(ctx, "PGET %s ...").
 *
 * Built as the CMake target pget_example_c and run by CTest as `with_servers pget_example_c`
 * (tests/clients/CMakeLists.txt): with_servers starts a redis-server and a puppy-proxy and exports
 * PUPPY_PROXY_PORT. Exits non-zero with a message on the first mismatch. */
#include <hiredis/hiredis.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void check(int ok, const char* format, ...) {
  va_list args;
  if (ok) return;
  fputs("pget_example_c: FAILED: ", stderr);
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
  exit(1);
}

/* A reply of the given type, or exit with what came instead (an error reply, a lost connection). */
static redisReply* expect(redisContext* ctx, redisReply* reply, int type, const char* what) {
  check(reply != NULL, "%s: %s", what, ctx->errstr);
  check(reply->type == type, "%s: unexpected reply type %d%s%s", what, reply->type,
        reply->type == REDIS_REPLY_ERROR ? ": " : "",
        reply->type == REDIS_REPLY_ERROR ? reply->str : "");
  return reply;
}

static long long integer_reply(redisContext* ctx, redisReply* reply, const char* what) {
  long long n = expect(ctx, reply, REDIS_REPLY_INTEGER, what)->integer;
  freeReplyObject(reply);
  return n;
}

/* What the last cached() call saw, for the checks below: PGET's reply (kept until the next
 * call), PSET's and PRELEASE's answers (-1: not sent). */
static struct {
  redisReply* pget;
  long long stored, released;
} last;

/* Computes a value: a malloc'd string, or NULL if it failed. */
typedef char* (*compute_fn)(const char* arg);

/* The value of key (malloc'd): fresh or stale as it is; on a lease, computed and stored. NULL if
 * the computation failed (the lease is then given back) or on a miss. Values are C strings here;
 * "%b" with a length sends binary ones. */
static char* cached(redisContext* ctx, const char* key, compute_fn compute, const char* arg) {
  redisReply* reply = redisCommand(ctx, "PGET %s 60 5 WAIT 5000", key);
  const char *state, *token;
  char* value;

  expect(ctx, reply, REDIS_REPLY_ARRAY, "PGET");
  check(reply->elements == 3, "PGET answers 3 elements (got %zu)", reply->elements);
  if (last.pget) freeReplyObject(last.pget);
  last.pget = reply;
  last.stored = last.released = -1;
  state = reply->element[0]->str;
  value = reply->element[1]->type == REDIS_REPLY_STRING ? strdup(reply->element[1]->str) : NULL;
  token = reply->element[2]->str; /* NULL unless state is "lease" */
  if (strcmp(state, "lease") == 0) {
    free(value);
    value = compute(arg);
    if (value == NULL) { /* give the lease back: the next reader gets it */
      last.released =
          integer_reply(ctx, redisCommand(ctx, "PRELEASE %s %s", key, token), "PRELEASE");
      return NULL;
    }
    last.stored =
        integer_reply(ctx, redisCommand(ctx, "PSET %s %s %s 60 5", key, token, value), "PSET");
  }
  return value;
}

static int computed;
static char* compute_ok(const char* v) {
  computed++;
  return strdup(v);
}
static char* compute_fails(const char* v) {
  (void)v;
  return NULL;
}

/* A reply element as text for comparisons and messages: its string, or "(nil)". */
static const char* text(const redisReply* e) {
  return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : "(nil)";
}

/* Element i of the last cached() call's PGET reply, [state, value, token]. */
static const char* got(size_t i) {
  return text(last.pget->element[i]);
}

static int is_hex32(const char* s) {
  return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static redisContext* connect_proxy(int port) {
  struct timeval timeout = {10, 0}; /* outlasts WAIT */
  redisContext* ctx = redisConnect("127.0.0.1", port);
  check(ctx && !ctx->err, "connect to the proxy: %s", ctx ? ctx->errstr : "out of memory");
  redisSetTimeout(ctx, timeout);
  return ctx;
}

int main(void) {
  const char* port_text = getenv("PUPPY_PROXY_PORT");
  redisContext *ctx, *waiter;
  redisReply* reply;
  char key[64], key2[80], token2[33];
  char* value;
  int done = 0;

  check(port_text != NULL, "PUPPY_PROXY_PORT is set (run under with_servers)");
  ctx = connect_proxy(atoi(port_text));
  snprintf(key, sizeof key, "pget-example:c:%ld", (long)getpid());

  /* A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores. */
  value = cached(ctx, key, compute_ok, "v1");
  check(value && strcmp(value, "v1") == 0 && computed == 1,
        "first call computes v1 (got %s, %d computes)", value ? value : "NULL", computed);
  check(strcmp(got(0), "lease") == 0 && last.pget->element[1]->type == REDIS_REPLY_NIL,
        "first PGET answers lease, nil (got %s, %s)", got(0), got(1));
  check(is_hex32(last.pget->element[2]->str), "the token is 32 hex characters (got %s)", got(2));
  check(last.stored == 1, "PSET answers 1 (got %lld)", last.stored);
  free(value);

  /* Fresh: the value without computing. */
  value = cached(ctx, key, compute_ok, "v2");
  check(value && strcmp(value, "v1") == 0 && computed == 1 && strcmp(got(0), "fresh") == 0,
        "second call is fresh v1 (got %s, %s)", got(0), got(1));
  free(value);

  /* Invalidated: the next caller gets the lease with the old value, and computes again. */
  check(integer_reply(ctx, redisCommand(ctx, "PINVALIDATE %s", key), "PINVALIDATE") == 1,
        "PINVALIDATE answers 1");
  value = cached(ctx, key, compute_ok, "v2");
  check(strcmp(got(0), "lease") == 0 && strcmp(got(1), "v1") == 0,
        "after PINVALIDATE: lease with old v1 (got %s, %s)", got(0), got(1));
  check(value && strcmp(value, "v2") == 0 && computed == 2 && last.stored == 1,
        "v2 computed and stored (got %s)", value ? value : "NULL");
  free(value);

  /* A compute that fails gives the lease back (PRELEASE), so the next call gets it again. */
  check(integer_reply(ctx, redisCommand(ctx, "PINVALIDATE %s", key), "PINVALIDATE") == 1,
        "PINVALIDATE answers 1");
  value = cached(ctx, key, compute_fails, NULL);
  check(value == NULL && strcmp(got(0), "lease") == 0 && last.released == 1,
        "failed compute: PRELEASE answers 1 (got %s, %lld)", got(0), last.released);
  value = cached(ctx, key, compute_ok, "v3");
  check(value && strcmp(value, "v3") == 0 && strcmp(got(0), "lease") == 0,
        "after PRELEASE the next call gets the lease (got %s)", got(0));
  free(value);

  /* WAIT: a second context sends its PGET ... WAIT now (redisAppendCommand only buffers it,
   * redisBufferWrite writes it) and reads the reply after this context's PSET. */
  snprintf(key2, sizeof key2, "%s:wait", key);
  reply = expect(ctx, redisCommand(ctx, "PGET %s 60 5", key2), REDIS_REPLY_ARRAY, "PGET");
  check(reply->elements == 3 && strcmp(text(reply->element[0]), "lease") == 0,
        "plain PGET on a cold key answers lease (got %s)", text(reply->element[0]));
  snprintf(token2, sizeof token2, "%s", reply->element[2]->str);
  freeReplyObject(reply);
  waiter = connect_proxy(atoi(port_text));
  redisAppendCommand(waiter, "PGET %s 60 5 WAIT 5000", key2);
  while (!done)
    check(redisBufferWrite(waiter, &done) == REDIS_OK, "send the waiting PGET: %s", waiter->errstr);
  /* Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
   * before, it waits and the PSET's publish wakes it; after, the value is there at once. */
  check(integer_reply(ctx, redisCommand(ctx, "PSET %s %s w1 60 5", key2, token2), "PSET") == 1,
        "PSET for the waiter answers 1");
  check(redisGetReply(waiter, (void**)&reply) == REDIS_OK, "the waiter's reply: %s",
        waiter->errstr);
  expect(waiter, reply, REDIS_REPLY_ARRAY, "PGET ... WAIT");
  check(reply->elements == 3, "the waiter's PGET answers 3 elements (got %zu)", reply->elements);
  check(strcmp(text(reply->element[0]), "fresh") == 0 &&
            strcmp(text(reply->element[1]), "w1") == 0 &&
            reply->element[2]->type == REDIS_REPLY_NIL,
        "the waiter gets fresh w1 (got %s, %s, %s)", text(reply->element[0]),
        text(reply->element[1]), text(reply->element[2]));
  freeReplyObject(reply);

  freeReplyObject(last.pget);
  redisFree(waiter);
  redisFree(ctx);
  puts("pget_example_c: all checks passed");
  return 0;
}
