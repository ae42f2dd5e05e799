// The near cache's races, limits and edges (sections 4-10 of near_cache_test.cpp's plan): the
// fill/invalidation race forced with a relay that holds the tracking connection's bytes, losing
// the tracking connection, Redis's tracking table limit, the byte budget, clients that must not
// get copies, GET/MGET under --near-cache-prefix, start-up checks, and bugs these tests found.
// Every proxy gets --near-cache-size explicitly, so the file runs the same under `pget`,
// `pget_pinned` (--shared-connections 0) and `pget_near`.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "fault_relay.hpp"
#include "near_support.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;
using namespace puppy::test::near;

// ---- 4. the fill/invalidation race, forced ------------------------------------------------------

TEST_CASE("near cache: a fill whose reply is held back while the key changes is never served",
          "[near]") {
  redis_server redis;
  fault_relay relay(redis.port());
  proxy_server proxy(relay_url(relay), {"--near-cache-size", "1mb"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  // The tracking connection up, through the relay.
  seed_fresh(direct, "warm", "w");
  await_copies(stats, {&c}, "warm", "w");
  REQUIRE(tracking_clients(direct).size() == 1);

  SECTION("a direct write between the fill's read and its reply") {
    seed_fresh(direct, "k", "old");
    const auto m0 = stats.read();
    relay.hold(tracking_marker, true, false);
    CHECK(pget_call(c, "k") == fresh("old"));  // from Redis; the fill's MGET goes out
    await([&] { return relay.held().find("$3\r\nold\r\n") != std::string::npos; },
          "the fill's reply, held");
    CHECK(direct.call({"SET", "k", "new"}) == "+OK\r\n");
    await([&] { return relay.held().find("invalidate") != std::string::npos; },
          "the invalidation, held behind the reply");
    // No copy yet: Redis answers, with the new value (and no second fill of k is asked).
    CHECK(pget_call(c, "k") == fresh("new"));
    const auto m1 = stats.read();
    CHECK(m1.fills == m0.fills);
    CHECK(m1.hits == m0.hits);
    relay.hold("", false, false);
    // The old value is stored, then dropped by the invalidation right behind it.
    await(
        [&] {
          const auto m = stats.read();
          return m.fills == m0.fills + 1 && m.invalidations == m0.invalidations + 1;
        },
        "the held fill and invalidation, processed");
    CHECK(stats.read().entries == 1);  // "warm"
    CHECK(pget_call(c, "k") == fresh("new"));
    await_copies(stats, {&c}, "k", "new");
  }

  SECTION("a write through the proxy between the fill's read and its reply") {
    seed_fresh(direct, "k", "old");
    const auto m0 = stats.read();
    relay.hold(tracking_marker, true, false);
    CHECK(pget_call(c, "k") == fresh("old"));
    await([&] { return relay.held().find("$3\r\nold\r\n") != std::string::npos; },
          "the fill's reply, held");
    raw_client w(proxy.port());
    CHECK(w.call({"SET", "k", "new"}) == "+OK\r\n");
    await([&] { return relay.held().find("invalidate") != std::string::npos; },
          "the invalidation, held behind the reply");
    CHECK(pget_call(c, "k") == fresh("new"));
    relay.hold("", false, false);
    // A fill behind them: once it is stored, the tracking connection has read both.
    seed_fresh(direct, "sentinel", "s");
    CHECK(pget_call(c, "sentinel") == fresh("s"));
    await([&] { return stats.read().fills == m0.fills + 1; }, "the sentinel's fill");
    // The old value was refused when it arrived (the write moved its generation): it was never
    // stored, so the invalidation had nothing to drop.
    const auto m1 = stats.read();
    CHECK(m1.invalidations == m0.invalidations);
    CHECK(m1.entries == 2);  // "warm", "sentinel"
    CHECK(pget_call(c, "k") == fresh("new"));
    CHECK(stats.read().hits == m1.hits);
  }

  SECTION("a direct write while the fill's request is held back: the copy holds the new value") {
    seed_fresh(direct, "k", "old");
    const auto m0 = stats.read();
    relay.hold(tracking_marker, false, true);
    CHECK(pget_call(c, "k") == fresh("old"));
    await([&] { return relay.held().find("$1\r\nk\r\n") != std::string::npos; },
          "the fill's request, held");
    CHECK(direct.call({"SET", "k", "new"}) == "+OK\r\n");
    relay.hold("", false, false);
    await([&] { return stats.read().fills == m0.fills + 1; }, "the fill");
    const auto m1 = stats.read();
    CHECK(pget_call(c, "k") == fresh("new"));
    CHECK(stats.read().hits == m1.hits + 1);
  }
}

// ---- 5. losing the tracking connection ----------------------------------------------------------

TEST_CASE("near cache: losing the tracking connection drops every copy", "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb"});
  auto c = std::make_unique<raw_client>(proxy.port());
  auto direct = std::make_unique<raw_client>(redis.port());
  near_stats stats(proxy.port());
  for (const std::string key : {"a", "b", "c"}) {
    seed_fresh(*direct, key, "v-" + key);
    await_copies(stats, {c.get()}, key, "v-" + key);
  }
  const auto m0 = stats.read();
  REQUIRE(m0.entries == 3);

  SECTION("CLIENT KILL of the tracking connection") {
    const auto ids = tracking_clients(*direct);
    REQUIRE(ids.size() == 1);
    CHECK(direct->call({"CLIENT", "KILL", "ID", ids[0]}) == ":1\r\n");
  }
  SECTION("a Redis restart") {
    redis.stop();
    redis.start();
    // The data went with it (nothing persisted); the clients' connections too.
    direct = std::make_unique<raw_client>(redis.port());
    for (const std::string key : {"a", "b", "c"}) seed_fresh(*direct, key, "v-" + key);
  }
  await([&] { return stats.read().entries == 0; }, "every copy dropped");
  const auto m1 = stats.read();
  CHECK(m1.invalidations - m0.invalidations == 3);
  CHECK(m1.bytes == 0);
  // The next PGET goes to Redis; its fill opens the tracking connection again.
  c = std::make_unique<raw_client>(proxy.port());
  reset_stats(*direct);
  CHECK(pget_call(*c, "a") == fresh("v-a"));
  await([&] { return stats.read().fills == m1.fills + 1; }, "the refill");
  CHECK(calls_text(*direct) == "client|tracking=1 hello=1 mget=2");
  CHECK(tracking_clients(*direct).size() == 1);
  const long hits = stats.read().hits;
  CHECK(pget_call(*c, "a") == fresh("v-a"));
  CHECK(stats.read().hits == hits + 1);
  CHECK(calls_text(*direct) == "client|list=1 client|tracking=1 hello=1 mget=2");
  // And it still hears about changes.
  CHECK(direct->call({"SET", "a", "changed"}) == "+OK\r\n");
  await([&] { return stats.read().entries == 0; }, "the invalidation on the new connection");
  CHECK(pget_call(*c, "a") == fresh("changed"));
}

