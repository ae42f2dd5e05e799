// The PGET family end to end against a real Redis: states, tokens, TTLs, leases, back-off,
// invalidation, waiting, errors, and ordering with a client's other requests.
#include <catch2/catch.hpp>
#include <thread>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

TEST_CASE("cold miss: the first reader gets the lease, PSET publishes, then fresh") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  const pget_answer first = pget(a, {"page", "100", "10"});
  CHECK(first.state == "lease");
  CHECK_FALSE(first.value);
  REQUIRE(first.token);
  CHECK(first.token->size() == 32);
  const pget_answer second = pget(b, {"page", "100", "10"});
  CHECK(second.state == "miss");
  CHECK_FALSE(second.value);
  CHECK_FALSE(second.token);
  CHECK(a.call({"PSET", "page", *first.token, "<html>", "100", "10"}) == ":1\r\n");
  const pget_answer third = pget(b, {"page", "100", "10"});
  CHECK(third.state == "fresh");
  CHECK(third.value == std::optional<std::string>("<html>"));
  CHECK_FALSE(third.token);
  // Plain GET sees exactly what PSET stored.
  CHECK(a.call({"GET", "page"}) == "$6\r\n<html>\r\n");
}

TEST_CASE("TTLs: data lives timeout + 2 * update_time, status timeout") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  const auto lease = pget(c, {"ttl-key", "100", "10"});
  REQUIRE(lease.token);
  raw_client direct(redis.port());
  // The lease lasts update_time.
  CHECK(ms_between(direct.call({"PTTL", "puppy:ttl-key"}), 9'000, 10'000));
  CHECK(c.call({"PSET", "ttl-key", *lease.token, "v", "100", "10"}) == ":1\r\n");
  CHECK(ms_between(direct.call({"PTTL", "ttl-key"}), 119'000, 120'000));
  CHECK(ms_between(direct.call({"PTTL", "puppy:ttl-key"}), 99'000, 100'000));
  CHECK(direct.call({"GET", "puppy:ttl-key"}).rfind("$", 0) == 0);
}

TEST_CASE("defaults for timeout and update_time come from the configuration") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--pget-timeout", "50", "--pget-update-time", "7"});
  raw_client c(proxy.port());
  const auto lease = pget(c, {"dflt"});
  REQUIRE(lease.token);
  raw_client direct(redis.port());
  CHECK(ms_between(direct.call({"PTTL", "puppy:dflt"}), 6'000, 7'000));
  CHECK(c.call({"PSET", "dflt", *lease.token, "v"}) == ":1\r\n");
  CHECK(ms_between(direct.call({"PTTL", "dflt"}), 63'000, 64'000));
  CHECK(ms_between(direct.call({"PTTL", "puppy:dflt"}), 49'000, 50'000));
}

TEST_CASE("stale: when freshness runs out, one reader regenerates, the others get the old value") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  raw_client direct(redis.port());
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(a.call({"PSET", "k", *lease.token, "old", "100", "10"}) == ":1\r\n");
  CHECK(direct.call({"DEL", "puppy:k"}) == ":1\r\n");  // freshness ran out
  const auto winner = pget(a, {"k", "100", "10"});
  CHECK(winner.state == "lease");
  CHECK(winner.value == std::optional<std::string>("old"));
  REQUIRE(winner.token);
  const auto other = pget(b, {"k", "100", "10"});
  CHECK(other.state == "stale");
  CHECK(other.value == std::optional<std::string>("old"));
  CHECK_FALSE(other.token);
  CHECK(a.call({"PSET", "k", *winner.token, "new", "100", "10"}) == ":1\r\n");
  CHECK(pget(b, {"k"}).value == std::optional<std::string>("new"));
}

TEST_CASE("PSET with a stolen or expired token is refused") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  const auto lease = pget(c, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(c.call({"PSET", "k", "0123456789abcdef0123456789abcdef", "forged"}) == ":0\r\n");
  // The lease expires; a newer reader takes a new one; the old token is refused.
  CHECK(direct.call({"DEL", "puppy:k"}) == ":1\r\n");
  const auto newer = pget(c, {"k", "100", "10"});
  REQUIRE(newer.token);
  CHECK(*newer.token != *lease.token);
  CHECK(c.call({"PSET", "k", *lease.token, "late", "100", "10"}) == ":0\r\n");
  CHECK(c.call({"GET", "k"}) == "$-1\r\n");  // nothing was written
  CHECK(c.call({"PSET", "k", *newer.token, "right", "100", "10"}) == ":1\r\n");
  CHECK(c.call({"PSET", "k", *newer.token, "twice", "100", "10"}) == ":0\r\n");
  CHECK(c.call({"GET", "k"}) == "$5\r\nright\r\n");
}

TEST_CASE("PRELEASE gives the lease back; with BACKOFF readers keep the stale value") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  raw_client direct(redis.port());
  const auto first = pget(a, {"k", "100", "10"});
  REQUIRE(first.token);
  CHECK(a.call({"PSET", "k", *first.token, "v1", "100", "10"}) == ":1\r\n");
  CHECK(direct.call({"DEL", "puppy:k"}) == ":1\r\n");
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(a.call({"PRELEASE", "k", "ffffffffffffffffffffffffffffffff"}) == ":0\r\n");
  CHECK(a.call({"PRELEASE", "k", *lease.token, "BACKOFF", "30"}) == ":1\r\n");
  CHECK(ms_between(direct.call({"PTTL", "puppy:k"}), 29'000, 30'000));
  for (int i = 0; i < 3; ++i) {
    const auto r = pget(b, {"k", "100", "10"});
    CHECK(r.state == "stale");  // no lease during the back-off
    CHECK(r.value == std::optional<std::string>("v1"));
  }
  CHECK(a.call({"PRELEASE", "k", *lease.token}) == ":0\r\n");  // already given back
  // Without BACKOFF the next reader gets a new lease at once.
  CHECK(direct.call({"DEL", "puppy:k"}) == ":1\r\n");
  const auto again = pget(a, {"k", "100", "10"});
  REQUIRE(again.token);
  CHECK(a.call({"PRELEASE", "k", *again.token}) == ":1\r\n");
  CHECK(pget(b, {"k", "100", "10"}).state == "lease");
}

