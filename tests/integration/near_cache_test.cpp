// The near cache (issue 13 part B, --near-cache-size), sections 1-3 (hits, writes elsewhere,
// read-your-writes); the races, limits and edges are in near_cache_edges_test.cpp: fresh PGET
// values (and GET/MGET replies under --near-cache-prefix) answered from the worker's memory without
// touching Redis, dropped by Redis's invalidation pushes on the per-worker CLIENT TRACKING
// connection, and made unusable at once by writes through the proxy (write generations), across
// worker threads.
//
// What a hit costs Redis is counted with INFO commandstats read directly from Redis (a hit is no
// command at all); what the near cache did is read from PUPPY STATS (hits, misses, fills,
// invalidations, evictions, bytes, entries), as exact deltas. Nothing sleeps for a fixed time:
// fills and invalidations arrive asynchronously and are awaited through those figures. The
// races between a fill and a write are forced with a relay that holds back the tracking
// connection's bytes (fault_relay::hold). Every proxy here gets --near-cache-size explicitly, so
// the file runs the same under `pget`, `pget_pinned` (--shared-connections 0) and `pget_near`.
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

// ---- 1. a hit costs Redis nothing ---------------------------------------------------------------

TEST_CASE("near cache: a fresh hit is answered without Redis, in every PGET form", "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  const auto lease = pget(c, {"hot", "100", "10"});
  REQUIRE(lease.state == "lease");
  REQUIRE(c.call({"PSET", "hot", *lease.token, "value", "100", "10"}) == ":1\r\n");
  const auto before = stats.read();
  // Read from Redis (the PSET made any copy unusable), then filled on the tracking connection.
  CHECK(pget_call(c, "hot") == fresh("value"));
  await([&] { return stats.read().fills == before.fills + 1; }, "the fill");
  CHECK(stats.read().entries == 1);
  // PSET measured a compute time; BETA decides from the copy's deadline (100 s away): never early.
  const std::vector<std::vector<std::string>> forms = {
      {"hot", "100", "10"},
      {"hot"},
      {"hot", "100", "10", "WAIT", "5000"},
      {"hot", "100", "10", "BETA", "1"},
      {"hot", "100", "10", "WAIT", "5000", "BETA", "2.5"},
  };
  reset_stats(direct);
  const auto m0 = stats.read();
  for (const auto& form : forms) {
    std::vector<std::string> request = {"PGET"};
    request.insert(request.end(), form.begin(), form.end());
    for (int i = 0; i < 5; ++i) CHECK(c.call(request) == fresh("value"));
  }
  CHECK(calls_text(direct) == "");
  const auto m1 = stats.read();
  CHECK(m1.hits - m0.hits == 25);
  CHECK(m1.misses == m0.misses);
  CHECK(m1.fills == m0.fills);
  // Hits keep their place among replies Redis gives.
  c.send(encode({"PGET", "hot"}) + encode({"INCR", "n"}) + encode({"PGET", "hot", "BETA", "1"}) +
         encode({"ECHO", "x"}) + encode({"PGET", "hot", "100", "10", "WAIT", "100"}));
  CHECK(c.read_reply() == fresh("value"));
  CHECK(c.read_reply() == ":1\r\n");
  CHECK(c.read_reply() == fresh("value"));
  CHECK(c.read_reply() == "$1\r\nx\r\n");
  CHECK(c.read_reply() == fresh("value"));
  // Behind a blocking command (on the client's own connection): the hit waits its turn.
  c.send(encode({"BLPOP", "nothing", "0.2"}) + encode({"PGET", "hot"}) + encode({"GET", "n"}));
  CHECK(c.read_reply() == "*-1\r\n");
  CHECK(c.read_reply() == fresh("value"));
  CHECK(c.read_reply() == "$1\r\n1\r\n");
  CHECK(calls_text(direct) == "blpop=1 echo=1 get=1 incr=1");
  CHECK(stats.read().hits - m0.hits == 29);
}

// ---- 2. invalidation by writes elsewhere --------------------------------------------------------

namespace {

// A write by someone else (another proxy, a direct client), and what A answers once Redis's
// invalidation reached it.
struct foreign_write {
  std::string name;
  // Before A reads the key (default: a fresh "old" seeded straight into Redis).
  std::function<void(raw_client& b, raw_client& direct, const std::string& key)> setup;
  std::function<void(raw_client& b, raw_client& direct, const std::string& key)> write;
  std::function<void(const std::string& reply)> check;
};

}  // namespace

