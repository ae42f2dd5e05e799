// PGET ... WAIT: coalesced cold misses, wake-ups across proxy instances, lost leases; the PGET
// family's errors; ordering with a client's other requests.
#include <catch2/catch.hpp>
#include <thread>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

TEST_CASE("WAIT: a waiting reader gets the value as soon as it is published on another proxy") {
  redis_server redis;
  proxy_server a(redis.url());
  proxy_server b(redis.url());
  raw_client winner(a.port());
  raw_client waiter(b.port());
  const auto lease = pget(winner, {"k", "100", "30"});
  REQUIRE(lease.token);
  // The wait (20 s) is far shorter than the lease (30 s): only the wake-up can end it as fresh.
  waiter.send(encode({"PGET", "k", "100", "30", "WAIT", "20000"}));
  CHECK_FALSE(waiter.has_data(300ms));
  CHECK(winner.call({"PSET", "k", *lease.token, "computed", "100", "30"}) == ":1\r\n");
  const auto got = parse_pget(waiter.read_reply(10s));
  CHECK(got.state == "fresh");
  CHECK(got.value == std::optional<std::string>("computed"));
}

TEST_CASE("WAIT: a lease django-puppy-cache holds ('updating') ends unannounced; waiters poll it") {
  // During a rolling migration the seed's winner writes the value and "current" with plain
  // commands: no publish. The waiter looks again every 100 ms (foreign_lease_poll_ms) instead
  // of waiting for the seed's status to expire (100 s here) or its own wait to run out (20 s).
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client seed(redis.port());
  raw_client waiter(proxy.port());
  CHECK(seed.call({"SET", "puppy:k", "updating", "EX", "100", "NX"}) == "+OK\r\n");
  waiter.send(encode({"PGET", "k", "100", "30", "WAIT", "20000"}));
  CHECK_FALSE(waiter.has_data(300ms));  // it waits: no value, and the lease is not its own
  CHECK(seed.call({"SETEX", "k", "160", "from-the-seed"}) == "+OK\r\n");
  CHECK(seed.call({"SETEX", "puppy:k", "100", "current"}) == "+OK\r\n");
  const auto got = parse_pget(waiter.read_reply(10s));
  CHECK(got.state == "fresh");
  CHECK(got.value == std::optional<std::string>("from-the-seed"));
}

TEST_CASE("WAIT: requests after a waiting PGET wait for it, and replies stay in order") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client winner(proxy.port());
  raw_client c(proxy.port());
  const auto lease = pget(winner, {"k", "100", "30"});
  REQUIRE(lease.token);
  c.send(encode({"SET", "before", "1"}) + encode({"PGET", "k", "100", "30", "WAIT", "20000"}) +
         encode({"GET", "k"}) + encode({"ECHO", "after"}));
  CHECK(c.read_reply() == "+OK\r\n");
  CHECK_FALSE(c.has_data(300ms));
  CHECK(winner.call({"PSET", "k", *lease.token, "v", "100", "30"}) == ":1\r\n");
  CHECK(c.read_replies(3) == "*3\r\n$5\r\nfresh\r\n$1\r\nv\r\n$-1\r\n$1\r\nv\r\n$5\r\nafter\r\n");
}

TEST_CASE("WAIT: when the lease holder gives up, the first waiter to notice takes the lease") {
  redis_server redis;
  proxy_server a(redis.url());
  proxy_server b(redis.url());
  raw_client holder(a.port());
  raw_client w1(a.port());
  raw_client w2(b.port());
  const auto lease = pget(holder, {"k", "100", "30"});
  REQUIRE(lease.token);
  w1.send(encode({"PGET", "k", "100", "30", "WAIT", "20000"}));
  w2.send(encode({"PGET", "k", "100", "30", "WAIT", "20000"}));
  CHECK_FALSE(w1.has_data(300ms));
  CHECK(holder.call({"PRELEASE", "k", *lease.token}) == ":1\r\n");
  // Exactly one waiter wins the new lease; the other keeps waiting for its PSET.
  raw_client* first = nullptr;
  raw_client* second = nullptr;
  REQUIRE(wait_until([&] { return w1.has_data(0ms) || w2.has_data(0ms); }, 10s));
  first = w1.has_data(0ms) ? &w1 : &w2;
  second = first == &w1 ? &w2 : &w1;
  const auto won = parse_pget(first->read_reply());
  CHECK(won.state == "lease");
  REQUIRE(won.token);
  CHECK_FALSE(second->has_data(300ms));
  CHECK(first->call({"PSET", "k", *won.token, "v2", "100", "30"}) == ":1\r\n");
  const auto got = parse_pget(second->read_reply(10s));
  CHECK(got.state == "fresh");
  CHECK(got.value == std::optional<std::string>("v2"));
}

