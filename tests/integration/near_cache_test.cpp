// The near cache (issue 13 part B, --near-cache-size): fresh PGET values (and GET/MGET replies
// under --near-cache-prefix) answered from the worker's memory without touching Redis, dropped by
// Redis's invalidation pushes on the per-worker CLIENT TRACKING connection, and made unusable at
// once by writes through the proxy (write generations), across worker threads.
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
#include <sstream>
#include <string>
#include <vector>

#include "client.hpp"
#include "fault_relay.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

constexpr auto await_limit = std::chrono::milliseconds(10'000);

// Calls per command since the last CONFIG RESETSTAT, without INFO and CONFIG themselves, as
// "name=count" words in name order ("" for none), so that a failed check shows them.
std::string calls_text(raw_client& direct) {
  std::string out;
  for (const auto& [name, n] : command_calls(direct)) {
    out += (out.empty() ? "" : " ") + name + "=" + std::to_string(n);
  }
  return out;
}

void await(const std::function<bool()>& cond, const std::string& what) {
  INFO("awaiting " << what);
  REQUIRE(wait_until(cond, await_limit));
}

// A proxy's near-cache figures, read with PUPPY STATS on a connection of their own.
struct near_figures {
  long hits = 0;
  long misses = 0;
  long invalidations = 0;
  long evictions = 0;
  long fills = 0;
  long bytes = 0;
  long entries = 0;
};

class near_stats {
 public:
  explicit near_stats(std::uint16_t proxy_port)
      : port_(proxy_port), c_(std::make_unique<raw_client>(proxy_port)) {}
  near_figures read() {
    std::string text;
    try {
      text = c_->call({"PUPPY", "STATS"});
    } catch (const std::runtime_error&) {
      // With --shared-connections 0 the connection has an upstream connection of its own,
      // which a Redis restart closes: once more on a new one.
      c_ = std::make_unique<raw_client>(port_);
      text = c_->call({"PUPPY", "STATS"});
    }
    near_figures f;
    const std::pair<const char*, long*> samples[] = {
        {"puppy_near_cache_hits_total", &f.hits},
        {"puppy_near_cache_misses_total", &f.misses},
        {"puppy_near_cache_invalidations_total", &f.invalidations},
        {"puppy_near_cache_evictions_total", &f.evictions},
        {"puppy_near_cache_fills_total", &f.fills},
        {"puppy_near_cache_bytes", &f.bytes},
        {"puppy_near_cache_entries", &f.entries},
    };
    for (const auto& [name, out] : samples) {
      const std::string head = std::string("\n") + name + " ";
      const auto at = text.find(head);
      if (at == std::string::npos) throw std::runtime_error(std::string("no ") + name);
      *out = std::stol(text.substr(at + head.size()));
    }
    return f;
  }

 private:
  std::uint16_t port_;
  std::unique_ptr<raw_client> c_;
};

std::string bulk(const std::string& v) {
  return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
}
std::string fresh(const std::string& v) {
  return "*3\r\n$5\r\nfresh\r\n" + bulk(v) + "$-1\r\n";
}
std::string stale(const std::string& v) {
  return "*3\r\n$5\r\nstale\r\n" + bulk(v) + "$-1\r\n";
}
const std::string miss_reply = "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n";

// A lease reply: `value` (nil if none) and a 32-character token.
bool is_lease(const std::string& reply, const std::optional<std::string>& value) {
  const auto a = parse_pget(reply);
  return a.state == "lease" && a.value == value && a.token && a.token->size() == 32;
}

std::string pget_call(raw_client& c, const std::string& key) {
  return c.call({"PGET", key, "100", "10"});
}

// A value fresh for `fresh_ms` more, written straight to Redis as PSET would write it.
void seed_fresh(raw_client& direct, const std::string& key, const std::string& value,
                long compute_ms = 0, long fresh_ms = 100'000) {
  REQUIRE(direct.call({"SET", key, value, "EX", "1000"}) == "+OK\r\n");
  const std::string status =
      "current:" + std::to_string(compute_ms) + ":" + std::to_string(wall_ms() + fresh_ms);
  REQUIRE(direct.call({"SET", "puppy:" + key, status, "EX", std::to_string(fresh_ms / 1000 + 1)}) ==
          "+OK\r\n");
}

// Reads `key` on every connection until every one of them is answered from a copy (their
// workers' fills are asynchronous); each answer must be `value`, fresh.
void await_copies(near_stats& stats, const std::vector<raw_client*>& conns, const std::string& key,
                  const std::string& value) {
  await(
      [&] {
        const long before = stats.read().hits;
        for (auto* c : conns) REQUIRE(pget_call(*c, key) == fresh(value));
        return stats.read().hits - before == static_cast<long>(conns.size());
      },
      "copies of " + key);
}

// The ids of Redis's clients with the tracking flag (the near cache's connections).
std::vector<std::string> tracking_clients(raw_client& direct) {
  std::vector<std::string> ids;
  std::istringstream in(direct.call({"CLIENT", "LIST"}));
  for (std::string line; std::getline(in, line);) {
    const auto f = line.find(" flags=");
    if (line.rfind("id=", 0) != 0 || f == std::string::npos) continue;
    const std::string flags = line.substr(f + 7, line.find(' ', f + 1) - f - 7);
    if (flags.find('t') != std::string::npos) ids.push_back(line.substr(3, line.find(' ') - 3));
  }
  return ids;
}

std::string relay_url(const fault_relay& relay) {
  return "redis://127.0.0.1:" + std::to_string(relay.port());
}

// The near cache's tracking connections are the relay's connections whose client sent this.
const std::string tracking_marker = "TRACKING";

}  // namespace

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
