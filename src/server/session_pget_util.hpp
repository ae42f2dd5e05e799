#pragma once
// What session_pget.cpp and session_pget_wait.cpp share.
#include <chrono>
#include <cstdint>
#include <string>

#include "puppy/metrics/stats.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server::detail {

// Counts a PGET answer in the metrics (puppy_pget_answers_total{state}).
inline void count(worker& w, pget::state s) {
  w.stats().pget_answer(static_cast<metrics::pget_outcome>(s));  // the same order
}
static_assert(static_cast<int>(pget::state::miss) == static_cast<int>(metrics::pget_outcome::miss));

// The proxies' shared time base for lease and freshness timestamps (they should run NTP).
inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "-ERR <text>": the PGET family's own errors.
inline std::string error_reply(const std::string& text) {
  return "-ERR " + text + "\r\n";
}

}  // namespace puppy::server::detail