// ---- 6. Redis's tracking table limit ------------------------------------------------------------

TEST_CASE("near cache: keys Redis stops tracking (tracking-table-max-keys) are dropped", "[near]") {
  redis_server redis({"--tracking-table-max-keys", "5"});
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  const auto m0 = stats.read();
  for (int i = 0; i < 20; ++i) {
    const std::string key = "t" + std::to_string(i);
    seed_fresh(direct, key, "old-" + key);
    CHECK(pget_call(c, key) == fresh("old-" + key));
    await([&] { return stats.read().fills == m0.fills + i + 1; }, "the fill of " + key);
  }
  // 40 keys read (each with its status), 5 tracked: Redis invalidates the keys it forgets.
  await([&] { return stats.read().entries <= 3; }, "the copies of forgotten keys dropped");
  for (int i = 0; i < 20; ++i) {
    const std::string key = "t" + std::to_string(i);
    CHECK(direct.call({"SET", key, "new-" + key}) == "+OK\r\n");
  }
  await([&] { return stats.read().entries == 0; }, "every copy dropped");
  for (int i = 0; i < 20; ++i) {
    const std::string key = "t" + std::to_string(i);
    CHECK(pget_call(c, key) == fresh("new-" + key));
  }
}

// ---- 7. the byte budget -------------------------------------------------------------------------