TEST_CASE("BACKOFF without a value: readers get miss, no lease is handed out") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  const auto lease = pget(a, {"cold", "100", "10"});
  REQUIRE(lease.token);
  CHECK(a.call({"PRELEASE", "cold", *lease.token, "BACKOFF", "30"}) == ":1\r\n");
  CHECK(pget(a, {"cold", "100", "10"}).state == "miss");
  // A WAIT waits at most its own time, then answers miss.
  const auto waited = pget(a, {"cold", "100", "10", "WAIT", "200"});
  CHECK(waited.state == "miss");
}

TEST_CASE("PINVALIDATE marks a value stale and cancels a lease in flight") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  CHECK(a.call({"PINVALIDATE", "none"}) == ":0\r\n");
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(a.call({"PSET", "k", *lease.token, "v1", "100", "10"}) == ":1\r\n");
  CHECK(pget(b, {"k"}).state == "fresh");
  CHECK(a.call({"PINVALIDATE", "k"}) == ":1\r\n");
  CHECK(a.call({"GET", "k"}) == "$2\r\nv1\r\n");  // not deleted
  const auto winner = pget(a, {"k", "100", "10"});
  CHECK(winner.state == "lease");
  CHECK(winner.value == std::optional<std::string>("v1"));
  REQUIRE(winner.token);
  CHECK(pget(b, {"k", "100", "10"}).state == "stale");
  // Invalidated again while the winner computes: its PSET is refused, the next reader wins.
  CHECK(b.call({"PINVALIDATE", "k"}) == ":1\r\n");
  CHECK(a.call({"PSET", "k", *winner.token, "from-old-data", "100", "10"}) == ":0\r\n");
  CHECK(pget(b, {"k", "100", "10"}).state == "lease");
}

TEST_CASE("data gone but status not: the next reader gets the lease, no busy loop") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client direct(redis.port());
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  CHECK(a.call({"PSET", "k", *lease.token, "v", "100", "10"}) == ":1\r\n");
  CHECK(direct.call({"DEL", "k"}) == ":1\r\n");  // evicted
  // This reader finds the status without its value: it gets a miss and the status is dropped...
  CHECK(pget(a, {"k", "100", "10"}).state == "miss");
  CHECK(wait_until([&] { return direct.call({"EXISTS", "puppy:k"}) == ":0\r\n"; }, 10s));
  // ...so the next reader gets the lease, at once rather than when the status expires.
  const auto next = pget(a, {"k", "100", "10"});
  CHECK(next.state == "lease");
  CHECK_FALSE(next.value);
  // And PSET after the data key vanished, with a valid lease, stores normally.
  REQUIRE(next.token);
  CHECK(a.call({"PSET", "k", *next.token, "back", "100", "10"}) == ":1\r\n");
  CHECK(pget(a, {"k"}).value == std::optional<std::string>("back"));
}

TEST_CASE("a winner that disconnects without PSET loses the lease after update_time") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client direct(redis.port());
  {
    raw_client crasher(proxy.port());
    CHECK(pget(crasher, {"k", "100", "1"}).state == "lease");
  }
  raw_client b(proxy.port());
  CHECK(pget(b, {"k", "100", "1"}).state == "miss");
  // After update_time the status key is gone and the next reader wins; nothing sticks.
  CHECK(wait_until([&] { return direct.call({"EXISTS", "puppy:k"}) == ":0\r\n"; }, 10s));
  CHECK(pget(b, {"k", "100", "1"}).state == "lease");
}

TEST_CASE("BETA: early refresh gives one reader the lease while the others still get fresh") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  std::this_thread::sleep_for(50ms);  // the regeneration takes a while: compute_ms > 0
  CHECK(a.call({"PSET", "k", *lease.token, "v", "100", "10"}) == ":1\r\n");
  raw_client direct(redis.port());
  const std::string status = direct.call({"GET", "puppy:k"});
  CHECK(status.find("current:") != std::string::npos);
  CHECK(status.find("current:0\r\n") == std::string::npos);
  // A tiny beta never refreshes early; a huge one (compute_ms * beta * -ln(u) >= 100 s) does.
  for (int i = 0; i < 5; ++i)
    CHECK(pget(b, {"k", "100", "10", "BETA", "0.000001"}).state == "fresh");
  const auto early = pget(b, {"k", "100", "10", "BETA", "1000000000"});
  CHECK(early.state == "lease");
  CHECK(early.value == std::optional<std::string>("v"));
  // Everyone else keeps getting fresh until the original freshness ends.
  CHECK(pget(a, {"k", "100", "10"}).state == "fresh");
  CHECK(pget(a, {"k", "100", "10", "BETA", "1000000000"}).state == "fresh");
  REQUIRE(early.token);
  CHECK(b.call({"PSET", "k", *early.token, "v2", "100", "10"}) == ":1\r\n");
  CHECK(pget(a, {"k"}).value == std::optional<std::string>("v2"));
}