TEST_CASE("near cache: a write elsewhere drops A's copy once Redis's invalidation arrives",
          "[near]") {
  redis_server redis;
  proxy_server proxy_a(redis.url(), {"--near-cache-size", "1mb"});
  proxy_server proxy_b(redis.url(), {"--near-cache-size", "1mb"});
  raw_client a(proxy_a.port());
  raw_client b(proxy_b.port());
  raw_client direct(redis.port());
  near_stats stats(proxy_a.port());
  std::string token;  // B's lease, for the PSET cases
  const auto fresh_old = [](raw_client&, raw_client& d, const std::string& key) {
    seed_fresh(d, key, "old");
  };
  const std::vector<foreign_write> cases = {
      {"PSET through B of a lease B took early (BETA) while A kept a fresh copy",
       [&](raw_client& pb, raw_client& d, const std::string& key) {
         // Fresh for a minute, but a last regeneration of 1000 s: BETA takes the lease early
         // (unless -ln(u) < 6e-8), and the value stays fresh for everybody else until then.
         seed_fresh(d, key, "old", 1'000'000, 60'000);
         const auto early = pget(pb, {key, "100", "10", "BETA", "1000000"});
         REQUIRE(early.state == "lease");
         token = *early.token;
       },
       [&](raw_client& pb, raw_client&, const std::string& key) {
         CHECK(pb.call({"PSET", key, token, "new", "100", "10"}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == fresh("new")); }},
      {"PSET through B after PINVALIDATE and a lease", fresh_old,
       [&](raw_client& pb, raw_client&, const std::string& key) {
         CHECK(pb.call({"PINVALIDATE", key}) == ":1\r\n");
         const auto l = pget(pb, {key, "100", "10"});
         REQUIRE(l.state == "lease");
         CHECK(pb.call({"PSET", key, *l.token, "new", "100", "10"}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == fresh("new")); }},
      {"PINVALIDATE through B", fresh_old,
       [](raw_client& pb, raw_client&, const std::string& key) {
         CHECK(pb.call({"PINVALIDATE", key}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(is_lease(r, "old")); }},
      {"SET of the key by a direct client", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"SET", key, "new"}) == "+OK\r\n");
       },
       [](const std::string& r) { CHECK(r == fresh("new")); }},
      {"DEL of the key", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"DEL", key}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == miss_reply); }},
      {"EXPIRE key 0", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"EXPIRE", key, "0"}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == miss_reply); }},
      {"PEXPIRE key 1", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"PEXPIRE", key, "1"}) == ":1\r\n");
         await([&] { return d.call({"EXISTS", key}) == ":0\r\n"; }, "the key's expiry");
       },
       [](const std::string& r) { CHECK(r == miss_reply); }},
      {"SET of the status key", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"SET", "puppy:" + key, "updating", "EX", "100"}) == "+OK\r\n");
       },
       [](const std::string& r) { CHECK(r == stale("old")); }},
      {"DEL of the status key", fresh_old,
       [](raw_client&, raw_client& d, const std::string& key) {
         CHECK(d.call({"DEL", "puppy:" + key}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(is_lease(r, "old")); }},
      {"FLUSHALL", fresh_old,
       [](raw_client&, raw_client& d, const std::string&) {
         CHECK(d.call({"FLUSHALL"}) == "+OK\r\n");
       },
       [](const std::string& r) { CHECK(is_lease(r, std::nullopt)); }},
  };
  int n = 0;
  for (const auto& w : cases) {
    INFO(w.name);
    const std::string key = "other-" + std::to_string(n++);
    w.setup(b, direct, key);
    await_copies(stats, {&a}, key, "old");
    const auto before = stats.read();
    w.write(b, direct, key);
    await([&] { return stats.read().invalidations > before.invalidations; }, "the invalidation");
    const auto after = stats.read();
    // FLUSHALL drops every copy (the earlier keys' too); the others this key's copy alone.
    if (w.name == "FLUSHALL") {
      CHECK(after.entries == 0);
      CHECK(after.invalidations - before.invalidations == before.entries);
    } else {
      CHECK(after.invalidations - before.invalidations == 1);
      CHECK(after.entries == before.entries - 1);
    }
    w.check(pget_call(a, key));
    CHECK(stats.read().hits == after.hits);
  }
}