TEST_CASE("near cache: copies stay within the byte budget, evicting the ones not read again",
          "[near]") {
  redis_server redis;
  // One worker: the budget is per worker (--near-cache-size / --threads).
  proxy_server proxy(redis.url(), {"--near-cache-size", "3000", "--threads", "1"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  // Each copy is charged key (5 bytes) + 1 + value (200) + 96 = 302 bytes: 9 fit in 3000.
  const std::string value(200, 'x');
  const long charge = 5 + 1 + 200 + 96;
  const auto key_of = [](int i) {
    return "ev:" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  };
  const auto m0 = stats.read();
  for (int i = 0; i < 30; ++i) {
    const std::string key = key_of(i);
    seed_fresh(direct, key, value);
    CHECK(pget_call(c, key) == fresh(value));
    await([&] { return stats.read().fills == m0.fills + i + 1; }, "the fill of " + key);
    const auto m = stats.read();
    CHECK(m.entries == std::min(i + 1, 9));
    CHECK(m.bytes == m.entries * charge);
    CHECK(m.bytes <= 3000);
    CHECK(m.evictions - m0.evictions == (i + 1) - m.entries);
    if (i == 25) {
      // Read while still new: it survives the keys filled after it.
      CHECK(pget_call(c, key) == fresh(value));
      CHECK(stats.read().hits == m.hits + 1);
    }
  }
  const auto m1 = stats.read();
  CHECK(m1.evictions - m0.evictions == 21);
  // The newest eight and the one read again are held; the oldest were evicted.
  for (const int i : {25, 29, 22}) {
    CHECK(pget_call(c, key_of(i)) == fresh(value));
  }
  CHECK(stats.read().hits == m1.hits + 3);
  CHECK(pget_call(c, key_of(0)) == fresh(value));
  CHECK(stats.read().hits == m1.hits + 3);
  CHECK(stats.read().bytes <= 3000);
}

// ---- 8. clients that must not get copies --------------------------------------------------------

TEST_CASE("near cache: clients in another database, in MULTI or tracking keys themselves",
          "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb"});
  raw_client direct(redis.port());
  raw_client filler(proxy.port());
  near_stats stats(proxy.port());
  // Database 1 first: Redis's invalidations go by key name, whatever the database.
  REQUIRE(direct.call({"SELECT", "1"}) == "+OK\r\n");
  seed_fresh(direct, "k", "db1");
  REQUIRE(direct.call({"SELECT", "0"}) == "+OK\r\n");
  seed_fresh(direct, "k", "db0");
  await_copies(stats, {&filler}, "k", "db0");
  raw_client c(proxy.port());

  SECTION("SELECT 1") {
    CHECK(c.call({"SELECT", "1"}) == "+OK\r\n");
    reset_stats(direct);
    const long hits = stats.read().hits;
    CHECK(pget_call(c, "k") == fresh("db1"));
    CHECK(pget_call(c, "k") == fresh("db1"));
    CHECK(calls_text(direct) == "mget=2");
    CHECK(stats.read().hits == hits);
    // Back in database 0, copies again.
    CHECK(c.call({"SELECT", "0"}) == "+OK\r\n");
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(stats.read().hits == hits + 1);
    CHECK(calls_text(direct) == "mget=2 select=1");
  }
  SECTION("MULTI") {
    CHECK(c.call({"MULTI"}) == "+OK\r\n");
    CHECK(pget_call(c, "k") == "-ERR PGET is not allowed inside MULTI\r\n");
    CHECK(c.call({"GET", "k"}) == "+QUEUED\r\n");
    CHECK(c.call({"EXEC"}) == "*1\r\n$3\r\ndb0\r\n");
    const long hits = stats.read().hits;
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(stats.read().hits == hits + 1);
  }
  SECTION("CLIENT TRACKING ON") {
    CHECK(c.call({"CLIENT", "TRACKING", "ON"}) == "+OK\r\n");
    reset_stats(direct);
    const long hits = stats.read().hits;
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(pget_call(c, "k") == fresh("db0"));
    // Redis saw the reads: its tracking table has the client's keys.
    CHECK(calls_text(direct) == "mget=2");
    CHECK(stats.read().hits == hits);
    // RESET ends the client's tracking: copies again.
    CHECK(c.call({"RESET"}) == "+RESET\r\n");
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(stats.read().hits == hits + 1);
  }
  SECTION("CLIENT CACHING") {
    CHECK(c.call({"CLIENT", "TRACKING", "ON", "OPTIN"}) == "+OK\r\n");
    CHECK(c.call({"CLIENT", "CACHING", "YES"}) == "+OK\r\n");
    reset_stats(direct);
    const long hits = stats.read().hits;
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(calls_text(direct) == "mget=1");
    CHECK(stats.read().hits == hits);
  }
  SECTION("a RESP3 client gets copies (PGET's replies are RESP2 anyway)") {
    CHECK(c.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
    reset_stats(direct);
    const long hits = stats.read().hits;
    CHECK(pget_call(c, "k") == fresh("db0"));
    CHECK(calls_text(direct) == "");
    CHECK(stats.read().hits == hits + 1);
  }
}

// ---- 9. GET/MGET under --near-cache-prefix ------------------------------------------------------

TEST_CASE("near cache: GET and MGET of keys under --near-cache-prefix", "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb", "--near-cache-prefix", "nc:"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  REQUIRE(direct.call({"SET", "nc:a", "va"}) == "+OK\r\n");
  REQUIRE(direct.call({"SET", "other:a", "vo"}) == "+OK\r\n");
  const auto m0 = stats.read();
  CHECK(c.call({"GET", "nc:a"}) == "$2\r\nva\r\n");
  await([&] { return stats.read().fills == m0.fills + 1; }, "the fill of nc:a");
  reset_stats(direct);
  for (int i = 0; i < 3; ++i) CHECK(c.call({"GET", "nc:a"}) == "$2\r\nva\r\n");
  CHECK(calls_text(direct) == "");
  CHECK(stats.read().hits == m0.hits + 3);
  // Outside the prefix: Redis, every time.
  for (int i = 0; i < 2; ++i) CHECK(c.call({"GET", "other:a"}) == "$2\r\nvo\r\n");
  CHECK(calls_text(direct) == "get=2");

  // MGET with a key that does not exist: Redis's reply, then the same bytes from the copies.
  const std::string expected = direct.call({"MGET", "nc:a", "nc:missing"});
  REQUIRE(expected == "*2\r\n$2\r\nva\r\n$-1\r\n");
  const long fills = stats.read().fills;
  CHECK(c.call({"MGET", "nc:a", "nc:missing"}) == expected);
  await([&] { return stats.read().fills == fills + 1; }, "the fill of nc:missing");
  reset_stats(direct);
  const long hits = stats.read().hits;
  CHECK(c.call({"MGET", "nc:a", "nc:missing"}) == expected);
  CHECK(c.call({"GET", "nc:missing"}) == "$-1\r\n");
  CHECK(c.call({"MGET", "nc:missing", "nc:a", "nc:a"}) == "*3\r\n$-1\r\n$2\r\nva\r\n$2\r\nva\r\n");
  CHECK(calls_text(direct) == "");
  CHECK(stats.read().hits == hits + 6);
  // One key outside the prefix: the whole MGET goes to Redis.
  CHECK(c.call({"MGET", "nc:a", "other:a"}) == "*2\r\n$2\r\nva\r\n$2\r\nvo\r\n");
  CHECK(calls_text(direct) == "mget=1");

  // A direct write drops the copy.
  const long inv = stats.read().invalidations;
  CHECK(direct.call({"SET", "nc:a", "vb"}) == "+OK\r\n");
  await([&] { return stats.read().invalidations == inv + 1; }, "the invalidation of nc:a");
  CHECK(c.call({"GET", "nc:a"}) == "$2\r\nvb\r\n");
  // A write through the proxy, read on another connection at once.
  raw_client other(proxy.port());
  await(
      [&] {
        return other.call({"GET", "nc:a"}) == "$2\r\nvb\r\n" && stats.read().entries == 2;
      },
      "the copy of nc:a again");
  CHECK(c.call({"SET", "nc:missing", "now"}) == "+OK\r\n");
  CHECK(other.call({"MGET", "nc:a", "nc:missing"}) == "*2\r\n$2\r\nvb\r\n$3\r\nnow\r\n");
  CHECK(c.call({"APPEND", "nc:a", "+"}) == ":3\r\n");
  CHECK(other.call({"GET", "nc:a"}) == "$3\r\nvb+\r\n");

  // Replies in order around hits: a PGET that takes a second step, a GET hit, Redis's INCR.
  await(
      [&] {
        return other.call({"GET", "nc:a"}) == "$3\r\nvb+\r\n" && stats.read().entries == 2;
      },
      "the copies again");
  c.send(encode({"PGET", "cold", "100", "10"}) + encode({"GET", "nc:a"}) + encode({"INCR", "n"}) +
         encode({"GET", "nc:a"}));
  CHECK(is_lease(c.read_reply(), std::nullopt));
  CHECK(c.read_reply() == "$3\r\nvb+\r\n");
  CHECK(c.read_reply() == ":1\r\n");
  CHECK(c.read_reply() == "$3\r\nvb+\r\n");

  // A RESP3 client gets Redis's own replies (RESP3's null), and a client in database 1 its own.
  raw_client r3(proxy.port());
  CHECK(r3.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
  reset_stats(direct);
  CHECK(r3.call({"GET", "nc:nothing"}) == "_\r\n");
  CHECK(r3.call({"GET", "nc:a"}) == "$3\r\nvb+\r\n");
  CHECK(calls_text(direct) == "get=2");
  raw_client db1(proxy.port());
  CHECK(db1.call({"SELECT", "1"}) == "+OK\r\n");
  CHECK(db1.call({"GET", "nc:a"}) == "$-1\r\n");
  CHECK(db1.call({"MGET", "nc:a"}) == "*1\r\n$-1\r\n");
}

// ---- 10. start-up -------------------------------------------------------------------------------

TEST_CASE("near cache: refused at start-up with a memcached upstream, or a prefix without a size",
          "[near]") {
  const auto [code, out] =
      run_proxy({"--upstream", "memcached://127.0.0.1:1", "--near-cache-size", "1mb"});
  CHECK(code == 2);
  CHECK(out.find("--near-cache-size: a memcached upstream cannot tell the proxy when a key "
                 "changes") != std::string::npos);
  CHECK(out.find("the near cache needs a Redis upstream") != std::string::npos);
  const auto [code2, out2] = run_proxy({"--upstream", "redis://127.0.0.1:1", "--near-cache-prefix",
                                        "nc:", "--near-cache-size", "0"});
  CHECK(code2 == 2);
  CHECK(out2.find("--near-cache-prefix needs --near-cache-size") != std::string::npos);
}

// ---- found by these tests, and fixed ------------------------------------------------------------

// A SELECT queued in a MULTI may never run (DISCARD, EXECABORT): the session must not take its
// database then (it once did, serving database 0's copies to a client still in database 1).
TEST_CASE("near cache: a SELECT 0 queued in a discarded MULTI does not move the client", "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb", "--near-cache-prefix", "nc:"});
  raw_client direct(redis.port());
  raw_client filler(proxy.port());
  near_stats stats(proxy.port());
  REQUIRE(direct.call({"SELECT", "1"}) == "+OK\r\n");
  seed_fresh(direct, "k", "db1");
  REQUIRE(direct.call({"SET", "nc:k", "db1"}) == "+OK\r\n");
  REQUIRE(direct.call({"SELECT", "0"}) == "+OK\r\n");
  seed_fresh(direct, "k", "db0");
  REQUIRE(direct.call({"SET", "nc:k", "db0"}) == "+OK\r\n");
  await_copies(stats, {&filler}, "k", "db0");
  await(
      [&] {
        return filler.call({"GET", "nc:k"}) == "$3\r\ndb0\r\n" && stats.read().entries == 2;
      },
      "the copy of nc:k");
  raw_client c(proxy.port());
  CHECK(c.call({"SELECT", "1"}) == "+OK\r\n");
  SECTION("DISCARD") {
    CHECK(c.call({"MULTI"}) == "+OK\r\n");
    CHECK(c.call({"SELECT", "0"}) == "+QUEUED\r\n");
    CHECK(c.call({"DISCARD"}) == "+OK\r\n");
  }
  SECTION("EXECABORT") {
    CHECK(c.call({"MULTI"}) == "+OK\r\n");
    CHECK(c.call({"SELECT", "0"}) == "+QUEUED\r\n");
    CHECK(c.call({"GET"}).rfind("-ERR wrong number of arguments", 0) == 0);
    CHECK(c.call({"EXEC"}).rfind("-EXECABORT", 0) == 0);
  }
  // Still in database 1, as Redis says:
  CHECK(c.call({"GET", "k"}) == "$3\r\ndb1\r\n");
  CHECK(pget_call(c, "k") == fresh("db1"));
  CHECK(c.call({"GET", "nc:k"}) == "$3\r\ndb1\r\n");
}