TEST_CASE("WAIT: when the lease expires without PSET, a waiter takes it over") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client holder(proxy.port());
  raw_client waiter(proxy.port());
  CHECK(pget(holder, {"k", "100", "1"}).state == "lease");
  const auto r = pget(waiter, {"k", "100", "1", "WAIT", "1000"}, 20s);
  // Either the lease expired within the wait (the waiter wins), or the wait ran out first.
  CHECK((r.state == "lease" || r.state == "miss"));
  if (r.state == "miss") CHECK(pget(waiter, {"k", "100", "1", "WAIT", "1000"}).state == "lease");
}

TEST_CASE("WAIT: a client that goes while its PGET waits is let go at once") {
  // As Redis frees a blocked client: the wait (60 s) does not hold the connection. (On the
  // shared connection here, on an own one in the pget_pinned run.)
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client winner(proxy.port());
  const auto lease = pget(winner, {"k", "300", "100"});
  REQUIRE(lease.token);
  {
    raw_client waiter(proxy.port());
    // What follows the PGET is read but not run while it waits (the SET never happens).
    waiter.send(encode({"PGET", "k", "300", "100", "WAIT", "60000"}) + encode({"SET", "x", "1"}));
    CHECK_FALSE(waiter.has_data(300ms));
    CHECK(proxy_metric(proxy.port(), "puppy_connections_current") == 3);
  }
  CHECK(wait_until([&] { return proxy_metric(proxy.port(), "puppy_connections_current") == 2; },
                   10s));
  CHECK(winner.call({"EXISTS", "x"}) == ":0\r\n");
  CHECK(winner.call({"PSET", "k", *lease.token, "v", "300", "100"}) == ":1\r\n");
}

TEST_CASE("WAIT 0 does not wait, a value present never waits") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(pget(b, {"k", "100", "10", "WAIT", "0"}).state == "miss");
  CHECK(a.call({"PSET", "k", *lease.token, "v", "100", "10"}) == ":1\r\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"DEL", "puppy:k"}) == ":1\r\n");
  CHECK(pget(a, {"k", "100", "10"}).state == "lease");
  CHECK(pget(b, {"k", "100", "10", "WAIT", "10000"}).state == "stale");  // at once
}

