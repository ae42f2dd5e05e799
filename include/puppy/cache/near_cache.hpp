#pragma once
// The near cache: fresh values kept in the proxy's memory, so that a PGET (or, for opted-in key
// prefixes, a GET) of a value that is still fresh is answered without touching Redis. One per
// worker thread, used by that thread only (no lock on the hot path).
//
// A copy is valid while (1) its deadline has not passed (a PGET copy: the freshness deadline
// its status gave; a GET copy: the key's own expiry, or none), (2) the generations of its keys in write_gens are those
// taken before its fill was read (no write through this proxy since), and (3) no invalidation
// from Redis's tracking (server-assisted client-side caching) dropped it. Memory is bounded by
// `budget` bytes (value, key and a fixed per-entry overhead), evicted by S3-FIFO (Yang et al.,
// SOSP 2023): new entries enter a small FIFO (10% of the budget) and only those read again
// while there move to the main FIFO, which gives a read entry another round instead of moving
// it on every hit; a ghost list of recently evicted keys sends a returning key straight to
// main. bench/near_cache_policy.cpp compares it with LRU on Zipf and scan traces.
//
// Pure: no sockets, an injected clock (time points are given by the caller).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "puppy/cache/write_gens.hpp"
#include "puppy/metrics/stats.hpp"

namespace puppy::cache {

// What a copy answers: a PGET's fresh value, or a GET's reply.
enum class space : char { pget = 'p', get = 'g' };

class near_cache {
 public:
  using clock = std::chrono::steady_clock;
  // Bytes charged per entry besides its key and value (map node, list node, bookkeeping).
  static constexpr std::size_t entry_overhead = 96;
  // Longer keys are not cached (and arguments longer than this need not invalidate).
  static constexpr std::size_t max_key_size = 1024;

  // A copy as find() gives it; `value` is valid until the next non-const call.
  struct copy {
    std::string_view value;
    bool nil = false;             // GET: the key did not exist
    std::int64_t compute_ms = 0;  // PGET: the last regeneration's time (for BETA)
    clock::time_point fresh_until;
  };

  // Counts into `stats` (which must outlive it; metrics/stats.hpp).
  near_cache(std::size_t budget, const write_gens& gens, metrics::near_stats& stats);
  near_cache(const near_cache&) = delete;
  near_cache& operator=(const near_cache&) = delete;

  bool enabled() const { return budget_ > 0; }
  // The valid copy of `key` in `s` at `now`, counting a hit or a miss; a copy found invalid
  // (deadline passed, a generation moved) is dropped.
  std::optional<copy> find(space s, std::string_view key, clock::time_point now);
  // Stores a copy read by a fill that started with `taken`. Refused (false) if a generation
  // moved since, if it would not fit, or the key is too long. Replaces an older copy.
  bool store(space s, std::string_view key, std::string_view value, bool nil,
             std::int64_t compute_ms, clock::time_point fresh_until, const stamp& taken);
  // Drops every copy of `key` (both spaces); returns how many. Counted as an invalidation.
  std::size_t invalidate(std::string_view key);
  // Drops everything (the tracking connection was lost, or Redis said to flush).
  void clear();

  // At most one fill per key at a time: begin_fill() is false if one is in flight.
  bool begin_fill(space s, std::string_view key);
  void end_fill(space s, std::string_view key);

  const metrics::near_stats& stats() const { return stats_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t entries() const { return map_.size(); }
  std::size_t budget() const { return budget_; }
  void set_budget(std::size_t budget);

 private:
  struct entry {
    std::string key;  // space byte + key
    std::string value;
    bool nil = false;
    bool in_main = false;
    std::uint8_t freq = 0;  // reads since it entered its queue (at most 3)
    std::int64_t compute_ms = 0;
    clock::time_point fresh_until;
    stamp taken;
    std::size_t charge = 0;
  };
  using queue = std::list<entry>;

  static std::string map_key(space s, std::string_view key);
  void erase(queue::iterator it);
  void make_room(std::size_t need);
  void evict_one();
  void remember_ghost(std::string_view key);
  void publish();  // bytes and entries into stats_

  std::size_t budget_;
  const write_gens& gens_;
  queue small_;  // front: newest
  queue main_;
  std::unordered_map<std::string_view, queue::iterator> map_;  // views into entry::key
  std::size_t bytes_ = 0;
  std::size_t small_bytes_ = 0;
  std::unordered_set<std::uint64_t> ghost_set_;
  std::list<std::uint64_t> ghost_;  // hashes of keys evicted from small, oldest last
  std::unordered_set<std::string> filling_;
  metrics::near_stats& stats_;
};

}  // namespace puppy::cache