// Redis tells of an expired key only when it deletes it (on access, or when its active expiry
// cycle finds it, which with many keys can take long), and nobody asks Redis for a key the proxy
// answers: so a GET copy carries the key's TTL, read with it (it once had no deadline). Active
// expiry is switched off here to make the case deterministic.
TEST_CASE("near cache: a GET copy is not served after the key's TTL ran out", "[near]") {
  redis_server redis({"--enable-debug-command", "yes"});
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb", "--near-cache-prefix", "nc:"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  REQUIRE(direct.call({"DEBUG", "SET-ACTIVE-EXPIRE", "0"}) == "+OK\r\n");
  REQUIRE(direct.call({"SET", "nc:ttl", "v", "PX", "300"}) == "+OK\r\n");
  const std::int64_t expires = wall_ms() + 300;
  await(
      [&] {
        return c.call({"GET", "nc:ttl"}) == "$1\r\nv\r\n" && stats.read().entries == 1;
      },
      "the copy of nc:ttl");
  await([&] { return wall_ms() > expires + 50; }, "the TTL to run out");
  CHECK(c.call({"GET", "nc:ttl"}) == "$-1\r\n");  // Redis itself would say so
  CHECK(direct.call({"GET", "nc:ttl"}) == "$-1\r\n");
}

