#pragma once
// What the near-cache tests share (near_cache_test.cpp, near_cache_edges_test.cpp): PGET replies
// as bytes, PUPPY STATS's near-cache figures, values seeded straight into Redis as PSET writes
// them, awaiting copies, and finding the tracking connections.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "client.hpp"
#include "fault_relay.hpp"
#include "pget_support.hpp"
#include "process.hpp"

namespace puppy::test::near {

inline constexpr auto await_limit = std::chrono::milliseconds(10'000);

// Calls per command since the last CONFIG RESETSTAT, without INFO and CONFIG themselves, as
// "name=count" words in name order ("" for none), so that a failed check shows them.
inline std::string calls_text(raw_client& direct) {
  std::string out;
  for (const auto& [name, n] : command_calls(direct)) {
    out += (out.empty() ? "" : " ") + name + "=" + std::to_string(n);
  }
  return out;
}

inline void await(const std::function<bool()>& cond, const std::string& what) {
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

inline std::string bulk(const std::string& v) {
  return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
}
inline std::string fresh(const std::string& v) {
  return "*3\r\n$5\r\nfresh\r\n" + bulk(v) + "$-1\r\n";
}
inline std::string stale(const std::string& v) {
  return "*3\r\n$5\r\nstale\r\n" + bulk(v) + "$-1\r\n";
}
inline const std::string miss_reply = "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n";

// A lease reply: `value` (nil if none) and a 32-character token.
inline bool is_lease(const std::string& reply, const std::optional<std::string>& value) {
  const auto a = parse_pget(reply);
  return a.state == "lease" && a.value == value && a.token && a.token->size() == 32;
}

inline std::string pget_call(raw_client& c, const std::string& key) {
  return c.call({"PGET", key, "100", "10"});
}

// A value fresh for `fresh_ms` more, written straight to Redis as PSET would write it.
inline void seed_fresh(raw_client& direct, const std::string& key, const std::string& value,
                       long compute_ms = 0, long fresh_ms = 100'000) {
  REQUIRE(direct.call({"SET", key, value, "EX", "1000"}) == "+OK\r\n");
  const std::string status =
      "current:" + std::to_string(compute_ms) + ":" + std::to_string(wall_ms() + fresh_ms);
  REQUIRE(direct.call({"SET", "puppy:" + key, status, "EX", std::to_string(fresh_ms / 1000 + 1)}) ==
          "+OK\r\n");
}

// Reads `key` on every connection until every one of them is answered from a copy (their
// workers' fills are asynchronous); each answer must be `value`, fresh.
inline void await_copies(near_stats& stats, const std::vector<raw_client*>& conns,
                         const std::string& key, const std::string& value) {
  await(
      [&] {
        const long before = stats.read().hits;
        for (auto* c : conns) REQUIRE(pget_call(*c, key) == fresh(value));
        return stats.read().hits - before == static_cast<long>(conns.size());
      },
      "copies of " + key);
}

// The ids of Redis's clients with the tracking flag (the near cache's connections).
inline std::vector<std::string> tracking_clients(raw_client& direct) {
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

inline std::string relay_url(const fault_relay& relay) {
  return "redis://127.0.0.1:" + std::to_string(relay.port());
}

// The near cache's tracking connections are the relay's connections whose client sent this.
inline const std::string tracking_marker = "TRACKING";

}  // namespace puppy::test::near