TEST_CASE("near cache: a copy is never used past the freshness deadline its status gave",
          "[near]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--near-cache-size", "1mb"});
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  near_stats stats(proxy.port());
  const auto lease = pget(c, {"short", "1", "10"});
  REQUIRE(lease.state == "lease");
  REQUIRE(c.call({"PSET", "short", *lease.token, "v", "1", "10"}) == ":1\r\n");
  const std::string status = direct.call({"GET", "puppy:short"});
  const std::int64_t deadline = std::stoll(status.substr(status.rfind(':') + 1));
  await_copies(stats, {&c}, "short", "v");
  // Read until well past the deadline (the status key expires with it, by Redis's clock).
  int from_copy = 0;
  bool ended = false;
  std::string first_after;
  while (wall_ms() < deadline + 300) {
    const long hits = stats.read().hits;
    const std::int64_t sent = wall_ms();
    const std::string reply = pget_call(c, "short");
    const bool hit = stats.read().hits > hits;
    if (hit) {
      ++from_copy;
      CHECK(reply == fresh("v"));
      // The copy answered before its deadline (the proxy decided after `sent`).
      CHECK(sent <= deadline);
    }
    if (parse_pget(reply).state != "fresh") {
      if (!ended) first_after = reply;
      ended = true;
    } else {
      CHECK_FALSE(ended);  // once stale, never fresh again
    }
  }
  CHECK(from_copy > 0);
  REQUIRE(ended);
  // This client takes the lease (with the old value) when freshness runs out; then stale.
  CHECK(is_lease(first_after, "v"));
  CHECK(pget_call(c, "short") == stale("v"));
}

// ---- 3. read-your-writes through the proxy ------------------------------------------------------

namespace {

// A write through the proxy, and what every other connection of the same proxy must answer at
// once (the first reader exactly `first`, the others `rest`).
struct own_write {
  std::string name;
  std::function<void(raw_client& w, raw_client& direct, const std::string& key)> setup;
  std::function<void(raw_client& w, const std::string& key)> write;
  std::function<void(const std::string& reply)> first;
  std::function<void(const std::string& reply)> rest;
  bool invalidates_all = false;  // every copy of every key is unusable afterwards
};

std::vector<own_write> own_writes(std::string& token) {
  const auto fresh_old = [](raw_client&, raw_client& d, const std::string& key) {
    seed_fresh(d, key, "old");
  };
  const auto fresh_new = [](const std::string& r) { CHECK(r == fresh("new")); };
  const auto gone = [](const std::string& r) {
    const auto a = parse_pget(r);
    CHECK((a.state == "miss" || a.state == "lease"));
    CHECK_FALSE(a.value);
  };
  return {
      {"SET key new", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"SET", key, "new"}) == "+OK\r\n");
       },
       fresh_new, fresh_new},
      {"DEL key", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"DEL", key}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == miss_reply); }, gone},
      {"EXPIRE key 0", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"EXPIRE", key, "0"}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(r == miss_reply); }, gone},
      {"SET of the status key", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"SET", "puppy:" + key, "updating", "EX", "100"}) == "+OK\r\n");
       },
       [](const std::string& r) { CHECK(r == stale("old")); },
       [](const std::string& r) { CHECK(r == stale("old")); }},
      {"PSET of a lease taken early",
       [&token](raw_client& w, raw_client& d, const std::string& key) {
         seed_fresh(d, key, "old", 1'000'000, 60'000);
         const auto early = pget(w, {key, "100", "10", "BETA", "1000000"});
         REQUIRE(early.state == "lease");
         token = *early.token;
       },
       [&token](raw_client& w, const std::string& key) {
         CHECK(w.call({"PSET", key, token, "new", "100", "10"}) == ":1\r\n");
       },
       fresh_new, fresh_new},
      {"PINVALIDATE", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"PINVALIDATE", key}) == ":1\r\n");
       },
       [](const std::string& r) { CHECK(is_lease(r, "old")); },
       [](const std::string& r) { CHECK(r == stale("old")); }},
      {"MULTI, SET, EXEC", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"MULTI"}) == "+OK\r\n");
         CHECK(w.call({"SET", key, "new"}) == "+QUEUED\r\n");
         CHECK(w.call({"EXEC"}) == "*1\r\n+OK\r\n");
       },
       fresh_new, fresh_new},
      {"EVAL declaring the key it writes", fresh_old,
       [](raw_client& w, const std::string& key) {
         CHECK(w.call({"EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", key, "new"}) ==
               "+OK\r\n");
       },
       fresh_new, fresh_new},
      {"SWAPDB 0 1 (Redis sends no invalidation for it)", fresh_old,
       [](raw_client& w, const std::string&) {
         CHECK(w.call({"SWAPDB", "0", "1"}) == "+OK\r\n");
       },
       [](const std::string& r) { CHECK(is_lease(r, std::nullopt)); },
       [](const std::string& r) { CHECK(r == miss_reply); }, true},
      {"FLUSHALL", fresh_old,
       [](raw_client& w, const std::string&) { CHECK(w.call({"FLUSHALL"}) == "+OK\r\n"); },
       [](const std::string& r) { CHECK(is_lease(r, std::nullopt)); },
       [](const std::string& r) { CHECK(r == miss_reply); }, true},
  };
}

