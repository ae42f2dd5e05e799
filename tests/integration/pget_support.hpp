#pragma once
// Helpers for PGET tests: calling PGET and reading its 3-element reply.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"

namespace puppy::test {

struct pget_answer {
  std::string state;
  std::optional<std::string> value;
  std::optional<std::string> token;
};

// Parses PGET's reply bytes (*3 of bulk-or-nil); throws on anything else.
pget_answer parse_pget(const std::string& reply);

// Sends PGET with `args` (key first) and returns the parsed answer.
pget_answer pget(raw_client& c, const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = 30s);

// The proxy's puppy_near_cache_invalidations_total (PUPPY STATS), or -1 without a near cache.
double near_invalidations(std::uint16_t proxy_port);
// After a write made straight to Redis to a key the proxy's near cache holds: waits until the
// invalidation has reached the proxy (the documented window; nothing without a near cache).
void await_near_invalidation(std::uint16_t proxy_port, double before);
// With the near cache on, waits until at least `fills` copies were stored (a fill asked for
// after a fresh PGET was read: a change made next is one Redis tells the proxy of); without
// it, returns at once.
void await_near_fills(std::uint16_t proxy_port, double fills);

// Redis's calls per command (INFO commandstats on `direct`, a client of Redis itself) since the
// last reset_stats, without INFO and CONFIG themselves.
std::map<std::string, long> command_calls(raw_client& direct);
// CONFIG RESETSTAT on `direct`.
void reset_stats(raw_client& direct);
// Wall-clock milliseconds since the epoch (the proxies' time base for PGET statuses).
std::int64_t wall_ms();

// Whether an integer reply ":N\r\n" has lo <= N <= hi.
bool ms_between(const std::string& reply, long long lo, long long hi);

}  // namespace puppy::test