TEST_CASE("PGET family errors: arity, arguments, MULTI, subscribed; nothing is written") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  CHECK(c.call({"PGET"}) == "-ERR wrong number of arguments for 'pget' command\r\n");
  CHECK(c.call({"PSET", "k", "t"}) == "-ERR wrong number of arguments for 'pset' command\r\n");
  CHECK(c.call({"PRELEASE", "k"}) == "-ERR wrong number of arguments for 'prelease' command\r\n");
  CHECK(c.call({"PINVALIDATE"}) == "-ERR wrong number of arguments for 'pinvalidate' command\r\n");
  CHECK(c.call({"PGET", "k", "0"}) == "-ERR invalid timeout '0': whole seconds, at least 1\r\n");
  CHECK(c.call({"PGET", "k", "-5"}) == "-ERR invalid timeout '-5': whole seconds, at least 1\r\n");
  CHECK(c.call({"PGET", "k", "10", "x1"}) ==
        "-ERR unknown PGET argument 'x1' (expected: key [timeout] [update_time] [WAIT ms] [BETA "
        "b])\r\n");
  CHECK(c.call({"PGET", "k", "10", "2", "WAIT", "2001"}) ==
        "-ERR WAIT 2001 is longer than update_time (2000 ms)\r\n");
  CHECK(c.call({"PGET", "k", "BETA", "0"}) ==
        "-ERR invalid BETA '0': a positive decimal number\r\n");
  CHECK(c.call({"PSET", "k", "t", "v", "10", "1.5"}) ==
        "-ERR invalid update_time '1.5': whole seconds, at least 1\r\n");
  CHECK(c.call({"PRELEASE", "k", "t", "BACKOFF", "0"}) ==
        "-ERR invalid BACKOFF '0': whole seconds, at least 1\r\n");
  CHECK(direct.call({"DBSIZE"}) == ":0\r\n");

  CHECK(c.call({"MULTI"}) == "+OK\r\n");
  CHECK(c.call({"PGET", "k"}) == "-ERR PGET is not allowed inside MULTI\r\n");
  CHECK(c.call({"DISCARD"}) == "+OK\r\n");
  CHECK(c.call({"SUBSCRIBE", "ch"}) == "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
  CHECK(c.call({"PSET", "k", "t", "v"}) ==
        "-ERR PSET is not allowed while subscribed, in MONITOR or with CLIENT REPLY OFF|SKIP\r\n");
  CHECK(direct.call({"DBSIZE"}) == ":0\r\n");
}

TEST_CASE("PGET observes the client's earlier writes and its reply keeps its place") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  c.send(encode({"SET", "k", "plain"}) + encode({"PGET", "k", "100", "10"}) + encode({"GET", "k"}) +
         encode({"PGET", "k", "100", "10"}));
  CHECK(c.read_reply() == "+OK\r\n");
  const auto first = parse_pget(c.read_reply());
  CHECK(first.state == "lease");  // a value but no status: stale, and this reader regenerates
  CHECK(first.value == std::optional<std::string>("plain"));
  CHECK(c.read_reply() == "$5\r\nplain\r\n");
  CHECK(parse_pget(c.read_reply()).state == "stale");
}

TEST_CASE("PGET works for RESP3 clients, after SELECT, and from a pinned client") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  CHECK(c.call({"HELLO", "3"}).front() == '%');
  CHECK(c.call({"SELECT", "4"}) == "+OK\r\n");
  const auto lease = pget(c, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(c.call({"PSET", "k", *lease.token, "in-db-4", "100", "10"}) == ":1\r\n");
  CHECK(pget(c, {"k"}).value == std::optional<std::string>("in-db-4"));
  raw_client direct(redis.port());
  CHECK(direct.call({"EXISTS", "k"}) == ":0\r\n");
  CHECK(direct.call({"SELECT", "4"}) == "+OK\r\n");
  CHECK(direct.call({"GET", "k"}) == "$7\r\nin-db-4\r\n");
}

TEST_CASE("status keys: custom prefix and cluster naming") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--pget-status-prefix", "st:", "--pget-cluster-keys"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  CHECK(pget(c, {"user:1"}).state == "lease");
  CHECK(direct.call({"EXISTS", "st:{user:1}"}) == ":1\r\n");
  CHECK(pget(c, {"{user:1}:profile"}).state == "lease");
  CHECK(direct.call({"EXISTS", "st:{user:1}:profile"}) == ":1\r\n");
  CHECK(c.call({"PGET", "a}b"}) ==
        "-ERR in cluster mode a key without a hash tag must not contain '}'\r\n");
}

TEST_CASE("after SCRIPT FLUSH the PGET family says so, then recovers") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "0"});
  raw_client c(proxy.port());
  const auto lease = pget(c, {"k"});
  REQUIRE(lease.token);
  CHECK(c.call({"PINVALIDATE", "other"}) == ":0\r\n");  // the script is loaded now
  CHECK(c.call({"SCRIPT", "FLUSH"}) == "+OK\r\n");
  CHECK(c.call({"PSET", "k", *lease.token, "v"}) ==
        "-ERR the PGET script was flushed from the upstream; try again\r\n");
  CHECK(c.call({"PSET", "k", *lease.token, "v"}) == ":1\r\n");  // loaded again
  CHECK(pget(c, {"k"}).state == "fresh");
}
