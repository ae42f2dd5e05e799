#pragma once
// What the near cache's unit tests share: a cache with its write generations and counters, an
// injected clock's starting point, and the stamp of a copy.
#include <chrono>
#include <cstddef>
#include <string_view>

#include "puppy/cache/near_cache.hpp"
#include "puppy/cache/write_gens.hpp"
#include "puppy/metrics/stats.hpp"

namespace puppy::test {

using near_clock = cache::near_cache::clock;
inline const near_clock::time_point t0{std::chrono::seconds(1000)};

struct near_fixture {
  cache::write_gens gens;
  metrics::near_stats stats;
  cache::near_cache cache;
  explicit near_fixture(std::size_t budget = 1 << 20) : cache(budget, gens, stats) {}

  // The generations a copy of `key` (with `status`, a PGET's status key; else the key alone)
  // is stamped with now.
  cache::stamp taken(std::string_view key, std::string_view status = {}) const {
    return cache::stamp::of_keys(gens, key, status.empty() ? key : status);
  }
};

}  // namespace puppy::test
