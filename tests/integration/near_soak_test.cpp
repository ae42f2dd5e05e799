// Consistency soak for the near cache (issue 13): writers change keys through several proxies
// and straight to Redis while readers PGET them through every proxy. Each write stores a higher
// version. Checked: a read through the proxy that acknowledged a write never returns an older
// version once the write was acknowledged (read-your-writes, no window); a read anywhere else
// returns an older version only within the invalidation window after the newer write was
// acknowledged. The longest window observed is printed (docs/near-cache.md quotes it).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;
using steady = std::chrono::steady_clock;

namespace {

constexpr int proxies = 3;
constexpr int keys = 12;
constexpr auto soak_time = std::chrono::seconds(6);

struct ack {
  long version;
  steady::time_point at;
  int proxy;  // the proxy that acknowledged it, -1: straight to Redis
};

// Per key, every acknowledged version in order (one writer per key, so versions only grow).
struct history {
  std::mutex m;
  std::map<int, std::vector<ack>> acks;

  void add(int key, ack a) {
    std::lock_guard<std::mutex> lock(m);
    acks[key].push_back(a);
  }
  // The newest acknowledgement at or before `t`, if any.
  std::optional<ack> newest_before(int key, steady::time_point t) {
    std::lock_guard<std::mutex> lock(m);
    std::optional<ack> out;
    for (const ack& a : acks[key]) {
      if (a.at <= t) out = a;
    }
    return out;
  }
};

std::string key_name(int k) {
  return "soak:" + std::to_string(k);
}

long version_of(const std::optional<std::string>& value) {
  return value ? std::stol(*value) : -1;
}

// One write of `key` to `version`: through proxy `via` (PINVALIDATE, lease, PSET) or, for via
// -1, straight to Redis with a plain SET of the value (its status stays current).
void write(std::vector<std::unique_ptr<raw_client>>& through, raw_client& direct, int via, int key,
           long version) {
  const std::string k = key_name(key);
  const std::string v = std::to_string(version);
  if (via < 0) {
    REQUIRE(direct.call({"SET", k, v}) == "+OK\r\n");
    return;
  }
  raw_client& c = *through[static_cast<std::size_t>(via)];
  c.call({"PINVALIDATE", k});
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto a = pget(c, {k, "300", "5"});
    if (a.state == "lease") {
      REQUIRE(c.call({"PSET", k, *a.token, v, "300", "5"}) == ":1\r\n");
      return;
    }
    c.call({"PINVALIDATE", k});
  }
  FAIL("no lease for " << k);
}

}  // namespace

TEST_CASE(
    "near cache soak: after a write is acknowledged, no read returns an older value "
    "beyond the invalidation window",
    "[near][soak]") {
  redis_server redis;
  std::vector<std::unique_ptr<proxy_server>> ps;
  for (int i = 0; i < proxies; ++i) {
    ps.push_back(std::make_unique<proxy_server>(
        redis.url(), std::vector<std::string>{"--near-cache-size", "8mb", "--threads", "2"}));
  }
  history h;
  // Version 0 of every key, through proxy 0.
  {
    std::vector<std::unique_ptr<raw_client>> through;
    for (auto& p : ps) through.push_back(std::make_unique<raw_client>(p->port()));
    raw_client direct(redis.port());
    for (int k = 0; k < keys; ++k) {
      write(through, direct, 0, k, 0);
      h.add(k, {0, steady::now(), 0});
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::atomic<long> writes{0};
  std::mutex m;
  std::vector<std::string> violations;
  double longest_ms = 0;  // the longest time a read returned an older version after the ack

  // Writers: one per key group; each write goes through a proxy or straight to Redis in turn.
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::unique_ptr<raw_client>> through;
      for (auto& p : ps) through.push_back(std::make_unique<raw_client>(p->port()));
      raw_client direct(redis.port());
      std::map<int, long> version;
      for (long n = 0; !stop; ++n) {
        const int key = w + 3 * static_cast<int>(n % (keys / 3));
        const int via = static_cast<int>(n % (proxies + 1)) - 1;  // -1: direct
        const long v = ++version[key];
        write(through, direct, via, key, v);
        h.add(key, {v, steady::now(), via});
        ++writes;
        // Each key is written again only 600 ms later, so an invalidation that never came would
        // leave an old copy answering far longer than the window asserted below.
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
      }
    });
  }
  // Readers: every proxy, every key, as fast as they go.
  for (int r = 0; r < proxies * 2; ++r) {
    threads.emplace_back([&, r] {
      const int via = r % proxies;
      raw_client c(ps[static_cast<std::size_t>(via)]->port());
      for (long n = 0; !stop; ++n) {
        const int key = static_cast<int>((n + r) % keys);
        const auto start = steady::now();
        const auto a = pget(c, {key_name(key), "300", "5"});
        ++reads;
        if (a.state == "miss" || a.state == "lease") {
          if (a.state == "lease") c.call({"PRELEASE", key_name(key), *a.token});
          continue;  // mid-write: nothing to compare
        }
        const long got = version_of(a.value);
        const auto newest = h.newest_before(key, start);
        if (!newest || got >= newest->version) continue;
        // An older version than one acknowledged before this read began.
        const double late_ms =
            std::chrono::duration<double, std::milli>(start - newest->at).count();
        std::lock_guard<std::mutex> lock(m);
        longest_ms = std::max(longest_ms, late_ms);
        if (newest->proxy == via) {
          violations.push_back("proxy " + std::to_string(via) + " read " + std::to_string(got) +
                               " of " + key_name(key) + " after acknowledging " +
                               std::to_string(newest->version));
        }
      }
    });
  }
  std::this_thread::sleep_for(soak_time);
  stop = true;
  for (auto& t : threads) t.join();
  WARN("near cache soak: " << reads << " reads, " << writes << " writes; longest window "
                           << longest_ms << " ms");
  INFO("first violations: " << (violations.empty() ? "" : violations.front()));
  CHECK(violations.empty());   // read-your-writes through the acknowledging proxy
  CHECK(longest_ms < 250.0);  // writes elsewhere: within the invalidation window
  CHECK(reads > 1000);
  CHECK(writes > 60);
}
