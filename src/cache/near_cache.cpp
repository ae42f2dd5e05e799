#include "puppy/cache/near_cache.hpp"

#include <algorithm>

namespace puppy::cache {
namespace {

constexpr std::size_t small_share_percent = 10;  // S3-FIFO's small queue: 10% of the budget
constexpr std::uint8_t max_freq = 3;
constexpr std::size_t min_ghosts = 1024;

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

write_gens::write_gens() : gens_(new std::atomic<std::uint32_t>[slot_count]) {
  for (std::size_t i = 0; i < slot_count; ++i) gens_[i].store(0, std::memory_order_relaxed);
}

std::size_t write_gens::slot_of(std::string_view key) {
  const std::uint64_t h = fnv1a(key);
  return static_cast<std::size_t>((h ^ (h >> 32)) & (slot_count - 1));
}

near_cache::near_cache(std::size_t budget, const write_gens& gens, metrics::near_stats& stats)
    : budget_(budget), gens_(gens), stats_(stats) {}

void near_cache::publish() {
  stats_.bytes.set(bytes_);
  stats_.entries.set(map_.size());
}

std::string near_cache::map_key(space s, std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1);
  k.push_back(static_cast<char>(s));
  k.append(key);
  return k;
}

std::optional<near_cache::copy> near_cache::find(space s, std::string_view key,
                                                 clock::time_point now) {
  if (budget_ == 0) return std::nullopt;
  // One lookup without building a string: the map's keys are space byte + key.
  char small[128];
  std::string big;
  std::string_view k;
  if (key.size() + 1 <= sizeof small) {
    small[0] = static_cast<char>(s);
    std::copy(key.begin(), key.end(), small + 1);
    k = std::string_view(small, key.size() + 1);
  } else {
    big = map_key(s, key);
    k = big;
  }
  const auto it = map_.find(k);
  if (it == map_.end()) {
    stats_.misses.add();
    return std::nullopt;
  }
  entry& e = *it->second;
  if (now >= e.fresh_until || !e.taken.current(gens_)) {
    erase(it->second);
    stats_.misses.add();
    return std::nullopt;
  }
  if (e.freq < max_freq) ++e.freq;
  stats_.hits.add();
  return copy{e.value, e.nil, e.compute_ms, e.fresh_until};
}

bool near_cache::store(space s, std::string_view key, std::string_view value, bool nil,
                       std::int64_t compute_ms, clock::time_point fresh_until, const stamp& taken) {
  if (budget_ == 0 || key.size() > max_key_size || !taken.current(gens_)) return false;
  std::string k = map_key(s, key);
  const std::size_t charge = k.size() + value.size() + entry_overhead;
  if (charge > budget_) return false;
  bool ghost = false;
  if (const auto old = map_.find(k); old != map_.end()) {
    ghost = old->second->in_main;  // a replaced copy keeps its place in main
    erase(old->second);
  } else {
    ghost = ghost_set_.count(fnv1a(k)) != 0;
  }
  make_room(charge);
  queue& q = ghost ? main_ : small_;
  q.push_front(entry{std::move(k), std::string(value), nil, ghost, 0, compute_ms, fresh_until,
                     taken, charge});
  map_.emplace(q.front().key, q.begin());
  bytes_ += charge;
  if (!ghost) small_bytes_ += charge;
  stats_.fills.add();
  publish();
  return true;
}

std::size_t near_cache::invalidate(std::string_view key) {
  std::size_t dropped = 0;
  for (const space s : {space::pget, space::get}) {
    const auto it = map_.find(map_key(s, key));
    if (it == map_.end()) continue;
    erase(it->second);
    ++dropped;
  }
  stats_.invalidations.add(dropped);
  return dropped;
}

void near_cache::clear() {
  stats_.invalidations.add(map_.size());
  map_.clear();
  small_.clear();
  main_.clear();
  bytes_ = small_bytes_ = 0;
  publish();
}

bool near_cache::begin_fill(space s, std::string_view key) {
  return filling_.insert(map_key(s, key)).second;
}

void near_cache::end_fill(space s, std::string_view key) {
  filling_.erase(map_key(s, key));
}

void near_cache::set_budget(std::size_t budget) {
  budget_ = budget;
  if (budget_ == 0) {
    map_.clear();
    small_.clear();
    main_.clear();
    bytes_ = small_bytes_ = 0;
    publish();
    return;
  }
  make_room(0);
}

void near_cache::erase(queue::iterator it) {
  map_.erase(std::string_view(it->key));
  bytes_ -= it->charge;
  if (it->in_main) {
    main_.erase(it);
  } else {
    small_bytes_ -= it->charge;
    small_.erase(it);
  }
  publish();
}

void near_cache::make_room(std::size_t need) {
  while (bytes_ + need > budget_ && !map_.empty()) evict_one();
}

void near_cache::evict_one() {
  // From small while it holds more than its share (or main is empty): an entry read while in
  // small moves to main; one that was not is evicted and remembered as a ghost.
  const bool from_small =
      !small_.empty() && (main_.empty() || small_bytes_ * 100 > budget_ * small_share_percent);
  if (from_small) {
    auto it = std::prev(small_.end());
    if (it->freq > 0) {
      small_bytes_ -= it->charge;
      it->in_main = true;
      it->freq = 0;
      main_.splice(main_.begin(), small_, it);
      return;
    }
    remember_ghost(it->key);
    erase(it);
    stats_.evictions.add();
    return;
  }
  // From main: an entry read since it was last here gets another round.
  for (;;) {
    auto it = std::prev(main_.end());
    if (it->freq == 0) {
      erase(it);
      stats_.evictions.add();
      return;
    }
    --it->freq;
    main_.splice(main_.begin(), main_, it);
  }
}

void near_cache::remember_ghost(std::string_view key) {
  const std::uint64_t h = fnv1a(key);
  if (!ghost_set_.insert(h).second) return;
  ghost_.push_front(h);
  const std::size_t limit = std::max(min_ghosts, map_.size());
  while (ghost_.size() > limit) {
    ghost_set_.erase(ghost_.back());
    ghost_.pop_back();
  }
}

}  // namespace puppy::cache