// Every write of own_writes() through one connection of a proxy with `threads` workers, read at
// once on four others. With `hold`, Redis's invalidations are held back by a relay meanwhile,
// so that only the proxy's own bookkeeping (write generations) can keep the old copy from
// being served.
void check_read_your_writes(int threads, bool hold) {
  INFO(threads << " worker thread(s), invalidations " << (hold ? "held back" : "not held"));
  redis_server redis;
  fault_relay relay(redis.port());
  proxy_server proxy(relay_url(relay),
                     {"--near-cache-size", "4mb", "--threads", std::to_string(threads)});
  near_stats stats(proxy.port());
  raw_client direct(redis.port());
  // Round robin over the workers: five connections land on every worker.
  std::vector<std::unique_ptr<raw_client>> owned;
  std::vector<raw_client*> conns;
  for (int i = 0; i < 5; ++i) {
    owned.push_back(std::make_unique<raw_client>(proxy.port()));
    conns.push_back(owned.back().get());
  }
  std::string token;
  std::vector<std::string> earlier_keys;
  int n = 0;
  for (const auto& w : own_writes(token)) {
    INFO(w.name);
    const std::string key = "ryw-" + std::to_string(n);
    raw_client& writer = *conns[n % conns.size()];
    ++n;
    w.setup(writer, direct, key);
    const long fills = stats.read().fills;
    await_copies(stats, conns, key, "old");
    // Every worker holds a copy (each one filled its own).
    CHECK(stats.read().fills - fills >= threads);
    if (n == 1) CHECK(tracking_clients(direct).size() == static_cast<std::size_t>(threads));
    if (hold) relay.hold(tracking_marker, true, false);
    w.write(writer, key);
    bool first = true;
    for (auto* r : conns) {
      if (r == &writer) continue;
      const std::string reply = pget_call(*r, key);
      INFO("reader reply " << reply);
      CHECK(reply != fresh("old"));
      (first ? w.first : w.rest)(reply);
      first = false;
    }
    if (w.invalidates_all) {
      // Every earlier key's copy is unusable too (they hold "new" or nothing by now).
      for (const auto& k : earlier_keys) {
        for (auto* r : conns) CHECK(parse_pget(pget_call(*r, k)).value != "new");
      }
    }
    if (hold) {
      // Redis sent its invalidation (none for SWAPDB), and the proxy did not have it yet.
      if (w.name.rfind("SWAPDB", 0) != 0) {
        CHECK(relay.held().find("invalidate") != std::string::npos);
      }
      relay.hold("", false, false);
    }
    earlier_keys.push_back(key);
  }
}

}  // namespace

TEST_CASE("near cache: read-your-writes through the proxy, at once, on another connection",
          "[near]") {
  const bool hold = GENERATE(false, true);
  check_read_your_writes(1, hold);
}

TEST_CASE("near cache: read-your-writes across worker threads", "[near]") {
  const bool hold = GENERATE(false, true);
  check_read_your_writes(2, hold);
}
