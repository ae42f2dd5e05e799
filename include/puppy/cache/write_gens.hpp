#pragma once
// Read-your-writes for the near cache across worker threads. Every command the proxy forwards
// that may write a key bumps that key's generation (a slot of a shared array, by hash) when it
// is sent and again when its reply arrives; FLUSHALL and its like bump the epoch. A copy in a
// near cache remembers the generations of its keys from before its fill was read, and answers
// only while they are unchanged. So once a write through this proxy was answered, no worker
// answers from a copy that may predate it, and a copy whose fill raced with the write (read on
// another connection before the write ran, arriving after it) is never used. Collisions only
// cost spurious misses.
//
// Shared by all workers; lock-free: bumps are atomic increments, checks atomic loads.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace puppy::cache {

class write_gens {
 public:
  static constexpr std::size_t slot_count = std::size_t{1} << 16;

  write_gens();
  write_gens(const write_gens&) = delete;
  write_gens& operator=(const write_gens&) = delete;

  // The slot of a key (a 64-bit FNV-1a hash, folded).
  static std::size_t slot_of(std::string_view key);

  std::uint32_t gen(std::size_t slot) const { return gens_[slot].load(std::memory_order_acquire); }
  void bump(std::size_t slot) { gens_[slot].fetch_add(1, std::memory_order_acq_rel); }
  std::uint32_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  void bump_epoch() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  std::unique_ptr<std::atomic<std::uint32_t>[]> gens_;
  std::atomic<std::uint32_t> epoch_{0};
};

// The generations a copy depends on, taken before its fill was sent.
struct stamp {
  std::size_t key_slot = 0;
  std::size_t status_slot = 0;  // the PGET status key's slot (= key_slot for plain reads)
  std::uint32_t key_gen = 0;
  std::uint32_t status_gen = 0;
  std::uint32_t epoch = 0;

  static stamp take(const write_gens& g, std::size_t key_slot, std::size_t status_slot) {
    return {key_slot, status_slot, g.gen(key_slot), g.gen(status_slot), g.epoch()};
  }
  // The stamp of a copy of `key` (a PGET's: with its `status_key`; a GET's: the key twice).
  static stamp of_keys(const write_gens& g, std::string_view key, std::string_view status_key) {
    return take(g, write_gens::slot_of(key), write_gens::slot_of(status_key));
  }
  bool current(const write_gens& g) const {
    return g.gen(key_slot) == key_gen && g.gen(status_slot) == status_gen && g.epoch() == epoch;
  }
};

}  // namespace puppy::cache
