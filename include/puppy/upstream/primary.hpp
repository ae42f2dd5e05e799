#pragma once
// Where the Redis primary is now: a fixed address (redis://host:port), or the one Redis Sentinel
// last named (redis-sentinel://), unknown until the sentinels have answered. Read by every
// worker when it connects, changed by the thread that watches the sentinels: thread-safe.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "puppy/upstream/address.hpp"

namespace puppy::upstream {

class primary {
 public:
  primary() = default;  // unknown
  explicit primary(host_port fixed) : where_(std::move(fixed)) {}

  std::optional<host_port> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return where_;
  }
  // Changes of address so far (not counting the first one learned): failovers seen.
  std::uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }
  // Takes `where` as the primary; returns whether that moved it (a different address than a
  // known one before).
  bool set(const host_port& where) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (where_ && where_->host == where.host && where_->port == where.port) return false;
    const bool moved = where_.has_value() || ever_known_;
    where_ = where;
    ever_known_ = true;
    if (moved) moves_.fetch_add(1, std::memory_order_relaxed);
    return moved;
  }
  // No sentinel names a primary now.
  void forget() {
    std::lock_guard<std::mutex> lock(mutex_);
    where_.reset();
  }
  // A connection to the primary failed: whoever watches it (sentinel_watch) looks again. The
  // hook is set once, before any worker runs.
  void on_suspect(std::function<void()> hook) { suspect_ = std::move(hook); }
  void suspect() const {
    if (suspect_) suspect_();
  }

 private:
  mutable std::mutex mutex_;
  std::optional<host_port> where_;
  bool ever_known_ = false;
  std::atomic<std::uint64_t> moves_{0};
  std::function<void()> suspect_;
};

}  // namespace puppy::upstream