// Writes through the proxy make copies unusable by the generations of the keys they name, and
// only arguments of at most near_cache::max_key_size (1024) bytes are looked at. The status key
// of a key of 1019 to 1024 bytes is longer than that, so such a key is not cached at all: a SET
// of its status key through the proxy is seen at once even with Redis's invalidations held back.
TEST_CASE("near cache: a key whose status key is too long to track is not cached", "[near]") {
  redis_server redis;
  fault_relay relay(redis.port());
  proxy_server proxy(relay_url(relay), {"--near-cache-size", "1mb"});
  raw_client w(proxy.port());
  raw_client r(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  const std::string key(1020, 'L');
  seed_fresh(direct, key, "old");
  for (int i = 0; i < 5; ++i) CHECK(pget_call(r, key) == fresh("old"));
  CHECK(stats.read().entries == 0);
  relay.hold(tracking_marker, true, false);
  CHECK(w.call({"SET", "puppy:" + key, "updating", "EX", "100"}) == "+OK\r\n");
  CHECK(pget_call(r, key) == stale("old"));
  relay.hold("", false, false);
  // A key of 1000 bytes (status key 1006) is cached.
  const std::string shorter(1000, 'S');
  seed_fresh(direct, shorter, "v");
  await_copies(stats, {&r}, shorter, "v");
  CHECK(stats.read().entries == 1);
}
